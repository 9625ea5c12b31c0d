"""mocklib: the MockFactory Marketplace client SDK (and the ``mocklib`` CLI in :mod:`mocklib.cli`)."""
from __future__ import annotations

from mocklib.client import DEFAULT_API_URL, MockFactory, PluginClient, PluginSpec, ResourceClient, __version__
from mocklib.errors import (APIConnectionError, APIError, APITimeoutError, AuthenticationError, ConflictError,
                            InsufficientScopeError, InvalidRequestError, MockFactoryError, NotFoundError,
                            PaymentRequiredError, PermissionDeniedError, PluginError, QuotaExceededError,
                            RateLimitError, UnknownResourceError)
from mocklib.objects import MockObject

__all__ = [
    "MockFactory", "MockObject", "PluginClient", "PluginSpec", "ResourceClient", "DEFAULT_API_URL", "__version__",
    "MockFactoryError", "InvalidRequestError", "AuthenticationError", "PaymentRequiredError", "QuotaExceededError",
    "PermissionDeniedError", "InsufficientScopeError", "NotFoundError", "ConflictError", "RateLimitError", "PluginError", "APIError",
    "APIConnectionError", "APITimeoutError", "UnknownResourceError",
]
