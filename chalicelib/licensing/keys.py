"""Licence signing keys: RSA private keys from the settings, their public halves as a JWKS.

The first key signs; every key is published, so a licence signed before a rotation keeps
verifying until the old key is dropped from ``MF_LICENSE_KEYS`` (after its licences expired).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import RSAAlgorithm

from chalicelib.core.errors import ConfigurationError

ALGORITHM = "RS256"
MIN_KEY_BITS = 2048


@dataclass(frozen=True)
class LicenceKey:
    kid: str
    private_key: RSAPrivateKey

    @property
    def public_key(self) -> RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517): kty, n, e, plus kid, use and alg."""
        jwk = dict(RSAAlgorithm.to_jwk(self.public_key, as_dict=True))
        jwk.update({"kid": self.kid, "use": "sig", "alg": ALGORITHM})
        return jwk


def load_keys(pairs: tuple[tuple[str, str], ...]) -> tuple[LicenceKey, ...]:
    """(kid, PEM private key) pairs -> keys; a bad key is a deployment bug (ConfigurationError)."""
    keys: list[LicenceKey] = []
    for kid, pem in pairs:
        if any(k.kid == kid for k in keys):
            raise ConfigurationError(f"MF_LICENSE_KEYS names key id '{kid}' twice")
        try:
            private = load_pem_private_key(pem.encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"MF_LICENSE_KEYS key '{kid}' is not an unencrypted PEM private key") from exc
        if not isinstance(private, RSAPrivateKey):
            raise ConfigurationError(f"MF_LICENSE_KEYS key '{kid}' is not an RSA key")
        if private.key_size < MIN_KEY_BITS:
            raise ConfigurationError(f"MF_LICENSE_KEYS key '{kid}' has {private.key_size} bits; "
                                     f"at least {MIN_KEY_BITS} are needed")
        keys.append(LicenceKey(kid, private))
    return tuple(keys)


def jwks(keys: tuple[LicenceKey, ...]) -> dict[str, Any]:
    """The JSON Web Key Set: public keys only, the signing key first."""
    return {"keys": [key.jwk() for key in keys]}
