"""Webhook signatures and the secrets behind them.

``X-MockFactory-Signature: t=<ts>,v1=<hex>``, hex = HMAC-SHA256(secret, "<ts>." + body)
(docs/PLUGIN_PROTOCOL.md section 5; the SDK's ``signing.verify`` checks the same).

An install's signing secret is never stored: it is derived from the platform's webhook
signing key, the install and the secret's version (rotating bumps the version), so the
tables hold nothing a reader could sign with.
"""
from __future__ import annotations

import hashlib
import hmac

from chalicelib.core.errors import ConfigurationError


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class EndpointSecrets:
    """``secret(user_id, plugin, version)``: the ``whsec_...`` an install's receiver verifies with."""

    def __init__(self, signing_key: str) -> None:
        self._key = signing_key.encode("utf-8")

    def secret(self, user_id: str, plugin: str, version: int) -> str:
        if not self._key:
            raise ConfigurationError("MF_WEBHOOK_SIGNING_KEY is not set: webhook secrets cannot be derived")
        message = f"webhook-endpoint\x00{user_id}\x00{plugin}\x00{version}".encode()
        return "whsec_" + hmac.new(self._key, message, hashlib.sha256).hexdigest()
