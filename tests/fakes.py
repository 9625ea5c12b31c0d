"""In-memory stand-ins for ports, for fast functional tests. Real adapters are tested
against real processes and servers elsewhere (tests/runtime, tests/integration, e2e)."""
from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.host import PluginHost
from mocklib_plugin_sdk.state import InMemoryStateStore

from chalicelib.runtime.port import PluginFunction, PluginRuntime, PluginUnavailable
from chalicelib.webhooks.repository import Delivery, DeliveryRepository, Key

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


class InMemoryDeliveryRepository(DeliveryRepository):
    """The webhooks table's port in memory; the contract test in
    tests/integration/test_webhook_repository.py holds it to the DynamoDB adapter."""

    def __init__(self) -> None:
        self._items: dict[Key, Delivery] = {}
        self._lock = threading.Lock()

    def add(self, delivery: Delivery) -> None:
        with self._lock:
            self._items[delivery.key] = replace(delivery, revision=1)

    def get(self, key: Key) -> Delivery | None:
        return self._items.get((key[0], key[1]))

    def update(self, delivery: Delivery) -> bool:
        with self._lock:
            stored = self._items.get(delivery.key)
            if stored is None or stored.revision != delivery.revision:
                return False
            self._items[delivery.key] = replace(delivery, revision=delivery.revision + 1)
            return True

    def due(self, now: datetime, limit: int = 500) -> list[Delivery]:
        pending = [d for d in self._items.values() if d.state == "pending" and d.due_at and d.due_at <= now]
        return sorted(pending, key=lambda d: d.due_at or now)[:limit]

    def recent(self, user_id: str, plugin: str, limit: int) -> list[Delivery]:
        mine = [d for key, d in self._items.items() if key[0] == f"{user_id}#{plugin}"]
        return sorted(mine, key=lambda d: d.key[1], reverse=True)[:limit]
