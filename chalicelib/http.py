"""The one place where Chalice meets the domain.

``Api(blueprint).route(...)`` registers a thin view that: authenticates the caller when
the route asks for a role, hands the view an :class:`ApiRequest`, turns the return value
into JSON, maps domain errors to HTTP in one table, and never leaks a traceback. Every
route also records its OpenAPI description here, so the document cannot drift.
"""
from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger
from chalice import Blueprint, CORSConfig, Response

from chalicelib.auth.principal import Principal
from chalicelib.auth.scopes import SCOPES
from chalicelib.core import errors
from chalicelib.core.ids import random_token
from chalicelib.core.jsonutil import parse_json, validate
from chalicelib.limits.service import Limit
from chalicelib.payments.port import CardDeclinedError, PaymentsError
from chalicelib.runtime.port import PluginFailure, PluginTimedOut, PluginUnavailable

logger = Logger(service="marketplace")

STATUS_BY_ERROR: dict[type[errors.DomainError], int] = {
    errors.InvalidInputError: 400,
    errors.UnauthenticatedError: 401,
    errors.QuotaExceededError: 402,
    errors.PermissionDeniedError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.PayloadTooLargeError: 413,
    errors.RateLimitedError: 429,
    errors.UpstreamUnavailableError: 503,
    PluginTimedOut: 504,
    PluginUnavailable: 503,
    PluginFailure: 502,
    CardDeclinedError: 402,
    PaymentsError: 502,
}

CORS = CORSConfig(allow_origin="*", allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
                  expose_headers=["X-Request-Id", "Retry-After"], max_age=600)
# Bytes of one path parameter: two of them and a prefix stay within DynamoDB's 1,024-byte sort key.
MAX_PATH_PARAMETER_BYTES = 200
_JSON_TYPES = re.compile(r"^application/([a-z0-9.+-]*\+)?json\b|^\*/\*", re.I)


def binary_bodies(app: Any) -> None:
    """Every body crosses API Gateway byte for byte: with binary media type ``*/*`` it hands each
    request body to Lambda base64-encoded and decodes each answer (Chalice base64-encodes them all),
    so a plugin's gzip, protobuf or image passes unchanged in both directions. Chalice would also
    refuse (400) an answer whose request's Accept header names no binary type: with ``*/*`` every
    type is binary for API Gateway, so that check, Chalice's emulation of a narrower setup, is off.
    """
    from chalice.app import RestAPIEventHandler

    app.api.binary_types = ["*/*"]

    def any_accept(self: Any, request_headers: Any, response_headers: Any) -> bool:
        return True

    RestAPIEventHandler._validate_binary_response = any_accept  # type: ignore[method-assign]


# Chalice answers some requests itself, before any view: its bodies are {"Code", "Message"}.
_CHALICE_CODES = {405: "method_not_allowed", 415: "unsupported_media_type", 500: "internal_error"}


def http_middleware(request: Any, get_response: Callable[[Any], Response]) -> Response:
    """Every answer, Chalice's own included (405 unsupported method, 415, its 500), in the
    API's error shape; and no body in any answer to HEAD, where a body would be read as the
    start of the next response on a kept-alive connection. Registered for ``http`` events."""
    response = get_response(request)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        request_id = str(response.headers.get("X-Request-Id") or new_request_id())
        code = _CHALICE_CODES.get(response.status_code, "bad_request")
        response.body = error_body(code, str(body["Message"]), request_id)
        response.headers = {**response.headers, "X-Request-Id": request_id, "Content-Type": "application/json"}
    if getattr(request, "method", None) == "HEAD":
        response.body = b""
    return response


def status_for(error: errors.DomainError) -> int:
    return status_of(type(error))


def new_request_id() -> str:
    return f"req_{random_token(16)}"


def error_body(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        body["details"] = details
    return body


def error_response(error: errors.DomainError, request_id: str) -> Response:
    headers: dict[str, str | list[str]] = {**error.headers, "X-Request-Id": request_id}
    return Response(body=error_body(error.code, error.message, request_id, error.details),
                    status_code=status_for(error), headers=headers)


def internal_error_response(request_id: str) -> Response:
    body = error_body("internal_error", "an internal error occurred; it has been logged", request_id)
    return Response(body=body, status_code=500, headers={"X-Request-Id": request_id})


def json_reply(body: Any, status: int) -> Response:
    """For views whose status depends on the outcome (e.g. 201 created vs 200 existing)."""
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status,
                    headers={"Content-Type": "application/json"})


