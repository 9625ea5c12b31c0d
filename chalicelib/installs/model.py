from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Install:
    user_id: str
    plugin: str
    major: int
    enabled: bool
    config: dict[str, Any]
    granted_permissions: tuple[str, ...]
    installed_at: datetime
    updated_at: datetime
    webhook_url: str | None = None
    webhook_secret_version: int | None = None  # None until a webhook endpoint is first set


@dataclass(frozen=True)
class InstallChange:
    """What listeners (gateway caches, plugin lifecycle events) hear about an install."""

    event: str  # installed | uninstalled | configuration_changed | enabled | disabled | upgraded | webhook
    before: Install | None
    after: Install | None

    @property
    def install(self) -> Install:
        found = self.after or self.before
        assert found is not None
        return found
