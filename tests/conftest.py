"""Shared fixtures: a moto-backed container and a Chalice test client."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fake credentials for moto and DynamoDB Local; never real AWS from the test suite.
for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                      "AWS_REGION": "us-east-1"}.items():
    os.environ[_name] = _value

TEST_ENV = {
    "MF_STAGE": "test",
    "MF_JWT_KEYS": "k2026:" + "s" * 48 + ",k2025:" + "o" * 48,
    "MF_WEBHOOK_SIGNING_KEY": "w" * 64,
    "AWS_REGION": "us-east-1",
    "MF_INDEX_BACKGROUND_REFRESH": "0",  # moto is torn down after each test; no stray threads
    "MF_API_RATE_LIMIT": "100000/60",  # functional tests make many calls; limits have their own tests
    "MF_AUTH_RATE_LIMIT": "100000/60",
    "MF_SANDBOX_RATE_LIMIT": "100000/1",  # tests call in tight loops; the sandbox limits have their own tests
    "MF_WEBHOOK_DISPATCH": "manual",  # tests drive attempts themselves
    "MF_WEBHOOKS_ALLOW_PRIVATE": "1",
    "MF_PLUGIN_SOURCE_ROOT": str(Path(__file__).resolve().parent.parent / "plugin_functions"),
}

# Chalice's test client routes {proxy+} like API Gateway only with this matcher.
from devstack.chalice_local import install as _install_greedy_matcher  # noqa: E402

_install_greedy_matcher()


@pytest.fixture
def settings(tmp_path):
    from chalicelib.core.settings import Settings

    return Settings.from_env({**TEST_ENV, "MF_ARTIFACT_STORE": f"dir:{tmp_path / 'artifacts'}",
                              "MF_CHECKS_DISPATCH": "inline"})


@pytest.fixture
def runtime():
    from tests.fakes import InProcessRuntime

    return InProcessRuntime()


@pytest.fixture
def container(settings, runtime) -> Iterator[object]:
    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    with mock_aws():
        built = Container(settings, runtime=runtime)
        create_tables(TABLES)
        set_container(built)
        try:
            yield built
        finally:
            set_container(None)


@pytest.fixture
def client(container):
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client
from tests.stripe_standin import stripe_standin, stripe_payments  # noqa: F401
