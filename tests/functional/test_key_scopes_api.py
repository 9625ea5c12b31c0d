"""What an API key may do: a session manages the account, keys call plugins and do only what their
scopes allow (restricted keys: chosen scopes, an optional plugin list, an optional expiry). Every
route is walked from the app's own registrations, so a new route cannot slip past the rule."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from app import app  # noqa: F401 - registers every route in ROUTE_DOCS
from chalicelib.auth.scopes import SCOPES
from chalicelib.http import ROUTE_DOCS
from tests.support import ECHO_PLUGIN, expect_error, get, make_admin, manifest, post, publish, put, sign_up

GATEWAY = re.compile(r"^/plugins/\{name\}/\{version\}")
MANAGED = [d for d in ROUTE_DOCS if d.auth and not GATEWAY.match(d.path)]
SESSION_ONLY = sorted({(d.method, d.path, d.auth) for d in MANAGED if d.scope is None})
SCOPED = sorted({(d.method, d.path, d.scope) for d in MANAGED if d.scope is not None})


class MovableClock:
    """The real time plus an offset a test moves forward (to let keys expire)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture
def clock(container):
    container.clock = MovableClock()  # before the services are built: they keep the clock they get
    return container.clock


@pytest.fixture
def world(client, container, clock) -> dict[str, Any]:
    """echo (runnable) and weather (catalog only) published; a user with echo installed."""
    dev = sign_up(client, "developer")["access_token"]
    admin = make_admin(container)
    publish(client, dev, admin, ECHO_PLUGIN)
    publish(client, dev, admin, manifest(name="weather"))
    token = sign_up(client)["access_token"]
    assert install(client, token, "echo").status_code == 201
    return {"token": token, "dev": dev, "admin": admin}


def install(client: Any, credential: str, plugin: str) -> Any:
    permissions = ECHO_PLUGIN["permissions"] if plugin == "echo" else manifest()["permissions"]
    return post(client, "/plugins/install", {"plugin": plugin, "accept_permissions": permissions}, credential)


def new_key(client: Any, token: str, **body: Any) -> dict[str, Any]:
    created = post(client, "/keys", {"name": "k", **body}, token)
    assert created.status_code == 201, created.body
    return created.json_body


def call(client: Any, credential: str, method: str, path: str) -> Any:
    """``path`` with every {parameter} filled in; a JSON object as the body of a write."""
    filled = re.sub(r"\{[^}]+\}", "x0", path)
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}
    body = "{}" if method in ("POST", "PUT", "PATCH") else ""
    return client.http.request(method, filled, headers=headers, body=body)


def installed(client: Any, token: str) -> list[str]:
    return [i["plugin"] for i in get(client, "/plugins/installed", token).json_body["installs"]]


def gateway(client: Any, key: str, plugin: str = "echo") -> Any:
    return client.http.get(f"/plugins/{plugin}/v1/echo", headers={"Authorization": f"Bearer {key}"})


def sandbox_calls(client: Any, token: str, plugin: str = "echo") -> int:
    rows = get(client, "/usage", token).json_body["plugins"]
    return next((r["sandbox"]["calls"] + r["live"]["calls"] for r in rows if r["plugin"] == plugin), 0)


# --- the rule, route by route -------------------------------------------------------------------
def test_the_documented_scopes_are_the_closed_set_the_routes_use():
    assert {scope for _, _, scope in SCOPED} <= set(SCOPES)
    assert set(SCOPES) - {scope for _, _, scope in SCOPED} == {"gateway"}  # the gateway checks its own
    assert not [d.path for d in MANAGED if d.scope is not None and d.path.startswith(("/admin", "/developer",
                                                                                      "/keys", "/billing"))]


@pytest.mark.parametrize(("method", "path", "role"), SESSION_ONLY)
def test_a_route_without_a_scope_refuses_every_key_even_one_with_every_scope(client, container, world, method,
                                                                              path, role):
    session = {"user": world["token"], "developer": world["dev"], "admin": world["admin"]}[role]
    key = new_key(client, session, mode="live", scopes=list(SCOPES))["api_key"]

    refused = call(client, key, method, path)

    if role == "admin":
        expect_error(refused, 403, "admin_requires_session")
    else:
        body = expect_error(refused, 403, "insufficient_scope")
        assert "signed-in session" in body["message"]
        assert body["details"]["needs"] == "session" and body["details"]["required_scope"] is None


