"""Domain error hierarchy. No Chalice imports: routes map these to HTTP in one table."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a caller may see. ``code`` is stable and machine readable."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = dict(headers or {})


class InvalidInputError(DomainError):
    code = "invalid_input"


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"


class UnauthenticatedError(DomainError):
    code = "unauthenticated"


class PermissionDeniedError(DomainError):
    code = "permission_denied"


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class QuotaExceededError(DomainError):
    code = "quota_exceeded"


class RateLimitedError(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None,
                 details: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code, details=details,
                         headers={**(headers or {}), "Retry-After": str(retry_after_seconds)})
        self.retry_after_seconds = retry_after_seconds


class UpstreamUnavailableError(DomainError):
    code = "upstream_unavailable"


class ConfigurationError(Exception):
    """Raised at start-up when settings are wrong: a deployment bug, never a 4xx."""