def bearer_credential(headers: Any) -> str | None:
    """The credential of a management call: ``Authorization: Bearer`` or ``X-Api-Key``."""
    authorization = headers.get("authorization") or ""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (headers.get("x-api-key") or "").strip() or None


@dataclass
class ApiRequest:
    """What a view sees: the raw Chalice request, the caller, and helpers to read input."""

    raw: Any
    principal: Principal | None
    request_id: str
    max_body_bytes: int

    @property
    def query(self) -> dict[str, str]:
        return dict(self.raw.query_params or {})

    def json(self, schema: dict[str, Any] | None = None) -> Any:
        content_type = (self.raw.headers.get("content-type") or "application/json").strip()
        if not _JSON_TYPES.match(content_type):
            raise errors.InvalidInputError(f"expected a JSON body, got {content_type}",
                                           code="unsupported_media_type")
        document = parse_json(self.raw.raw_body, max_bytes=self.max_body_bytes)
        if schema is not None:
            validate(schema, document)
        return document

    @property
    def caller(self) -> Principal:
        assert self.principal is not None, "route declared no auth"
        return self.principal


@dataclass(frozen=True)
class RouteDoc:
    """One operation as the OpenAPI document describes it (chalicelib.platform.openapi)."""

    path: str
    method: str
    summary: str
    auth: str | None
    tag: str
    request_schema: dict[str, Any] | None
    statuses: tuple[int, ...]  # what it answers on success; the first when a view returns a dict
    errors: tuple[int, ...]  # every error status it can answer
    query: tuple[str, ...] = field(default=())
    passthrough: bool = False  # answers whatever a plugin answers: any status, any media type
    scope: str | None = None  # the scope an API key needs (None: sessions only)


ROUTE_DOCS: list[RouteDoc] = []


@dataclass(frozen=True)
class Route:
    path: str
    auth: str | None
    status: int
    limit: str | None
    max_body: int | None
    scope: str | None = None


def status_of(error: type[errors.DomainError]) -> int:
    for cls in error.__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def error_statuses(path: str, *, auth: str | None, limit: str | None, takes_body: bool,
                   raises: tuple[type[errors.DomainError], ...]) -> tuple[int, ...]:
    """What a route can refuse with: what this module does for every route of its kind
    (authentication and role, rate limit, body and path checks), and what its own view raises."""
    found = {status_of(error) for error in raises}
    if auth:
        found |= {401, 403}
    if limit == "auth" or (auth and limit in ("api", "purchase")):
        found.add(429)
    if takes_body:
        found |= {400, 413}
    if "{" in path:
        found.add(404)  # _check_path
    return tuple(sorted(found))


