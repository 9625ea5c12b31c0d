"""Fixtures for every plugin's own tests (``plugin_functions/<name>/tests/test_<name>.py``).

Loaded by plugin_functions/conftest.py (``pytest plugin_functions`` from the repo
root) and by each plugin's ``tests/conftest.py`` (``cd plugin_functions/<name> &&
pytest``: pytest looks for conftest.py files only up to its rootdir).

The generic fixtures (``plugin_dir``, ``manifest``, ``store``, ``host``, ``call``)
come from the plugin SDK (``mocklib_plugin_sdk.testing``, which any plugin project
can use with ``pytest_plugins = ["mocklib_plugin_sdk.testing"]``); this module adds
``gateway``, which runs the plugin behind the real marketplace API and so only
works for the reference plugins in this repository.

    def test_something(call):
        result = call("GET", "/echo", user="usr_a")
        assert result.status == 200

Keep plugin test files named ``test_<plugin name>.py`` and without ``__init__.py``
next to them: pytest then imports each as a top-level module of that unique name,
which never clashes with the main suite (``tests/`` is a package).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mocklib_plugin_sdk import InMemoryStateStore
from mocklib_plugin_sdk.testing import call, host, load_plugin_class, manifest, plugin_dir, store

PLUGINS_ROOT = Path(__file__).resolve().parent


# --- through the marketplace gateway, over real HTTP ---------------------------------------
GATEWAY_ENV = {
    "MF_STAGE": "plugintest", "MF_JWT_KEYS": "pt:" + "p" * 48, "AWS_REGION": "us-east-1",
    "MF_INDEX_BACKGROUND_REFRESH": "0", "MF_API_RATE_LIMIT": "100000/60", "MF_AUTH_RATE_LIMIT": "100000/60",
    "MF_SANDBOX_RATE_LIMIT": "100000/1",
    "MF_WEBHOOK_DISPATCH": "thread", "MF_WEBHOOKS_ALLOW_PRIVATE": "1", "MF_PLUGIN_SOURCE_ROOT": str(PLUGINS_ROOT),
}


@dataclass
class Gateway:
    """The marketplace serving this plugin: ``base_url`` is what a vendor SDK points at."""

    api_url: str
    base_url: str
    live_key: str
    test_key: str
    user_token: str
    container: Any
    store: InMemoryStateStore


def _platform_first_on_path() -> None:
    """Inside ``plugin_functions/<name>/`` the plugin's own ``app.py`` and ``chalicelib/``
    would shadow the marketplace's: put the repository first and drop those modules."""
    root = PLUGINS_ROOT.parent
    if sys.path[0] != str(root):
        sys.path.insert(0, str(root))
    for name in ("app", "chalicelib"):
        module = sys.modules.get(name)
        if module is not None and Path(getattr(module, "__file__", "") or "").resolve().parent not in (
                root, root / "chalicelib"):
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]


def recording(runtime: Any, plugin_dir: Path, config: pytest.Config) -> Any:
    """The runtime, with every answer the plugin gives recorded for ``pytest --conformance``
    (the conformance plugin of the SDK checks them against the plugin's spec/)."""
    from chalicelib.runtime.port import PluginRuntime
    from mocklib_plugin_sdk.conformance.pytest_plugin import recorder_of
    from mocklib_plugin_sdk.errors import ProtocolError
    from mocklib_plugin_sdk.protocol import decode_result

    recorder = recorder_of(config)
    if recorder is None or not recorder.active:
        return runtime

    class Recording(PluginRuntime):
        def invoke(self, function: Any, event: dict[str, Any]) -> dict[str, Any]:
            result = runtime.invoke(function, event)
            if event.get("type") == "request":
                try:
                    answer = decode_result(result)
                except ProtocolError:  # the gateway answers 502 for it; nothing the spec describes
                    return result
                request = event["request"]
                recorder.record(plugin_dir, request["method"], request["path"], answer.status, answer.headers,
                                answer.body)
            return result

        def close(self) -> None:
            runtime.close()

    return Recording()


@pytest.fixture
def gateway(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Gateway]:
    """The real API (chalice's local server on 127.0.0.1, routed like API Gateway) on moto,
    the plugin published, approved and installed for a user, running in the local runtime's
    isolated worker processes. Official vendor SDKs talk to ``base_url`` with ``live_key``
    (or ``test_key`` for the sandbox) as their credential."""
    from moto import mock_aws

    # The marketplace finds the plugin's code under MF_PLUGIN_SOURCE_ROOT (plugin_functions/).
    assert plugin_dir.parent == PLUGINS_ROOT, f"{plugin_dir} is not a plugin_functions/<name>/ folder"
    _platform_first_on_path()
    from chalicelib.auth.principal import Principal
    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.runtime.local import LocalRuntime
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container
    from devstack.chalice_local import install as greedy_routes
    from devstack.server import ApiServer

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    _, manifest = load_plugin_class(plugin_dir)
    store = InMemoryStateStore()
    with mock_aws():
        runtime = LocalRuntime(store)
        container = Container(Settings.from_env(GATEWAY_ENV), runtime=recording(runtime, plugin_dir, request.config))
        set_container(container)
        create_tables(TABLES)
        greedy_routes()
        developer = Principal(user_id="usr_plugin_dev", role="developer", via="jwt")
        container.catalog.create_plugin(developer, manifest)
        container.catalog.submit_version(developer, manifest["name"], manifest["version"])
        container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"),
                                          manifest["name"], manifest["version"])
        user = container.auth.create_user(email="sdk-user@example.com", password="correct horse battery",
                                          role="user")
        principal = Principal(user_id=user.user_id, role="user", via="jwt")
        container.installs.install(principal, plugin=manifest["name"],
                                   accept_permissions=manifest.get("permissions", []))
        live = container.auth.create_key(principal, name="live", mode="live")["api_key"]
        test = container.auth.create_key(principal, name="test", mode="test")["api_key"]
        from app import app

        major = manifest["version"].split(".")[0]
        with ApiServer(app, port=0, access_log=False) as server:
            yield Gateway(api_url=server.url, base_url=f"{server.url}/plugins/{manifest['name']}/v{major}",
                          live_key=live, test_key=test, user_token=container.auth.issue_token(user),
                          container=container, store=store)
        runtime.close()
        set_container(None)


__all__ = ["GATEWAY_ENV", "PLUGINS_ROOT", "Gateway", "call", "gateway", "host", "load_plugin_class", "manifest",
           "plugin_dir", "recording", "store"]
