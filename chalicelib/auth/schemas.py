from __future__ import annotations

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
    },
    "required": ["name"],
    "additionalProperties": False,
}
