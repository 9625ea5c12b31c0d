"""Fixtures for the plugin SDK tests: DynamoDB Local, moto, stores, hosts, HTTP receivers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.sdk.support import REPO_ROOT, SDK_ROOT, free_port

# The SDK is its own package; make the tests work whether or not it is pip-installed.
if str(SDK_ROOT) not in sys.path:
    sys.path.insert(0, str(SDK_ROOT))

from mocklib_plugin_sdk import (DynamoDBStateStore, InMemoryStateStore, Plugin, PluginHost,  # noqa: E402
                                SdkSettings, reset_deterministic_state)

_JAR_HOMES = [os.environ.get("MF_DYNAMODB_LOCAL_HOME", ""), str(REPO_ROOT / ".tools" / "dynamodb"),
              "/tmp/probe/pk/package/emulator"]


@pytest.fixture(autouse=True)
def _fresh_determinism() -> Iterator[None]:
    reset_deterministic_state()
    yield
    reset_deterministic_state()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials: DynamoDB Local and moto accept any; nothing may reach AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "sdktests")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sdktests")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")


class _DynamoDBLocal:
    """DynamoDB Local in memory, started as early as possible and killed at the end.

    The JVM needs several seconds to boot, so it is launched as soon as
    collection shows a test will need it, and boots while the other tests run.
    """

    process: subprocess.Popen[bytes] | None = None
    endpoint: str | None = None
    ready = False

    @classmethod
    def start(cls) -> None:
        if cls.process is not None:
            return
        java = shutil.which("java")
        home = next((Path(h) for h in _JAR_HOMES if h and (Path(h) / "DynamoDBLocal.jar").exists()), None)
        if java is None or home is None:
            return
        port = free_port()
        # C1-only JIT and the serial GC halve the JVM's boot time; throughput is irrelevant here.
        cls.process = subprocess.Popen(
            [java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
             "-jar", str(home / "DynamoDBLocal.jar"), "-inMemory", "-sharedDb", "-disableTelemetry",
             "-port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        cls.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    def wait_ready(cls, timeout: float = 60.0) -> str:
        cls.start()
        if cls.process is None or cls.endpoint is None:
            pytest.skip("DynamoDB Local needs java and DynamoDBLocal.jar (scripts/bootstrap.sh)")
        if not cls.ready:
            _wait_for_dynamodb(cls.endpoint, cls.process, timeout)
            cls.ready = True
        return cls.endpoint

    @classmethod
    def stop(cls) -> None:
        process, cls.process, cls.ready = cls.process, None, False
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the JVM if pytest dies, so no orphan Java is left behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except OSError:
        pass


_NEEDS_DYNAMODB = {"dynamodb_endpoint", "dynamo_settings", "dynamo_store", "any_store"}


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(_NEEDS_DYNAMODB & set(getattr(item, "fixturenames", ())) for item in session.items):
        _DynamoDBLocal.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _DynamoDBLocal.stop()


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """One in-memory DynamoDB Local per test session (per xdist worker)."""
    yield _DynamoDBLocal.wait_ready()
    _DynamoDBLocal.stop()


def _wait_for_dynamodb(endpoint: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    import botocore.session

    client = botocore.session.get_session().create_client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x")
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"DynamoDB Local exited with {process.returncode}")
        try:
            client.list_tables()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture(scope="session")
def _dynamo_table(dynamodb_endpoint: str) -> Iterator[SdkSettings]:
    """One table per session: tests isolate by unique plugin names, which is
    exactly the isolation the key layout promises, and saves a CreateTable each."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "sdktests")  # DynamoDB Local wants letters and digits only
        env.setenv("AWS_SECRET_ACCESS_KEY", "sdktests")
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        settings = SdkSettings.from_env({"MF_PLUGIN_STATE_TABLE": f"plugin-state-{uuid.uuid4().hex[:10]}",
                                         "MF_DYNAMODB_ENDPOINT": dynamodb_endpoint, "AWS_REGION": "us-east-1"})
        DynamoDBStateStore.from_settings(settings).create_table()
        yield settings


@pytest.fixture
def dynamo_settings(_dynamo_table: SdkSettings, aws_env: None) -> SdkSettings:
    return _dynamo_table


@pytest.fixture
def dynamo_store(dynamo_settings: SdkSettings) -> DynamoDBStateStore:
    return DynamoDBStateStore.from_settings(dynamo_settings)


@pytest.fixture
def moto_store(aws_env: None) -> Iterator[DynamoDBStateStore]:
    """The same adapter on moto's in-process ``mock_aws``: fast, no server."""
    from moto import mock_aws

    with mock_aws():
        store = DynamoDBStateStore(f"plugin-state-{uuid.uuid4().hex[:10]}", region="us-east-1")
        store.create_table()
        yield store


@pytest.fixture(params=["memory", "dynamodb-local"])
def any_store(request: pytest.FixtureRequest) -> Any:
    """Each storage contract test runs against the fake and the real server, so the
    fake cannot drift (moto gets its own round-trip test: it costs ~0.5 s a test)."""
    if request.param == "memory":
        return InMemoryStateStore()
    return request.getfixturevalue("dynamo_store")


@pytest.fixture
def make_host() -> Iterator[Callable[..., PluginHost]]:
    hosts: list[PluginHost] = []

    def build(plugin_class: type[Plugin], manifest_doc: dict[str, Any], **kwargs: Any) -> PluginHost:
        kwargs.setdefault("settings", SdkSettings())
        kwargs.setdefault("store", InMemoryStateStore())
        host = PluginHost(plugin_class, manifest_doc, **kwargs)
        hosts.append(host)
        return host

    yield build
    for host in hosts:
        host.close()


class Receiver:
    """A webhook receiver on 127.0.0.1 that records requests and fails the first
    ``fail_first`` of them with a 500 (to exercise retries)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                             self.headers.items()}, "body": body})
                    status = 500 if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    receivers: list[Receiver] = []

    def build(fail_first: int = 0) -> Receiver:
        receiver = Receiver(fail_first)
        receivers.append(receiver)
        return receiver

    yield build
    for receiver in receivers:
        receiver.close()
