from __future__ import annotations

import threading
import time

import pytest

from chalicelib.core.cache import TtlCache
from chalicelib.core.errors import NotFoundError


class Source:
    def __init__(self) -> None:
        self.value = "v1"
        self.loads = 0
        self.gate = threading.Event()
        self.gate.set()

    def load(self) -> str:
        self.gate.wait(5)
        self.loads += 1
        return self.value


def test_an_entry_is_reloaded_once_its_ttl_has_passed():
    source, cache = Source(), TtlCache[str](0.1, refresh_fraction=1.0)
    assert cache.get("k", source.load) == "v1"
    source.value = "v2"
    assert cache.get("k", source.load) == "v1"
    time.sleep(0.11)
    assert cache.get("k", source.load) == "v2"


def test_refresh_ahead_keeps_answering_from_the_cache_while_it_reloads():
    source, cache = Source(), TtlCache[str](0.5, refresh_fraction=0.2)
    cache.get("k", source.load)
    time.sleep(0.15)
    source.value, source.gate = "v2", threading.Event()  # the reload now blocks until released
    began = time.monotonic()
    assert cache.get("k", source.load) == "v1"
    assert time.monotonic() - began < 0.05
    source.gate.set()
    deadline = time.monotonic() + 2
    while cache.get("k", source.load) != "v2":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_domain_errors_are_cached_like_values_and_forget_drops_entries():
    calls = []

    def missing() -> str:
        calls.append(1)
        raise NotFoundError("nope")

    cache = TtlCache[str](60)
    for _ in range(3):
        with pytest.raises(NotFoundError):
            cache.get("k", missing)
    assert len(calls) == 1
    cache.forget(lambda key: key == "k")
    with pytest.raises(NotFoundError):
        cache.get("k", missing)
    assert len(calls) == 2
