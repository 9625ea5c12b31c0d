"""Identity over HTTP: sign-up, login, access tokens (JWT) and marketplace API keys.

Tokens are built here with PyJWT from the secrets the test settings configure, the way
an attacker or an older deployment would build them, instead of mocking verification.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import jwt
import pytest

from tests.conftest import TEST_ENV
from tests.support import PASSWORD, delete, expect_error, get, post, sign_up

SECRETS = dict(part.split(":", 1) for part in TEST_ENV["MF_JWT_KEYS"].split(","))
ISSUER = "https://mockfactory.io"
AUDIENCE = "mockfactory-api"


def user_rows(email: str | None = None) -> list[Any]:
    """The user items actually stored (to prove a failed call left nothing behind)."""
    from chalicelib.auth.records import UserRecord

    return [row for row in UserRecord.scan() if email is None or row.email == email]


def signed_token(sub: str, *, kid: str | None = "k2026", secret: str | None = None, role: str = "user",
                 iss: str = ISSUER, aud: str = AUDIENCE, expires_in: int = 600, algorithm: str = "HS256",
                 without: tuple[str, ...] = ()) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "iss": iss, "aud": aud, "iat": now - 5,
                              "exp": now + expires_in}
    for name in without:
        claims.pop(name)
    key = secret if secret is not None else SECRETS.get(kid or "", "z" * 48)
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token(sub: str, alg: str = "none") -> str:
    """A token with ``alg: none`` and no signature, as in the classic JWT forgery."""
    now = int(time.time())
    header = {"alg": alg, "typ": "JWT", "kid": "k2026"}
    claims = {"sub": sub, "role": "admin", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    return f"{_b64url(header)}.{_b64url(claims)}."


def me(client: Any, credential: str | None) -> Any:
    return get(client, "/auth/me", credential)


def create_key(client: Any, token: str, name: str = "ci", **extra: Any) -> Any:
    return post(client, "/keys", {"name": name, **extra}, token)


def with_key(client: Any, raw: str) -> Any:
    """A call a key may make by default: a test key reads usage (200); a live key is known but may
    not (403 insufficient_scope); a revoked or unknown one is refused (401)."""
    return get(client, "/usage", raw)


# --- sign-up ------------------------------------------------------------------------------
def test_sign_up_creates_a_user_and_returns_a_working_access_token(client):
    response = post(client, "/auth/signup", {"email": "ada@example.com", "password": PASSWORD})

    assert response.status_code == 201, response.body
    body = response.json_body
    assert body["user"]["email"] == "ada@example.com"
    assert body["user"]["role"] == "user"
    assert body["user"]["user_id"].startswith("usr_")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "password" not in response.body.decode() and "scrypt" not in response.body.decode()
    signed_in = me(client, body["access_token"])
    assert signed_in.status_code == 200, signed_in.body
    assert signed_in.json_body == body["user"]


def test_sign_up_as_a_developer_gives_the_developer_role(client):
    body = sign_up(client, "developer")

    assert body["user"]["role"] == "developer"
    assert me(client, body["access_token"]).json_body["role"] == "developer"


def test_sign_up_stores_the_email_in_lower_case_and_login_accepts_any_case(client):
    created = post(client, "/auth/signup", {"email": "Grace.Hopper@Example.COM", "password": PASSWORD})
    assert created.status_code == 201, created.body
    assert created.json_body["user"]["email"] == "grace.hopper@example.com"

    logged_in = post(client, "/auth/login", {"email": "GRACE.hopper@example.com", "password": PASSWORD})

    assert logged_in.status_code == 200, logged_in.body
    assert logged_in.json_body["user"]["user_id"] == created.json_body["user"]["user_id"]


def test_sign_up_with_a_taken_email_is_a_conflict_and_writes_no_second_user(client):
    first = post(client, "/auth/signup", {"email": "taken@example.com", "password": PASSWORD})
    assert first.status_code == 201

    again = post(client, "/auth/signup", {"email": "TAKEN@example.com", "password": "another password 1",
                                          "role": "developer"})

    expect_error(again, 409, "email_taken")
    assert len(user_rows("taken@example.com")) == 1
    assert len(user_rows()) == 1
    # The original account is untouched: old password still works, role still user.
    login = post(client, "/auth/login", {"email": "taken@example.com", "password": PASSWORD})
    assert login.status_code == 200 and login.json_body["user"]["role"] == "user"


def test_sign_up_never_grants_the_admin_role_and_leaves_no_user_behind(client):
    response = post(client, "/auth/signup", {"email": "mallory@example.com", "password": PASSWORD,
                                             "role": "admin"})

    body = expect_error(response, 400, "validation_failed")
    assert [d["path"] for d in body["details"]] == ["role"]
    assert user_rows() == []
    expect_error(post(client, "/auth/login", {"email": "mallory@example.com", "password": PASSWORD}),
                 401, "invalid_credentials")


@pytest.mark.parametrize(("raw", "code", "paths"), [
    pytest.param('{"email": "a@example.com", "password": ', "malformed_json", None, id="truncated-json"),
    pytest.param("{'email': 'a@example.com'}", "malformed_json", None, id="single-quotes"),
    pytest.param("", "malformed_json", None, id="empty-body"),
    pytest.param(b"\xff\xfe\xfd", "malformed_json", None, id="not-utf8"),
    pytest.param("[]", "validation_failed", ["(root)"], id="array-not-object"),
    pytest.param('"a@example.com"', "validation_failed", ["(root)"], id="string-not-object"),
    pytest.param({"email": 42, "password": ["x"]}, "validation_failed", ["email", "password"], id="wrong-types"),
    pytest.param({"password": PASSWORD}, "validation_failed", ["email"], id="missing-email"),
    pytest.param({}, "validation_failed", ["email", "password"], id="missing-everything"),
    pytest.param({"email": "no-at-sign", "password": PASSWORD}, "validation_failed", ["email"], id="bad-email"),
    pytest.param({"email": "a@example.com", "password": "short"}, "validation_failed", ["password"],
                 id="short-password"),
    pytest.param({"email": "a@example.com", "password": PASSWORD, "is_admin": True}, "validation_failed",
                 ["is_admin"], id="unknown-field"),
    pytest.param({"email": "a@example.com", "password": PASSWORD, "role": "root"}, "validation_failed",
                 ["role"], id="unknown-role"),
])
def test_bad_sign_up_input_is_a_400_with_a_stable_code_and_creates_no_user(client, raw, code, paths):
    response = post(client, "/auth/signup", raw)

    body = expect_error(response, 400, code)
    if paths is not None:
        assert sorted({d["path"] for d in body["details"]}) == paths
        assert all(d["message"] for d in body["details"])
    assert user_rows() == []


def test_an_oversize_sign_up_body_is_refused_with_413_and_creates_no_user(client):
    body = {"email": "big@example.com", "password": PASSWORD, "padding": "x" * (256 * 1024)}

    expect_error(post(client, "/auth/signup", body), 413, "payload_too_large")
    assert user_rows() == []


def test_a_body_just_under_the_size_limit_is_parsed_rather_than_refused(client):
    body = json.dumps({"email": "edge@example.com", "password": PASSWORD, "pad": ""})
    body = body.replace('"pad": ""', '"pad": "' + "x" * (256 * 1024 - len(body)) + '"')
    assert len(body) == 256 * 1024

    # Parsed (so the unknown field is reported), not refused for size.
    expect_error(post(client, "/auth/signup", body), 400, "validation_failed")


def test_a_json_content_type_with_a_charset_is_accepted(client):
    response = client.http.post("/auth/signup", body=json.dumps({"email": "cs@example.com", "password": PASSWORD}),
                                headers={"Content-Type": "application/json; charset=utf-8"})

    assert response.status_code == 201, response.body


def test_a_non_json_content_type_is_refused_with_unsupported_media_type(client):
    response = client.http.post("/auth/signup", body=f"email=a@example.com&password={PASSWORD}",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})

    expect_error(response, 400, "unsupported_media_type")
    assert user_rows() == []


def test_deeply_nested_json_is_a_400_not_an_internal_error(client):
    nested = "[" * 100_000 + "]" * 100_000  # 200 KB: under the size limit

    expect_error(post(client, "/auth/signup", nested), 400, "malformed_json")


# --- login ----------------------------------------------------------------------------------
def test_login_with_the_right_password_returns_a_token_for_the_account(client):
    account = sign_up(client, "developer", email="lin@example.com")

    response = post(client, "/auth/login", {"email": "lin@example.com", "password": PASSWORD})

    assert response.status_code == 200, response.body
    assert response.json_body["user"] == account["user"]
    assert me(client, response.json_body["access_token"]).json_body["user_id"] == account["user"]["user_id"]


def test_login_with_a_wrong_password_or_an_unknown_email_gives_the_same_401(client):
    sign_up(client, email="known@example.com")

    wrong_password = expect_error(post(client, "/auth/login", {"email": "known@example.com",
                                                               "password": "not the password"}),
                                  401, "invalid_credentials")
    unknown = expect_error(post(client, "/auth/login", {"email": "nobody@example.com", "password": PASSWORD}),
                           401, "invalid_credentials")

    assert wrong_password["message"] == unknown["message"]


@pytest.mark.parametrize(("raw", "code"), [
    pytest.param("{not json", "malformed_json", id="malformed"),
    pytest.param({"email": "known@example.com"}, "validation_failed", id="missing-password"),
    pytest.param({"email": ["known@example.com"], "password": PASSWORD}, "validation_failed", id="wrong-type"),
    pytest.param({"email": "known@example.com", "password": PASSWORD, "otp": "1"}, "validation_failed",
                 id="unknown-field"),
])
def test_bad_login_input_is_a_400_with_a_stable_code(client, raw, code):
    expect_error(post(client, "/auth/login", raw), 400, code)


def test_me_without_credentials_is_401_missing_credentials(client):
    expect_error(me(client, None), 401, "missing_credentials")
    basic = client.http.get("/auth/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    expect_error(basic, 401, "missing_credentials")


# --- access tokens --------------------------------------------------------------------------
def test_a_token_signed_with_the_second_configured_key_still_verifies(client):
    user = sign_up(client)["user"]

    response = me(client, signed_token(user["user_id"], kid="k2025"))

    assert response.status_code == 200, response.body
    assert response.json_body["user_id"] == user["user_id"]


def test_issued_tokens_are_signed_with_the_first_configured_key(client):
    token = sign_up(client)["access_token"]

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRETS["k2026"], algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER)

    assert header["kid"] == "k2026" and header["alg"] == "HS256"
    assert {"sub", "role", "iss", "aud", "iat", "exp", "jti"} <= set(claims)


@pytest.mark.parametrize(("make", "code"), [
    pytest.param(lambda sub: signed_token(sub, aud="someone-else"), "invalid_token", id="wrong-audience"),
    pytest.param(lambda sub: signed_token(sub, iss="https://evil.example"), "invalid_token", id="wrong-issuer"),
    pytest.param(lambda sub: signed_token(sub, kid="k1999", secret="s" * 48), "invalid_token", id="unknown-kid"),
    pytest.param(lambda sub: signed_token(sub, kid=None, secret="s" * 48), "invalid_token", id="no-kid"),
    pytest.param(lambda sub: signed_token(sub, kid="k2026", secret="f" * 48), "invalid_token",
                 id="forged-signature"),
    pytest.param(lambda sub: signed_token(sub, kid="k2026", secret=SECRETS["k2025"]), "invalid_token",
                 id="kid-and-key-mismatch"),
    pytest.param(lambda sub: signed_token(sub, algorithm="HS512"), "invalid_token", id="other-algorithm",
                 marks=pytest.mark.filterwarnings("ignore:The HMAC key")),
    pytest.param(lambda sub: unsigned_token(sub, "none"), "invalid_token", id="alg-none"),
    pytest.param(lambda sub: unsigned_token(sub, "None"), "invalid_token", id="alg-None"),
    pytest.param(lambda sub: unsigned_token(sub, "NONE"), "invalid_token", id="alg-NONE"),
    pytest.param(lambda sub: signed_token(sub, without=("exp",)), "invalid_token", id="no-expiry"),
    pytest.param(lambda sub: signed_token(sub, without=("aud",)), "invalid_token", id="no-audience"),
    pytest.param(lambda sub: signed_token(sub, expires_in=-60), "token_expired", id="expired"),
    pytest.param(lambda sub: signed_token(sub, kid="k2025", expires_in=-60), "token_expired",
                 id="expired-old-key"),
    pytest.param(lambda sub: "not-a-jwt", "invalid_token", id="garbage"),
    pytest.param(lambda sub: "a.b.c", "invalid_token", id="three-garbage-parts"),
])
def test_a_bad_access_token_is_refused_with_401_and_a_stable_code(client, make, code):
    user = sign_up(client)["user"]

    expect_error(me(client, make(user["user_id"])), 401, code)


def test_a_forged_admin_token_cannot_reach_admin_routes(client):
    user = sign_up(client)["user"]

    expect_error(get(client, "/admin/reviews", unsigned_token(user["user_id"])), 401, "invalid_token")
    forged = signed_token(user["user_id"], role="admin", secret="f" * 48)
    expect_error(get(client, "/admin/reviews", forged), 401, "invalid_token")


@pytest.mark.parametrize("role", ["superuser", ["admin"], 7])
def test_a_signed_token_with_a_role_the_api_never_issues_is_refused_not_an_error(client, role):
    user = sign_up(client)["user"]
    token = signed_token(user["user_id"], role=role)  # type: ignore[arg-type]

    expect_error(me(client, token), 401, "invalid_token")
    expect_error(get(client, "/keys", token), 401, "invalid_token")


def test_a_valid_token_for_an_account_that_does_not_exist_is_refused_by_me(client):
    expect_error(me(client, signed_token("usr_doesnotexist00000000")), 401, "invalid_token")


# --- API keys -------------------------------------------------------------------------------
def test_creating_a_key_shows_the_secret_once_with_a_test_prefix_by_default(client):
    token = sign_up(client)["access_token"]

    response = create_key(client, token, "laptop")

    assert response.status_code == 201, response.body
    key = response.json_body
    assert key["api_key"].startswith("mf_test_")
    assert len(key["api_key"]) > 40
    assert key["prefix"] == key["api_key"][:12]
    assert key["name"] == "laptop" and key["mode"] == "test" and key["status"] == "active"
    assert key["key_id"].startswith("key_")
    assert key["last_used_at"] is None and key["revoked_at"] is None
    assert key["scopes"] == ["gateway", "usage:read"]  # a sandbox key calls plugins and reads its usage
    assert key["plugins"] is None and key["expires_at"] is None


def test_a_live_key_has_the_live_prefix(client):
    token = sign_up(client)["access_token"]

    key = create_key(client, token, "prod", mode="live").json_body

    assert key["api_key"].startswith("mf_live_") and key["mode"] == "live"
    assert key["prefix"] == key["api_key"][:12]
    assert key["scopes"] == ["gateway"]  # a live key only calls plugins


def test_a_key_authenticates_via_bearer_or_x_api_key(client):
    account = sign_up(client)
    raw = create_key(client, account["access_token"]).json_body["api_key"]

    bearer = with_key(client, raw)
    header = client.http.get("/usage", headers={"X-Api-Key": raw})

    assert bearer.status_code == 200 and header.status_code == 200, (bearer.body, header.body)
    assert bearer.json_body == header.json_body == get(client, "/usage", account["access_token"]).json_body


def test_listing_keys_shows_prefix_name_and_dates_but_never_the_secret_or_hash(client):
    token = sign_up(client)["access_token"]
    first = create_key(client, token, "first").json_body
    second = create_key(client, token, "second", mode="live").json_body

    before_use = get(client, "/keys", token)
    assert with_key(client, first["api_key"]).status_code == 200
    after_use = get(client, "/keys", token)

    assert before_use.status_code == 200, before_use.body
    listed = {k["key_id"]: k for k in after_use.json_body["keys"]}
    assert set(listed) == {first["key_id"], second["key_id"]}
    for created in (first, second):
        shown = listed[created["key_id"]]
        assert set(shown) == {"key_id", "name", "prefix", "mode", "scopes", "plugins", "created_at",
                              "last_used_at", "expires_at", "revoked_at", "status"}
        assert shown["prefix"] == created["prefix"] and shown["name"] == created["name"]
        assert shown["created_at"] == created["created_at"]
    text = before_use.body.decode() + after_use.body.decode()
    for created in (first, second):
        assert created["api_key"] not in text
        assert hashlib.sha256(created["api_key"].encode()).hexdigest() not in text
    assert "hash" not in text
    assert all(k["last_used_at"] is None for k in before_use.json_body["keys"])
    assert listed[first["key_id"]]["last_used_at"] is not None
    assert listed[second["key_id"]]["last_used_at"] is None


def test_keys_are_listed_newest_first(client):
    token = sign_up(client)["access_token"]
    names = ["one", "two", "three"]
    for name in names:
        create_key(client, token, name)

    listed = [k["name"] for k in get(client, "/keys", token).json_body["keys"]]

    assert listed == list(reversed(names))


@pytest.mark.parametrize(("raw", "code"), [
    pytest.param("{", "malformed_json", id="malformed"),
    pytest.param({}, "validation_failed", id="missing-name"),
    pytest.param({"name": ""}, "validation_failed", id="empty-name"),
    pytest.param({"name": "x" * 65}, "validation_failed", id="name-too-long"),
    pytest.param({"name": 7}, "validation_failed", id="name-not-a-string"),
    pytest.param({"name": "ci", "mode": "prod"}, "validation_failed", id="unknown-mode"),
    pytest.param({"name": "ci", "secret": "mine"}, "validation_failed", id="unknown-field"),
    pytest.param({"name": "ci", "scopes": []}, "validation_failed", id="no-scopes"),
    pytest.param({"name": "ci", "scopes": ["keys:write"]}, "validation_failed", id="unknown-scope"),
    pytest.param({"name": "ci", "scopes": ["admin"]}, "validation_failed", id="admin-is-no-scope"),
    pytest.param({"name": "ci", "scopes": ["gateway", "gateway"]}, "validation_failed", id="repeated-scope"),
    pytest.param({"name": "ci", "scopes": "gateway"}, "validation_failed", id="scopes-not-a-list"),
    pytest.param({"name": "ci", "plugins": []}, "validation_failed", id="no-plugins"),
    pytest.param({"name": "ci", "plugins": ["Stripe!"]}, "validation_failed", id="bad-plugin-name"),
    pytest.param({"name": "ci", "scopes": ["usage:read"], "plugins": ["echo"]}, "invalid_plugins",
                 id="plugins-without-a-plugin-scope"),
    pytest.param({"name": "ci", "expires_at": "tomorrow"}, "validation_failed", id="expiry-not-a-date"),
    pytest.param({"name": "ci", "expires_at": "2001-01-01T00:00:00Z"}, "invalid_expiry", id="expiry-in-the-past"),
    pytest.param({"name": "ci", "expires_at": "2030-02-30"}, "invalid_expiry", id="expiry-no-such-day"),
    pytest.param({"name": "ci", "expires_at": "9999-12-31T23:59:59-23:59"}, "invalid_expiry",
                 id="expiry-beyond-the-calendar"),
    pytest.param({"name": "ci", "expires_at": "2999-01-01"}, "invalid_expiry", id="expiry-too-far"),
])
def test_bad_key_input_is_a_400_and_creates_no_key(client, raw, code):
    token = sign_up(client)["access_token"]

    expect_error(post(client, "/keys", raw, token), 400, code)
    assert get(client, "/keys", token).json_body["keys"] == []


def test_key_routes_need_credentials(client):
    expect_error(get(client, "/keys"), 401, "missing_credentials")
    expect_error(post(client, "/keys", {"name": "x"}), 401, "missing_credentials")
    expect_error(post(client, "/keys/key_x/rotate"), 401, "missing_credentials")
    expect_error(client.http.delete("/keys/key_x"), 401, "missing_credentials")


def test_an_unknown_api_key_is_refused_with_invalid_api_key(client):
    expect_error(me(client, "mf_test_" + "x" * 40), 401, "invalid_api_key")
    expect_error(me(client, "mf_live_" + "x" * 40), 401, "invalid_api_key")


def test_rotating_a_key_stops_the_old_secret_and_starts_a_new_one(client):
    token = sign_up(client)["access_token"]
    old = create_key(client, token, "deploy", mode="live").json_body
    assert with_key(client, old["api_key"]).status_code == 403  # known (cached now), just not allowed

    rotated = post(client, f"/keys/{old['key_id']}/rotate", None, token)

    assert rotated.status_code == 201, rotated.body
    new = rotated.json_body
    assert new["replaces"] == old["key_id"] and new["key_id"] != old["key_id"]
    assert new["api_key"].startswith("mf_live_") and new["api_key"] != old["api_key"]
    assert new["name"] == "deploy" and new["mode"] == "live"
    expect_error(with_key(client, old["api_key"]), 401, "invalid_api_key")
    expect_error(with_key(client, new["api_key"]), 403, "insufficient_scope")
    assert new["scopes"] == old["scopes"] == ["gateway"]
    statuses = {k["key_id"]: k["status"] for k in get(client, "/keys", token).json_body["keys"]}
    assert statuses == {old["key_id"]: "revoked", new["key_id"]: "active"}


def test_rotating_a_revoked_key_is_a_conflict(client):
    token = sign_up(client)["access_token"]
    key = create_key(client, token).json_body
    assert delete(client, f"/keys/{key['key_id']}", token).status_code == 200

    expect_error(post(client, f"/keys/{key['key_id']}/rotate", None, token), 409, "key_revoked")
    assert len(get(client, "/keys", token).json_body["keys"]) == 1


def test_revoking_a_key_stops_it_working_and_revoking_again_is_409(client):
    token = sign_up(client)["access_token"]
    key = create_key(client, token).json_body
    assert with_key(client, key["api_key"]).status_code == 200  # cached as valid before revocation

    revoked = delete(client, f"/keys/{key['key_id']}", token)

    assert revoked.status_code == 200, revoked.body
    assert revoked.json_body["status"] == "revoked" and revoked.json_body["revoked_at"]
    assert "api_key" not in revoked.json_body
    expect_error(with_key(client, key["api_key"]), 401, "invalid_api_key")
    expect_error(delete(client, f"/keys/{key['key_id']}", token), 409, "key_revoked")
    listed = get(client, "/keys", token).json_body["keys"]
    assert [(k["key_id"], k["status"]) for k in listed] == [(key["key_id"], "revoked")]


def test_a_revoked_key_cannot_be_used_to_manage_keys(client):
    token = sign_up(client)["access_token"]
    key = create_key(client, token).json_body
    delete(client, f"/keys/{key['key_id']}", token)

    expect_error(post(client, "/keys", {"name": "sneaky"}, key["api_key"]), 401, "invalid_api_key")
    expect_error(get(client, "/keys", key["api_key"]), 401, "invalid_api_key")


def test_an_unknown_key_id_is_404(client):
    token = sign_up(client)["access_token"]

    expect_error(post(client, "/keys/key_doesnotexist/rotate", None, token), 404, "key_not_found")
    expect_error(delete(client, "/keys/key_doesnotexist", token), 404, "key_not_found")


def test_another_users_key_id_is_404_and_their_key_keeps_working(client):
    owner = sign_up(client)["access_token"]
    intruder = sign_up(client)["access_token"]
    key = create_key(client, owner, "mine").json_body

    expect_error(post(client, f"/keys/{key['key_id']}/rotate", None, intruder), 404, "key_not_found")
    expect_error(delete(client, f"/keys/{key['key_id']}", intruder), 404, "key_not_found")
    intruder_key = create_key(client, intruder).json_body["api_key"]
    expect_error(delete(client, f"/keys/{key['key_id']}", intruder_key), 403, "insufficient_scope")

    assert get(client, "/keys", intruder).json_body["keys"][0]["key_id"] != key["key_id"]
    assert len(get(client, "/keys", intruder).json_body["keys"]) == 1
    assert with_key(client, key["api_key"]).status_code == 200
    assert get(client, "/keys", owner).json_body["keys"][0]["status"] == "active"


def test_at_most_twenty_active_keys_and_revoking_one_frees_a_slot(client):
    token = sign_up(client)["access_token"]
    keys = [create_key(client, token, f"k{i}").json_body for i in range(20)]
    assert all("api_key" in k for k in keys)

    expect_error(create_key(client, token, "one-too-many"), 409, "key_limit_reached")
    delete(client, f"/keys/{keys[0]['key_id']}", token)

    assert create_key(client, token, "replacement").status_code == 201
