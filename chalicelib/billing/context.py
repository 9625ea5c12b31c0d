"""What the parts of billing share: the collaborators wired once in ``chalicelib.wiring``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core.clock import Clock
from chalicelib.metering.charges import MeteredCharges
from chalicelib.notifications.service import NotificationService
from chalicelib.payments.port import PaymentsPort
from chalicelib.revenue.ledger import Referral
from chalicelib.revenue.service import RevenueService

DUNNING_GRACE_DAYS = 7
DUNNING_RETRY_DAYS = (1, 3, 5)  # after a failed usage invoice, on top of Stripe's own retries


@dataclass
class BillingContext:
    payments: PaymentsPort
    pricing_of: Callable[[str], dict[str, Any]]
    owner_of: Callable[[str], tuple[str, int]]  # plugin -> (developer, share in bps)
    email_of: Callable[[str], str]
    notifications: NotificationService
    clock: Clock
    revenue: RevenueService
    charges: MeteredCharges
    referral_of: Callable[[str], Referral | None] = lambda developer: None
    on_plan_change: Callable[[str, str, str], None] = lambda user, plugin, reason: None
    on_account_updated: Callable[[dict[str, Any]], None] = lambda account: None
    on_standing_change: Callable[[str], None] = lambda user: None  # a user's payment standing changed
    grace_days: int = DUNNING_GRACE_DAYS
    retry_days: tuple[int, ...] = DUNNING_RETRY_DAYS
