"""Stripe's webhook signature."""
from __future__ import annotations

import hashlib
import hmac


def stripe_signature(secret: str, body: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    signed = hmac.new(secret.encode("utf-8"), f"{timestamp}.{body}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"
