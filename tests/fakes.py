"""In-memory stand-ins for ports, for fast functional tests. Real adapters are tested
against real processes and servers elsewhere (tests/runtime, tests/integration, e2e)."""
from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.host import PluginHost
from mocklib_plugin_sdk.state import InMemoryStateStore

from chalicelib.runtime.port import PluginFunction, PluginRuntime, PluginUnavailable

REPO = Path(__file__).resolve().parent.parent
PLUGIN_ROOT = REPO / "plugin_functions"


class InProcessRuntime(PluginRuntime):
    """Runs a plugin's PluginHost in the test process: the protocol without the processes."""

    def __init__(self) -> None:
        self.store = InMemoryStateStore()
        self.events: list[dict[str, Any]] = []
        self._hosts: dict[str, PluginHost] = {}
        self._lock = threading.Lock()

    def _host(self, function: PluginFunction) -> PluginHost:
        source = Path(function.source_dir or "")
        if not (source / "manifest.json").is_file():
            raise PluginUnavailable(f"no code for plugin {function.plugin} at {source}")
        with self._lock:
            if function.source_dir not in self._hosts:
                module_name, _, class_name = function.handler.partition(":")
                spec = importlib.util.spec_from_file_location(f"plugin_{function.plugin}_{module_name}",
                                                              source / f"{module_name}.py")
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                manifest = json.loads((source / "manifest.json").read_text())
                self._hosts[function.source_dir] = PluginHost(getattr(module, class_name), manifest,
                                                              store=self.store)
            return self._hosts[function.source_dir]

    def invoke(self, function: PluginFunction, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return self._host(function).invoke(event)
