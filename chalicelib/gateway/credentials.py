"""Finding the marketplace API key where vendor SDKs put their own credential, and
removing it before the plugin sees the request.

Carriers, as official SDKs send them: ``Authorization: Bearer <key>`` (stripe, sendgrid),
``Authorization: token <key>`` (PyGithub), HTTP Basic with the key as password
(twilio: AccountSid:AuthToken) or as user with an empty password (stripe's curl style),
``X-Api-Key``, and a header the plugin's manifest names (datadog: ``DD-API-KEY``).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from chalicelib.auth.service import looks_like_api_key



@dataclass(frozen=True)
class Extracted:
    credential: str | None
    headers: dict[str, str]  # lower-case names, the credential removed


def _from_basic(encoded: str) -> tuple[str | None, str | None]:
    """(key, authorization header to pass on) from a Basic credential."""
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    if looks_like_api_key(password):
        # Keep the user part (e.g. Twilio's AccountSid): only the secret is ours.
        kept = base64.b64encode(f"{user}:".encode()).decode() if user else None
        return password, f"Basic {kept}" if kept else None
    if looks_like_api_key(user) and not password:
        return user, None
    return None, None


def extract(headers: dict[str, str], manifest_header: str | None = None) -> Extracted:
    """``headers`` must have lower-case names (as API Gateway and Chalice give them)."""
    remaining = dict(headers)
    scheme, _, value = remaining.get("authorization", "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() in ("bearer", "token") and looks_like_api_key(value):
        del remaining["authorization"]
        return Extracted(value, remaining)
    if scheme.lower() == "basic":
        key, passed_on = _from_basic(value)
        if key is not None:
            if passed_on is None:
                del remaining["authorization"]
            else:
                remaining["authorization"] = passed_on
            return Extracted(key, remaining)
    for name in ("x-api-key", (manifest_header or "").lower()):
        if name and looks_like_api_key(remaining.get(name, "").strip()):
            return Extracted(remaining.pop(name).strip(), remaining)
    return Extracted(None, remaining)
