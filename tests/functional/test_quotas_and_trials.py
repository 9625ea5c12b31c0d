"""Quotas, concurrency limits, trials, licences in the invocation context, usage stats (moto)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core.clock import FixedClock
from tests.support import ECHO_PLUGIN, expect_error, get, make_admin, post, publish, sign_up

PLANS = [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 20},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000, "trial_days": 14, "features": ["analytics"],
     "limits": {"concurrency": 3}},
    {"id": "enterprise", "name": "Enterprise", "kind": "custom", "included_calls": -1},
]


@pytest.fixture
def clock():
    return FixedClock.at("2026-11-10T12:00:00Z")


@pytest.fixture
def container(settings, runtime, clock):
    from dataclasses import replace

    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    with mock_aws():
        built = Container(replace(settings, access_token_ttl_seconds=90 * 86_400), clock=clock, runtime=runtime)
        create_tables(TABLES)
        set_container(built)
        yield built
        set_container(None)


@pytest.fixture
def user(client, container):
    dev = sign_up(client, "developer")["access_token"]
    publish(client, dev, make_admin(container), {**ECHO_PLUGIN, "pricing": {
        "tier": "standard", "model": "freemium", "plans": PLANS}})
    signed = sign_up(client)
    token = signed["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]},
                token).status_code == 201
    live = post(client, "/keys", {"name": "live", "mode": "live"}, token).json_body["api_key"]
    test = post(client, "/keys", {"name": "test", "mode": "test"}, token).json_body["api_key"]
    return {"token": token, "live": live, "test": test, "id": signed["user"]["user_id"]}


def call(client, key, path="/plugins/echo/v1/echo"):
    return client.http.get(path, headers={"Authorization": f"Bearer {key}"})


def test_the_free_plan_quota_warns_then_refuses_with_the_way_to_upgrade(client, user):
    replies = [call(client, user["live"]) for _ in range(20)]
    assert [r.status_code for r in replies] == [200] * 20
    assert replies[0].headers["X-MockFactory-Quota-Limit"] == "20"
    assert replies[0].headers["X-MockFactory-Quota-Remaining"] == "19"
    assert "X-MockFactory-Free-Calls-Remaining" not in replies[0].headers  # a free plan never charges
    warned = ["X-MockFactory-Quota-Warning" in r.headers for r in replies]
    assert warned == [False] * 10 + [True] * 10  # fewer than 10 calls (or 10 %) left
    assert replies[-1].headers["X-MockFactory-Quota-Remaining"] == "0"

    refused = expect_error(call(client, user["live"]), 402, "quota_exceeded")
    assert "20 calls on your free plan of echo" in refused["message"]
    assert "Upgrade to Pro ($99.00/month, 50,000 calls a month)" in refused["message"]
    assert refused["details"]["upgrade"]["plan"] == "pro" and refused["details"]["resets_at"] == "2026-12-01T00:00:00Z"
    assert call(client, user["test"]).status_code == 200  # sandbox keys are not held to the quota

    stats = get(client, "/usage/stats?period=2026-11", user["token"]).json_body
    (row,) = stats["plugins"]
    assert (row["plan"], row["calls"], row["quota"]) == ("free", 20, {"limit": 20, "used": 20, "remaining": 0})
    assert row["sandbox_calls"] == 1
    expect_error(get(client, "/usage/stats?period=2026-13", user["token"]), 400, "validation_failed")


def test_a_trial_gives_pro_once_then_falls_back(client, container, clock, user):
    assert get(client, "/trials/echo", user["token"]).json_body == {"plugin": "echo", "plan": "pro",
                                                                   "status": "available", "days": 14}
    started = post(client, "/trials/echo", None, user["token"])
    assert started.status_code == 201, started.body
    assert (started.json_body["status"], started.json_body["days_remaining"]) == ("active", 14)
    expect_error(post(client, "/trials/echo", None, user["token"]), 409, "trial_already_used")

    licence = call(client, user["live"], "/plugins/echo/v1/licence?feature=analytics").json_body
    assert licence == {"tier": "pro", "features": ["analytics"], "has_feature": True}
    assert "X-MockFactory-Quota-Limit" not in call(client, user["live"]).headers  # Pro: overage, no cap

    clock.moment += timedelta(days=13, hours=1)
    assert get(client, "/trials/echo", user["token"]).json_body["days_remaining"] == 1
    clock.moment += timedelta(days=1)
    assert get(client, "/trials/echo", user["token"]).json_body["status"] == "expired"
    container.entitlements.forget(user["id"], "echo")  # other containers: within the cache TTL
    licence = call(client, user["live"], "/plugins/echo/v1/licence?feature=analytics").json_body
    assert licence == {"tier": "free", "features": [], "has_feature": False}
    expect_error(post(client, "/trials/echo", None, user["token"]), 409, "trial_already_used")


def test_plugins_without_plans_have_no_trial_and_no_cap(client, container):
    dev = sign_up(client, "developer")["access_token"]
    publish(client, dev, make_admin(container), ECHO_PLUGIN)
    token = sign_up(client)["access_token"]
    post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]}, token)
    expect_error(post(client, "/trials/echo", None, token), 409, "trial_unavailable")
    live = post(client, "/keys", {"name": "live", "mode": "live"}, token).json_body["api_key"]
    reply = call(client, live, "/plugins/echo/v1/licence")
    assert reply.json_body["tier"] == "usage" and "X-MockFactory-Quota-Limit" not in reply.headers


def test_concurrency_limit_refuses_the_call_beyond_the_plan(client, container, user):
    from chalicelib.limits.quotas import SlotStore

    post(client, "/trials/echo", None, user["token"])  # Pro: 3 concurrent calls
    slots = SlotStore(container.clock)
    deadline = container.clock.now() + timedelta(seconds=30)
    held = [slots.acquire(user["id"], "echo", 3, deadline) for _ in range(3)]  # three calls in flight
    assert sorted(held) == [0, 1, 2]
    refused = expect_error(call(client, user["live"]), 429, "concurrency_limited")
    assert refused["details"]["concurrency"] == 3
    slots.release(user["id"], "echo", held[0])
    assert call(client, user["live"]).status_code == 200
    container.clock.moment += timedelta(seconds=31)  # a holder that died frees its slot at its deadline
    assert slots.acquire(user["id"], "echo", 3, container.clock.now() + timedelta(seconds=30)) is not None
