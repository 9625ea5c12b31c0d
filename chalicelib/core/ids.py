from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str) -> str:
    """Opaque ids like ``usr_3kT9...``: 20 base62 chars, ~119 bits."""
    return f"{prefix}_{random_token(20)}"
