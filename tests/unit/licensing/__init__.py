"""Licence signing keys for tests: RSA generation is slow, so each label is made once per session."""
from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@cache
def pem_key(label: str, bits: int = 2048) -> str:
    """An unencrypted PKCS#8 PEM RSA private key, the same for a label within a test session."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_pem(label: str) -> bytes:
    private = serialization.load_pem_private_key(pem_key(label).encode("ascii"), password=None)
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def forge(header: dict[str, object], claims: dict[str, object], hmac_secret: bytes | None = None) -> str:
    """A JWT built by hand (PyJWT refuses to): HS256 keyed with ``hmac_secret``, or unsigned (alg none)."""
    import hashlib
    import hmac
    import json

    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if hmac_secret is None:
        return signing_input + "."
    return signing_input + "." + _b64(hmac.new(hmac_secret, signing_input.encode(), hashlib.sha256).digest())


def tamper(token: str, **changes: object) -> str:
    """The token with some payload claims changed, header and signature kept."""
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
