"""Typed exceptions mirroring the marketplace API's error bodies.

Every refusal the API sends is ``{code, message, request_id, details?}`` with a stable
``code``; :func:`error_from_response` turns one into the exception class for its status,
in one table (:data:`ERROR_BY_STATUS`), so callers can ``except NotFoundError`` and still
read the exact ``code``. Plugins answering through the gateway may use their vendor's own
error shape (Stripe's ``{"error": {"message", "type", "code"}}``); those map the same way.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "MockFactoryError", "InvalidRequestError", "AuthenticationError", "PaymentRequiredError",
    "QuotaExceededError", "PermissionDeniedError", "InsufficientScopeError", "NotFoundError", "ConflictError",
    "RateLimitError",
    "PluginError", "APIError", "APIConnectionError", "APITimeoutError", "UnknownResourceError",
    "error_from_response", "parse_retry_after",
]


class MockFactoryError(Exception):
    """Base of every error the SDK raises. ``status`` is None when no answer came back."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 request_id: str | None = None, details: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or "error"
        self.status = status
        self.request_id = request_id
        self.details = details
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        prefix = f"{self.status} " if self.status is not None else ""
        return f"{prefix}{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
                f"status={self.status!r}, request_id={self.request_id!r})")


class InvalidRequestError(MockFactoryError):
    """400/413/415/422: the request was malformed or failed validation (see ``details``)."""


class AuthenticationError(MockFactoryError):
    """401: missing, unknown, revoked or expired credentials."""


class PaymentRequiredError(MockFactoryError):
    """402 other than a quota: e.g. a declined card."""


class QuotaExceededError(PaymentRequiredError):
    """402 ``quota_exceeded``: the plan's monthly calls are used up (``details`` says how to upgrade)."""


class PermissionDeniedError(MockFactoryError):
    """403: authenticated, but not allowed (wrong role, admin action with an API key, ...)."""


class InsufficientScopeError(PermissionDeniedError):
    """403 ``insufficient_scope``: an API key was used for what its scopes do not allow.
    ``required_scope`` names the scope it lacks; None when the call needs a signed-in session.
    ``api_message`` is the API's own message (``message`` may add what to do about it)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.api_message = message

    @property
    def required_scope(self) -> str | None:
        scope = self.details.get("required_scope") if isinstance(self.details, dict) else None
        return scope if isinstance(scope, str) else None


class NotFoundError(MockFactoryError):
    """404: unknown plugin, version, key, resource, or a plugin that is not installed."""


class ConflictError(MockFactoryError):
    """409: the request conflicts with the current state (already exists, wrong status, ...)."""


class RateLimitError(MockFactoryError):
    """429. ``retry_after`` is the seconds the API asked us to wait (None if it did not say)."""

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None,
                 status: int | None = 429, request_id: str | None = None, details: Any = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message, code=code, status=status, request_id=request_id, details=details,
                         headers=headers)
        self.retry_after = retry_after


class PluginError(MockFactoryError):
    """502/504, and 503 ``plugin_unavailable``: the plugin crashed, timed out or had no capacity.
    Such calls are never billed."""


class APIError(MockFactoryError):
    """Any other 5xx: the marketplace itself failed."""


class APIConnectionError(MockFactoryError):
    """No HTTP answer: the connection failed or was cut."""


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""


class UnknownResourceError(MockFactoryError, AttributeError):
    """``mf.<plugin>.<resource>`` names a resource the plugin's manifest does not declare.
    Also an AttributeError, so ``hasattr(mf.stripe, "nope")`` is simply False."""


# One table from HTTP status to exception class; 402/503 are refined by code below.
ERROR_BY_STATUS: dict[int, type[MockFactoryError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    502: PluginError,
    504: PluginError,
}
ERROR_BY_CODE: dict[tuple[int, str], type[MockFactoryError]] = {
    (402, "quota_exceeded"): QuotaExceededError,
    (403, "insufficient_scope"): InsufficientScopeError,
    (503, "plugin_unavailable"): PluginError,
}


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or garbled."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return None


def _describe(status: int, document: Any, body: bytes) -> tuple[str, str, Any, str | None]:
    """(code, message, details, request_id) from the marketplace's shape, a vendor shape or text."""
    if isinstance(document, dict):
        if isinstance(document.get("code"), str) and isinstance(document.get("message"), str):
            request_id = document.get("request_id")
            return (document["code"], document["message"], document.get("details"),
                    request_id if isinstance(request_id, str) else None)
        vendor = document.get("error")
        if isinstance(vendor, dict):  # Stripe-style {"error": {"message", "type", "code"}}
            code = vendor.get("code") or vendor.get("type")
            message = vendor.get("message")
            return (str(code) if code else f"http_{status}",
                    str(message) if message else f"HTTP {status}", vendor, None)
        for key in ("message", "error", "detail"):
            if isinstance(document.get(key), str):
                return f"http_{status}", document[key], document, None
    text = body.decode("utf-8", "replace").strip()
    return f"http_{status}", (text[:200] if text else f"HTTP {status}"), None, None


def error_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> MockFactoryError:
    """The exception for one error answer (status >= 400)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    code, message, details, request_id = _describe(status, _decode(body), body)
    request_id = request_id or lowered.get("x-request-id")
    cls = ERROR_BY_CODE.get((status, code)) or ERROR_BY_STATUS.get(status)
    if cls is None:
        cls = APIError if status >= 500 else InvalidRequestError
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=parse_retry_after(lowered.get("retry-after")), code=code,
                              status=status, request_id=request_id, details=details, headers=dict(headers))
    return cls(message, code=code, status=status, request_id=request_id, details=details, headers=dict(headers))