class Api:
    def __init__(self, blueprint: Blueprint, tag: str) -> None:
        self.blueprint = blueprint
        self.tag = tag

    def route(self, path: str, *, methods: tuple[str, ...] = ("GET",), auth: str | None = None,
              summary: str, body: dict[str, Any] | None = None, status: int | tuple[int, ...] = 200,
              query: tuple[str, ...] = (), cors: bool = True, limit: str | None = "api",
              max_body: int | None = None, raises: tuple[type[errors.DomainError], ...] = (),
              passthrough: bool = False,
              scope: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``auth`` is the least role the caller needs (user < developer < admin), or None.
        ``scope``: an API key needs this scope (chalicelib.auth.scopes), a session is enough;
        without one the route refuses keys (403 insufficient_scope: it needs a signed-in session).
        ``limit`` names the rate limit: "api" (per user, for authenticated routes), "auth"
        (per source address), "purchase" (per user), or None. ``max_body`` raises the
        settings' body limit for a route that takes uploads. ``status`` is the success status
        (several when the view picks one, e.g. 201 created or 200 existing). ``raises`` names
        the domain errors the view itself may raise; the document declares each one's status
        with those every route of its kind can answer. ``passthrough``: the answer may be a
        plugin's, of any status and media type."""
        statuses = status if isinstance(status, tuple) else (status,)
        if scope is not None and (auth is None or scope not in SCOPES):
            raise ValueError(f"{path}: scope {scope!r} needs auth= and one of {', '.join(SCOPES)}")

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            route = Route(path, auth, statuses[0], limit, max_body, scope)

            @functools.wraps(fn)
            def view(**params: Any) -> Response:
                return _dispatch(self.blueprint.current_request, fn, params, route)

            self.blueprint.route(path, methods=list(methods), cors=CORS if cors else False,
                                 content_types=["*/*"])(view)
            refusals = error_statuses(path, auth=auth, limit=limit, takes_body=body is not None or max_body is not None,
                                      raises=raises)
            for method in methods:
                ROUTE_DOCS.append(RouteDoc(path, method, summary, auth, self.tag, body, statuses, refusals, query,
                                           passthrough, scope))
            return fn

        return decorator


def _authenticate(request: Any, required: str, scope: str | None = None) -> Principal:
    from chalicelib.wiring import container  # the wiring imports routes; keep this lazy

    credential = bearer_credential(request.headers)
    if credential is None:
        raise errors.UnauthenticatedError("send 'Authorization: Bearer <token or API key>'",
                                          code="missing_credentials")
    principal = container().auth.authenticate(credential)
    if required == "admin" and principal.via != "jwt":
        raise errors.PermissionDeniedError("admin actions need a signed-in session, not an API key",
                                           code="admin_requires_session")
    if not principal.has_role(required):
        raise errors.PermissionDeniedError(f"this action needs the '{required}' role",
                                           code="insufficient_role")
    principal.require_scope(scope)
    return principal


def _rate_limit(request: Any, principal: Principal | None, name: str | None) -> dict[str, str]:
    """Apply the route's rate limit; the X-RateLimit-* headers of the decision."""
    from chalicelib.wiring import container

    settings = container().settings
    if name == "auth":
        subject = (request.context or {}).get("identity", {}).get("sourceIp", "unknown")
        text = settings.auth_rate_limit
    elif name in ("api", "purchase") and principal is not None:
        subject, text = principal.user_id, settings.api_rate_limit if name == "api" else settings.purchase_rate_limit
    else:
        return {}
    limit = Limit.parse(text)
    decision = container().limiter.check(f"{name}#{subject}", limit)
    if not decision.allowed:
        raise errors.RateLimitedError(
            f"too many requests: at most {limit.requests} per {limit.window_seconds} s",
            retry_after_seconds=max(1, decision.reset_at - int(time.time())), headers=decision.headers())
    return decision.headers()


def _dispatch(request: Any, fn: Callable[..., Any], params: dict[str, Any], route: Route) -> Response:
    from chalicelib.wiring import container

    request_id = new_request_id()
    principal: Principal | None = None
    try:
        _check_path(params)
        principal = _authenticate(request, route.auth, route.scope) if route.auth else None
        limit_headers = _rate_limit(request, principal, route.limit)
        api_request = ApiRequest(request, principal, request_id,
                                 route.max_body or container().settings.max_body_bytes)
        result = fn(api_request, **params)
        reply = result if isinstance(result, Response) else json_reply(result, route.status)
        reply.headers = {**(reply.headers or {}), **limit_headers, "X-Request-Id": request_id}
    except errors.DomainError as exc:
        reply = error_response(exc, request_id)
    except Exception:  # noqa: BLE001 - a bug: log it with context, answer without internals
        logger.exception("unhandled error", extra={"request_id": request_id, "path": request.path})
        return internal_error_response(request_id)
    if route.auth == "admin" and request.method != "GET" and principal is not None:
        _audit(request, principal, route, params, reply.status_code, request_id)
    return reply


def _check_path(params: dict[str, Any]) -> None:
    """No name, id or version of this API is that long; such a value would only reach
    DynamoDB as an over-long key (a 500), so it is answered as what it is: nothing found."""
    for name, value in params.items():
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_PATH_PARAMETER_BYTES:
            raise errors.NotFoundError(f"no {name} is {size} bytes long", code="not_found")


def _audit(request: Any, admin: Principal, route: Route, params: dict[str, Any], status: int,
           request_id: str) -> None:
    """Every admin call that may change something, allowed or refused: who, what, when, why."""
    from chalicelib.wiring import container

    try:
        body = json.loads(request.raw_body or b"{}")
    except ValueError:
        body = None
    body = body if isinstance(body, dict) and len(request.raw_body or b"") <= 4096 else {}
    reason = body.get("reason") or body.get("notes")
    try:
        container().audit.record(admin.user_id, f"{request.method} {route.path}",
                                 target=",".join(f"{k}={v}" for k, v in sorted(params.items())) or None,
                                 reason=reason if isinstance(reason, str) else None, details=body,
                                 status=status, request_id=request_id)
    except Exception:  # noqa: BLE001 - the action is done; losing its entry must be loud, not a 500
        logger.exception("audit entry not written", extra={"request_id": request_id, "action": route.path})
