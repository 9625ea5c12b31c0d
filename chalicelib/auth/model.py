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

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class KeyOwner:
    user_id: str
    key_id: str
    mode: str
