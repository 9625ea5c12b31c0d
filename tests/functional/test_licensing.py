"""Licence keys through the API: offline verification with only the JWKS and PyJWT, each
rejection with its own reason, rotation, claims that follow the holding, revocation rights."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from tests.support import expect_error, get, make_admin, manifest, post, publish, sign_up
from tests.unit.licensing import forge, pem_key, public_pem, tamper

AUDIENCE = "mockfactory-licence"  # part of the contract: spelled out, not imported
OLD_KEYS = (("lic-2025", pem_key("old")),)
PRICING = {"tier": "standard", "model": "freemium", "plans": [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50000, "overage_price_micros": 1000, "features": ["analytics"],
     "limits": {"concurrency": 3}}]}


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, licence_keys=OLD_KEYS)


@pytest.fixture
def world(client, container):
    developer = sign_up(client, "developer")["access_token"]
    publish(client, developer, make_admin(container), manifest(name="proveniq", pricing=PRICING))
    return {"user": sign_up(client)["access_token"], "other": sign_up(client)["access_token"]}


def licence(client, token: str, plugin: str = "proveniq") -> dict:
    response = get(client, f"/licenses/{plugin}", token)
    assert response.status_code == 200, response.body
    return response.json_body


def verdict(client, token: str) -> dict:
    response = post(client, "/licenses/verify", {"license": token})
    assert response.status_code == 200, response.body
    return response.json_body


def offline_verify(jwks_document: dict, token: str) -> dict:
    """What a plugin vendor does, with no marketplace code: the JWKS, PyJWT, RS256 pinned."""
    key_set = jwt.PyJWKSet.from_dict(jwks_document)
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(token, key_set[kid], algorithms=["RS256"], audience=AUDIENCE,
                      options={"require": ["exp", "iat", "sub", "jti"]})


def user_id(client, token: str) -> str:
    return get(client, "/auth/me", token).json_body["user_id"]


def test_a_licence_verifies_offline_with_only_the_jwks_and_pyjwt(client, world):
    jwks_document = client.http.get("/.well-known/jwks.json").json_body  # no credentials needed
    assert [k["kid"] for k in jwks_document["keys"]] == ["lic-2025"]
    issued = licence(client, world["user"])
    claims = offline_verify(jwks_document, issued["license"])
    assert claims == issued["claims"]
    assert claims["plugin_id"] == "proveniq" and claims["jti"] == issued["license_id"]
    assert verdict(client, issued["license"]) == {"valid": True, "reason": None, "claims": claims}
    with pytest.raises(jwt.InvalidSignatureError):  # and offline, a tampered licence fails too
        offline_verify(jwks_document, tamper(issued["license"], tier="enterprise"))


def test_claims_follow_the_holding(client, container, world):
    free = licence(client, world["user"])["claims"]
    assert (free["tier"], free["plan"], free["source"]) == ("free", "free", "default")
    assert free["limitations"] == {"monthly_calls": 1000, "concurrency": -1} and free["features"] == []
    assert free["exp"] - free["iat"] == 30 * 86400
    assert licence(client, world["user"])["claims"] == free  # the same licence while nothing changed

    from chalicelib.billing.records import PlanRecord

    ends = (datetime.now(timezone.utc) + timedelta(days=20)).replace(microsecond=0)
    me = user_id(client, world["user"])
    PlanRecord(*PlanRecord.key(me, "proveniq"), user_id=me, plugin="proveniq", plan_id="pro", status="active",
               source="subscription", current_period_end=ends, updated_at=datetime.now(timezone.utc)).save()
    pro = licence(client, world["user"])["claims"]
    assert (pro["tier"], pro["plan"], pro["source"]) == ("pro", "pro", "subscription")
    assert pro["features"] == ["analytics"]
    assert pro["limitations"] == {"monthly_calls": -1, "concurrency": 3}  # overage priced: no hard cap
    assert pro["exp"] == int(ends.timestamp()) and pro["jti"] != free["jti"]

    listed = get(client, "/licenses", world["user"]).json_body["licenses"]
    assert [(x["license_id"], x["tier"], x["status"]) for x in listed] == [
        (pro["jti"], "pro", "active"), (free["jti"], "free", "active")]
    assert get(client, "/licenses", world["other"]).json_body == {"licenses": []}


def test_a_licence_for_a_plugin_that_does_not_exist_is_a_404(client, world):
    expect_error(get(client, "/licenses/no-such-plugin", world["user"]), 404, "plugin_not_found")
    expect_error(get(client, "/licenses/proveniq"), 401, "missing_credentials")


def test_each_rejection_has_its_own_reason(client, container, world):
    issued = licence(client, world["user"])
    token, claims = issued["license"], issued["claims"]

    def reason(candidate: str) -> str:
        answer = verdict(client, candidate)
        assert answer["valid"] is False
        return answer["reason"]

    assert reason(tamper(token, tier="enterprise")) == "invalid_signature"
    assert reason(tamper(token, exp=claims["exp"] + 86400 * 365)) == "invalid_signature"
    header = {"alg": "HS256", "typ": "JWT", "kid": "lic-2025"}
    assert reason(forge(header, claims, public_pem("old"))) == "wrong_algorithm"  # keyed with the public PEM
    assert reason(forge({**header, "alg": "none"}, claims)) == "wrong_algorithm"
    assert reason(jwt.encode(claims, pem_key("old"), algorithm="RS512", headers={"kid": "lic-2025"})) == \
        "wrong_algorithm"
    assert reason(jwt.encode(claims, pem_key("old"), algorithm="RS256", headers={"kid": "lic-1999"})) == \
        "unknown_key"
    assert reason("garbage") == "malformed"
    assert reason(jwt.encode({**claims, "aud": "mockfactory-api"}, pem_key("old"), algorithm="RS256",
                             headers={"kid": "lic-2025"})) == "invalid_claims"

    # expired: issued by a clock 31 days ago, verified now
    from chalicelib.core.clock import FixedClock
    from chalicelib.licensing.service import LicensingService

    past = LicensingService(OLD_KEYS, container.holding, FixedClock(datetime.now(timezone.utc) - timedelta(days=31)),
                            issuer=container.settings.jwt_issuer)
    stale = past.issue(user_id(client, world["user"]), "proveniq", reason="purchase")
    assert reason(stale["license"]) == "expired"

    # revoked: at once, by the owner
    assert verdict(client, token)["valid"] is True
    revoked = post(client, "/licenses/revoke", {"license_id": issued["license_id"], "reason": "key leaked"},
                   world["user"])
    assert revoked.status_code == 200, revoked.body
    answer = verdict(client, token)
    assert (answer["valid"], answer["reason"], answer["claims"]["jti"]) == (False, "revoked", issued["license_id"])
    expect_error(post(client, "/licenses/revoke", {"license_id": issued["license_id"], "reason": "again"},
                      world["user"]), 409, "license_already_revoked")
    assert licence(client, world["user"])["license_id"] != issued["license_id"]  # a fresh one replaces it


@pytest.mark.parametrize("body", [{}, {"license": 42}, {"license": ""}, {"license": "x", "extra": 1}, ["x"]])
def test_verify_needs_a_license_string(client, world, body):
    expect_error(post(client, "/licenses/verify", body), 400, "validation_failed")


def test_another_user_cannot_revoke_my_licence_an_admin_can(client, container, world):
    issued = licence(client, world["user"])
    body = {"license_id": issued["license_id"], "reason": "mine now"}
    expect_error(post(client, "/licenses/revoke", body, world["other"]), 403, "not_license_owner")
    assert verdict(client, issued["license"])["valid"] is True
    expect_error(post(client, "/licenses/revoke", {**body, "license_id": "lic_unknown"}, world["user"]),
                 404, "license_not_found")
    revoked = post(client, "/licenses/revoke", {**body, "reason": "chargeback"}, make_admin(container))
    assert revoked.status_code == 200, revoked.body
    assert verdict(client, issued["license"])["reason"] == "revoked"
    listed = get(client, "/licenses", world["user"]).json_body["licenses"]
    assert (listed[0]["status"], listed[0]["revoke_reason"]) == ("revoked", "chargeback")


def test_rotation_keeps_old_licences_valid(client, container, runtime, world):
    from chalicelib.wiring import Container, set_container

    before = licence(client, world["user"])
    rotated = dataclasses.replace(container.settings, licence_keys=(("lic-2026", pem_key("new")),) + OLD_KEYS)
    set_container(Container(rotated, runtime=runtime))

    jwks_document = client.http.get("/.well-known/jwks.json").json_body
    assert [k["kid"] for k in jwks_document["keys"]] == ["lic-2026", "lic-2025"]
    assert verdict(client, before["license"])["valid"] is True
    assert offline_verify(jwks_document, before["license"])["jti"] == before["license_id"]
    after = licence(client, world["user"])  # handed out again: now signed by the new key
    assert jwt.get_unverified_header(after["license"])["kid"] == "lic-2026"
    assert verdict(client, after["license"])["valid"] is True
    assert offline_verify(jwks_document, after["license"])["jti"] == after["license_id"]


def test_starting_a_trial_issues_a_pro_licence(client, world):
    user = world["user"]
    started = post(client, "/trials/proveniq", None, user)
    assert started.status_code == 201, started.body
    (issued,) = get(client, "/licenses", user).json_body["licenses"]
    assert (issued["reason"], issued["tier"]) == ("trial", "pro")
    claims = offline_verify(client.http.get("/.well-known/jwks.json").json_body, licence(client, user)["license"])
    ends = datetime.fromisoformat(started.json_body["ends_at"].replace("Z", "+00:00"))
    assert claims["tier"] == "pro" and claims["exp"] == int(ends.timestamp())  # the licence ends with the trial
