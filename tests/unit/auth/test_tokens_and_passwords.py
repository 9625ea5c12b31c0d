from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest

from chalicelib.auth.passwords import hash_password, verify_password
from chalicelib.auth.principal import Principal
from chalicelib.auth.tokens import TokenIssuer
from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import UnauthenticatedError

KEYS = (("new", "n" * 40), ("old", "o" * 40))


def issuer(clock=None, keys=KEYS) -> TokenIssuer:
    return TokenIssuer(keys, issuer="iss", audience="aud", ttl_seconds=60,
                       clock=clock or FixedClock(datetime.now(timezone.utc)))


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password("hunter2hunter2"), hash_password("hunter2hunter2")
    assert first.startswith("scrypt$16384$8$1$") and first != second
    assert verify_password("hunter2hunter2", first)
    assert not verify_password("hunter2hunter3", first)
    assert not verify_password("x", "bcrypt$whatever")


def test_tokens_carry_kid_iss_aud_and_expiry():
    token = issuer().issue(user_id="usr_1", role="developer")["access_token"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "kid": "new", "typ": "JWT"}
    claims = issuer().verify(token)
    assert (claims["sub"], claims["role"], claims["iss"], claims["aud"]) == ("usr_1", "developer", "iss", "aud")
    assert claims["exp"] - claims["iat"] == 60


def test_a_retired_signing_key_still_verifies_until_removed():
    old_token = issuer(keys=(("old", "o" * 40),)).issue(user_id="usr_1", role="user")["access_token"]
    assert issuer().verify(old_token)["sub"] == "usr_1"
    with pytest.raises(UnauthenticatedError):
        issuer(keys=(("new", "n" * 40),)).verify(old_token)


def test_expired_and_none_algorithm_tokens_are_refused_with_their_own_codes():
    past = FixedClock(datetime.now(timezone.utc) - timedelta(hours=2))
    expired = issuer(clock=past).issue(user_id="usr_1", role="user")["access_token"]
    with pytest.raises(UnauthenticatedError) as caught:
        issuer().verify(expired)
    assert caught.value.code == "token_expired"
    unsigned = jwt.encode({"sub": "usr_1", "role": "admin", "iss": "iss", "aud": "aud",
                           "iat": int(time.time()), "exp": int(time.time()) + 60}, None, algorithm="none",
                          headers={"kid": "new"})
    with pytest.raises(UnauthenticatedError) as caught:
        issuer().verify(unsigned)
    assert caught.value.code == "invalid_token"


def test_roles_nest_user_developer_admin():
    admin = Principal(user_id="u", role="admin", via="jwt")
    user = Principal(user_id="u", role="user", via="jwt")
    assert admin.has_role("developer") and admin.has_role("user")
    assert not user.has_role("developer")
