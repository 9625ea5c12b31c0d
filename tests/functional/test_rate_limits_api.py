"""Rate limits on the management API, on sign-up/login and per (user, plugin) at the gateway."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from tests.support import ECHO_PLUGIN as ECHO
from tests.support import PASSWORD, get, make_admin, post, publish, sign_up



@pytest.fixture
def settings(settings):
    return replace(settings, api_rate_limit="5/60", auth_rate_limit="4/60")


def test_the_management_api_answers_429_with_retry_after_past_the_limit(client):
    token = sign_up(client)["access_token"]
    answers = [get(client, "/keys", token) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    refused = answers[-1]
    assert refused.json_body["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "5"


def test_each_user_has_a_budget_of_their_own(client):
    first, second = sign_up(client)["access_token"], sign_up(client)["access_token"]
    for _ in range(5):
        get(client, "/keys", first)
    assert get(client, "/keys", first).status_code == 429
    assert get(client, "/keys", second).status_code == 200


def test_sign_up_and_login_are_limited_per_address(client):
    sign_up(client, email="limited@example.com")
    logins = [post(client, "/auth/login", {"email": "limited@example.com", "password": PASSWORD}) for _ in range(4)]
    assert [r.status_code for r in logins] == [200, 200, 200, 429]


def test_a_plugin_can_set_its_own_gateway_limit(client, container):
    doc = copy.deepcopy(ECHO)
    doc["rate_limit"] = {"requests": 3, "window_seconds": 60}
    container.settings = replace(container.settings, api_rate_limit="1000/60")
    publish(client, sign_up(client, "developer")["access_token"], make_admin(container), doc)
    token = sign_up(client)["access_token"]
    post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": doc["permissions"]}, token)
    key = post(client, "/keys", {"name": "k"}, token).json_body["api_key"]
    statuses = [client.http.get("/plugins/echo/v1/echo", headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
