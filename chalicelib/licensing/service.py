"""Licence keys: RS256 JWTs stating what a user holds on a plugin, verifiable offline.

A licence carries ``iss``, ``aud`` (:data:`AUDIENCE`), ``sub`` (the user), ``jti`` (the
licence id), ``iat``, ``exp``, ``plugin_id``, ``tier``, ``plan``, ``source``, ``features``
and ``limitations`` (``monthly_calls``, ``concurrency``; -1 is unlimited), and names its
signing key in the ``kid`` header. Anyone can check one offline with the JWKS and PyJWT;
``verify`` also consults the revocation list, which takes effect at once (consistent read).

Issued when a plan is bought (``purchase``), a trial starts (``trial``), a subscription
renews (``renewal``), or on demand (``request``: ``current`` when no stored licence still
states the user's holding).
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import jwt
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.auth.principal import Principal
from chalicelib.core.clock import Clock, epoch_seconds, iso
from chalicelib.core.dynamo import failed_conditions, find, run_transaction
from chalicelib.core.errors import ConfigurationError, ConflictError, NotFoundError, PermissionDeniedError
from chalicelib.core.ids import new_id
from chalicelib.licensing.keys import ALGORITHM, LicenceKey, jwks, load_keys
from chalicelib.licensing.records import LicenceRecord, LicensingTable, RevocationRecord

if TYPE_CHECKING:
    from chalicelib.billing.holding import Holding

AUDIENCE = "mockfactory-licence"
REASONS = ("purchase", "trial", "renewal", "request")
DEFAULT_TTL = timedelta(days=30)  # a holding without an end (default plan, one-time purchase)
LAPSED_TTL = timedelta(days=1)  # a held plan whose period already ended (payment in grace)
IAT_LEEWAY_SECONDS = 60  # clock skew tolerated on ``iat``
REQUIRED_CLAIMS = ("iss", "aud", "sub", "jti", "iat", "exp", "plugin_id", "tier")
# What ``verify`` answers, besides None for a valid licence. Stable: clients branch on them.
VERDICTS = ("malformed", "wrong_algorithm", "unknown_key", "invalid_signature", "expired", "invalid_claims",
            "revoked")


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def _entitlement(held: Holding) -> dict[str, Any]:
    """The claims that state the holding (compared to decide whether a stored licence is current)."""
    return {"plugin_id": held.plugin, "tier": held.tier, "plan": held.plan, "source": held.source,
            "features": list(held.features),
            "limitations": {"monthly_calls": int(held.monthly_calls), "concurrency": int(held.concurrency)}}


class LicensingService:
    def __init__(self, keys: tuple[tuple[str, str], ...], holding: Callable[[str, str], Holding], clock: Clock,
                 *, issuer: str) -> None:
        self._keys: tuple[LicenceKey, ...] = load_keys(keys)
        self._by_kid = {key.kid: key for key in self._keys}
        self._holding = holding
        self._clock = clock
        self._issuer = issuer

    # --- publishing ---------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return jwks(self._keys)

    # --- issuing --------------------------------------------------------------------------
    def issue(self, user_id: str, plugin: str, *, reason: str) -> dict[str, Any]:
        """A new licence stating what ``user_id`` holds on ``plugin`` now (NotFoundError: no such plugin)."""
        self._signing_key()  # fail before any lookup when licences cannot be issued
        return self._issue(user_id, self._holding(user_id, plugin), reason)

    def current(self, user_id: str, plugin: str) -> dict[str, Any]:
        """The newest stored licence that still states the holding, else a new one (reason ``request``)."""
        signing = self._signing_key()
        held = self._holding(user_id, plugin)
        now = self._clock.now()
        wanted = _entitlement(held)
        for record in self._records(user_id, plugin):  # newest first
            claims = record.claims or {}
            if (record.revoked_at is None and record.kid == signing.kid
                    and all(claims.get(name) == value for name, value in wanted.items())
                    and self._still_fresh(int(claims.get("exp", 0)), held, now)):
                return self._reply(record)
        return self._issue(user_id, held, "request")

    def _signing_key(self) -> LicenceKey:
        if not self._keys:
            raise ConfigurationError("MF_LICENSE_KEYS is not set: licences cannot be issued")
        return self._keys[0]

    @staticmethod
    def _expiry(held: Holding, now: datetime) -> datetime:
        if held.ends_at is None:
            return now + DEFAULT_TTL
        if held.ends_at <= now:  # held past its period end (a failed renewal payment in grace)
            return now + LAPSED_TTL
        return held.ends_at

    @staticmethod
    def _still_fresh(exp: int, held: Holding, now: datetime) -> bool:
        """Worth handing out again: bounded by the holding's end, or with half its lifetime left."""
        if held.ends_at is not None and held.ends_at > now:
            return exp == epoch_seconds(held.ends_at)  # a renewal moves the end: a new licence then
        return exp - epoch_seconds(now) >= (DEFAULT_TTL if held.ends_at is None else LAPSED_TTL).total_seconds() / 2

    def _issue(self, user_id: str, held: Holding, reason: str) -> dict[str, Any]:
        if reason not in REASONS:
            raise ValueError(f"unknown licence reason {reason!r}")
        key = self._signing_key()
        now = self._clock.now()
        expires = self._expiry(held, now)
        license_id = new_id("lic")
        claims: dict[str, Any] = {
            "iss": self._issuer, "aud": AUDIENCE, "sub": user_id, "jti": license_id,
            "iat": epoch_seconds(now), "exp": epoch_seconds(expires), **_entitlement(held),
        }
        token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
        record = LicenceRecord(
            *LicenceRecord.key(license_id), owner=user_id,
            owner_sort=LicenceRecord.owner_sort_key(held.plugin, now, license_id),
            license_id=license_id, user_id=user_id, plugin=held.plugin, tier=held.tier, plan=held.plan,
            source=held.source, reason=reason, kid=key.kid, token=token, claims=claims, issued_at=now,
            expires_at=_utc(claims["exp"]))
        record.save(condition=LicenceRecord.pk.does_not_exist())
        return self._reply(record)

    @staticmethod
    def _reply(record: LicenceRecord) -> dict[str, Any]:
        return {"license": record.token, "license_id": record.license_id, "claims": record.claims}

    # --- listing and revoking -------------------------------------------------------------
    def _records(self, user_id: str, plugin: str | None = None) -> list[LicenceRecord]:
        condition = LicenceRecord.owner_sort.startswith(f"{plugin}#") if plugin else None
        rows = LicenceRecord.by_owner.query(user_id, condition, scan_index_forward=False)
        return [row for row in rows if isinstance(row, LicenceRecord)]

    def list(self, user_id: str) -> dict[str, Any]:
        now = self._clock.now()
        records = sorted(self._records(user_id), key=lambda r: (r.issued_at, r.license_id), reverse=True)
        return {"licenses": [self._summary(record, now) for record in records]}

    @staticmethod
    def _summary(record: LicenceRecord, now: datetime) -> dict[str, Any]:
        status = "revoked" if record.revoked_at else "expired" if record.expires_at <= now else "active"
        return {"license_id": record.license_id, "plugin": record.plugin, "tier": record.tier,
                "plan": record.plan, "source": record.source, "reason": record.reason, "status": status,
                "features": (record.claims or {}).get("features", []),
                "limitations": (record.claims or {}).get("limitations", {}),
                "issued_at": iso(record.issued_at), "expires_at": iso(record.expires_at),
                "revoked_at": iso(record.revoked_at) if record.revoked_at else None,
                "revoke_reason": record.revoke_reason}

    def revoke(self, principal: Principal, license_id: str, reason: str) -> dict[str, Any]:
        """The licence's owner or an admin (signed in); a second revocation is a 409."""
        record = find(LicenceRecord, LicenceRecord.key(license_id))
        if record is None:
            raise NotFoundError(f"no licence '{license_id}'", code="license_not_found")
        is_admin = principal.role == "admin" and principal.via == "jwt"
        if record.user_id != principal.user_id and not is_admin:
            raise PermissionDeniedError("this licence belongs to another user", code="not_license_owner")
        now = self._clock.now()
        revocation = RevocationRecord(*RevocationRecord.key(license_id), license_id=license_id,
                                      user_id=record.user_id, revoked_by=principal.user_id, reason=reason,
                                      revoked_at=now)

        def build(tx: TransactWrite) -> None:
            tx.save(revocation, condition=RevocationRecord.pk.does_not_exist())
            tx.update(LicenceRecord(*LicenceRecord.key(license_id)), condition=LicenceRecord.pk.exists(),
                      actions=[LicenceRecord.revoked_at.set(now), LicenceRecord.revoke_reason.set(reason)])

        try:
            run_transaction(LicensingTable, build)
        except TransactWriteError as exc:
            if failed_conditions(exc)[:1] == [True]:
                raise ConflictError(f"licence '{license_id}' is already revoked",
                                    code="license_already_revoked") from exc
            raise
        return {"license_id": license_id, "revoked": True, "revoked_at": iso(now), "reason": reason}

    # --- verifying ------------------------------------------------------------------------
    def verify(self, token: str) -> dict[str, Any]:
        """Signature, algorithm, key, expiry, claims and revocation: an answer for any token."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return self._verdict("malformed")
        if header.get("alg") != ALGORITHM:  # none, HS256 (e.g. keyed with the public PEM), RS512, ...
            return self._verdict("wrong_algorithm")
        kid = header.get("kid")
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            return self._verdict("unknown_key")
        try:
            claims = jwt.decode(
                token, key.public_key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=self._issuer,
                options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False})  # times are checked below, on the service's clock
        except jwt.InvalidSignatureError:
            return self._verdict("invalid_signature")
        except jwt.DecodeError:  # bad base64 or JSON in a segment
            return self._verdict("malformed")
        except jwt.PyJWTError:  # missing claim, wrong audience or issuer
            return self._verdict("invalid_claims")
        return self._check_claims(claims)

    def _check_claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        now = epoch_seconds(self._clock.now())
        times = [claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in times):
            return self._verdict("invalid_claims", claims)
        exp, iat, nbf = (int(v) for v in times)
        if not all(isinstance(claims.get(name), str) and claims[name] for name in ("sub", "jti", "plugin_id")):
            return self._verdict("invalid_claims", claims)
        if iat > now + IAT_LEEWAY_SECONDS or nbf > now + IAT_LEEWAY_SECONDS:
            return self._verdict("invalid_claims", claims)
        if exp <= now:
            return self._verdict("expired", claims)
        if self._revoked(claims["jti"]):
            return self._verdict("revoked", claims)
        return {"valid": True, "reason": None, "claims": claims}

    @staticmethod
    def _revoked(license_id: str) -> bool:
        return find(RevocationRecord, RevocationRecord.key(license_id)) is not None

    @staticmethod
    def _verdict(reason: str, claims: dict[str, Any] | None = None) -> dict[str, Any]:
        """Invalid. ``claims`` only once the signature was checked (so they are ours, just not valid now)."""
        return {"valid": False, "reason": reason, "claims": claims}

