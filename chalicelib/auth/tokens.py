"""JWT access tokens: HS256 pinned, exp/iat/iss/aud required, ``kid`` for key rotation."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.core.clock import Clock, epoch_seconds
from chalicelib.core.errors import UnauthenticatedError
from chalicelib.core.ids import new_id

ALGORITHM = "HS256"


class TokenIssuer:
    def __init__(self, keys: tuple[tuple[str, str], ...], *, issuer: str, audience: str,
                 ttl_seconds: int, clock: Clock) -> None:
        self._signing_kid, self._signing_secret = keys[0]
        self._keys = dict(keys)
        self._issuer = issuer
        self._audience = audience
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock

    def issue(self, *, user_id: str, role: str) -> dict[str, object]:
        now = self._clock.now()
        expires = now + self._ttl
        claims = {
            "sub": user_id, "role": role, "iss": self._issuer, "aud": self._audience,
            "iat": epoch_seconds(now), "exp": epoch_seconds(expires), "jti": new_id("tok"),
            # To the millisecond: a session is refused if issued before its account's not-valid-before.
            "iat_ms": int(now.timestamp() * 1000),
        }
        import jwt  # here, not at import: API-key calls (the gateway's) never load PyJWT and cryptography

        token = jwt.encode(claims, self._signing_secret, algorithm=ALGORITHM,
                           headers={"kid": self._signing_kid})
        return {"access_token": token, "token_type": "Bearer",
                "expires_in": int(self._ttl.total_seconds())}

    def verify(self, token: str) -> dict[str, object]:
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError("access token is malformed", code="invalid_token") from exc
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise UnauthenticatedError("access token was signed with an unknown key", code="invalid_token")
        try:
            return jwt.decode(
                token, secret, algorithms=[ALGORITHM], audience=self._audience, issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise UnauthenticatedError("access token has expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(f"access token is invalid: {exc}", code="invalid_token") from exc
