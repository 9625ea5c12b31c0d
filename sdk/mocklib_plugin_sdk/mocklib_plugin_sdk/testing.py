"""pytest fixtures for a plugin project's own tests, wherever the project lives.

In the project's ``tests/conftest.py``::

    pytest_plugins = ["mocklib_plugin_sdk.testing"]

then, in ``tests/test_<plugin>.py``::

    def test_something(call):
        result = call("GET", "/items", user="usr_a")
        assert result.status == 200

``plugin_dir`` is the nearest folder above the test file that holds
``chalicelib/manifest.json``; the plugin runs in the SDK's ``PluginHost`` with
an in-memory store, so tests need no AWS, no network and finish in milliseconds.

A plugin's code is loaded by file path under a module name unique to the
plugin: every plugin has a module called ``plugin`` and a package called
``chalicelib`` (so does the marketplace API), so nothing here puts a plugin
folder on sys.path.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .host import PluginHost
from .invocation import reset_deterministic_state
from .plugin import Plugin
from .protocol import DecodedResult, decode_result, make_request_event
from .settings import SdkSettings
from .state import InMemoryStateStore

MANIFEST_PATH = Path("chalicelib") / "manifest.json"


def find_plugin_dir(start: Path) -> Path:
    """The nearest ancestor of ``start`` (or ``start`` itself) holding ``chalicelib/manifest.json``."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / MANIFEST_PATH).is_file():
            return directory
    raise LookupError(f"no {MANIFEST_PATH} in {start} or any folder above it")


def load_plugin_class(plugin_dir: Path) -> tuple[type[Plugin], dict[str, Any]]:
    """The class named by the manifest's ``runtime.handler`` ("module:Class"), from chalicelib/."""
    source = Path(plugin_dir) / "chalicelib"
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    module_name, _, class_name = manifest["runtime"]["handler"].partition(":")
    unique = f"_mf_plugin_tests_{manifest['name'].replace('-', '_')}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, source / f"{module_name.replace('.', '/')}.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {module_name} from {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # dataclasses and pickling look modules up by name
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique]
            raise
    plugin_class = getattr(module, class_name)
    if not (isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)):
        raise TypeError(f"{manifest['runtime']['handler']} is not a mocklib_plugin_sdk.Plugin subclass")
    return plugin_class, manifest


@pytest.fixture
def plugin_dir(request: pytest.FixtureRequest) -> Path:
    """The plugin project of the test module asking."""
    try:
        return find_plugin_dir(Path(request.path).parent)
    except LookupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def manifest(plugin_dir: Path) -> dict[str, Any]:
    return load_plugin_class(plugin_dir)[1]


@pytest.fixture
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def host(plugin_dir: Path, store: InMemoryStateStore) -> Iterator[PluginHost]:
    reset_deterministic_state()
    plugin_class, manifest = load_plugin_class(plugin_dir)
    # Explicit settings: the developer's MF_* environment must not change test results.
    built = PluginHost(plugin_class, manifest, settings=SdkSettings(), store=store)
    yield built
    built.close()
    reset_deterministic_state()


@pytest.fixture
def call(host: PluginHost, manifest: dict[str, Any], plugin_dir: Path,
         request: pytest.FixtureRequest) -> Callable[..., DecodedResult]:
    """``call(method, path, *, user="usr_test", query=None, headers=None, body=b"", sandbox=False, ...)``:
    one protocol request event through the host, decoded. With ``pytest --conformance`` every
    answer is also checked against the plugin's spec (``mocklib_plugin_sdk.conformance``)."""
    from .conformance.pytest_plugin import recorder_of

    recorder = recorder_of(request.config)

    def invoke(method: str, path: str, *, user: str = "usr_test", **kwargs: Any) -> DecodedResult:
        event = make_request_event(method, path, plugin=manifest["name"], user_id=user,
                                   version=manifest["version"], **kwargs)
        result = decode_result(host.invoke(event))
        if recorder is not None:
            recorder.record(plugin_dir, method, path, result.status, result.headers, result.body)
        return result

    return invoke


__all__ = ["call", "find_plugin_dir", "host", "load_plugin_class", "manifest", "plugin_dir", "store"]
