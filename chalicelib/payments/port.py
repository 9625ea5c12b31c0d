"""What the marketplace needs from a payment provider, in its own terms.

Every creating call takes an idempotency key derived from the marketplace's own ids, so a
call retried after a crash (or a job run twice) returns the first result instead of
creating a second customer, invoice or transfer. Amounts are integer cents.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.core.errors import DomainError, InvalidInputError


class PaymentsError(DomainError):
    """The provider refused or failed. ``retryable`` is False only for definite refusals."""

    def __init__(self, message: str, *, code: str = "payments_error", retryable: bool = True) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class CardDeclinedError(PaymentsError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="card_declined", retryable=False)


class InvalidPaymentMethodError(InvalidInputError):
    """The provider refused the payment method the user named: unknown, or someone else's."""

    code = "invalid_payment_method"


class InvalidWebhookError(InvalidInputError):
    """The payload is not a genuine, fresh event from the provider (bad signature, too old, not JSON)."""

    code = "invalid_webhook_signature"


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str | None


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount_cents: int


@dataclass(frozen=True)
class Invoice:
    id: str
    status: str  # draft | open | paid | void
    amount_due_cents: int


@dataclass(frozen=True)
class AccountStatus:
    id: str
    payouts_enabled: bool
    details_submitted: bool


class PaymentsPort(Protocol):
    def create_customer(self, *, user_id: str, email: str, idempotency_key: str) -> str: ...

    def set_default_payment_method(self, *, customer_id: str, payment_method: str) -> str:
        """Attach ``payment_method`` (an id or a test token) and make it the customer's default."""

    def adopt_checkout_payment_method(self, *, customer_id: str, session_id: str) -> str | None:
        """Make the card paid with in a completed Checkout session the customer's default; its id."""

    def ensure_price(self, *, lookup_key: str, product_name: str, unit_amount_cents: int,
                     interval: str | None, metadata: Mapping[str, str]) -> str:
        """The price id for ``lookup_key``, created once (recurring if ``interval`` is month/year)."""

    def create_checkout_session(self, *, customer_id: str, price_id: str, mode: str, success_url: str,
                                cancel_url: str, metadata: Mapping[str, str], trial_days: int | None,
                                idempotency_key: str) -> CheckoutSession:
        """``mode`` is payment or subscription; ``metadata`` is also put on the subscription."""

    def cancel_subscription(self, *, subscription_id: str, at_period_end: bool) -> None: ...

    def charge_invoice(self, *, customer_id: str, lines: Sequence[InvoiceLine], metadata: Mapping[str, str],
                       idempotency_key: str) -> Invoice:
        """Create, finalize and try to pay a one-off invoice. A decline leaves it ``open``."""

    def create_connect_account(self, *, developer_id: str, email: str, country: str,
                               idempotency_key: str) -> str: ...

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def account_status(self, account_id: str) -> AccountStatus: ...

    def create_transfer(self, *, account_id: str, amount_cents: int, description: str,
                        metadata: Mapping[str, str], idempotency_key: str) -> str:
        """A USD transfer to a connected account, in transfer group ``idempotency_key``; returns its id."""

    def find_transfer(self, transfer_group: str) -> str | None:
        """The transfer already made in ``transfer_group``, if any: idempotency keys expire after
        24 hours, so a payout retried later first looks for the transfer it may have made."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The verified event, or :class:`InvalidWebhookError`."""


class UnconfiguredPayments:
    """Stands in for the provider when none is configured: whatever needs it fails, the rest works."""

    def __getattr__(self, name: str) -> Any:
        from chalicelib.core.errors import ConfigurationError

        raise ConfigurationError(f"MF_STRIPE_SECRET_KEY is not set: cannot {name.replace('_', ' ')}")
