"""Changes made in one container reach another container's gateway within the cache TTL
(5 s in production; shortened here so the test is quick)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import DomainError
from chalicelib.gateway.service import GatewayCall
from chalicelib.wiring import Container

TTL = 0.4
from tests.support import ECHO_PLUGIN as ECHO


@pytest.fixture
def settings(settings):
    return replace(settings, key_cache_ttl_seconds=TTL, entitlement_cache_ttl_seconds=TTL)


@pytest.fixture
def world(container, settings, runtime):
    """``container`` serves calls; ``other`` is a second warm container making changes."""
    other = Container(settings, runtime=runtime)
    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    other.catalog.create_plugin(dev, ECHO)
    other.catalog.submit_version(dev, "echo", "1.0.0")
    other.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "echo", "1.0.0")
    user = other.auth.create_user(email="stale@example.com", password="correct horse battery", role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    other.installs.install(principal, plugin="echo", accept_permissions=ECHO["permissions"])
    created = other.auth.create_key(principal, name="k", mode="live")
    return {"serving": container, "other": other, "principal": principal, "key": created["api_key"],
            "key_id": created["key_id"]}


def outcome(world) -> str:
    call = GatewayCall(method="GET", plugin="echo", version_segment="v1", path="echo", query={},
                       headers={"authorization": f"Bearer {world['key']}"}, body=b"", request_id="r")
    try:
        return str(world["serving"].gateway.handle(call).status)
    except DomainError as exc:
        return exc.code


def settles_within_ttl(world, expected: str) -> float:
    began = time.monotonic()
    while outcome(world) != expected:
        assert time.monotonic() - began < TTL + 0.5, f"still not {expected} after the TTL"
        time.sleep(0.05)
    return time.monotonic() - began


@pytest.mark.parametrize("change, expected", [
    (lambda w: w["other"].auth.revoke_key(w["principal"], w["key_id"]), "invalid_api_key"),
    (lambda w: w["other"].installs.uninstall(w["principal"], "echo"), "plugin_not_installed"),
    (lambda w: w["other"].installs.set_enabled(w["principal"], "echo", False), "plugin_disabled"),
])
def test_a_change_elsewhere_takes_effect_within_the_cache_ttl(world, change, expected):
    assert outcome(world) == "200"  # warm: key and entitlement now cached in the serving container
    change(world)
    assert settles_within_ttl(world, expected) <= TTL + 0.5
