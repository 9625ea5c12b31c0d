"""Utilities from the seed: ids, time, random strings, JSON Schema validation.

Inside an invocation they draw from that invocation's entropy, so in
deterministic mode (``MF_PLUGIN_DETERMINISTIC=1``) ids and timestamps repeat
exactly per user; outside one they use real randomness and the wall clock.
"""
from __future__ import annotations

import json
import string
import threading
from datetime import datetime
from typing import Any

from .errors import InvalidJSONError, PluginError
from .invocation import Entropy, SystemEntropy, current_invocation

ALPHANUMERIC = string.ascii_letters + string.digits
_system = SystemEntropy()


def _entropy() -> Entropy:
    invocation = current_invocation()
    return invocation.entropy if invocation is not None else _system


def generate_id(prefix: str = "", length: int = 24) -> str:
    """``prefix`` + ``length`` base62 characters, e.g. ``generate_id("cus_")``.

    Base62 rather than the seed's uuid hex: vendor ids (Stripe's ``cus_...``)
    look like this, and 24 base62 characters carry ~143 bits.
    """
    return prefix + _entropy().choose(ALPHANUMERIC, length)


def random_string(length: int = 32, alphabet: str = ALPHANUMERIC) -> str:
    if length < 0:
        raise ValueError("length must be >= 0")
    return _entropy().choose(alphabet, length)


def now() -> datetime:
    """Timezone-aware UTC now (the seed's naive ``utcnow`` is deprecated)."""
    return _entropy().now()


_validator_cache: dict[str, Any] = {}
_cache_lock = threading.Lock()


def _validator(schema: dict[str, Any]) -> Any:
    key = json.dumps(schema, sort_keys=True, default=str)
    with _cache_lock:
        validator = _validator_cache.get(key)
    if validator is None:
        from jsonschema import exceptions as jsonschema_exceptions  # on first use: ~50 ms of imports
        from jsonschema import validators

        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema_exceptions.SchemaError as exc:
            # A broken schema is the plugin's bug, not the caller's: 500.
            raise PluginError(f"invalid JSON Schema: {exc.message}", code="invalid_schema") from exc
        validator = cls(schema)
        with _cache_lock:
            if len(_validator_cache) > 256:
                _validator_cache.clear()
            _validator_cache[key] = validator
    return validator


def json_problems(data: Any, schema: dict[str, Any]) -> list[dict[str, str]]:
    """Every violation as ``{"path": "a/0/b", "message": ...}``, in a stable order."""
    errors = sorted(_validator(schema).iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [{"path": "/".join(str(p) for p in error.absolute_path), "message": error.message}
            for error in errors]


def validate_json(data: Any, schema: dict[str, Any]) -> Any:
    """Return ``data`` if it satisfies ``schema``, else raise a 400 listing every problem."""
    problems = json_problems(data, schema)
    if problems:
        summary = "; ".join(f"{p['path'] or '(root)'}: {p['message']}" for p in problems[:5])
        raise InvalidJSONError(f"invalid request: {summary}", details=problems)
    return data
