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
