"""The ``Plugin`` base class plugins subclass."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http import Request, Response, coerce_response
from .routing import Router

if TYPE_CHECKING:
    from .sdk import PluginSDK


@dataclass(frozen=True)
class LifecycleEvent:
    event: str  # "installed" | "uninstalled" | "configuration_changed"
    user_id: str
    config: Mapping[str, Any] = field(default_factory=dict)
    previous_config: Mapping[str, Any] = field(default_factory=dict)
    sandbox: bool = False


class Plugin:
    """Base class. Override what you need; every hook has a working default.

    The seed makes ``initialize``/``handle_request`` abstract; here
    ``handle_request`` routes to ``@endpoint`` methods and ``initialize``
    just keeps the SDK, so most plugins only write endpoints.
    """

    sdk: PluginSDK

    def initialize(self, sdk: PluginSDK) -> None:
        """Called once per process (cold start), before the first invocation."""
        self.sdk = sdk

    def handle_request(self, request: Request) -> Response:
        """Dispatch to the ``@endpoint`` method matching the request."""
        match = type(self).router().resolve(request.method, request.path)
        request.path_params = dict(match.params)
        return coerce_response(match.call(self, request))

    def health(self) -> bool:
        return True

    def cleanup(self) -> None:
        """Called when the host shuts down (serve mode, local workers)."""

    def handle_lifecycle(self, event: LifecycleEvent) -> Response | None:
        handler = {
            "installed": self.on_installed,
            "uninstalled": self.on_uninstalled,
            "configuration_changed": self.on_configuration_changed,
        }[event.event]
        result = handler(event)
        return result if isinstance(result, Response) else None

    def on_installed(self, event: LifecycleEvent) -> Any:
        pass

    def on_uninstalled(self, event: LifecycleEvent) -> Any:
        pass

    def on_configuration_changed(self, event: LifecycleEvent) -> Any:
        pass

    @classmethod
    def router(cls) -> Router:
        # Cached per class (not inherited: a subclass has its own endpoints).
        router = cls.__dict__.get("_mf_router")
        if router is None:
            router = Router.for_class(cls)
            cls._mf_router = router  # type: ignore[attr-defined]
        return router
