from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    password_hash: str
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    # Sessions issued before this moment are refused (set when the account is disabled).
    not_valid_before: datetime | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    user_id: str
    name: str
    prefix: str
    mode: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    plugins: tuple[str, ...] | None = None  # None: every plugin
    expires_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class KeyOwner:
    user_id: str
    key_id: str
    mode: str
    scopes: tuple[str, ...] = ()
    plugins: tuple[str, ...] | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_cursor: str | None
