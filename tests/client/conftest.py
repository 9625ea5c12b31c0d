"""The real API on a real local HTTP server (chalice's local server on 127.0.0.1, routed like
API Gateway) over moto, with the echo and stripe plugins published and running in the local
runtime's worker processes: the SDK and the CLI talk to it over HTTP like to a deployment.

One server per test package (starting worker processes is the slow part); every test that
changes state makes its own account with :func:`new_account`, so tests stay independent.
"""
from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS_ROOT = ROOT / "plugin_functions"
PASSWORD = "correct horse battery"
ENV = {
    "MF_STAGE": "clienttest", "MF_JWT_KEYS": "ct:" + "c" * 48, "MF_WEBHOOK_SIGNING_KEY": "w" * 64, "AWS_REGION": "us-east-1",
    "MF_INDEX_BACKGROUND_REFRESH": "0", "MF_API_RATE_LIMIT": "100000/60", "MF_AUTH_RATE_LIMIT": "100000/60",
    "MF_SANDBOX_RATE_LIMIT": "100000/1",
    "MF_WEBHOOK_DISPATCH": "manual", "MF_WEBHOOKS_ALLOW_PRIVATE": "1", "MF_KEY_CACHE_TTL": "0",
    "MF_ENTITLEMENT_CACHE_TTL": "0", "MF_PLUGIN_SOURCE_ROOT": str(PLUGINS_ROOT),
}
ECHO_FREE_CALLS = 3  # echo's free plan here: a few live calls, then 402 quota_exceeded
_seq = itertools.count(1)


def load_manifest(name: str) -> dict[str, Any]:
    return json.loads((PLUGINS_ROOT / name / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))


@dataclass
class Account:
    email: str
    user_id: str
    token: str
    test_key: str
    live_key: str


@dataclass
class Marketplace:
    api_url: str
    container: Any

    def new_account(self, role: str = "user", *, install: tuple[str, ...] = ()) -> Account:
        from chalicelib.auth.principal import Principal

        auth = self.container.auth
        email = f"{role}{next(_seq)}@client.example.com"
        user = auth.create_user(email=email, password=PASSWORD, role=role)
        principal = Principal(user_id=user.user_id, role=role, via="jwt")
        for name in install:
            self.container.installs.install(principal, plugin=name,
                                            accept_permissions=load_manifest(name).get("permissions", []))
        return Account(email=email, user_id=user.user_id, token=auth.issue_token(user),
                       test_key=auth.create_key(principal, name="test", mode="test")["api_key"],
                       live_key=auth.create_key(principal, name="live", mode="live")["api_key"])


def _publish(container: Any, manifest: dict[str, Any]) -> None:
    from chalicelib.auth.principal import Principal

    developer = Principal(user_id="usr_client_dev", role="developer", via="jwt")
    admin = Principal(user_id="usr_client_admin", role="admin", via="jwt")
    container.catalog.create_plugin(developer, manifest)
    container.catalog.submit_version(developer, manifest["name"], manifest["version"])
    container.catalog.approve_version(admin, manifest["name"], manifest["version"])


@pytest.fixture(scope="package")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marketplace]:
    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.runtime.local import LocalRuntime
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container
    from devstack.chalice_local import install as greedy_routes
    from devstack.server import ApiServer
    from mocklib_plugin_sdk import InMemoryStateStore

    echo = copy.deepcopy(load_manifest("echo"))
    echo["pricing"] = {"tier": "standard", "model": "freemium", "plans": [
        {"id": "free", "name": "Free", "kind": "free", "included_calls": ECHO_FREE_CALLS},
        {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 900, "interval": "month",
         "included_calls": 50_000, "overage_price_micros": 1000}]}
    with mock_aws():
        runtime = LocalRuntime(InMemoryStateStore())
        artifacts = tmp_path_factory.mktemp("artifacts")
        env = {**ENV, "MF_ARTIFACT_STORE": f"dir:{artifacts}", "MF_CHECKS_DISPATCH": "thread"}
        container = Container(Settings.from_env(env), runtime=runtime)
        set_container(container)
        try:
            create_tables(TABLES)
            greedy_routes()
            _publish(container, echo)
            _publish(container, load_manifest("stripe"))
            from app import app

            with ApiServer(app, port=0, access_log=False) as server:
                yield Marketplace(api_url=server.url, container=container)
        finally:
            runtime.close()
            set_container(None)


@pytest.fixture
def account(marketplace: Marketplace) -> Account:
    """A fresh user with echo and stripe installed."""
    return marketplace.new_account(install=("echo", "stripe"))


# --- a tiny scripted HTTP server, for what the real API cannot be made to do on demand ---------
@dataclass
class Reply:
    status: int
    body: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    at: float
    headers: dict[str, str]
    body: bytes


class Scripted:
    """Answers each request with the next scripted reply (the last one repeats) and records it."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    def next(self, seen: Seen) -> Reply:
        with self.lock:
            self.seen.append(seen)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def scripted() -> Iterator[tuple[Scripted, str]]:
    """(script, url): set ``script.replies``; ``script.seen`` records every request."""
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = script.next(Seen(self.command, self.path, time.monotonic(), dict(self.headers), body))
            if reply.delay:
                time.sleep(reply.delay)
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


