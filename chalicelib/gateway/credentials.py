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
    headers: dict[str, str]  # lower-case names, every carrier of a marketplace key removed
    conflicting: bool = False  # two carriers held two different keys


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


def _from_authorization(value: str) -> tuple[str | None, str | None]:
    """(key, authorization header to pass on, None to drop it) from an Authorization header."""
    scheme, _, credential = value.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() in ("bearer", "token") and looks_like_api_key(credential):
        return credential, None
    if scheme.lower() == "basic":
        key, passed_on = _from_basic(credential)
        if key is not None:
            return key, passed_on
    return None, value


def extract(headers: dict[str, str], manifest_header: str | None = None) -> Extracted:
    """The caller's key, and the headers with **every** carrier of a key removed: a client
    that sends its key twice (Bearer and X-Api-Key, say) must not hand the second copy to
    the plugin. ``headers`` must have lower-case names (as API Gateway and Chalice give them)."""
    remaining = dict(headers)
    found: list[str] = []
    if "authorization" in remaining:
        key, passed_on = _from_authorization(remaining["authorization"])
        if key is not None:
            found.append(key)
            if passed_on is None:
                del remaining["authorization"]
            else:
                remaining["authorization"] = passed_on
    for name in ("x-api-key", (manifest_header or "").lower()):
        if name and name in remaining and looks_like_api_key(remaining[name].strip()):
            found.append(remaining.pop(name).strip())
    if not found:
        return Extracted(None, remaining)
    return Extracted(found[0], remaining, conflicting=len(set(found)) > 1)
