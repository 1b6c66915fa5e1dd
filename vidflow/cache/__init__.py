"""The content-addressed cache: keys (fingerprint), manifests, verified blobs, and `cache verify`."""
