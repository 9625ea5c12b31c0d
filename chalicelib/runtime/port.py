"""The runtime port. The gateway hands a protocol event (docs/PLUGIN_PROTOCOL.md) to a
``PluginRuntime`` and gets the plugin's protocol result back, or one of the failures
below, which the gateway answers with 502/504 and never bills."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import DomainError


@dataclass(frozen=True)
class PluginFunction:
    """Everything a runtime needs to run one version of a plugin."""

    plugin: str
    version: str
    major: int
    memory_limit_mb: int
    timeout_seconds: int
    function_name: str  # the plugin's own Lambda (LambdaRuntime)
    source_dir: str | None  # plugin project directory with manifest.json (LocalRuntime)
    handler: str  # "module:PluginClass", relative to source_dir


class PluginFailure(DomainError):
    """The plugin produced no usable result. Never billed."""

    code = "plugin_error"


class PluginTimedOut(PluginFailure):
    code = "plugin_timeout"


class PluginOutOfMemory(PluginFailure):
    code = "plugin_out_of_memory"


class PluginUnavailable(PluginFailure):
    """The runtime could not start or reach the plugin (no capacity, missing code)."""

    code = "plugin_unavailable"


class PluginRuntime(ABC):
    @abstractmethod
    def invoke(self, function: PluginFunction, event: dict[str, Any]) -> dict[str, Any]:
        """Run one event; return the plugin's result dict or raise a PluginFailure."""

    def close(self) -> None:
        """Release workers/clients (the dev stack calls this on shutdown)."""
