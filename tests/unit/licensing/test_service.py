"""LicensingService on moto tables with a stand-in holding: claims, reuse, revocation, verdicts."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
import pytest

from chalicelib.auth.principal import Principal
from chalicelib.billing.holding import Holding
from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import ConfigurationError, ConflictError, NotFoundError, PermissionDeniedError
from chalicelib.licensing.service import AUDIENCE, LicensingService
from tests.unit.licensing import forge, pem_key, public_pem, tamper

ISSUER = "https://mockfactory.io"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
KEYS = (("k2", pem_key("a")),)


def make_holding(plugin: str, plan: str, source: str, features: tuple[str, ...] = (), monthly_calls: int = -1,
                 concurrency: int = -1, ends_at: datetime | None = None) -> Holding:
    return Holding(plugin=plugin, plan=plan, tier=plan, source=source, features=features,
                   monthly_calls=monthly_calls, concurrency=concurrency, ends_at=ends_at)


class Holdings:
    """What each (user, plugin) holds; unknown plugins raise like the real one."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], Holding] = {}

    def __call__(self, user_id: str, plugin: str) -> Holding:
        if plugin == "missing":
            raise NotFoundError("no plugin named 'missing'", code="plugin_not_found")
        return self.held.get((user_id, plugin)) or make_holding(plugin, "free", "default", monthly_calls=1000)


@pytest.fixture
def holdings():
    return Holdings()


@pytest.fixture
def clock():
    return FixedClock(T0)


@pytest.fixture
def service(container, holdings, clock):  # container: moto with the tables
    return LicensingService(KEYS, holdings, clock, issuer=ISSUER)


def decode(token: str) -> dict:
    return jwt.decode(token, public_pem("a"), algorithms=["RS256"], audience=AUDIENCE,
                      options={"verify_exp": False, "verify_iat": False})


def test_claims_state_the_holding(service, holdings):
    ends = T0 + timedelta(days=12)
    holdings.held[("usr_1", "proveniq")] = make_holding("proveniq", "pro", "subscription", ("analytics",), -1, 3,
                                                        ends)
    issued = service.issue("usr_1", "proveniq", reason="purchase")
    claims = decode(issued["license"])
    assert claims == issued["claims"]
    assert claims == {"iss": ISSUER, "aud": AUDIENCE, "sub": "usr_1", "jti": issued["license_id"],
                      "iat": int(T0.timestamp()), "exp": int(ends.timestamp()), "plugin_id": "proveniq",
                      "tier": "pro", "plan": "pro", "source": "subscription", "features": ["analytics"],
                      "limitations": {"monthly_calls": -1, "concurrency": 3}}
    assert issued["license_id"].startswith("lic_")
    assert jwt.get_unverified_header(issued["license"]) == {"alg": "RS256", "kid": "k2", "typ": "JWT"}


def test_expiry_without_an_end_is_30_days_and_a_lapsed_period_gets_one_day(service, holdings):
    free = decode(service.issue("usr_1", "echo", reason="request")["license"])
    assert free["exp"] - free["iat"] == 30 * 86400
    holdings.held[("usr_1", "echo")] = make_holding("echo", "pro", "subscription",
                                                    ends_at=T0 - timedelta(hours=1))  # past_due, within its grace
    lapsed = decode(service.issue("usr_1", "echo", reason="request")["license"])
    assert lapsed["exp"] - lapsed["iat"] == 86400


def test_no_keys_no_licences_and_an_empty_jwks(container, holdings, clock):
    service = LicensingService((), holdings, clock, issuer=ISSUER)
    assert service.jwks() == {"keys": []}
    with pytest.raises(ConfigurationError):
        service.issue("usr_1", "echo", reason="purchase")
    with pytest.raises(ConfigurationError):
        service.current("usr_1", "echo")
    assert service.verify(forge({"alg": "RS256", "kid": "k2"}, {}, b"x"))["reason"] == "unknown_key"