@pytest.mark.parametrize(("method", "path", "scope"), SCOPED)
def test_a_scoped_route_names_the_scope_a_key_lacks_and_lets_one_with_it_through(client, world, method, path,
                                                                                 scope):
    others = [s for s in SCOPES if s != scope and s.replace(":write", ":read") != scope]
    without = new_key(client, world["token"], scopes=others)["api_key"]
    with_it = new_key(client, world["token"], scopes=[scope])["api_key"]

    body = expect_error(call(client, without, method, path), 403, "insufficient_scope")
    assert f"'{scope}'" in body["message"] and body["details"]["required_scope"] == scope
    allowed = call(client, with_it, method, path)
    assert allowed.status_code not in (401, 403), allowed.body  # past authentication and the scope check


# --- default keys -------------------------------------------------------------------------------
def test_a_sandbox_key_cannot_manage_the_account(client, world):
    token = world["token"]
    live = new_key(client, token, name="production", mode="live")
    sandbox = new_key(client, token, name="ci")["api_key"]

    for refused in (post(client, "/keys", {"name": "sneaky", "mode": "live"}, sandbox),
                    client.http.delete(f"/keys/{live['key_id']}", headers={"Authorization": f"Bearer {sandbox}"}),
                    post(client, f"/keys/{live['key_id']}/rotate", None, sandbox),
                    post(client, "/billing/checkout", {"plugin": "echo", "plan": "pro"}, sandbox),
                    post(client, "/account/developer", None, sandbox),
                    get(client, "/auth/me", sandbox)):
        expect_error(refused, 403, "insufficient_scope")
    body = expect_error(install(client, sandbox, "weather"), 403, "insufficient_scope")
    assert "installs:write" in body["message"] and body["details"]["required_scope"] == "installs:write"

    assert installed(client, token) == ["echo"]
    keys = {k["name"]: k for k in get(client, "/keys", token).json_body["keys"]}
    assert set(keys) == {"production", "ci"} and keys["production"]["status"] == "active"
    assert get(client, "/usage", sandbox).status_code == 200  # it reads its own usage
    assert gateway(client, sandbox).status_code == 200  # and calls plugins


def test_a_live_key_calls_plugins_and_nothing_else(client, world):
    live = new_key(client, world["token"], mode="live")["api_key"]

    assert gateway(client, live).status_code == 200
    body = expect_error(get(client, "/usage", live), 403, "insufficient_scope")
    assert body["details"] == {"required_scope": "usage:read", "key_scopes": ["gateway"]}
    expect_error(get(client, "/plugins/installed", live), 403, "insufficient_scope")


# --- restricted keys ----------------------------------------------------------------------------
def test_a_restricted_key_manages_the_installs_of_its_plugins_only(client, world):
    token = world["token"]
    key = new_key(client, token, scopes=["installs:write"], plugins=["weather"])
    assert (key["scopes"], key["plugins"]) == (["installs:write"], ["weather"])
    raw = key["api_key"]

    assert install(client, raw, "weather").status_code == 201
    assert post(client, "/plugins/installed/weather/disable", None, raw).json_body["enabled"] is False
    assert put(client, "/plugins/installed/weather/config", {"config": {}}, raw).status_code == 200
    assert set(installed(client, raw)) == {"echo", "weather"}  # write includes read, of every install
    for refused in (post(client, "/plugins/installed/echo/disable", None, raw),
                    post(client, "/plugins/uninstall", {"plugin": "echo"}, raw),
                    put(client, "/plugins/installed/echo/webhook", {"url": "https://example.com/h"}, raw)):
        body = expect_error(refused, 403, "plugin_not_allowed")
        assert body["details"] == {"plugin": "echo", "key_plugins": ["weather"]}
    expect_error(gateway(client, raw, "weather"), 403, "insufficient_scope")  # no gateway scope
    expect_error(get(client, "/usage", raw), 403, "insufficient_scope")

    mine = {i["plugin"]: i for i in get(client, "/plugins/installed", token).json_body["installs"]}
    assert mine["echo"]["enabled"] is True and mine["weather"]["enabled"] is False
    assert post(client, "/plugins/uninstall", {"plugin": "weather"}, raw).status_code == 200
    assert installed(client, token) == ["echo"]


