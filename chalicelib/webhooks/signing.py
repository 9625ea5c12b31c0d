"""``X-MockFactory-Signature: t=<ts>,v1=<hex>``, hex = HMAC-SHA256(secret, "<ts>." + body)
(docs/PLUGIN_PROTOCOL.md section 5; the SDK's ``signing.verify`` checks the same)."""
from __future__ import annotations

import hashlib
import hmac


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
