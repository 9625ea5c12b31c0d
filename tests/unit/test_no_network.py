"""The unit tier's guard (tests/unit/conftest.py) holds."""
from __future__ import annotations

import socket

import pytest

from tests.unit.conftest import NetworkUsedInUnitTest


def test_a_unit_test_cannot_reach_the_network():
    with pytest.raises(NetworkUsedInUnitTest):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(NetworkUsedInUnitTest):
        socket.getaddrinfo("example.com", 443)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as raw, pytest.raises(NetworkUsedInUnitTest):
        raw.connect(("127.0.0.1", 9))
