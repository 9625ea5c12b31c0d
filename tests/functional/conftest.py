"""Fixtures of the functional tests beyond the shared ones (tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def server(container) -> Iterator[str]:
    """The app on chalice's local HTTP server (as ``make dev`` serves it), over this test's moto."""
    from app import app
    from devstack.server import ApiServer

    with ApiServer(app, port=0, access_log=False) as api:
        yield api.url
