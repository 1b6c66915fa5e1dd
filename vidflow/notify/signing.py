"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``; the signature is
``v1,`` + base64(HMAC-SHA256(key, content)), where the key is the secret's base64 part
(``whsec_<base64>``). Receivers verify it with any Standard Webhooks library, e.g.
``standardwebhooks.Webhook(secret).verify(body, headers)``. Signing happens at each attempt
(receivers reject timestamps more than 5 minutes off), so the secret is only ever in memory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

__all__ = ["PREFIX", "decode_secret", "headers", "sign"]

PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret (the prefix is optional); ValueError if malformed.

    The error never quotes the secret.
    """
    b64 = secret.strip().removeprefix(PREFIX)
    try:
        key = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not a Standard Webhooks secret (whsec_ followed by base64)") from None
    if len(key) < 16:
        raise ValueError("is too short: use at least 16 random bytes (e.g. `python -c \"import os,base64; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\"`)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: str) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(key: bytes, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
        "content-type": "application/json",
    }
