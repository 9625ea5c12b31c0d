"""Integration fixtures: a real DynamoDB Local (in memory, one per xdist worker) and a
Container bound to it with tables of their own for every test function."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.dynamodb import DynamoDBLocal
from tests.fakes import InProcessRuntime

JWT_KEYS = "it:" + "integration-test-signing-secret-0123456789"


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal() as server:  # free port, -inMemory
        yield server


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials: DynamoDB Local accepts any, and nothing may reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "integration")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "integration")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def it_environ(endpoint: str, prefix: str) -> dict[str, str]:
    return {"MF_STAGE": "it", "MF_JWT_KEYS": JWT_KEYS, "MF_WEBHOOK_SIGNING_KEY": "w" * 64,
            "MF_DYNAMODB_ENDPOINT": endpoint,
            "MF_TABLE_PREFIX": prefix, "AWS_REGION": "us-east-1", "MF_SANDBOX_RATE_LIMIT": "100000/1"}


def build_container(endpoint: str, prefix: str):  # type: ignore[no-untyped-def]
    """Container + tables on ``endpoint``; the caller resets with ``set_container(None)``."""
    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    container = Container(Settings.from_env(it_environ(endpoint, prefix)))
    set_container(container)
    create_tables(TABLES)
    return container


@pytest.fixture
def container_factory(aws_env: None):  # type: ignore[no-untyped-def]
    """``container_factory(endpoint, prefix)`` for tests that run their own server;
    resets the global container afterwards."""
    from chalicelib.wiring import set_container

    yield build_container
    set_container(None)


@pytest.fixture
def table_prefix() -> str:
    return f"it-{uuid.uuid4().hex[:12]}-"


@pytest.fixture
def local_container(dynamodb_local: DynamoDBLocal, aws_env: None, table_prefix: str):  # type: ignore[no-untyped-def]
    from chalicelib.tables import TABLES
    from chalicelib.wiring import set_container

    container = build_container(dynamodb_local.endpoint, table_prefix)
    try:
        yield container
    finally:
        set_container(None)
        for model in TABLES:  # keep the in-memory server small
            try:
                model.delete_table()
            except Exception:  # noqa: BLE001 - best effort
                pass


@pytest.fixture
def gateway_container(dynamodb_local, aws_env, table_prefix):
    from dataclasses import replace

    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    settings = replace(Settings.from_env(it_environ(dynamodb_local.endpoint, table_prefix)),
                       plugin_source_root=str(Path(__file__).resolve().parents[2] / "plugin_functions"))
    container = Container(settings, runtime=InProcessRuntime())
    set_container(container)
    create_tables(TABLES)
    yield container
    set_container(None)
    for model in TABLES:
        model.delete_table()
