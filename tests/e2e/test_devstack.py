"""`python -m devstack` end to end, over real HTTP: what `make dev` gives a developer."""
from __future__ import annotations

import base64
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.dynamodb import free_port, port_is_open
from devstack.seed import PLUGINS_DIR, manifest_path
from tests.e2e.stack import DevStack

DEV_JSON_KEYS = {"api_url", "dynamodb_url", "demo_api_key", "demo_user_token", "developer_token",
                 "admin_token"}


@pytest.fixture
def devstack_factory(tmp_path: Path) -> Iterator[Any]:
    stacks: list[DevStack] = []
    ports = (free_port(), free_port())

    def start() -> DevStack:
        stack = DevStack(tmp_path / "state", *ports, log=tmp_path / "devstack.log").start()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:  # a failed test must not leave servers behind
        stack.kill()


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def echo_permissions() -> list[str]:
    path = manifest_path(PLUGINS_DIR / "echo")
    assert path is not None, "plugin_functions/echo has no manifest"
    manifest = json.loads(path.read_text())
    return list(manifest.get("permissions", []))


def installed_names(body: dict[str, Any]) -> set[str]:
    return {item.get("plugin") or item.get("name") for item in body["installs"]}


def assert_private(stack: DevStack) -> None:
    log = stack.log.read_text(errors="replace")
    for key in ("admin_token", "developer_token", "demo_user_token", "demo_api_key", "stripe_api_key",
                "stripe_webhook_secret", "demo_password"):
        assert str(stack.info[key]) not in log, f"{key} is in the stack's log"
    state = stack.state_dir
    assert state.stat().st_mode & 0o077 == 0
    for path in (state / "dev.json", state / "dev-secrets.json", state / "dev.env"):
        assert path.stat().st_mode & 0o777 == 0o600, path
    data = list((state / "dynamodb").iterdir())
    assert data and all(path.stat().st_mode & 0o077 == 0 for path in [state / "dynamodb", *data])


def test_devstack_serves_the_marketplace_and_keeps_its_data(devstack_factory: Any) -> None:
    stack = devstack_factory()
    info = stack.info
    assert DEV_JSON_KEYS <= info.keys()
    assert info["api_url"] == f"http://127.0.0.1:{stack.api_port}"
    assert info["dynamodb_url"] == f"http://127.0.0.1:{stack.dynamodb_port}"
    assert info["demo_api_key"].startswith("mf_test_")
    http = requests.Session()

    # a new user signs up, makes a key that may install and call plugins, browses, installs echo with the key
    email, password = f"e2e-{uuid.uuid4().hex[:10]}@example.com", "e2e-password-123"
    signup = http.post(f"{stack.url}/auth/signup", json={"email": email, "password": password}, timeout=10)
    assert signup.status_code == 201, signup.text
    token = signup.json()["access_token"]

    key = http.post(f"{stack.url}/keys", json={"name": "e2e", "mode": "test", "scopes": ["gateway", "installs:write"]},
                    headers=bearer(token), timeout=10)
    assert key.status_code == 201, key.text
    api_key = key.json()["api_key"]

    catalog = http.get(f"{stack.url}/marketplace/plugins", params={"q": "echo"}, timeout=10)
    assert catalog.status_code == 200, catalog.text
    assert "echo" in {p["name"] for p in catalog.json()["plugins"]}
    detail = http.get(f"{stack.url}/marketplace/plugins/echo", timeout=10)
    assert detail.status_code == 200, detail.text

    install = http.post(f"{stack.url}/plugins/install", headers=bearer(api_key), timeout=10,
                        json={"plugin": "echo", "version": "latest", "accept_permissions": echo_permissions()})
    assert install.status_code == 201, install.text
    body = install.json()
    assert (body.get("install") or body).get("plugin") == "echo"

    # ... and calls it through the gateway: greedy {proxy+}, the local plugin runtime
    call = http.get(f"{stack.url}/plugins/echo/v1/echo/a/b", params={"x": "1"}, headers=bearer(api_key),
                    timeout=30)
    assert call.status_code == 200, call.text
    assert call.json()["path"] == "/echo/a/b"
    binary = bytes(range(256))
    posted = http.post(f"{stack.url}/plugins/echo/v1/echo", data=binary, timeout=30,
                       headers={"X-Api-Key": api_key, "Content-Type": "application/octet-stream",
                                "Accept": "application/octet-stream"})
    assert posted.status_code == 200, posted.text
    assert base64.b64decode(posted.json()["body_b64"]) == binary
    assert api_key not in posted.text
    usage = http.get(f"{stack.url}/usage", headers=bearer(token), timeout=10)
    echo_usage = next(p for p in usage.json()["plugins"] if p["plugin"] == "echo")
    assert echo_usage["sandbox"]["calls"] == 2 and echo_usage["live"]["calls"] == 0

    mine = http.get(f"{stack.url}/plugins/installed", headers=bearer(api_key), timeout=10)
    assert mine.status_code == 200, mine.text
    assert installed_names(mine.json()) == {"echo"}

    # the seeded demo user has echo installed, and the printed demo key calls it (and reads its usage)
    demo = http.get(f"{stack.url}/plugins/installed", headers=bearer(info["demo_user_token"]), timeout=10)
    assert demo.status_code == 200, demo.text
    assert "echo" in installed_names(demo.json())
    assert http.get(f"{stack.url}/usage", headers=bearer(info["demo_api_key"]), timeout=10).status_code == 200
    managing = http.get(f"{stack.url}/plugins/installed", headers=bearer(info["demo_api_key"]), timeout=10)
    assert (managing.status_code, managing.json()["code"]) == (403, "insufficient_scope")
    demo_call = http.get(f"{stack.url}/plugins/echo/v1/echo", headers=bearer(info["demo_api_key"]), timeout=30)
    assert demo_call.status_code == 200, demo_call.text
    assert int(demo_call.headers["X-MockFactory-Calls-This-Month"]) >= 1
    demo_usage = http.get(f"{stack.url}/usage", headers=bearer(info["demo_user_token"]), timeout=10).json()
    assert next(p for p in demo_usage["plugins"] if p["plugin"] == "echo")["sandbox"]["calls"] >= 1
    for token_key in ("demo_user_token", "developer_token", "admin_token"):
        me = http.get(f"{stack.url}/auth/me", headers=bearer(info[token_key]), timeout=10)
        assert me.status_code == 200, (token_key, me.text)
    http.close()

    # secrets stay in the state dir, readable by this user only, and out of the stack's log
    assert_private(stack)

    # Ctrl-C stops everything it started, Java included
    assert stack.stop(signal.SIGINT) == 0, stack.output()
    assert not port_is_open(stack.dynamodb_port), "DynamoDB Local still listening after shutdown"
    assert not port_is_open(stack.api_port)

    # same state dir: the data, the signing key and the demo key survive a restart
    again = devstack_factory()
    login = requests.post(f"{again.url}/auth/login", json={"email": email, "password": password}, timeout=10)
    assert login.status_code == 200, login.text
    assert again.info["demo_api_key"] == info["demo_api_key"]
    still = requests.get(f"{again.url}/plugins/installed", headers=bearer(api_key), timeout=10)
    assert still.status_code == 200 and installed_names(still.json()) == {"echo"}, still.text
    assert again.stop(signal.SIGTERM) == 0, again.output()
    assert not port_is_open(again.dynamodb_port)
