"""docs/PLUGIN_PROTOCOL.md as code: parse events, build events and results.

Pure functions over JSON-shaped dicts, so the gateway side, serve mode and
tests can all produce exactly what a Lambda would receive.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError
from .http import Headers, QueryParams, Request, Response
from .invocation import LicenceInfo

PROTOCOL_VERSION = 1
EVENT_TYPES = ("request", "lifecycle", "health")
LIFECYCLE_EVENTS = ("installed", "uninstalled", "configuration_changed")


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


def decode_result(result: Mapping[str, Any]) -> DecodedResult:
    status = result.get("status")
    if isinstance(status, bool) or not isinstance(status, int):
        raise ProtocolError("result.status must be an integer")
    return DecodedResult(
        status=status,
        headers={str(k): str(v) for k, v in _object(result.get("headers"), "result.headers").items()},
        body=b64decode(result.get("body_b64"), "result.body_b64"),
        webhooks=list(result.get("webhooks") or []),
        metrics=list(result.get("metrics") or []),
        error=dict(result["error"]) if result.get("error") else None,
    )
