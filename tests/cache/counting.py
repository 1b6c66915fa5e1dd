"""fsspec filesystems that count the bytes read from cache blobs (``.../blobs/...`` paths).

``countfile://<abs path>`` is the local filesystem and ``counts3://bucket/prefix`` is s3fs,
each counting what it serves from blob paths into :data:`READS`. They are real filesystems
(subclasses of fsspec's and s3fs's own), so a CacheStore on them takes exactly the code paths
it takes on ``file`` and ``s3`` caches.
"""

from __future__ import annotations

from collections import Counter

import fsspec
from fsspec.implementations.local import LocalFileOpener, LocalFileSystem

READS: Counter = Counter()  # "bytes" and "opens" of blob paths; reset() between tests


def reset() -> None:
    READS.clear()


def _is_blob(path: str) -> bool:
    return "/blobs/" in f"/{path}"


class _CountingOpener(LocalFileOpener):
    def read(self, *args, **kwargs):
        data = super().read(*args, **kwargs)
        READS["bytes"] += len(data)
        return data

    def readinto(self, b):
        n = self.f.readinto(b)
        READS["bytes"] += n or 0
        return n


class CountingLocalFS(LocalFileSystem):
    protocol = ("countfile",)

    def _open(self, path, mode="rb", block_size=None, **kwargs):
        path = self._strip_protocol(path)
        if "r" in mode and _is_blob(path):
            READS["opens"] += 1
            return _CountingOpener(path, mode, fs=self, **kwargs)
        return super()._open(path, mode, block_size=block_size, **kwargs)

    def cp_file(self, path1, path2, **kwargs):
        if _is_blob(self._strip_protocol(path1)):
            READS["bytes"] += self.size(path1)
        return super().cp_file(path1, path2, **kwargs)

    def get_file(self, path1, path2, callback=None, **kwargs):
        if _is_blob(self._strip_protocol(path1)):
            READS["bytes"] += self.size(path1)
        return super().get_file(path1, path2, callback=callback, **kwargs)


def register_local() -> None:
    fsspec.register_implementation("countfile", CountingLocalFS, clobber=True)


def register_s3() -> None:
    import s3fs

    class CountingS3FS(s3fs.S3FileSystem):
        protocol = ("counts3",)

        async def _call_s3(self, method, *akwarglist, **kwargs):
            out = await super()._call_s3(method, *akwarglist, **kwargs)
            if method == "get_object" and _is_blob(kwargs.get("Key", "")):
                READS["opens"] += 1
                READS["bytes"] += int(out.get("ContentLength") or 0)
            return out

    fsspec.register_implementation("counts3", CountingS3FS, clobber=True)
