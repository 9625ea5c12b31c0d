"""JSON parsing and schema validation shared by every context."""
from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import InvalidInputError, PayloadTooLargeError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


@lru_cache(maxsize=None)
def _validator(schema_json: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # ~50 ms: loaded by the first body to validate, not every cold start

    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return _validator(json.dumps(schema, sort_keys=True))


def _path(error: Any) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # "'email' is a required property" -> point at the missing field itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        parts.append(missing)
    elif error.validator == "additionalProperties" and "'" in error.message:
        parts.append(error.message.split("'")[1])
    return "/".join(parts) or "(root)"


def validation_errors(schema: dict[str, Any], document: Any) -> list[dict[str, str]]:
    """Every violation as ``{"path": "pricing/free_tier_calls", "message": ...}``, sorted."""
    errors = validator_for(schema).iter_errors(document)
    found = [{"path": _path(e), "message": e.message} for e in errors]
    return sorted(found, key=lambda e: (e["path"], e["message"]))


def validate(schema: dict[str, Any], document: Any, *, what: str = "request body") -> None:
    problems = validation_errors(schema, document)
    if problems:
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        raise InvalidInputError(f"invalid {what}: {summary}", code="validation_failed", details=problems)


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def parse_json(raw: bytes | None, *, max_bytes: int) -> Any:
    if raw is None or raw == b"":
        raise InvalidInputError("request body must be a JSON document", code="malformed_json")
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"request body is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    except ValueError as exc:  # an integer of more digits than int() converts (4,300 by default)
        raise InvalidInputError(f"request body has a number too large to read: {exc}",
                                code="malformed_json") from exc
    except RecursionError as exc:
        raise InvalidInputError("request body nests too deeply", code="malformed_json") from exc
