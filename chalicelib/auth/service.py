"""Identity use cases: sign-up, login, token and API-key authentication, key lifecycle."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from chalicelib.auth.model import ApiKey, User
from chalicelib.auth.passwords import dummy_hash, hash_password, verify_password
from chalicelib.auth.principal import ROLES, Principal
from chalicelib.auth.repository import AuthRepository
from chalicelib.auth.tokens import TokenIssuer
from chalicelib.core.cache import TtlCache
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, NotFoundError, UnauthenticatedError
from chalicelib.core.ids import new_id, random_token

KEY_PREFIXES = {"test": "mf_test_", "live": "mf_live_"}
MAX_ACTIVE_KEYS = 20


def hash_api_key(raw_key: str) -> str:
    """Keys carry ~238 random bits, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(tuple(KEY_PREFIXES.values()))


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id, "name": key.name, "prefix": key.prefix, "mode": key.mode,
        "created_at": iso(key.created_at),
        "last_used_at": iso(key.last_used_at) if key.last_used_at else None,
        "revoked_at": iso(key.revoked_at) if key.revoked_at else None,
        "status": "active" if key.active else "revoked",
    }


def user_view(user: User) -> dict[str, Any]:
    return {"user_id": user.user_id, "email": user.email, "role": user.role,
            "created_at": iso(user.created_at)}


class AuthService:
    def __init__(self, repository: AuthRepository, tokens: TokenIssuer, clock: Clock,
                 key_cache: TtlCache[Principal]) -> None:
        self._repo = repository
        self._tokens = tokens
        self._clock = clock
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

    def log_in(self, *, email: str, password: str) -> dict[str, Any]:
        dummy = dummy_hash()  # made by the first login of either kind, so timing never tells them apart
        user = self._repo.find_user_by_email(email.strip().lower())
        valid = verify_password(password, user.password_hash if user else dummy)
        if user is None or not valid:
            raise UnauthenticatedError("e-mail or password is wrong", code="invalid_credentials")
        return {"user": user_view(user), **self._tokens.issue(user_id=user.user_id, role=user.role)}

    def get_user(self, user_id: str) -> User:
        user = self._repo.get_user(user_id)
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

    # --- authentication -----------------------------------------------
    def authenticate(self, credential: str) -> Principal:
        """A JWT access token or a marketplace API key, as sent by the caller."""
        if looks_like_api_key(credential):
            return self.authenticate_key(credential)
        claims = self._tokens.verify(credential)
        role = claims.get("role", "user")
        if role not in ROLES:
            raise UnauthenticatedError("access token carries an unknown role", code="invalid_token")
        return Principal(user_id=str(claims["sub"]), role=str(role), via="jwt")

    def authenticate_key(self, raw_key: str) -> Principal:
        """Cached per container: the cache's TTL bounds how long a revoked key still works."""
        key_hash = hash_api_key(raw_key)
        return self._cache.get(key_hash, lambda: self._load_key_principal(key_hash))

    def _load_key_principal(self, key_hash: str) -> Principal:
        owner = self._repo.lookup_key(key_hash)
        user = self._repo.get_user(owner.user_id) if owner is not None else None
        if owner is None or user is None:
            raise UnauthenticatedError("API key is unknown or revoked", code="invalid_api_key")
        self._repo.touch_key(owner.user_id, owner.key_id, self._clock.now())
        return Principal(user_id=user.user_id, role=user.role, via="api_key",
                         key_id=owner.key_id, key_mode=owner.mode)

    # --- API keys --------------------------------------------------------
    def _new_key(self, user_id: str, name: str, mode: str) -> tuple[ApiKey, str]:
        raw = KEY_PREFIXES[mode] + random_token(40)
        key = ApiKey(key_id=new_id("key"), user_id=user_id, name=name, prefix=raw[:12], mode=mode,
                     key_hash=hash_api_key(raw), created_at=self._clock.now())
        return key, raw

    def create_key(self, principal: Principal, *, name: str, mode: str) -> dict[str, Any]:
        active = [k for k in self._repo.list_keys(principal.user_id) if k.active]
        if len(active) >= MAX_ACTIVE_KEYS:
            raise ConflictError(f"at most {MAX_ACTIVE_KEYS} active keys; revoke one first",
                                code="key_limit_reached")
        key, raw = self._new_key(principal.user_id, name, mode)
        self._repo.add_key(key)
        return {**key_view(key), "api_key": raw}

    def list_keys(self, principal: Principal) -> dict[str, Any]:
        keys = sorted(self._repo.list_keys(principal.user_id), key=lambda k: k.created_at, reverse=True)
        return {"keys": [key_view(k) for k in keys]}

    def rotate_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        old = self._repo.get_key(principal.user_id, key_id)
        new, raw = self._new_key(principal.user_id, old.name, old.mode)
        self._repo.revoke_key(old, now=self._clock.now(), replacement=new)
        self._cache.forget(lambda cached: cached == old.key_hash)
        return {**key_view(new), "api_key": raw, "replaces": old.key_id}

    def revoke_key(self, principal: Principal, key_id: str) -> dict[str, Any]:
        key = self._repo.get_key(principal.user_id, key_id)
        now = self._clock.now()
        self._repo.revoke_key(key, now=now)
        self._cache.forget(lambda cached: cached == key.key_hash)
        return key_view(replace(key, revoked_at=now))
