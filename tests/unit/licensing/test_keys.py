"""Licence keys: parsing the settings' PEM keys, and the JWKS they publish."""
from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.settings import Settings
from chalicelib.licensing.keys import jwks, load_keys
from tests.conftest import TEST_ENV
from tests.unit.licensing import pem_key


def _pem(private) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode("ascii")


def test_jwks_publishes_every_key_public_half_only_with_kid_use_and_alg():
    keys = load_keys((("new", pem_key("a")), ("old", pem_key("b"))))
    document = jwks(keys)
    assert [k["kid"] for k in document["keys"]] == ["new", "old"]  # the signing key first
    for jwk in document["keys"]:
        assert jwk["kty"] == "RSA" and jwk["use"] == "sig" and jwk["alg"] == "RS256"
        assert {"n", "e"} <= set(jwk)
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk), "private parameters leaked"
    key_set = jwt.PyJWKSet.from_dict(document)  # what an offline verifier does with it
    assert key_set["old"].algorithm_name == "RS256"


def test_keys_come_from_the_settings_base64_pems():
    raw = ",".join(f"{kid}:{base64.b64encode(pem_key(label).encode()).decode()}"
                   for kid, label in (("k2", "a"), ("k1", "b")))
    settings = Settings.from_env({**TEST_ENV, "MF_LICENSE_KEYS": raw})
    assert [k.kid for k in load_keys(settings.licence_keys)] == ["k2", "k1"]
    assert Settings.from_env(TEST_ENV).licence_keys == ()
    assert load_keys(()) == () and jwks(()) == {"keys": []}


def test_a_kid_named_twice_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="twice"):
        load_keys((("k", pem_key("a")), ("k", pem_key("b"))))


@pytest.mark.parametrize("make, match", [
    (lambda: _pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
    (lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "at least 2048"),
    (lambda: "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", "not an unencrypted PEM"),
])
def test_unusable_keys_are_configuration_errors(make, match):
    with pytest.raises(ConfigurationError, match=match):
        load_keys((("bad", make()),))
