"""The marketplace webhook signature (docs/PLUGIN_PROTOCOL.md section 5).

``X-MockFactory-Signature: t=<ts>,v1=<hex>`` with
``hex = HMAC-SHA256(secret, f"{ts}." + body)``: the timestamp is inside the
MAC so a captured delivery cannot be replayed later with a fresh ``t``.
"""
from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-MockFactory-Signature"
DEFAULT_TOLERANCE_S = 300


def compute_signature(secret: str, body: bytes, timestamp: int) -> str:
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` (timestamp defaults to now)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={compute_signature(secret, body, ts)}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S,
           now: float | None = None) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` within the tolerance.

    Several ``v1`` entries are accepted (secret rotation sends one per secret).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = compute_signature(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
