from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

PLUGIN_STATUSES = ("draft", "pending_review", "active", "suspended")
VERSION_STATUSES = ("draft", "pending_review", "approved", "published", "deploy_failed", "rejected")


@dataclass(frozen=True)
class Plugin:
    name: str
    author_id: str
    author_name: str
    display_name: str
    description: str
    category: str
    tags: tuple[str, ...]
    icon: str | None
    status: str
    status_reason: str | None
    tier: str
    per_call_price_micros: int
    free_tier_calls: int
    revenue_share_bps: int
    latest_version: str | None
    latest_by_major: dict[str, str]
    max_version: str
    install_count: int
    rating_sum: int
    rating_count: int
    verified: str
    created_at: datetime
    published_at: datetime | None
    updated_at: datetime
    auth_header: str | None = None  # the manifest's own credential header, e.g. DD-API-KEY
    calls_7d: int = 0  # calls in the last 7 UTC days, set by the hourly job: the "trending" order
    fidelity: dict[str, Any] | None = None  # the latest version's figures (catalog/documents.py card_fidelity)

    @property
    def listed(self) -> bool:
        return self.status == "active"

    @property
    def rating_avg_x100(self) -> int:
        """Average rating in hundredths (integers only: 4.5 stars -> 450)."""
        return (self.rating_sum * 100) // self.rating_count if self.rating_count else 0


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    major: int
    manifest: dict[str, Any]
    status: str
    created_at: datetime
    submitted_at: datetime | None = None
    published_at: datetime | None = None
    reviewed_by: str | None = None
    review_reason: str | None = None
    submission_id: str | None = None  # the package submission this version runs (None: first-party code)
    documents: dict[str, Any] | None = None  # README and fidelity from its package (catalog/documents.py)
