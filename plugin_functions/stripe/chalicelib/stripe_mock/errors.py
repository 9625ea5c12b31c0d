"""Stripe's error shape: one exception, rendered as ``{"error": {...}}``."""
from __future__ import annotations

from typing import Any

from .resources import RESOURCES


class StripeError(Exception):
    """Becomes ``{"error": {...}}`` with Stripe's fields and HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
        if param is not None:
            self.body["param"] = param
        self.body.update({k: v for k, v in extra.items() if v is not None})
        if code:
            self.body.setdefault("doc_url", f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}")


def unrecognized(method: str, path: str) -> StripeError:
    """Stripe's answer to a URL it has no route for: only ``type`` and ``message``, no code."""
    return StripeError(404, f"Unrecognized request URL ({method}: /v1{path}). Please see https://stripe.com/docs "
                            "or we can help at https://support.stripe.com/.")


def request_log_url(request_id: str, livemode: bool, timestamp: int) -> str:
    """Where Stripe's dashboard shows the failed request; Stripe sets it on every error with a code."""
    return f"https://dashboard.stripe.com/{'' if livemode else 'test/'}logs/{request_id}?t={timestamp}"


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    name = RESOURCES[kind][3]
    return StripeError(404, f"No such {name}: '{object_id}'", code="resource_missing", param=param)


def invalid(message: str, param: str | None = None, code: str | None = None, **extra: Any) -> StripeError:
    return StripeError(400, message, code=code, param=param, **extra)
