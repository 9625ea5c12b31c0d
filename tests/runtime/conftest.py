"""Fixtures for the plugin runtime tests: one shared LocalRuntime per test module
(worker spawns cost ~0.4 s each, so warm workers are reused across tests)."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk" / "mocklib_plugin_sdk"
# The SDK is its own package; make the tests work whether or not it is pip-installed.
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))

from mocklib_plugin_sdk import InMemoryStateStore  # noqa: E402

from chalicelib.runtime.local import LocalRuntime  # noqa: E402


@pytest.fixture(scope="module")
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture(scope="module")
def runtime(store: InMemoryStateStore) -> Iterator[LocalRuntime]:
    built = LocalRuntime(state_store=store)
    try:
        yield built
    finally:
        built.close()
