"""Identity use cases: sign-up, login, token and API-key authentication, key lifecycle, becoming a
developer, and the admins' user management."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.auth.model import ApiKey, User
from chalicelib.auth.passwords import dummy_hash, hash_password, verify_password
from chalicelib.auth.principal import ROLES, Principal
from chalicelib.auth.repository import AuthRepository
from chalicelib.auth.scopes import DEFAULT_SCOPES, PLUGIN_BOUND, SCOPES, ordered
from chalicelib.auth.tokens import TokenIssuer
from chalicelib.core.cache import TtlCache
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import (ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError,
                                    UnauthenticatedError)
from chalicelib.core.ids import new_id, random_token

KEY_PREFIXES = {"test": "mf_test_", "live": "mf_live_"}
MAX_ACTIVE_KEYS = 20
MAX_KEY_LIFETIME = timedelta(days=3650)
_RANK = {role: rank for rank, role in enumerate(ROLES)}
_USER_ID = re.compile(r"^usr_[A-Za-z0-9]{1,64}$")


def hash_api_key(raw_key: str) -> str:
    """Keys carry ~238 random bits, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(tuple(KEY_PREFIXES.values()))


def key_status(key: ApiKey, now: datetime) -> str:
    return "revoked" if not key.active else "expired" if key.expired(now) else "active"


def key_view(key: ApiKey, now: datetime) -> dict[str, Any]:
    return {
        "key_id": key.key_id, "name": key.name, "prefix": key.prefix, "mode": key.mode,
        "scopes": list(key.scopes), "plugins": list(key.plugins) if key.plugins is not None else None,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at) if key.last_used_at else None,
        "expires_at": iso(key.expires_at) if key.expires_at else None,
        "revoked_at": iso(key.revoked_at) if key.revoked_at else None,
        "status": key_status(key, now),
    }


def user_view(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "email": user.email, "role": user.role,
            "created_at": iso(user.created_at)}


def admin_user_view(user: User) -> dict[str, Any]:
    return {**user_view(user), "status": "disabled" if user.disabled else "active",
            "disabled_at": iso(user.disabled_at) if user.disabled_at else None,
            "disabled_reason": user.disabled_reason}


