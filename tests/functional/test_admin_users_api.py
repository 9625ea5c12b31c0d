"""Admins manage users (list and search by e-mail, disable, re-enable, revoke keys, change roles),
every action audited; a user becomes a developer by a self-service step, not a second account."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import DomainError
from chalicelib.gateway.service import GatewayCall
from chalicelib.wiring import Container
from tests.support import ECHO_PLUGIN, PASSWORD, expect_error, get, make_admin, post, publish, put, sign_up


@pytest.fixture
def admin(container) -> str:
    return make_admin(container)


@pytest.fixture
def member(client, container, admin) -> dict[str, Any]:
    """A user with echo installed, a session and a sandbox key that has been used (so it is cached)."""
    publish(client, sign_up(client, "developer")["access_token"], admin, ECHO_PLUGIN)
    signed = sign_up(client, email="member@example.com")
    token = signed["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]},
                token).status_code == 201
    key = post(client, "/keys", {"name": "ci"}, token).json_body["api_key"]
    assert gateway(client, key).status_code == 200
    return {"token": token, "key": key, "user_id": signed["user"]["user_id"]}


def gateway(client: Any, key: str) -> Any:
    return client.http.get("/plugins/echo/v1/echo", headers={"Authorization": f"Bearer {key}"})


def gateway_code(client: Any, key: str) -> str:
    return str(json.loads(gateway(client, key).body).get("code", "ok"))


def log_in(client: Any, email: str) -> Any:
    return post(client, "/auth/login", {"email": email, "password": PASSWORD})


def audit(client: Any, admin: str, user_id: str) -> list[tuple[str, int, str | None]]:
    entries = get(client, f"/admin/audit?target=user_id%3D{user_id}", admin).json_body["entries"]
    return [(e["action"], e["status"], e["reason"]) for e in reversed(entries)]


# --- listing and search ---------------------------------------------------------------------------
def test_admins_list_users_by_email_and_search_by_prefix_a_page_at_a_time(client, admin):
    for name in ("carol", "alice", "bob", "alan"):
        sign_up(client, email=f"{name}@example.com")

    everyone = get(client, "/admin/users", admin).json_body
    found = get(client, "/admin/users?email=AL", admin).json_body

    emails = [u["email"] for u in everyone["users"]]
    assert emails == sorted(emails) and {"alan@example.com", "alice@example.com", "bob@example.com"} <= set(emails)
    assert everyone["next_cursor"] is None
    assert [u["email"] for u in found["users"]] == ["alan@example.com", "alice@example.com"]
    assert found["users"][0]["status"] == "active" and found["users"][0]["role"] == "user"
    first = get(client, "/admin/users?email=al&limit=1", admin).json_body
    assert [u["email"] for u in first["users"]] == ["alan@example.com"] and first["next_cursor"]
    second = get(client, f"/admin/users?email=al&limit=1&cursor={first['next_cursor']}", admin).json_body
    assert [u["email"] for u in second["users"]] == ["alice@example.com"]
    assert get(client, "/admin/users?email=zzz", admin).json_body == {"users": [], "next_cursor": None}


@pytest.mark.parametrize(("query", "code"), [
    ("limit=0", "invalid_limit"), ("limit=101", "invalid_limit"), ("limit=ten", "invalid_limit"),
    ("cursor=not-a-cursor", "invalid_cursor"), ("cursor=eyJlIjoxfQ", "invalid_cursor"),
    ("email=" + "a" * 321, "validation_failed"),
])
def test_bad_listing_input_is_a_400_with_a_stable_code(client, admin, query, code):
    expect_error(get(client, f"/admin/users?{query}", admin), 400, code)


def test_a_cursor_from_another_search_is_refused_not_an_error(client, admin):
    for name in ("alan", "alice", "bob"):
        sign_up(client, email=f"{name}@example.com")
    cursor = get(client, "/admin/users?email=al&limit=1", admin).json_body["next_cursor"]

    expect_error(get(client, f"/admin/users?email=b&cursor={cursor}", admin), 400, "invalid_cursor")


def test_user_management_is_for_admin_sessions_only(client, admin, member):
    developer = sign_up(client, "developer")["access_token"]
    admin_key = post(client, "/keys", {"name": "ops", "scopes": ["gateway"]}, admin).json_body["api_key"]

    for credential, status, code in ((member["token"], 403, "insufficient_role"),
                                     (developer, 403, "insufficient_role"),
                                     (admin_key, 403, "admin_requires_session"), (None, 401, "missing_credentials")):
        expect_error(get(client, "/admin/users", credential), status, code)
        expect_error(post(client, f"/admin/users/{member['user_id']}/disable", {"reason": "spam"}, credential),
                     status, code)
    assert gateway(client, member["key"]).status_code == 200


def test_one_user_is_shown_with_their_keys_and_an_unknown_one_is_404(client, admin, member):
    shown = get(client, f"/admin/users/{member['user_id']}", admin).json_body

    assert shown["user"]["email"] == "member@example.com" and shown["user"]["status"] == "active"
    assert [(k["name"], k["scopes"]) for k in shown["keys"]] == [("ci", ["gateway", "usage:read"])]
    assert member["key"] not in json.dumps(shown)
    expect_error(get(client, "/admin/users/usr_nobody", admin), 404, "user_not_found")
    expect_error(get(client, "/admin/users/not-an-id", admin), 404, "user_not_found")


# --- disabling -----------------------------------------------------------------------------------
def test_disabling_a_user_stops_their_keys_and_sessions_at_once(client, admin, member):
    assert get(client, "/plugins/installed", member["token"]).status_code == 200  # session cached as valid

    disabled = post(client, f"/admin/users/{member['user_id']}/disable", {"reason": "card fraud"}, admin)

    assert disabled.status_code == 200, disabled.body
    assert disabled.json_body["status"] == "disabled" and disabled.json_body["disabled_reason"] == "card fraud"
    expect_error(get(client, "/plugins/installed", member["token"]), 401, "account_disabled")
    assert gateway_code(client, member["key"]) == "account_disabled"
    expect_error(log_in(client, "member@example.com"), 401, "account_disabled")
    wrong = post(client, "/auth/login", {"email": "member@example.com", "password": "not the password"})
    expect_error(wrong, 401, "invalid_credentials")  # only whoever has the password learns it is disabled
    listed = get(client, "/admin/users?email=member", admin).json_body["users"]
    assert [(u["email"], u["status"]) for u in listed] == [("member@example.com", "disabled")]
    assert audit(client, admin, member["user_id"]) == [("POST /admin/users/{user_id}/disable", 200, "card fraud")]


def test_re_enabling_restores_keys_but_not_sessions_issued_before_the_disable(client, admin, member):
    uid = member["user_id"]
    post(client, f"/admin/users/{uid}/disable", {"reason": "looking into it"}, admin)

    enabled = post(client, f"/admin/users/{uid}/enable", {"reason": "cleared"}, admin)

    assert enabled.status_code == 200 and enabled.json_body["status"] == "active"
    assert enabled.json_body["disabled_at"] is None and enabled.json_body["disabled_reason"] is None
    assert gateway(client, member["key"]).status_code == 200
    expect_error(get(client, "/plugins/installed", member["token"]), 401, "session_revoked")
    fresh = log_in(client, "member@example.com").json_body["access_token"]
    assert get(client, "/plugins/installed", fresh).status_code == 200
    assert [(a, s) for a, s, _ in audit(client, admin, uid)] == [("POST /admin/users/{user_id}/disable", 200),
                                                                  ("POST /admin/users/{user_id}/enable", 200)]


def test_disabling_twice_keeps_the_first_reason_and_enabling_an_active_user_changes_nothing(client, admin, member):
    uid = member["user_id"]
    first = post(client, f"/admin/users/{uid}/disable", {"reason": "first"}, admin).json_body

    again = post(client, f"/admin/users/{uid}/disable", {"reason": "second"}, admin).json_body
    post(client, f"/admin/users/{uid}/enable", {}, admin)
    still = post(client, f"/admin/users/{uid}/enable", {}, admin)

    assert (again["disabled_at"], again["disabled_reason"]) == (first["disabled_at"], "first")
    assert still.status_code == 200 and still.json_body["status"] == "active"


def test_an_admin_cannot_disable_themselves_and_the_refusal_is_audited(client, container, admin):
    me = get(client, "/auth/me", admin).json_body["user_id"]

    expect_error(post(client, f"/admin/users/{me}/disable", {"reason": "oops"}, admin), 403, "cannot_disable_self")

    assert get(client, "/admin/users", admin).status_code == 200
    assert audit(client, admin, me) == [("POST /admin/users/{user_id}/disable", 403, "oops")]


@pytest.mark.parametrize(("body", "status", "code"), [
    (None, 400, "validation_failed"), ({"reason": "x"}, 400, "validation_failed"),
    ({"reason": "fine", "ban": True}, 400, "validation_failed"), ("{", 400, "malformed_json"),
])
def test_disabling_needs_a_reason_and_bad_input_changes_nothing(client, admin, member, body, status, code):
    expect_error(post(client, f"/admin/users/{member['user_id']}/disable", body, admin), status, code)

    assert gateway(client, member["key"]).status_code == 200
    assert get(client, f"/admin/users/{member['user_id']}", admin).json_body["user"]["status"] == "active"


def test_unknown_users_are_404_for_every_action(client, admin):
    for path, body in (("disable", {"reason": "spam"}), ("enable", {}), ("revoke-keys", {})):
        expect_error(post(client, f"/admin/users/usr_nobody/{path}", body, admin), 404, "user_not_found")
    expect_error(put(client, "/admin/users/usr_nobody/role", {"role": "developer"}, admin), 404, "user_not_found")


def test_a_disable_in_another_container_takes_effect_here_within_the_key_cache_ttl(settings, runtime, container):
    ttl = 0.4
    serving = Container(replace(settings, key_cache_ttl_seconds=ttl), runtime=runtime)
    other = Container(replace(settings, key_cache_ttl_seconds=ttl), runtime=runtime)
    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    other.catalog.create_plugin(dev, ECHO_PLUGIN)
    other.catalog.submit_version(dev, "echo", ECHO_PLUGIN["version"])
    admin = Principal(user_id="usr_admin", role="admin", via="jwt")
    other.catalog.approve_version(admin, "echo", ECHO_PLUGIN["version"])
    user = other.auth.create_user(email="far@example.com", password=PASSWORD, role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    other.installs.install(principal, plugin="echo", accept_permissions=ECHO_PLUGIN["permissions"])
    key = other.auth.create_key(principal, name="k", mode="live")["api_key"]
    call = GatewayCall(method="GET", plugin="echo", version_segment="v1", path="echo", query={},
                       headers={"authorization": f"Bearer {key}"}, body=b"", request_id="r")

    def outcome() -> str:
        try:
            return str(serving.gateway.handle(call).status)
        except DomainError as exc:
            return exc.code

    assert outcome() == "200"  # cached as valid here
    other.auth.disable_user(admin, user.user_id, reason="abuse")
    began = time.monotonic()
    while outcome() != "account_disabled":
        assert time.monotonic() - began < ttl + 0.5, "still served after the cache TTL"
        time.sleep(0.05)


# --- keys and roles ------------------------------------------------------------------------------
def test_revoking_a_users_keys_revokes_every_active_one_and_is_audited(client, admin, member):
    post(client, "/keys", {"name": "prod", "mode": "live"}, member["token"])

    revoked = post(client, f"/admin/users/{member['user_id']}/revoke-keys", {"reason": "leaked in a repo"}, admin)

    assert revoked.status_code == 200, revoked.body
    assert sorted(k["name"] for k in revoked.json_body["revoked"]) == ["ci", "prod"]
    assert gateway_code(client, member["key"]) == "invalid_api_key"
    assert {k["status"] for k in get(client, "/keys", member["token"]).json_body["keys"]} == {"revoked"}
    again = post(client, f"/admin/users/{member['user_id']}/revoke-keys", {}, admin)
    assert again.status_code == 200 and again.json_body["revoked"] == []
    action = "POST /admin/users/{user_id}/revoke-keys"
    assert [(a, r) for a, _, r in audit(client, admin, member["user_id"])] == [(action, "leaked in a repo"),
                                                                              (action, None)]


def test_an_admin_changes_roles_and_a_demotion_applies_to_sessions_at_once(client, container, admin, member):
    other_admin = make_admin(container)
    other_id = get(client, "/auth/me", other_admin).json_body["user_id"]
    assert get(client, "/admin/users", other_admin).status_code == 200

    promoted = put(client, f"/admin/users/{member['user_id']}/role", {"role": "developer", "reason": "partner"}, admin)
    demoted = put(client, f"/admin/users/{other_id}/role", {"role": "user"}, admin)

    assert promoted.json_body["role"] == "developer" and demoted.json_body["role"] == "user"
    expect_error(get(client, "/admin/users", other_admin), 403, "insufficient_role")
    relogged = log_in(client, "member@example.com").json_body
    assert relogged["user"]["role"] == "developer"
    assert get(client, "/developer/plugins", relogged["access_token"]).status_code == 200
    actions = [(a, s, r) for a, s, r in audit(client, admin, member["user_id"])]
    assert actions == [("PUT /admin/users/{user_id}/role", 200, "partner")]


def test_an_admin_cannot_remove_their_own_admin_role(client, admin):
    me = get(client, "/auth/me", admin).json_body["user_id"]

    for role in ("user", "developer"):
        expect_error(put(client, f"/admin/users/{me}/role", {"role": role}, admin), 403, "cannot_demote_self")

    assert put(client, f"/admin/users/{me}/role", {"role": "admin"}, admin).status_code == 200
    assert get(client, "/admin/users", admin).status_code == 200


@pytest.mark.parametrize("body", [{"role": "root"}, {}, {"role": "admin", "extra": 1}, {"role": ["admin"]}])
def test_a_bad_role_change_is_a_400_and_changes_nothing(client, admin, member, body):
    expect_error(put(client, f"/admin/users/{member['user_id']}/role", body, admin), 400, "validation_failed")

    assert get(client, f"/admin/users/{member['user_id']}", admin).json_body["user"]["role"] == "user"


# --- becoming a developer --------------------------------------------------------------------------
def test_a_user_becomes_a_developer_and_gets_a_fresh_token_with_the_role(client):
    signed = sign_up(client, email="maker@example.com")
    old = signed["access_token"]
    expect_error(get(client, "/developer/plugins", old), 403, "insufficient_role")

    became = post(client, "/account/developer", None, old)

    assert became.status_code == 200, became.body
    body = became.json_body
    assert body["user"] == {**signed["user"], "role": "developer"} and body["token_type"] == "Bearer"
    assert get(client, "/developer/plugins", body["access_token"]).status_code == 200
    expect_error(get(client, "/developer/plugins", old), 403, "insufficient_role")  # the old token says user
    assert get(client, "/keys", old).status_code == 200
    assert log_in(client, "maker@example.com").json_body["user"]["role"] == "developer"  # same account
    again = post(client, "/account/developer", None, body["access_token"])
    assert again.status_code == 200 and again.json_body["user"]["role"] == "developer"


def test_an_admin_stays_an_admin_when_asking_to_become_a_developer(client, admin):
    became = post(client, "/account/developer", None, admin)

    assert became.status_code == 200 and became.json_body["user"]["role"] == "admin"
    assert get(client, "/admin/users", became.json_body["access_token"]).status_code == 200


def test_becoming_a_developer_needs_a_session(client):
    token = sign_up(client)["access_token"]
    key = post(client, "/keys", {"name": "ci"}, token).json_body["api_key"]

    expect_error(post(client, "/account/developer", None, key), 403, "insufficient_scope")
    expect_error(post(client, "/account/developer", None), 401, "missing_credentials")
    assert get(client, "/auth/me", token).json_body["role"] == "user"


def test_a_table_from_before_the_user_directory_gets_it_and_its_users_are_listed(client, container):
    import boto3

    from chalicelib.auth.records import AuthTable, UserRecord

    AuthTable.delete_table()
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        TableName=AuthTable.Meta.table_name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    old = container.auth.create_user(email="old@example.com", password=PASSWORD, role="user")
    UserRecord(*UserRecord.key(old.user_id)).update(actions=[UserRecord.dir_pk.remove(), UserRecord.dir_sk.remove()])
    admin = make_admin(container)

    assert container.auth.ensure_user_directory() == 1
    assert container.auth.ensure_user_directory() == 0  # idempotent

    listed = get(client, "/admin/users?email=old", admin).json_body["users"]
    assert [u["user_id"] for u in listed] == [old.user_id]