def test_the_gateway_refuses_a_key_without_the_gateway_scope_before_the_plugin_runs(client, world, runtime):
    reader = new_key(client, world["token"], scopes=["usage:read", "installs:read"])["api_key"]
    ran = len(runtime.events)

    body = json.loads(gateway(client, reader).body)

    assert body["code"] == "insufficient_scope" and body["details"]["required_scope"] == "gateway"
    assert body["error"]["code"] == "insufficient_scope"  # the shape vendor SDKs read, too
    assert len(runtime.events) == ran and sandbox_calls(client, world["token"]) == 0  # never ran, never counted


def test_the_gateway_refuses_a_plugin_outside_the_keys_list_before_it_runs(client, world, runtime):
    token = world["token"]
    assert install(client, token, "weather").status_code == 201
    only_weather = new_key(client, token, mode="live", plugins=["weather"])["api_key"]
    only_echo = new_key(client, token, mode="live", plugins=["echo"])["api_key"]
    ran = len(runtime.events)

    refused = gateway(client, only_weather)

    assert refused.status_code == 403 and json.loads(refused.body)["code"] == "plugin_not_allowed"
    assert len(runtime.events) == ran and sandbox_calls(client, token) == 0
    assert gateway(client, only_echo).status_code == 200
    assert sandbox_calls(client, token) == 1


def test_an_expired_key_is_refused_everywhere_with_api_key_expired(client, world, clock, runtime):
    token = world["token"]
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    key = new_key(client, token, mode="live", expires_at=expires, scopes=["gateway", "usage:read"])
    assert key["expires_at"].endswith("Z") and key["status"] == "active"
    assert gateway(client, key["api_key"]).status_code == 200  # cached as valid on purpose

    clock.offset = timedelta(hours=1, seconds=1)
    ran = len(runtime.events)

    refused = gateway(client, key["api_key"])
    assert refused.status_code == 401 and json.loads(refused.body)["code"] == "api_key_expired"
    body = expect_error(get(client, "/usage", key["api_key"]), 401, "api_key_expired")
    assert body["details"]["expired_at"] == key["expires_at"]
    assert len(runtime.events) == ran
    listed = {k["key_id"]: k for k in get(client, "/keys", token).json_body["keys"]}
    assert listed[key["key_id"]]["status"] == "expired"
    expect_error(post(client, f"/keys/{key['key_id']}/rotate", None, token), 409, "key_expired")


def test_rotating_a_restricted_key_keeps_its_scopes_plugins_and_expiry(client, world, clock):
    day = (clock.now() + timedelta(days=200)).date().isoformat()
    old = new_key(client, world["token"], scopes=["gateway", "licenses:read"], plugins=["weather", "echo"],
                  expires_at=day)

    new = post(client, f"/keys/{old['key_id']}/rotate", None, world["token"]).json_body

    assert (new["scopes"], new["plugins"], new["expires_at"]) == (["gateway", "licenses:read"], ["echo", "weather"],
                                                                   f"{day}T00:00:00Z")
    assert gateway(client, new["api_key"]).status_code == 200


def test_scopes_are_stored_in_the_documented_order_and_listed_with_their_meaning(client, world):
    key = new_key(client, world["token"], scopes=["webhooks:read", "gateway", "usage:read"])

    listed = get(client, "/keys", world["token"]).json_body

    assert key["scopes"] == ["gateway", "usage:read", "webhooks:read"]
    assert listed["scopes"] == SCOPES


def test_a_key_made_before_scopes_existed_keeps_what_its_mode_allows_by_default(client, world):
    from chalicelib.auth.records import ApiKeyRecord, KeyLookupRecord

    token = world["token"]
    keys = {mode: new_key(client, token, name=mode, mode=mode) for mode in ("test", "live")}
    for row in [*ApiKeyRecord.scan(), *KeyLookupRecord.scan()]:  # as such items were written before
        row.update(actions=[type(row).scopes.remove()])

    listed = {k["mode"]: k["scopes"] for k in get(client, "/keys", token).json_body["keys"]}

    assert listed == {"test": ["gateway", "usage:read"], "live": ["gateway"]}
    assert get(client, "/usage", keys["test"]["api_key"]).status_code == 200
    assert gateway(client, keys["live"]["api_key"]).status_code == 200
    expect_error(install(client, keys["test"]["api_key"], "weather"), 403, "insufficient_scope")