def test_unknown_reason_or_plugin_is_refused(service):
    with pytest.raises(ValueError):
        service.issue("usr_1", "echo", reason="gift")
    with pytest.raises(NotFoundError):
        service.current("usr_1", "missing")


def test_current_reuses_a_licence_while_it_states_the_holding(service, holdings, clock):
    first = service.current("usr_1", "echo")
    assert service.current("usr_1", "echo")["license_id"] == first["license_id"]
    clock.moment = T0 + timedelta(days=14)  # more than half its life left: still handed out
    assert service.current("usr_1", "echo")["license_id"] == first["license_id"]
    clock.moment = T0 + timedelta(days=16)
    second = service.current("usr_1", "echo")
    assert second["license_id"] != first["license_id"]
    holdings.held[("usr_1", "echo")] = make_holding("echo", "pro", "subscription", ("analytics",), -1, 3,
                                                    T0 + timedelta(days=40))
    upgraded = service.current("usr_1", "echo")
    assert upgraded["claims"]["tier"] == "pro" and upgraded["license_id"] != second["license_id"]
    assert service.current("usr_1", "echo")["license_id"] == upgraded["license_id"]
    holdings.held[("usr_1", "echo")] = make_holding("echo", "pro", "subscription", ("analytics",), -1, 3,
                                                    T0 + timedelta(days=70))  # renewed: a new end
    renewed = service.current("usr_1", "echo")
    assert renewed["license_id"] != upgraded["license_id"]
    assert renewed["claims"]["exp"] == int((T0 + timedelta(days=70)).timestamp())
    assert service.current("usr_2", "echo")["claims"]["sub"] == "usr_2"  # per user


def test_current_replaces_a_revoked_licence_and_one_signed_by_a_retired_signing_key(container, service,
                                                                                   holdings, clock):
    first = service.current("usr_1", "echo")
    service.revoke(Principal("usr_1", "user", "jwt"), first["license_id"], "leaked")
    second = service.current("usr_1", "echo")
    assert second["license_id"] != first["license_id"]
    rotated = LicensingService((("k3", pem_key("b")),) + KEYS, holdings, clock, issuer=ISSUER)
    third = rotated.current("usr_1", "echo")
    assert jwt.get_unverified_header(third["license"])["kid"] == "k3"
    assert rotated.verify(second["license"])["valid"] is True  # the old key still verifies


def test_revocation_rules(service):
    issued = service.issue("usr_1", "echo", reason="purchase")
    with pytest.raises(PermissionDeniedError) as denied:
        service.revoke(Principal("usr_2", "user", "jwt"), issued["license_id"], "mine now")
    assert denied.value.code == "not_license_owner"
    with pytest.raises(PermissionDeniedError):  # admin powers need a signed-in session
        service.revoke(Principal("usr_9", "admin", "api_key"), issued["license_id"], "x")
    with pytest.raises(NotFoundError) as missing:
        service.revoke(Principal("usr_1", "user", "jwt"), "lic_nope", "x")
    assert missing.value.code == "license_not_found"
    assert service.verify(issued["license"])["valid"] is True
    done = service.revoke(Principal("usr_9", "admin", "jwt"), issued["license_id"], "chargeback")
    assert done["revoked"] is True and done["reason"] == "chargeback"
    assert service.verify(issued["license"])["reason"] == "revoked"
    with pytest.raises(ConflictError) as again:
        service.revoke(Principal("usr_1", "user", "jwt"), issued["license_id"], "again")
    assert again.value.code == "license_already_revoked"


