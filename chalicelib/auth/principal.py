from __future__ import annotations

from dataclasses import dataclass

ROLES = ("user", "developer", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``key_mode`` is ``test``/``live`` for API keys, None for JWTs."""

    user_id: str
    role: str
    via: str  # "jwt" | "api_key"
    key_id: str | None = None
    key_mode: str | None = None

    def has_role(self, required: str) -> bool:
        """Roles nest: an admin may do what a developer may, a developer what a user may."""
        return _RANK[self.role] >= _RANK[required]

    @property
    def sandbox(self) -> bool:
        return self.key_mode == "test"
