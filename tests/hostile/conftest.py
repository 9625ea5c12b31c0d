"""What the hostile suite attacks: canaries in the gateway's environment and state dir, a port
standing for DynamoDB Local that counts who connects, a host path that must stay unwritten;
and a marketplace (moto, the real local runtime in its sandbox, chalice's local server) with
every attack published as a plugin next to the echo plugin, installed by one user."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.attacks import ATTACKS, manifest, write_plugin
from tests.support import ECHO_PLUGIN, make_admin, post, publish, sign_up

REPO = Path(__file__).resolve().parents[2]
REPORT_DIR = REPO / "test-artifacts" / "hostile"


class Listener:
    """A TCP port on 127.0.0.1 that counts connections: no attack may ever reach it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@dataclass
class Canaries:
    secret: str
    state_dir: Path
    listener: Listener
    write_target: Path
    files: dict[str, Path] = field(default_factory=dict)

    def targets(self, **extra: Any) -> dict[str, Any]:
        return {"port": self.listener.port, "gateway_pid": os.getpid(), "state_dir": str(self.state_dir),
                "secrets_file": str(self.files["secrets"]), "dev_json": str(self.files["dev_json"]),
                "db_file": str(self.files["db"]), "write_target": str(self.write_target), **extra}


@pytest.fixture(scope="module")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Canaries]:
    secret = f"mf-canary-{uuid.uuid4().hex}"
    state = tmp_path_factory.mktemp("state")
    (state / "dynamodb").mkdir()
    files = {"secrets": state / "dev-secrets.json", "dev_json": state / "dev.json",
             "db": state / "dynamodb" / "shared-local-instance.db"}
    files["secrets"].write_text(json.dumps({"jwt_keys": f"dev:{secret}"}))
    files["dev_json"].write_text(json.dumps({"admin_token": secret}))
    files["db"].write_bytes(b"SQLite format 3\x00" + secret.encode())
    os.environ["MF_HOSTILE_CANARY"] = secret  # in the gateway's environment, as its secrets are
    listener = Listener()
    try:
        yield Canaries(secret, state, listener, tmp_path_factory.mktemp("host") / "planted.txt", files)
    finally:
        os.environ.pop("MF_HOSTILE_CANARY", None)
        listener.sock.close()


@dataclass
class Market:
    url: str
    container: Any
    runtime: Any
    client: Any
    token: str
    key: str
    user_id: str
    log: Path


@pytest.fixture(scope="module")
def market(canaries: Canaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    from chalice.test import Client
    from mocklib_plugin_sdk import InMemoryStateStore
    from moto import mock_aws

    from app import app
    from chalicelib.billing.records import CustomerRecord
    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.runtime.local import LocalRuntime
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container
    from devstack.server import ApiServer
    from tests.conftest import TEST_ENV

    root = tmp_path_factory.mktemp("plugins")
    for attack in ATTACKS:
        write_plugin(attack, root)
    shutil.copytree(REPO / "plugin_functions" / "echo" / "chalicelib", root / "echo" / "chalicelib")
    log = root.parent / "workers.log"
    settings = replace(Settings.from_env({**TEST_ENV, "MF_CHECKS_DISPATCH": "inline",
                                          "MF_ARTIFACT_STORE": f"dir:{root.parent / 'artifacts'}"}),
                       plugin_source_root=str(root), entitlement_cache_ttl_seconds=0)
    with open(log, "ab") as worker_log, mock_aws():
        runtime = LocalRuntime(InMemoryStateStore(), worker_stderr=worker_log)  # no trusted roots: all sandboxed
        assert runtime.sandboxed, runtime.sandbox_problem
        container = Container(settings, runtime=runtime)
        create_tables(TABLES)
        set_container(container)
        try:
            with Client(app) as client, ApiServer(app, port=0, access_log=False) as server:
                dev, admin = sign_up(client, "developer")["access_token"], make_admin(container)
                for document in [ECHO_PLUGIN, *(manifest(attack) for attack in ATTACKS)]:
                    publish(client, dev, admin, document)
                user = sign_up(client)
                token = user["access_token"]
                for document in [ECHO_PLUGIN, *(manifest(attack) for attack in ATTACKS)]:
                    installed = post(client, "/plugins/install", {"plugin": document["name"],
                                                                  "accept_permissions": document["permissions"]}, token)
                    assert installed.status_code == 201, installed.body
                key = post(client, "/keys", {"name": "hostile", "mode": "live"}, token).json_body["api_key"]
                # the attacks have no free tier: a card on file lets their calls reach the plugins
                # (no Stripe here, so the billing record alone)
                user_id = user["user"]["user_id"]
                CustomerRecord(*CustomerRecord.key(user_id), user_id=user_id, stripe_customer_id="cus_hostile",
                               payment_method="pm_card_visa").save()
                yield Market(server.url, container, runtime, client, token, key, user["user"]["user_id"], log)
        finally:
            runtime.close()
            set_container(None)


def write_report(kind: str, name: str, row: dict[str, Any]) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{kind}-{name}.json").write_text(json.dumps(row, indent=2, default=str) + "\n")
