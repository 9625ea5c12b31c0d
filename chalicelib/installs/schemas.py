from __future__ import annotations

from chalicelib.catalog.manifest import NAME_PATTERN, PERMISSIONS, SEMVER_PATTERN

_PLUGIN = {"type": "string", "pattern": NAME_PATTERN}
_VERSION = {"oneOf": [{"const": "latest"}, {"type": "string", "pattern": SEMVER_PATTERN},
                      {"type": "string", "pattern": r"^(0|[1-9]\d*)(\.x)?$"}]}
_CONSENT = {"type": "array", "uniqueItems": True, "items": {"enum": list(PERMISSIONS)}}
_CONFIG = {"type": "object", "maxProperties": 100}

INSTALL = {
    "type": "object",
    "properties": {"plugin": _PLUGIN, "version": _VERSION, "accept_permissions": _CONSENT, "config": _CONFIG},
    "required": ["plugin"],
    "additionalProperties": False,
}
UNINSTALL = {
    "type": "object", "properties": {"plugin": _PLUGIN}, "required": ["plugin"], "additionalProperties": False,
}
UPGRADE = {
    "type": "object",
    "properties": {"version": _VERSION, "accept_permissions": _CONSENT, "config": _CONFIG},
    "required": ["version"],
    "additionalProperties": False,
}
CONFIGURE = {
    "type": "object", "properties": {"config": _CONFIG}, "required": ["config"], "additionalProperties": False,
}
