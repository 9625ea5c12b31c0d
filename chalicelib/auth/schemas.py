from __future__ import annotations

from chalicelib.auth.principal import ROLES
from chalicelib.auth.scopes import SCOPES
from chalicelib.catalog.manifest import NAME_PATTERN

# A date (2026-12-31) or a date-time with an optional offset; the service checks it is a real moment.
_ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?)?$"

EMAIL = {"type": "string", "pattern": r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$", "maxLength": 320}

SIGN_UP = {
    "type": "object",
    "properties": {
        "email": EMAIL,
        "password": {"type": "string", "minLength": 10, "maxLength": 256},
        "role": {"enum": ["user", "developer"]},
    },
    "required": ["email", "password"],
    "additionalProperties": False,
}

LOG_IN = {
    "type": "object",
    "properties": {"email": {"type": "string", "maxLength": 320},
                   "password": {"type": "string", "maxLength": 256}},
    "required": ["email", "password"],
    "additionalProperties": False,
}

CREATE_KEY = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "mode": {"enum": ["test", "live"]},
        # Left out: the mode's defaults. Given: exactly these (a restricted key).
        "scopes": {"type": "array", "items": {"enum": list(SCOPES)}, "minItems": 1, "uniqueItems": True},
        "plugins": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}, "minItems": 1,
                    "maxItems": 50, "uniqueItems": True},
        "expires_at": {"type": "string", "pattern": _ISO_MOMENT},
    },
    "required": ["name"],
    "additionalProperties": False,
}

_REASON = {"type": "string", "minLength": 3, "maxLength": 500}

DISABLE_USER = {
    "type": "object",
    "properties": {"reason": _REASON},
    "required": ["reason"],
    "additionalProperties": False,
}

USER_ACTION = {
    "type": "object",
    "properties": {"reason": _REASON},
    "additionalProperties": False,
}

SET_ROLE = {
    "type": "object",
    "properties": {"role": {"enum": list(ROLES)}, "reason": _REASON},
    "required": ["role"],
    "additionalProperties": False,
}
