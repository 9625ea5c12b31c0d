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
    status: str  # draft | open | paid | void | uncollectible
    amount_due_cents: int
    hosted_url: str | None = None
    payment_intent: str | None = None
    amount_paid_cents: int = 0
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Subscription:
    """A subscription as Stripe holds it now (events are only a hint: they come late and out of order)."""

    id: str
    status: str  # incomplete | trialing | active | past_due | canceled | unpaid | incomplete_expired
    customer: str
    item_id: str | None
    price_id: str | None
    current_period_start: int | None
    current_period_end: int | None
    cancel_at_period_end: bool
    trial_end: int | None
    metadata: Mapping[str, str]
    latest_invoice: str | None = None


@dataclass(frozen=True)
class Refund:
    id: str
    amount_cents: int
    charge: str | None
    refunded_total_cents: int  # the charge's refunds so far, this one included


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

    def create_setup_session(self, *, customer_id: str, success_url: str, cancel_url: str,
                             metadata: Mapping[str, str], idempotency_key: str) -> CheckoutSession:
        """A Checkout Session in setup mode: the customer saves a card without paying."""

    def checkout_session_status(self, session_id: str) -> str:
        """open | complete | expired."""

    def expire_checkout_session(self, session_id: str) -> None:
        """Close an open session (no-op when it is not open any more)."""

    def cancel_subscription(self, *, subscription_id: str, at_period_end: bool) -> None: ...

    def resume_subscription(self, *, subscription_id: str, metadata: Mapping[str, str]) -> Subscription:
        """Undo a cancellation at the period end (and set ``metadata``)."""

    def retrieve_subscription(self, subscription_id: str) -> Subscription: ...

    def change_subscription(self, *, subscription_id: str, item_id: str, price_id: str, prorate: bool,
                            metadata: Mapping[str, str], idempotency_key: str) -> Subscription:
        """Move the subscription's item to ``price_id``. ``prorate``: invoice the difference for the rest
        of the period now (an upgrade); otherwise the new price applies from the next period."""

    def charge_invoice(self, *, customer_id: str, lines: Sequence[InvoiceLine], metadata: Mapping[str, str],
                       idempotency_key: str) -> Invoice:
        """Create, finalize and try to pay a one-off invoice. A decline leaves it ``open``. The invoice
        carries ``metadata``; one made earlier with the same ``metadata["mf_invoice"]`` is continued
        instead of made again, however long ago (idempotency keys expire after 24 hours)."""

    def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        """Try to pay an open invoice now with the customer's default card; a decline leaves it open."""

    def retrieve_invoice(self, invoice_id: str) -> Invoice: ...

    def refund(self, *, payment_intent: str, amount_cents: int | None, reason: str, metadata: Mapping[str, str],
               idempotency_key: str) -> Refund:
        """Give back (part of) a payment; ``None``: all that is left of it."""

    def reverse_transfer(self, *, transfer_id: str, amount_cents: int, metadata: Mapping[str, str],
                         idempotency_key: str) -> str:
        """Take (part of) a transfer back from the connected account; the reversal's id."""

    def create_connect_account(self, *, developer_id: str, email: str, country: str,
                               idempotency_key: str) -> str: ...

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str: ...

    def account_status(self, account_id: str) -> AccountStatus: ...

    def create_transfer(self, *, account_id: str, amount_cents: int, description: str,
                        metadata: Mapping[str, str], transfer_group: str, idempotency_key: str) -> str:
        """A USD transfer to a connected account, in ``transfer_group``; returns its id."""

    def find_transfer(self, transfer_group: str) -> str | None:
        """The transfer already made in ``transfer_group``, if any: idempotency keys expire after
        24 hours, so a payout first looks for the transfer it may have made, whatever it recorded."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The verified event, or :class:`InvalidWebhookError`."""


class UnconfiguredPayments:
    """Stands in for the provider when none is configured: whatever needs it fails, the rest works."""

    def __getattr__(self, name: str) -> Any:
        from chalicelib.core.errors import ConfigurationError

        raise ConfigurationError(f"MF_STRIPE_SECRET_KEY is not set: cannot {name.replace('_', ' ')}")