def test_list_shows_each_licence_with_its_status(service, clock):
    old = service.issue("usr_1", "echo", reason="purchase")
    clock.moment = T0 + timedelta(days=31)
    revoked = service.issue("usr_1", "other", reason="trial")
    service.revoke(Principal("usr_1", "user", "jwt"), revoked["license_id"], "cancelled")
    clock.moment = T0 + timedelta(days=32)
    live = service.issue("usr_1", "echo", reason="renewal")
    service.issue("usr_2", "echo", reason="purchase")
    listed = service.list("usr_1")["licenses"]
    assert [(x["license_id"], x["status"]) for x in listed] == [
        (live["license_id"], "active"), (revoked["license_id"], "revoked"), (old["license_id"], "expired")]
    assert listed[1]["reason"] == "trial" and listed[1]["revoke_reason"] == "cancelled"
    assert "license" not in listed[0]  # the list is metadata; the token comes from /licenses/{plugin}


def test_expiry_is_judged_on_the_service_clock(service, clock):
    issued = service.issue("usr_1", "echo", reason="purchase")
    clock.moment = T0 + timedelta(days=30) - timedelta(seconds=1)
    assert service.verify(issued["license"])["valid"] is True
    clock.moment = T0 + timedelta(days=30)
    verdict = service.verify(issued["license"])
    assert verdict == {"valid": False, "reason": "expired", "claims": issued["claims"]}


def _signed(claims: dict, *, kid: str = "k2", key: str = "a", algorithm: str = "RS256") -> str:
    return jwt.encode(claims, pem_key(key), algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def good_claims():
    return {"iss": ISSUER, "aud": AUDIENCE, "sub": "usr_1", "jti": "lic_x", "iat": int(T0.timestamp()),
            "exp": int((T0 + timedelta(days=1)).timestamp()), "plugin_id": "echo", "tier": "free"}


def test_verdicts(service, good_claims):
    def reason(token: str) -> str | None:
        return service.verify(token)["reason"]

    assert reason(_signed(good_claims)) is None
    # the algorithm is judged from the header before any key is used
    assert reason(_signed(good_claims, algorithm="RS512")) == "wrong_algorithm"
    assert reason(_signed(good_claims, algorithm="PS256")) == "wrong_algorithm"
    assert reason(forge({"alg": "HS256", "kid": "k2", "typ": "JWT"}, good_claims, public_pem("a"))) == \
        "wrong_algorithm"
    assert reason(forge({"alg": "none", "kid": "k2"}, good_claims)) == "wrong_algorithm"
    assert reason(forge({"kid": "k2"}, good_claims)) == "wrong_algorithm"  # no alg at all
    # the key by kid
    assert reason(_signed(good_claims, kid="k1")) == "unknown_key"
    assert reason(jwt.encode(good_claims, pem_key("a"), algorithm="RS256")) == "unknown_key"  # no kid
    assert reason(_signed(good_claims, key="b")) == "invalid_signature"  # another key, our kid
    assert reason(tamper(_signed(good_claims), tier="enterprise")) == "invalid_signature"
    # shapes
    for garbage in ("", "not a token", "a.b.c", "....", "eyJhbGciOiJSUzI1NiJ9.e30", "x" * 5000):
        assert reason(garbage) == "malformed", garbage
    # claims
    assert reason(_signed({**good_claims, "aud": "mockfactory-api"})) == "invalid_claims"
    assert reason(_signed({**good_claims, "iss": "https://evil.example"})) == "invalid_claims"
    assert reason(_signed({**good_claims, "iat": good_claims["iat"] + 3600})) == "invalid_claims"
    assert reason(_signed({**good_claims, "exp": "tomorrow"})) == "invalid_claims"
    assert reason(_signed({**good_claims, "sub": 7})) == "invalid_claims"
    for name in ("exp", "iat", "sub", "jti", "aud", "iss", "plugin_id", "tier"):
        claims = {k: v for k, v in good_claims.items() if k != name}
        assert reason(_signed(claims)) == "invalid_claims", name


def test_only_checked_claims_are_echoed(service, good_claims):
    assert service.verify(tamper(_signed(good_claims), tier="x"))["claims"] is None
    assert service.verify(_signed(good_claims))["claims"] == good_claims
