"""docs/PLUGIN_PROTOCOL.md as code: parse events, build events and results.

Pure functions over JSON-shaped dicts, so the gateway side, serve mode and
tests can all produce exactly what a Lambda would receive.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError
from .http import Headers, QueryParams, Request, Response
from .invocation import LicenceInfo

PROTOCOL_VERSION = 1
EVENT_TYPES = ("request", "lifecycle", "health")
LIFECYCLE_EVENTS = ("installed", "uninstalled", "configuration_changed")
# A result's status is the end user's final answer: 1xx statuses are interim in HTTP/1.1
# (a client waits for the real one), and nothing outside 100-599 is a status at all.
MIN_STATUS, MAX_STATUS = 200, 599
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")  # an RFC 9110 token
HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # HTAB is the only control allowed


@dataclass(frozen=True)
class EventContext:
    plugin: str
    version: str = ""
    user_id: str = ""
    sandbox: bool = False
    authenticated: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    licence: LicenceInfo | None = None
    deadline_ms: int | None = None


@dataclass(frozen=True)
class InvocationEvent:
    type: str
    context: EventContext
    request: Request | None = None
    lifecycle_event: str | None = None
    previous_config: Mapping[str, Any] = field(default_factory=dict)


def b64decode(value: Any, what: str) -> bytes:
    if value in (None, ""):
        return b""
    if not isinstance(value, str):
        raise ProtocolError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"{what} is not valid base64") from exc


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} must be an object")
    return value


def _parse_context(raw: Mapping[str, Any], *, need_user: bool) -> EventContext:
    plugin = raw.get("plugin")
    if not isinstance(plugin, str) or not plugin:
        raise ProtocolError("context.plugin is required")
    user_id = raw.get("user_id") or ""
    if need_user and (not isinstance(user_id, str) or not user_id):
        raise ProtocolError("context.user_id is required")
    deadline = raw.get("deadline_ms")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, (int, float))):
        raise ProtocolError("context.deadline_ms must be a number")
    try:
        licence = LicenceInfo.from_event(raw.get("licence"))
    except ValueError as exc:
        raise ProtocolError(f"context.{exc}") from exc
    return EventContext(
        plugin=plugin,
        version=str(raw.get("version") or ""),
        user_id=str(user_id),
        sandbox=bool(raw.get("sandbox", False)),
        authenticated=bool(raw.get("authenticated", True)),
        config=dict(_object(raw.get("config"), "context.config")),
        licence=licence,
        deadline_ms=int(deadline) if deadline is not None else None,
    )


def _parse_request(raw: Mapping[str, Any], context: EventContext) -> Request:
    method = raw.get("method")
    path = raw.get("path")
    if not isinstance(method, str) or not method:
        raise ProtocolError("request.method is required")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ProtocolError("request.path must start with '/'")
    query_raw = _object(raw.get("query"), "request.query")
    query: dict[str, list[str]] = {}
    for key, values in query_raw.items():
        # Tolerate a bare string from a sloppy gateway; lists are the contract.
        query[str(key)] = [str(values)] if isinstance(values, str) else [str(v) for v in values]
    headers = {str(k).lower(): str(v) for k, v in _object(raw.get("headers"), "request.headers").items()}
    return Request(
        method=method.upper(),
        path=path,
        headers=Headers(headers),
        body=b64decode(raw.get("body_b64"), "request.body_b64"),
        query=QueryParams(query),
        request_id=str(raw.get("request_id") or ""),
        user_id=context.user_id,
        sandbox=context.sandbox,
        authenticated=context.authenticated,
        config=context.config,
    )


def parse_event(event: Any) -> InvocationEvent:
    """Validate an invocation event (dict, or JSON text/bytes)."""
    if isinstance(event, (bytes, bytearray, str)):
        try:
            event = json.loads(event)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProtocolError("event is not JSON") from exc
    if not isinstance(event, Mapping):
        raise ProtocolError("event must be a JSON object")
    if event.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol {event.get('protocol')!r}; this SDK speaks {PROTOCOL_VERSION}")
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise ProtocolError(f"unknown event type {kind!r}")
    context = _parse_context(_object(event.get("context"), "context"), need_user=kind != "health")
    if kind == "request":
        request = _parse_request(_object(event.get("request"), "request"), context)
        return InvocationEvent("request", context, request=request)
    if kind == "lifecycle":
        lifecycle = _object(event.get("lifecycle"), "lifecycle")
        name = lifecycle.get("event")
        if name not in LIFECYCLE_EVENTS:
            raise ProtocolError(f"unknown lifecycle event {name!r}")
        previous = dict(_object(lifecycle.get("previous_config"), "lifecycle.previous_config"))
        return InvocationEvent("lifecycle", context, lifecycle_event=name, previous_config=previous)
    return InvocationEvent("health", context)


def _context_dict(plugin: str, version: str, user_id: str, sandbox: bool, config: Mapping[str, Any] | None,
                  licence: Mapping[str, Any] | None, deadline_ms: int | None,
                  authenticated: bool) -> dict[str, Any]:
    context: dict[str, Any] = {"plugin": plugin, "version": version, "user_id": user_id, "sandbox": sandbox,
                               "config": dict(config or {}), "licence": dict(licence) if licence else None,
                               "deadline_ms": deadline_ms}
    if not authenticated:
        context["authenticated"] = False
    return context


def make_request_event(method: str, path: str, *, plugin: str, user_id: str, version: str = "",
                       query: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None,
                       body: bytes = b"", request_id: str = "", sandbox: bool = False,
                       config: Mapping[str, Any] | None = None, licence: Mapping[str, Any] | None = None,
                       deadline_ms: int | None = None, authenticated: bool = True) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL_VERSION,
        "type": "request",
        "request": {"method": method.upper(), "path": path,
                    "query": {k: list(v) for k, v in (query or {}).items()},
                    "headers": {k.lower(): v for k, v in (headers or {}).items()},
                    "body_b64": b64encode(body), "request_id": request_id},
        "context": _context_dict(plugin, version, user_id, sandbox, config, licence, deadline_ms, authenticated),
    }


def make_lifecycle_event(event: str, *, plugin: str, user_id: str, version: str = "",
                         config: Mapping[str, Any] | None = None,
                         previous_config: Mapping[str, Any] | None = None, sandbox: bool = False,
                         licence: Mapping[str, Any] | None = None, deadline_ms: int | None = None) -> dict[str, Any]:
    return {
        "protocol": PROTOCOL_VERSION,
        "type": "lifecycle",
        "context": _context_dict(plugin, version, user_id, sandbox, config, licence, deadline_ms, True),
        "lifecycle": {"event": event, "previous_config": dict(previous_config or {})},
    }


def make_health_event(plugin: str) -> dict[str, Any]:
    return {"protocol": PROTOCOL_VERSION, "type": "health", "context": {"plugin": plugin}}


def build_result(response: Response, *, webhooks: list[dict[str, Any]] | None = None,
                 metrics: list[dict[str, Any]] | None = None,
                 error: Mapping[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "protocol": PROTOCOL_VERSION,
        "status": response.status_code,
        "headers": dict(response.headers),
        "body_b64": b64encode(response.body),
        "webhooks": list(webhooks or []),
        "metrics": list(metrics or []),
    }
    if error:
        result["error"] = dict(error)
    return result


@dataclass(frozen=True)
class DecodedResult:
    status: int
    headers: dict[str, str]
    body: bytes
    webhooks: list[dict[str, Any]]
    metrics: list[dict[str, Any]]
    error: dict[str, Any] | None = None

    def json(self) -> Any:
        return json.loads(self.body)


def _result_headers(value: Any) -> dict[str, str]:
    """Headers the gateway can put on an HTTP response as they are: token names, and
    values (strings, or integers) without CR, LF or other control characters, which
    would split or end the response."""
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, raw in _object(value, "result.headers").items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise ProtocolError(f"result.headers has an invalid header name {str(name)[:40]!r}")
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise ProtocolError(f"result.headers[{name!r}] must be a string")
        text = str(raw)
        if HEADER_VALUE_FORBIDDEN.search(text):
            raise ProtocolError(f"result.headers[{name!r}] contains a control character")
        if name.lower() in seen:
            raise ProtocolError(f"result.headers repeats {name!r}")
        seen.add(name.lower())
        headers[name] = text
    return headers


def _list_of_objects(value: Any, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        raise ProtocolError(f"{what} must be a list of objects")
    return [dict(entry) for entry in value]


def decode_result(result: Any) -> DecodedResult:
    """Validate a whole result (section 2) before anything acts on it: the gateway meters
    and answers only results that an HTTP client can receive exactly as given."""
    if not isinstance(result, Mapping):
        raise ProtocolError("result must be an object")
    status = result.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise ProtocolError("result.status must be an integer")
    if not MIN_STATUS <= status <= MAX_STATUS:
        raise ProtocolError(f"result.status {status} is not a final HTTP status ({MIN_STATUS}-{MAX_STATUS})")
    headers = _result_headers(result.get("headers"))
    error = result.get("error")
    return DecodedResult(
        status=status,
        headers=headers,
        body=b64decode(result.get("body_b64"), "result.body_b64"),
        webhooks=_list_of_objects(result.get("webhooks"), "result.webhooks"),
        metrics=_list_of_objects(result.get("metrics"), "result.metrics"),
        error=dict(error) if isinstance(error, Mapping) and error else None,
    )
