"""MockFactory plugin SDK.

Write a plugin as a ``Plugin`` subclass with ``@endpoint`` methods; run it
on Lambda with ``make_lambda_handler`` or locally with ``serve``. The wire
contract with the marketplace gateway is docs/PLUGIN_PROTOCOL.md.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (BadRequestError, ConfigurationError, ConflictError, ForbiddenError, InvalidJSONError,
                         MethodNotAllowedError, NoActiveInvocationError, NotFoundError, PluginError,
                         PluginMismatchError, ProtocolError, ServiceNotDeclaredError, StorageError, UnauthorizedError)
    from .host import PluginHost
    from .http import Headers, QueryParams, Request, Response, parse_nested
    from .invocation import reset_deterministic_state
    from .lambda_adapter import make_lambda_handler
    from .loader import load_plugin_dir
    from .manifest import PluginManifest
    from .plugin import LifecycleEvent, Plugin
    from .protocol import (PROTOCOL_VERSION, decode_result, make_health_event, make_lifecycle_event,
                           make_request_event)
    from .routing import endpoint, requires_auth
    from .sdk import PluginSDK
    from .serve import PluginServer, serve
    from .services import Licence, Metrics, PluginLogger, Storage, Webhooks
    from .settings import SdkSettings
    from .state import DynamoDBStateStore, InMemoryStateStore, StateStore
    from .utils import generate_id, json_problems, now, random_string, validate_json

# Each name is imported from its module on first use (PEP 562): a plugin's handler loads only
# what it uses, so neither serve mode nor jsonschema nor pynamodb costs a cold start that does
# not need them.
_MODULES: dict[str, tuple[str, ...]] = {
    "errors": ("BadRequestError", "ConfigurationError", "ConflictError", "ForbiddenError", "InvalidJSONError",
               "MethodNotAllowedError", "NoActiveInvocationError", "NotFoundError", "PluginError",
               "PluginMismatchError", "ProtocolError", "ServiceNotDeclaredError", "StorageError",
               "UnauthorizedError"),
    "host": ("PluginHost",),
    "http": ("Headers", "QueryParams", "Request", "Response", "parse_nested"),
    "invocation": ("reset_deterministic_state",),
    "lambda_adapter": ("make_lambda_handler",),
    "loader": ("load_plugin_dir",),
    "manifest": ("PluginManifest",),
    "plugin": ("LifecycleEvent", "Plugin"),
    "protocol": ("PROTOCOL_VERSION", "decode_result", "make_health_event", "make_lifecycle_event",
                 "make_request_event"),
    "routing": ("endpoint", "requires_auth"),
    "sdk": ("PluginSDK",),
    "serve": ("PluginServer", "serve"),
    "services": ("Licence", "Metrics", "PluginLogger", "Storage", "Webhooks"),
    "settings": ("SdkSettings",),
    "state": ("DynamoDBStateStore", "InMemoryStateStore", "StateStore"),
    "utils": ("generate_id", "json_problems", "now", "random_string", "validate_json"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "PROTOCOL_VERSION", "BadRequestError", "ConfigurationError", "ConflictError", "DynamoDBStateStore",
    "ForbiddenError", "Headers", "InMemoryStateStore", "InvalidJSONError", "Licence", "LifecycleEvent",
    "MethodNotAllowedError", "Metrics", "NoActiveInvocationError", "NotFoundError", "Plugin", "PluginError",
    "PluginHost", "PluginLogger", "PluginManifest", "PluginMismatchError", "PluginSDK", "PluginServer",
    "ProtocolError", "QueryParams", "Request", "Response", "SdkSettings", "ServiceNotDeclaredError",
    "StateStore", "Storage", "StorageError", "UnauthorizedError", "Webhooks", "decode_result", "endpoint",
    "generate_id", "json_problems", "load_plugin_dir", "make_health_event", "make_lambda_handler",
    "make_lifecycle_event", "make_request_event", "now", "parse_nested", "random_string", "requires_auth",
    "reset_deterministic_state", "serve", "validate_json",
]
