"""A user's Stripe customer, payment method, spending cap and payment standing.

The standing is what the gateway asks before a live call: a card on file (needed past the free
tier), usage invoices overdue (a failed payment older than the grace), the spending cap.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.billing.context import BillingContext
from chalicelib.billing.records import CustomerRecord
from chalicelib.core.clock import iso
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.payments.port import PaymentsError

log = logging.getLogger(__name__)

PAYMENT_METHOD_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["payment_method"],
                         "properties": {"payment_method": {"type": "string", "pattern": "^pm_[A-Za-z0-9_]+$",
                                                           "maxLength": 100}}}
SETUP = {"type": "object", "additionalProperties": False, "required": ["success_url", "cancel_url"],
         "properties": {"success_url": {"type": "string", "pattern": "^https?://", "maxLength": 500},
                        "cancel_url": {"type": "string", "pattern": "^https?://", "maxLength": 500}}}
SPENDING_CAP = {"type": "object", "additionalProperties": False, "required": ["cap_cents"],
                "properties": {"cap_cents": {"oneOf": [{"type": "integer", "minimum": 100, "maximum": 100_000_000},
                                                       {"type": "null"}]}}}


@dataclass(frozen=True)
class Standing:
    """What the gateway needs to know about a user's payments (cached with the entitlement)."""

    has_payment_method: bool = False
    overdue: bool = False  # a usage invoice failed more than the grace ago and is still unpaid
    pay_url: str | None = None  # where to pay it
    spending_cap_cents: int | None = None
    past_due_since: datetime | None = None


class Customers:
    def __init__(self, ctx: BillingContext) -> None:
        self._ctx = ctx

    @staticmethod
    def find(user_id: str) -> CustomerRecord | None:
        return find(CustomerRecord, CustomerRecord.key(user_id))

    def customer(self, user_id: str) -> CustomerRecord:
        existing = self.find(user_id)
        if existing is not None:
            return existing
        customer_id = self._ctx.payments.create_customer(user_id=user_id, email=self._ctx.email_of(user_id),
                                                         idempotency_key=f"customer-{user_id}")
        record = CustomerRecord(*CustomerRecord.key(user_id), user_id=user_id, stripe_customer_id=customer_id)
        try:  # the same id on a race: the idempotency key made both calls return one customer
            record.save(condition=CustomerRecord.pk.does_not_exist())
        except PutError as exc:
            if not condition_failed(exc):
                raise
            return self.find(user_id) or record
        return record

    def set_payment_method(self, user_id: str, payment_method: str) -> dict[str, Any]:
        customer = self.customer(user_id)
        attached = self._ctx.payments.set_default_payment_method(customer_id=customer.stripe_customer_id,
                                                                 payment_method=payment_method)
        customer.update(actions=[CustomerRecord.payment_method.set(attached)])
        self._ctx.on_standing_change(user_id)
        return {"payment_method": attached}

    def setup_session(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Checkout in setup mode: save a card without paying (what ``payment_method_required`` links to)."""
        customer = self.customer(user_id)
        digest = hashlib.sha256(f"{body['success_url']}\n{body['cancel_url']}".encode()).hexdigest()[:16]
        session = self._ctx.payments.create_setup_session(
            customer_id=customer.stripe_customer_id, success_url=body["success_url"], cancel_url=body["cancel_url"],
            metadata={"user_id": user_id, "kind": "setup"},
            # a double click within a minute gets the same session; other URLs are another request
            idempotency_key=f"setup-{user_id}-{int(self._ctx.clock.now().timestamp()) // 60}-{digest}")
        return {"session_id": session.id, "url": session.url}

    def adopt_card(self, user_id: str, session_id: str, *, replace: bool = False) -> None:
        """The card a user gave in Checkout pays their usage invoices (unless they chose one; a setup
        session's card always does)."""
        customer = self.find(user_id)
        if customer is None or (customer.payment_method and not replace):
            return
        try:
            method = self._ctx.payments.adopt_checkout_payment_method(customer_id=customer.stripe_customer_id,
                                                                      session_id=session_id)
        except PaymentsError as exc:  # the event is recorded; the user can still add a card themselves
            log.warning("could not adopt the card of checkout %s: %s", session_id, exc)
            return
        if method:
            customer.update(actions=[CustomerRecord.payment_method.set(method)])
            self._ctx.on_standing_change(user_id)

    def set_spending_cap(self, user_id: str, cap_cents: int | None) -> dict[str, Any]:
        customer = self.customer(user_id)
        customer.update(actions=[CustomerRecord.spending_cap_cents.set(cap_cents) if cap_cents is not None
                                 else CustomerRecord.spending_cap_cents.remove()])
        self._ctx.on_standing_change(user_id)
        return {"spending_cap_cents": cap_cents}

    def standing(self, user_id: str, pay_url: str | None = None) -> Standing:
        customer = self.find(user_id)
        if customer is None:
            return Standing()
        since = customer.past_due_since
        overdue = since is not None and since + timedelta(days=self._ctx.grace_days) <= self._ctx.clock.now()
        return Standing(has_payment_method=bool(customer.payment_method), overdue=overdue, pay_url=pay_url,
                        spending_cap_cents=int(customer.spending_cap_cents) if customer.spending_cap_cents else None,
                        past_due_since=since)

    def view(self, user_id: str) -> dict[str, Any] | None:
        customer = self.find(user_id)
        if customer is None:
            return None
        standing = self.standing(user_id)
        return {"stripe_customer_id": customer.stripe_customer_id, "has_payment_method": bool(customer.payment_method),
                "carries_micros": {k: int(v) for k, v in (customer.carries or {}).items()},
                "spending_cap_cents": standing.spending_cap_cents,
                "past_due_since": iso(standing.past_due_since) if standing.past_due_since else None,
                "overdue": standing.overdue, "unpaid_invoices": sorted(customer.unpaid or [])}

    # --- dunning state: which usage invoices failed and are unpaid --------------------------------
    def mark_unpaid(self, user_id: str, invoice_id: str, at: datetime) -> None:
        record = CustomerRecord(*CustomerRecord.key(user_id))
        record.update(actions=[CustomerRecord.unpaid.add({invoice_id})])
        try:  # the oldest failure stays the one the grace counts from
            record.update(actions=[CustomerRecord.past_due_since.set(at)],
                          condition=CustomerRecord.past_due_since.does_not_exist())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
        self._ctx.on_standing_change(user_id)

    def mark_paid(self, user_id: str, invoice_id: str, oldest_open: datetime | None) -> None:
        """``oldest_open``: when the oldest invoice still unpaid failed (None: none left)."""
        record = CustomerRecord(*CustomerRecord.key(user_id))
        actions: list[Any] = [CustomerRecord.unpaid.delete({invoice_id})]
        actions.append(CustomerRecord.past_due_since.set(oldest_open) if oldest_open
                       else CustomerRecord.past_due_since.remove())
        record.update(actions=actions, condition=CustomerRecord.pk.exists())
        self._ctx.on_standing_change(user_id)
