"""The plugin manifest (seed 000 plus Gator's permissions/config and an auth section).

Money in a manifest may be written as the seed writes it (``per_call_price: 0.005``,
``revenue_share: 0.70``) or as integers (``per_call_price_micros``, ``revenue_share_bps``);
:func:`normalize` turns either into integers exactly, and the stored manifest only has
integers.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import semver
from mocklib_plugin_sdk.manifest import NAME_PATTERN as SDK_NAME_PATTERN

from chalicelib.catalog.pricing import MODELS, PLAN_SCHEMA, check_plans
from chalicelib.core.errors import InvalidInputError
from chalicelib.core.jsonutil import SCHEMA_PATH, validation_errors

CATEGORIES = ("payments", "communication", "monitoring", "analytics", "storage", "databases",
              "authentication", "devops", "other")
TIERS = ("free", "standard", "premium", "enterprise")
TIER_PRICE_MICROS = {"free": 0, "standard": 1_000, "premium": 5_000}
REVENUE_SHARES_BPS = (7000, 7500, 8000)  # listed, verified, premier (chalicelib.trust)
LISTED_SHARE_BPS = 7000
MAX_PRICE_MICROS = 1_000_000
SDK_SERVICES = ("storage", "webhooks", "metrics", "logger", "licensing")
PERMISSIONS = ("storage:read", "storage:write", "webhooks:send", "metrics:write", "licensing:read",
               "user:email")
CREDENTIAL_CARRIERS = ("bearer", "token", "basic", "x-api-key", "header")
SEMVER_PATTERN = (r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                  r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                  r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
NAME_PATTERN = SDK_NAME_PATTERN.pattern  # one rule, the SDK's: a plugin checked there is checked the same here
# Static path segments that sit where a plugin name would: /plugins/installed/..., /licenses/verify.
RESERVED_NAMES = frozenset({"install", "installed", "uninstall", "verify", "revoke"})
LAMBDA_MEMORY_MB = (128, 10_240)
API_GATEWAY_TIMEOUT_S = 29

_money = {"oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\d+(\.\d+)?$"}]}
_client_path = {"type": "string", "pattern": r"^/[^\s]*$", "maxLength": 300}
# Resource aliases for the client SDK (sdk/mocklib/mocklib/aliases.py): the vendor's idiom,
# mf.twilio.messages.create(to=..., from_=..., body=...), over the declared endpoints.
CLIENT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
      # Copy-paste examples for the vendor's SDKs, shown on the plugin page and by `mocklib plugin
      # info`, with {{BASE_URL}} and {{API_KEY}} filled in for the reader.
      "snippets": {"type": "object", "additionalProperties": False, "properties": {
          lang: {"type": "string", "minLength": 1, "maxLength": 4000} for lang in ("python", "node", "curl")}},
      "resources": {
        "type": "object", "maxProperties": 50,
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
        "additionalProperties": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "collection": _client_path, "item": _client_path,
                "body": {"enum": ["json", "form", "form_indexed"]}, "param_case": {"enum": ["as_is", "pascal"]},
                "defaults": {"type": "object", "maxProperties": 10,
                             "additionalProperties": {"type": "string", "maxLength": 200}},
                "basic_user": {"type": "string", "pattern": r"^[A-Za-z_]\w{0,63}$"},
                "headers": {"type": "object", "maxProperties": 10,
                            "propertyNames": {"pattern": r"^[A-Za-z0-9-]{1,64}$"},
                            "additionalProperties": {"type": "string", "maxLength": 200}},
                "operations": {"type": "object", "maxProperties": 20,
                               "propertyNames": {"pattern": r"^[a-z_][a-z0-9_]{0,63}$"},
                               "additionalProperties": {
                                   "type": "object", "required": ["method", "path"], "additionalProperties": False,
                                   "properties": {"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                                                  "path": _client_path,
                                                  "wrap": {"type": "string", "maxLength": 64}}}},
            },
        },
      },
    },
}

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "display_name", "version", "author", "description", "category", "pricing",
                 "api", "runtime"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "display_name": {"type": "string", "minLength": 1, "maxLength": 80},
        "version": {"type": "string", "pattern": SEMVER_PATTERN},
        "author": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100},
                           "email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"},
                           "github": {"type": "string", "maxLength": 39},
                           "url": {"type": "string", "maxLength": 300}},
        },
        "description": {"type": "string", "minLength": 1, "maxLength": 2000},
        "category": {"enum": list(CATEGORIES)},
        "tags": {"type": "array", "maxItems": 10, "uniqueItems": True,
                 "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,31}$"}},
        "license": {"enum": ["MIT", "Apache-2.0", "Proprietary"]},
        "icon": {"type": "string", "maxLength": 300},
        "changelog": {"oneOf": [
            {"type": "string", "maxLength": 5000},
            {"type": "array", "maxItems": 100, "items": {
                "type": "object", "required": ["version", "changes"], "additionalProperties": False,
                "properties": {"version": {"type": "string", "pattern": SEMVER_PATTERN},
                               "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
                               "changes": {"type": "array", "minItems": 1, "maxItems": 50,
                                           "items": {"type": "string", "minLength": 1, "maxLength": 500}}}}},
        ]},
        "client": CLIENT_SCHEMA,
        "pricing": {
            "type": "object", "required": ["tier"], "additionalProperties": False,
            "properties": {
                "tier": {"enum": list(TIERS)},
                "per_call_price": _money,
                "per_call_price_micros": {"type": "integer", "minimum": 0, "maximum": MAX_PRICE_MICROS},
                "free_tier_calls": {"type": "integer", "minimum": 0, "maximum": 10_000},
                "revenue_share": _money,
                "revenue_share_bps": {"enum": list(REVENUE_SHARES_BPS)},
                "model": {"enum": list(MODELS)},
                "plans": {"type": "array", "maxItems": 10, "items": PLAN_SCHEMA},
            },
        },
        "api": {
            "type": "object", "required": ["base_path", "endpoints"], "additionalProperties": False,
            "properties": {
                "base_path": {"type": "string", "pattern": r"^/plugins/[a-z0-9-]+/v\d+$"},
                "endpoints": {
                    "type": "array", "minItems": 1, "maxItems": 500,
                    "items": {
                        "type": "object", "required": ["method", "path"], "additionalProperties": False,
                        "properties": {
                            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
                            "path": {"type": "string", "pattern": r"^/[^\s]*$", "maxLength": 300},
                            "description": {"type": "string", "maxLength": 500},
                        },
                    },
                },
            },
        },
        "runtime": {
            "type": "object", "required": ["language", "memory_limit_mb", "timeout_seconds"],
            "additionalProperties": False,
            "properties": {
                "language": {"enum": ["python"]},
                "version": {"enum": ["3.11", "3.12"]},
                "memory_limit_mb": {"type": "integer", "minimum": LAMBDA_MEMORY_MB[0],
                                    "maximum": LAMBDA_MEMORY_MB[1]},
                "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": API_GATEWAY_TIMEOUT_S},
                "handler": {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"},
            },
        },
        "dependencies": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "external_apis": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                "mockfactory_apis": {"type": "array", "uniqueItems": True,
                                     "items": {"enum": list(SDK_SERVICES)}},
                "packages": {"type": "array", "items": {"type": "string", "maxLength": 200}, "maxItems": 50},
            },
        },
        "compatibility": {
            "type": "object", "additionalProperties": False,
            "properties": {"mockfactory_version": {"type": "string", "maxLength": 50},
                           "regions": {"type": "array", "items": {"type": "string",
                                                                  "pattern": r"^[a-z]{2}-[a-z]+-\d$"}}},
        },
        "permissions": {"type": "array", "uniqueItems": True, "items": {"enum": list(PERMISSIONS)}},
        "config": {
            "type": "object", "additionalProperties": False,
            "properties": {"schema": {"type": "object"}, "default": {"type": "object"}},
        },
        "rate_limit": {
            "type": "object", "additionalProperties": False, "required": ["requests", "window_seconds"],
            "properties": {"requests": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                           "window_seconds": {"type": "integer", "minimum": 1, "maximum": 86_400}},
        },
        "auth": {
            "type": "object", "additionalProperties": False, "required": ["carriers"],
            "properties": {
                "carriers": {"type": "array", "minItems": 1, "uniqueItems": True,
                             "items": {"enum": list(CREDENTIAL_CARRIERS)}},
                "header": {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,64}$"},
            },
        },
    },
}


@dataclass(frozen=True)
class Manifest:
    """A validated, normalized manifest. ``document`` is what gets stored and served."""

    document: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.document["name"])

    @property
    def version(self) -> str:
        return str(self.document["version"])

    @property
    def major(self) -> int:
        return semver.Version.parse(self.version).major

    @property
    def pricing(self) -> dict[str, Any]:
        return dict(self.document["pricing"])

    @property
    def permissions(self) -> list[str]:
        return list(self.document.get("permissions", []))

    @property
    def config_schema(self) -> dict[str, Any] | None:
        return self.document.get("config", {}).get("schema")

    @property
    def config_default(self) -> dict[str, Any]:
        return dict(self.document.get("config", {}).get("default", {}))


def _exact(value: Any, scale: int, path: str, problems: list[dict[str, str]]) -> int | None:
    try:
        scaled = Decimal(str(value)) * scale
    except InvalidOperation:
        problems.append({"path": path, "message": f"{value!r} is not a decimal number"})
        return None
    if not scaled.is_finite() or scaled > 10**15:
        problems.append({"path": path, "message": f"{value!r} is out of range"})
        return None
    if scaled != scaled.to_integral_value():
        problems.append({"path": path, "message": f"{value} has more precision than 1/{scale}"})
        return None
    return int(scaled)


def _normalize_pricing(pricing: dict[str, Any], problems: list[dict[str, str]]) -> dict[str, Any]:
    tier = pricing["tier"]
    price = pricing.get("per_call_price_micros")
    if "per_call_price" in pricing:
        price = _exact(pricing["per_call_price"], 1_000_000, "pricing/per_call_price", problems)
    share = pricing.get("revenue_share_bps", 7000)
    if "revenue_share" in pricing:
        share = _exact(pricing["revenue_share"], 10_000, "pricing/revenue_share", problems)
        if share is not None and share not in REVENUE_SHARES_BPS:
            problems.append({"path": "pricing/revenue_share",
                             "message": "revenue share must be 0.70, 0.75 or 0.80"})
    if share is not None and share != LISTED_SHARE_BPS and share in REVENUE_SHARES_BPS:
        problems.append({"path": "pricing/revenue_share" if "revenue_share" in pricing else "pricing/revenue_share_bps",
                         "message": "a new plugin's developer share is 70 %; 75 % and 80 % come with Verified and "
                                    "Premier certification (POST /admin/plugins/{name}/certification)"})
    if price is not None and price > MAX_PRICE_MICROS:
        problems.append({"path": "pricing/per_call_price",
                         "message": f"at most {MAX_PRICE_MICROS} micro-dollars ($1) per call"})
    if tier == "enterprise":
        if price is None:
            problems.append({"path": "pricing/per_call_price",
                             "message": "enterprise pricing needs an explicit per-call price"})
    else:
        expected = TIER_PRICE_MICROS[tier]
        if price is not None and price != expected:
            problems.append({"path": "pricing/per_call_price",
                             "message": f"the {tier} tier costs {expected} micro-dollars per call"})
        price = expected
    free_calls = pricing.get("free_tier_calls", 1000)
    check_plans(pricing, problems)
    return {"tier": tier, "per_call_price_micros": price, "free_tier_calls": free_calls,
            "revenue_share_bps": share, "model": pricing.get("model", "usage"),
            "plans": copy.deepcopy(pricing.get("plans", []))}


def _check_config(config: dict[str, Any], problems: list[dict[str, str]]) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    schema = config.get("schema")
    if schema is None:
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        problems.append({"path": "config/schema", "message": f"not a valid JSON Schema: {exc.message}"})
        return
    for problem in validation_errors(schema, config.get("default", {})):
        where = "config/schema" if problem["path"] == SCHEMA_PATH else f"config/default/{problem['path']}"
        problems.append({"path": where, "message": problem["message"]})


def _check_client(document: dict[str, Any], problems: list[dict[str, str]]) -> None:
    """Every path a client alias names is a declared endpoint with that method."""
    declared = {(e["method"], e["path"]) for e in document["api"]["endpoints"]}
    paths = {path for _, path in declared}
    for name, alias in ((document.get("client") or {}).get("resources") or {}).items():
        if any(header.lower() == "authorization" for header in alias.get("headers") or {}):
            problems.append({"path": f"client/resources/{name}/headers",
                             "message": "Authorization carries the caller's key; an alias may not set it"})
        for key in ("collection", "item"):
            if key in alias and alias[key] not in paths:
                problems.append({"path": f"client/resources/{name}/{key}",
                                 "message": f"{alias[key]} is not a declared endpoint path"})
        for op_name, op in (alias.get("operations") or {}).items():
            if (op["method"], op["path"]) not in declared:
                problems.append({"path": f"client/resources/{name}/operations/{op_name}",
                                 "message": f"{op['method']} {op['path']} is not a declared endpoint"})


def parse_manifest(document: Any) -> Manifest:
    """Validate and normalize; raise one InvalidInputError listing every violation."""
    problems = validation_errors(MANIFEST_SCHEMA, document)
    if not problems:
        normalized = copy.deepcopy(document)
        normalized["pricing"] = _normalize_pricing(document["pricing"], problems)
        if document["name"] in RESERVED_NAMES:
            problems.append({"path": "name", "message": f"'{document['name']}' is reserved by the marketplace's "
                                                        "own routes (/plugins/..., /licenses/...)"})
        major = semver.Version.parse(document["version"]).major
        expected_base = f"/plugins/{document['name']}/v{major}"
        if document["api"]["base_path"] != expected_base:
            problems.append({"path": "api/base_path", "message": f"must be {expected_base}"})
        _check_config(document.get("config", {}), problems)
        auth = document.get("auth", {})
        if "header" in auth.get("carriers", []) and not auth.get("header"):
            problems.append({"path": "auth/header", "message": "name the header when carriers has 'header'"})
        _check_client(document, problems)
    if problems:
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise InvalidInputError(f"invalid manifest: {summary}", code="invalid_manifest", details=problems)
    return Manifest(normalized)
