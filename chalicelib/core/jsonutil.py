"""JSON parsing and schema validation shared by every context."""
from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import InvalidInputError, PayloadTooLargeError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


SCHEMA_PATH = "(schema)"  # a problem of the schema itself, not of the document


def _ecma_pattern(pattern: str) -> re.Pattern[str]:
    """JSON Schema patterns are ECMA-262 regular expressions: ``\\d`` and ``\\w`` are ASCII, and a
    final ``$`` is the end of the string. Python's ``$`` also matches before a final newline,
    which would let ``"2026-01-01\\n"`` or a plugin named ``"echo\\n"`` through."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern, re.ASCII)


@lru_cache(maxsize=None)
def _validator(schema_json: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # ~50 ms: loaded by the first body to validate, not every cold start
    from jsonschema.exceptions import ValidationError
    from jsonschema.validators import extend
    from referencing import Registry

    def pattern(validator: Any, expected: str, instance: Any, schema: Any) -> Any:
        if validator.is_type(instance, "string") and not _compiled(expected).search(instance):
            yield ValidationError(f"{instance!r} does not match {expected!r}")

    schema = json.loads(schema_json)
    Draft202012Validator.check_schema(schema)
    # An empty registry: a $ref can only point inside the schema. jsonschema would otherwise
    # fetch a remote $ref from a user's schema (a plugin's config schema) over the network.
    return extend(Draft202012Validator, {"pattern": pattern})(schema, registry=Registry())


_compiled = lru_cache(maxsize=1024)(_ecma_pattern)


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
    from referencing.exceptions import Unresolvable

    try:
        found = [{"path": _path(e), "message": e.message} for e in validator_for(schema).iter_errors(document)]
    except Unresolvable as exc:
        ref = getattr(exc, "ref", "")
        return [{"path": SCHEMA_PATH, "message": f"the schema's $ref {ref!r} cannot be resolved: only references "
                                                 "within the schema are allowed"}]
    except RecursionError:
        return [{"path": SCHEMA_PATH, "message": "the schema refers to itself without end"}]
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
        document = json.loads(raw, parse_constant=_reject_constant)
        # "\\ud800" is valid JSON but no text: nothing downstream (hashing, DynamoDB) can encode it.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
        return document
    except UnicodeEncodeError as exc:
        raise InvalidInputError("request body has a lone surrogate (\\ud800-\\udfff), which is not text",
                                code="malformed_json") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    except ValueError as exc:  # an integer of more digits than int() converts (4,300 by default)
        raise InvalidInputError(f"request body has a number too large to read: {exc}",
                                code="malformed_json") from exc
    except RecursionError as exc:
        raise InvalidInputError("request body nests too deeply", code="malformed_json") from exc
