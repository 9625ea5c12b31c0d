"""Fixtures for every plugin's own tests (``plugin_functions/<name>/tests/test_<name>.py``).

Loaded by plugin_functions/conftest.py (``pytest plugin_functions`` from the repo
root) and by each plugin's ``tests/conftest.py`` (``cd plugin_functions/<name> &&
pytest``: pytest looks for conftest.py files only up to its rootdir).

A plugin's code is loaded by file path under a module name unique to the plugin:
every plugin has a module called ``plugin`` and a package called ``chalicelib``
(so does the marketplace API), so nothing here puts a plugin folder on sys.path.

    def test_something(call):
        result = call("GET", "/echo", user="usr_a")
        assert result.status == 200

Keep plugin test files named ``test_<plugin name>.py`` and without ``__init__.py``
next to them: pytest then imports each as a top-level module of that unique name,
which never clashes with the main suite (``tests/`` is a package).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mocklib_plugin_sdk import InMemoryStateStore, Plugin, PluginHost, SdkSettings, reset_deterministic_state
from mocklib_plugin_sdk.protocol import DecodedResult, decode_result, make_request_event

PLUGINS_ROOT = Path(__file__).resolve().parent


def load_plugin_class(plugin_dir: Path) -> tuple[type[Plugin], dict[str, Any]]:
    """The class named by the manifest's ``runtime.handler`` ("module:Class"), from chalicelib/."""
    source = plugin_dir / "chalicelib"
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    module_name, _, class_name = manifest["runtime"]["handler"].partition(":")
    unique = f"_mf_plugin_tests_{manifest['name'].replace('-', '_')}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, source / f"{module_name.replace('.', '/')}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module  # dataclasses and pickling look modules up by name
        spec.loader.exec_module(module)
    plugin_class = getattr(module, class_name)
    assert isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)
    return plugin_class, manifest


@pytest.fixture
def plugin_dir(request: pytest.FixtureRequest) -> Path:
    """``plugin_functions/<name>/`` of the test module asking (it lives in ``<name>/tests/``)."""
    directory = Path(request.path).resolve().parent.parent
    assert directory.parent == PLUGINS_ROOT, f"{request.path} is not in plugin_functions/<name>/tests/"
    return directory


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
def call(host: PluginHost, manifest: dict[str, Any]) -> Callable[..., DecodedResult]:
    """``call(method, path, *, user="usr_test", query=None, headers=None, body=b"", sandbox=False, ...)``:
    one protocol request event through the host, decoded."""

    def invoke(method: str, path: str, *, user: str = "usr_test", **kwargs: Any) -> DecodedResult:
        event = make_request_event(method, path, plugin=manifest["name"], user_id=user,
                                   version=manifest["version"], **kwargs)
        return decode_result(host.invoke(event))

    return invoke
