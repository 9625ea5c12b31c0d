from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.auth.scopes import implied
from chalicelib.core.errors import PermissionDeniedError

ROLES = ("user", "developer", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``key_mode`` is ``test``/``live`` for API keys, None for JWTs.

    A key also carries its ``scopes``, the ``plugins`` it is limited to (None: any) and when it
    ``expires_at`` (None: never); a session carries none of them and is limited by its role only."""

    user_id: str
    role: str
    via: str  # "jwt" | "api_key"
    key_id: str | None = None
    key_mode: str | None = None
    scopes: tuple[str, ...] = ()
    plugins: tuple[str, ...] | None = None
    expires_at: datetime | None = None

    def has_role(self, required: str) -> bool:
        """Roles nest: an admin may do what a developer may, a developer what a user may."""
        return _RANK[self.role] >= _RANK[required]

    @property
    def sandbox(self) -> bool:
        return self.key_mode == "test"

    @property
    def is_key(self) -> bool:
        return self.via == "api_key"

    def may(self, scope: str) -> bool:
        return not self.is_key or scope in implied(self.scopes)

    def require_scope(self, scope: str | None) -> None:
        """Let a session through; a key only with ``scope`` (None: the action takes no key at all)."""
        if not self.is_key:
            return
        if scope is None:
            raise PermissionDeniedError(
                "this needs a signed-in session (Authorization: Bearer <access token>): API keys call plugins "
                "and do only what their scopes allow", code="insufficient_scope",
                details={"required_scope": None, "needs": "session", "key_scopes": list(self.scopes)})
        if not self.may(scope):
            raise PermissionDeniedError(
                f"this API key lacks the '{scope}' scope (it has: {', '.join(self.scopes) or 'none'}); use a key "
                "with that scope, or a signed-in session", code="insufficient_scope",
                details={"required_scope": scope, "key_scopes": list(self.scopes)})

    def require_plugin(self, plugin: str) -> str:
        """``plugin`` when this caller may act on it: a key limited to some plugins, on those only."""
        if self.is_key and self.plugins is not None and plugin not in self.plugins:
            raise PermissionDeniedError(
                f"this API key is limited to {', '.join(self.plugins)}; it cannot act on '{plugin}'",
                code="plugin_not_allowed", details={"plugin": plugin, "key_plugins": list(self.plugins)})
        return plugin

    def require_gateway(self, plugin: str) -> None:
        """What calling ``plugin`` through the gateway takes."""
        self.require_scope("gateway")
        self.require_plugin(plugin)
