"""``PluginSDK``: what a plugin receives in ``initialize`` and keeps as ``self.sdk``.

One SDK object lives as long as the plugin (a warm container); everything
that depends on the caller (storage scope, outbox, config, licence,
deterministic entropy) is looked up in the current invocation, so handlers
keep the seed's ``self.sdk.storage.put(...)`` style without passing context.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any, Mapping

from . import utils
from .invocation import current_invocation, require_invocation
from .manifest import PluginManifest
from .services import Licence, Metrics, PluginLogger, Storage, Webhooks
from .settings import SdkSettings
from .state import DynamoDBStateStore, StateStore


class PluginSDK:
    def __init__(self, manifest: PluginManifest, *, settings: SdkSettings | None = None,
                 store: StateStore | Callable[[], StateStore] | None = None,
                 log_stream: IO[str] | None = None) -> None:
        self.manifest = manifest
        self.settings = settings or SdkSettings()
        self._store_source = store
        self._store: StateStore | None = store if isinstance(store, StateStore) else None
        self._store_lock = threading.Lock()
        self.storage = Storage(manifest, self._state_store)
        self.webhooks = Webhooks(manifest)
        self.metrics = Metrics(manifest)
        self.logger = PluginLogger(manifest, log_stream)
        self.licence = Licence(manifest)

    # Aliases for the seeds' spellings (Go SDK ``sdk.Log``, US "license").
    @property
    def log(self) -> PluginLogger:
        return self.logger

    @property
    def license(self) -> Licence:
        return self.licence

    def _state_store(self) -> StateStore:
        # Built on first use: a plugin that never touches storage needs no table.
        with self._store_lock:
            if self._store is None:
                if callable(self._store_source):
                    self._store = self._store_source()
                else:
                    self._store = DynamoDBStateStore.from_settings(self.settings)
            return self._store

    @property
    def plugin_name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def user_id(self) -> str:
        return require_invocation("sdk.user_id").user_id

    @property
    def sandbox(self) -> bool:
        return require_invocation("sdk.sandbox").sandbox

    @property
    def request_id(self) -> str:
        invocation = current_invocation()
        return invocation.request_id if invocation else ""

    @property
    def config(self) -> Mapping[str, Any]:
        """The install's configuration (manifest defaults applied by the gateway)."""
        return require_invocation("sdk.config").config

    def remaining_ms(self) -> int | None:
        invocation = current_invocation()
        return invocation.remaining_ms() if invocation else None

    @staticmethod
    def generate_id(prefix: str = "", length: int = 24) -> str:
        return utils.generate_id(prefix, length)

    @staticmethod
    def now() -> datetime:
        return utils.now()

    @staticmethod
    def random_string(length: int = 32, alphabet: str = utils.ALPHANUMERIC) -> str:
        return utils.random_string(length, alphabet)

    @staticmethod
    def validate_json(data: Any, schema: dict[str, Any]) -> Any:
        return utils.validate_json(data, schema)