def parse_expiry(text: str, now: datetime) -> datetime:
    """An ISO 8601 date or date-time (UTC when it names no offset), in the future, within 10 years."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise InvalidInputError(f"expires_at {text!r} is not an ISO 8601 date or date-time, e.g. 2026-12-31 or "
                                "2026-12-31T18:00:00Z", code="invalid_expiry") from exc
    if moment <= now:
        raise InvalidInputError(f"expires_at {iso(moment)} is not in the future", code="invalid_expiry")
    if moment > now + MAX_KEY_LIFETIME:
        raise InvalidInputError("expires_at is more than 10 years away; leave it out for a key that does not "
                                "expire", code="invalid_expiry")
    return moment


class AuthService:
    def __init__(self, repository: AuthRepository, tokens: TokenIssuer, clock: Clock,
                 key_cache: TtlCache[Any]) -> None:
        self._repo = repository
        self._tokens = tokens
        self._clock = clock
        # Key principals by key hash, and users by ("user", id) for sessions: one TTL bounds how
        # long a change made in another container (revoked key, disabled user) goes unseen here.
        self._cache = key_cache

    # --- accounts -------------------------------------------------------
    def sign_up(self, *, email: str, password: str, role: str = "user") -> dict[str, Any]:
        user = self.create_user(email=email, password=password, role=role)
        return {"user": user_view(user), **self._tokens.issue(user_id=user.user_id, role=user.role)}

    def create_user(self, *, email: str, password: str, role: str) -> User:
        user = User(user_id=new_id("usr"), email=email.strip().lower(), role=role,
                    password_hash=hash_password(password), created_at=self._clock.now())
        self._repo.create_user(user)
        return user

    def find_user(self, email: str) -> User | None:
        return self._repo.find_user_by_email(email.strip().lower())

    def log_in(self, *, email: str, password: str) -> dict[str, Any]:
        dummy = dummy_hash()  # made by the first login of either kind, so timing never tells them apart
        user = self._repo.find_user_by_email(email.strip().lower())
        valid = verify_password(password, user.password_hash if user else dummy)
        if user is None or not valid:
            raise UnauthenticatedError("e-mail or password is wrong", code="invalid_credentials")
        if user.disabled:  # said only to whoever knows the password
            raise UnauthenticatedError("this account is disabled", code="account_disabled")
        return {"user": user_view(user), **self._tokens.issue(user_id=user.user_id, role=user.role)}

    def get_user(self, user_id: str) -> User:
        user = self._repo.get_user(user_id) if _USER_ID.match(user_id) else None
        if user is None:
            raise NotFoundError(f"no user '{user_id}'", code="user_not_found")
        return user

    def me(self, principal: Principal) -> dict[str, Any]:
        user = self._repo.get_user(principal.user_id)
        if user is None:
            raise UnauthenticatedError("account no longer exists", code="invalid_token")
        return user_view(user)

    def issue_token(self, user: User) -> str:
        return str(self._tokens.issue(user_id=user.user_id, role=user.role)["access_token"])

    def become_developer(self, principal: Principal) -> dict[str, Any]:
        """The self-service step from user to developer (an admin stays an admin); a fresh token
        carries the role, as the caller's current one does not."""
        user = self.get_user(principal.user_id)
        if user.role == "user":
            user = self._repo.set_role(user.user_id, "developer", expected="user")
            self._forget_user(user.user_id)
        return {"user": user_view(user), **self._tokens.issue(user_id=user.user_id, role=user.role)}

    # --- authentication -----------------------------------------------
    def authenticate(self, credential: str) -> Principal:
        """A JWT access token or a marketplace API key, as sent by the caller."""
        if looks_like_api_key(credential):
            return self.authenticate_key(credential)
        claims = self._tokens.verify(credential)
        role = claims.get("role", "user")
        if role not in ROLES:
            raise UnauthenticatedError("access token carries an unknown role", code="invalid_token")
        user = self._current_user(str(claims["sub"]))
        cutoff = user.not_valid_before
        if cutoff is not None and _issued_ms(claims) < int(cutoff.timestamp() * 1000):
            raise UnauthenticatedError("this session was ended by an administrator; log in again",
                                       code="session_revoked")
        # A token never grants more than it says, nor more than the account holds now (a demotion
        # takes effect at once; a promotion with the fresh token it comes with).
        effective = min(str(role), user.role, key=_RANK.__getitem__)
        return Principal(user_id=user.user_id, role=effective, via="jwt")

    def _current_user(self, user_id: str) -> User:
        def load() -> User:
            user = self._repo.get_user(user_id)
            if user is None:
                raise UnauthenticatedError("account no longer exists", code="invalid_token")
            if user.disabled:
                raise UnauthenticatedError("this account is disabled", code="account_disabled")
            return user

        user: User = self._cache.get(("user", user_id), load)
        return user

    def authenticate_key(self, raw_key: str) -> Principal:
        """Cached per container: the cache's TTL bounds how long a revoked key still works.
        Expiry is checked on every call, cached or not."""
        key_hash = hash_api_key(raw_key)
        principal: Principal = self._cache.get(key_hash, lambda: self._load_key_principal(key_hash))
        if principal.expires_at is not None and self._clock.now() >= principal.expires_at:
            raise UnauthenticatedError(f"this API key expired at {iso(principal.expires_at)}; create a new one",
                                       code="api_key_expired", details={"expired_at": iso(principal.expires_at)})
        return principal

    def _load_key_principal(self, key_hash: str) -> Principal:
        owner = self._repo.lookup_key(key_hash)
        user = self._repo.get_user(owner.user_id) if owner is not None else None
        if owner is None or user is None:
            raise UnauthenticatedError("API key is unknown or revoked", code="invalid_api_key")
        if user.disabled:
            raise UnauthenticatedError("the account of this API key is disabled", code="account_disabled")
        self._repo.touch_key(owner.user_id, owner.key_id, self._clock.now())
        return Principal(user_id=user.user_id, role=user.role, via="api_key", key_id=owner.key_id,
                         key_mode=owner.mode, scopes=owner.scopes, plugins=owner.plugins,
                         expires_at=owner.expires_at)

    def _forget_user(self, user_id: str, keys: list[ApiKey] | None = None) -> None:
        """This container sees the change at once; others within the cache's TTL."""
        hashes = {k.key_hash for k in (keys if keys is not None else self._repo.list_keys(user_id))}
        self._cache.forget(lambda cached: cached == ("user", user_id) or cached in hashes)

    # --- API keys --------------------------------------------------------
    def _new_key(self, user_id: str, name: str, mode: str, *, scopes: tuple[str, ...],
                 plugins: tuple[str, ...] | None, expires_at: datetime | None) -> tuple[ApiKey, str]:
        raw = KEY_PREFIXES[mode] + random_token(40)
        key = ApiKey(key_id=new_id("key"), user_id=user_id, name=name, prefix=raw[:12], mode=mode,
                     key_hash=hash_api_key(raw), created_at=self._clock.now(), scopes=scopes, plugins=plugins,
                     expires_at=expires_at)
        return key, raw

    def create_key(self, principal: Principal, *, name: str, mode: str, scopes: list[str] | None = None,
                   plugins: list[str] | None = None, expires_at: str | None = None) -> dict[str, Any]:
        """``scopes`` None: the mode's default (test: gateway, usage:read; live: gateway)."""
        now = self._clock.now()
        chosen = ordered(scopes) if scopes is not None else DEFAULT_SCOPES[mode]
        if plugins is not None and not PLUGIN_BOUND & set(chosen):
            raise InvalidInputError("a plugin list limits the gateway and installs:write scopes; this key has "
                                    "neither", code="invalid_plugins",
                                    details=[{"path": "plugins", "message": "needs scope gateway or installs:write"}])
        expiry = parse_expiry(expires_at, now) if expires_at is not None else None
        active = [k for k in self._repo.list_keys(principal.user_id) if key_status(k, now) == "active"]
        if len(active) >= MAX_ACTIVE_KEYS:
            raise ConflictError(f"at most {MAX_ACTIVE_KEYS} active keys; revoke one first",
                                code="key_limit_reached")
        key, raw = self._new_key(principal.user_id, name, mode, scopes=chosen, expires_at=expiry,
                                 plugins=tuple(sorted(set(plugins))) if plugins is not None else None)
        self._repo.add_key(key)
        return {**key_view(key, now), "api_key": raw}

    def list_keys(self, principal: Principal) -> dict[str, Any]:
        now = self._clock.now()
        keys = sorted(self._repo.list_keys(principal.user_id), key=lambda k: k.created_at, reverse=True)
        return {"keys": [key_view(k, now) for k in keys], "scopes": dict(SCOPES)}

    def rotate_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        old = self._repo.get_key(principal.user_id, key_id)
        now = self._clock.now()
        if old.active and old.expired(now):
            raise ConflictError(f"API key {key_id} has expired; create a new key instead",
                                code="key_expired")
        new, raw = self._new_key(principal.user_id, old.name, old.mode, scopes=old.scopes, plugins=old.plugins,
                                 expires_at=old.expires_at)
        self._repo.revoke_key(old, now=now, replacement=new)
        self._cache.forget(lambda cached: cached == old.key_hash)
        return {**key_view(new, now), "api_key": raw, "replaces": old.key_id}

    def revoke_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        key = self._repo.get_key(principal.user_id, key_id)
        now = self._clock.now()
        self._repo.revoke_key(key, now=now)
        self._cache.forget(lambda cached: cached == key.key_hash)
        return key_view(replace(key, revoked_at=now), now)

    # --- admin: user management -------------------------------------------
    def ensure_user_directory(self) -> int:
        """A table from before the user directory gets it (the dev stack runs this at start-up)."""
        return self._repo.ensure_directory()

    def list_users(self, *, email_prefix: str = "", limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        page = self._repo.list_users(prefix=email_prefix.strip().lower(), limit=limit, cursor=cursor)
        return {"users": [admin_user_view(u) for u in page.users], "next_cursor": page.next_cursor}

    def user_detail(self, user_id: str) -> dict[str, Any]:
        user = self.get_user(user_id)
        now = self._clock.now()
        keys = sorted(self._repo.list_keys(user.user_id), key=lambda k: k.created_at, reverse=True)
        return {"user": admin_user_view(user), "keys": [key_view(k, now) for k in keys]}

    def disable_user(self, admin: Principal, user_id: str, *, reason: str | None) -> dict[str, Any]:
        """Its keys and sessions stop working: here at once, elsewhere within the cache TTL.
        Disabling a disabled account changes nothing (its first reason and time stay)."""
        if user_id == admin.user_id:
            raise PermissionDeniedError("you cannot disable your own account", code="cannot_disable_self")
        user = self.get_user(user_id)
        if not user.disabled:
            user = self._repo.disable_user(user.user_id, at=self._clock.now(), reason=reason)
        self._forget_user(user.user_id)
        return admin_user_view(user)

    def enable_user(self, admin: Principal, user_id: str) -> dict[str, Any]:
        """Its keys work again; sessions from before the disable do not (the user logs in again)."""
        user = self.get_user(user_id)
        if user.disabled:
            user = self._repo.enable_user(user.user_id)
        self._forget_user(user.user_id)
        return admin_user_view(user)

    def revoke_user_keys(self, admin: Principal, user_id: str) -> dict[str, Any]:
        user = self.get_user(user_id)
        keys = self._repo.list_keys(user.user_id)
        now = self._clock.now()
        # Expired keys already fail; the usable ones number at most MAX_ACTIVE_KEYS, one transaction.
        live = [k for k in keys if key_status(k, now) == "active"]
        self._repo.revoke_keys(live, now=now)
        self._forget_user(user.user_id, keys)
        return {"user_id": user.user_id, "revoked": [key_view(replace(k, revoked_at=now), now) for k in live]}

    def change_role(self, admin: Principal, user_id: str, role: str) -> dict[str, Any]:
        if user_id == admin.user_id and role != "admin":
            raise PermissionDeniedError("you cannot remove your own admin role; ask another admin",
                                        code="cannot_demote_self")
        user = self.get_user(user_id)
        if user.role != role:
            user = self._repo.set_role(user.user_id, role, expected=user.role)
        self._forget_user(user.user_id)
        return admin_user_view(user)


def _issued_ms(claims: dict[str, object]) -> int:
    """When the token was issued, in ms (``iat`` has whole seconds: a session issued in the second
    before a disable would pass a check in seconds; tokens from before ``iat_ms`` existed use it)."""
    issued = claims.get("iat_ms")
    if isinstance(issued, int):
        return issued
    seconds = claims.get("iat")
    return int(seconds) * 1000 if isinstance(seconds, (int, float)) else 0
