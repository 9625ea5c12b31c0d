"""A per-container cache with a hard TTL and refresh-ahead.

The hard TTL bounds staleness (a revoked key, an uninstall: at most ``ttl`` seconds).
Past ``refresh_after`` of its age, an entry in use is reloaded on a background thread
while callers keep getting the cached value, so steady traffic never waits for the
reload on its request path. Values *and* domain errors are cached, so a caller without
an install costs no read per call either.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from chalicelib.core.errors import DomainError

T = TypeVar("T")


class TtlCache(Generic[T]):
    def __init__(self, ttl_seconds: float, *, refresh_fraction: float = 0.6, max_entries: int = 100_000) -> None:
        self._ttl = ttl_seconds
        self._refresh_after = ttl_seconds * refresh_fraction
        self._max = max_entries
        self._entries: dict[object, tuple[float, T | DomainError]] = {}
        self._refreshing: set[object] = set()
        self._lock = threading.Lock()

    def _load(self, key: object, load: Callable[[], T]) -> tuple[float, T | DomainError]:
        try:
            value: T | DomainError = load()
        except DomainError as exc:
            value = exc
        entry = (time.monotonic(), value)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = entry
            self._refreshing.discard(key)
        return entry

    def _refresh(self, key: object, load: Callable[[], T]) -> None:
        try:
            self._load(key, load)
        except Exception:  # noqa: BLE001 - the hard TTL makes the next caller load it
            with self._lock:
                self._refreshing.discard(key)

    def get(self, key: object, load: Callable[[], T]) -> T:
        entry = self._entries.get(key)
        age = time.monotonic() - entry[0] if entry is not None else None
        if entry is None or age >= self._ttl:  # type: ignore[operator]
            entry = self._load(key, load)
        elif age >= self._refresh_after:  # type: ignore[operator]
            with self._lock:
                start = key not in self._refreshing
                self._refreshing.add(key)
            if start:
                threading.Thread(target=self._refresh, args=(key, load), daemon=True).start()
        if isinstance(entry[1], DomainError):
            raise entry[1]
        return entry[1]

    def forget(self, matches: Callable[[object], bool]) -> None:
        with self._lock:
            for key in [k for k in self._entries if matches(k)]:
                del self._entries[key]
