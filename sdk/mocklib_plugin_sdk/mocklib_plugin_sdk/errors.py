"""Errors a plugin (or the SDK on its behalf) can raise.

Each class carries the HTTP status and stable machine code the host turns it
into, so a handler can simply ``raise NotFoundError("no such customer")`` and
the end user gets a 404 JSON error instead of a crashed invocation.
"""
from __future__ import annotations

from typing import Any


class PluginError(Exception):
    """Base of every SDK error. Unknown exceptions are treated as 500."""

    STATUS_CODE = 500
    CODE = "plugin_error"

    def __init__(self, message: str, *, code: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.CODE
        self.details = details or []


class BadRequestError(PluginError):
    STATUS_CODE = 400
    CODE = "bad_request"


class InvalidJSONError(BadRequestError):
    """A document did not satisfy a JSON Schema (see ``validate_json``)."""

    CODE = "invalid_request"


class UnauthorizedError(PluginError):
    STATUS_CODE = 401
    CODE = "unauthorized"


class ForbiddenError(PluginError):
    STATUS_CODE = 403
    CODE = "forbidden"


class NotFoundError(PluginError):
    STATUS_CODE = 404
    CODE = "not_found"


class MethodNotAllowedError(PluginError):
    STATUS_CODE = 405
    CODE = "method_not_allowed"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class ConflictError(PluginError):
    STATUS_CODE = 409
    CODE = "conflict"


class ServiceNotDeclaredError(PluginError):
    """The plugin used a service its manifest does not declare.

    A 500 on purpose: it is a bug in the plugin, so the call is never billed,
    and the message names exactly what to add to ``manifest.json``.
    """

    CODE = "service_not_declared"


class NoActiveInvocationError(PluginError):
    """A per-user service was used outside a request or lifecycle handler.

    Storage, webhooks and the deterministic clock are scoped to the calling
    user, which only exists while an invocation runs (not in ``initialize``).
    """

    CODE = "no_active_invocation"


class StorageError(PluginError):
    CODE = "storage_error"


class ConfigurationError(PluginError):
    """The environment or manifest is unusable (e.g. no state table configured)."""

    CODE = "configuration_error"


class ProtocolError(PluginError):
    """The invocation event does not follow docs/PLUGIN_PROTOCOL.md."""

    CODE = "protocol_error"


class PluginMismatchError(PluginError):
    """The event names a different plugin than the one this function was deployed as."""

    CODE = "plugin_mismatch"
