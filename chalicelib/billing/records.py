"""The ``billing`` table: Stripe customers, users' plans per plugin, invoices, processed events."""
from __future__ import annotations

from pynamodb.attributes import (DiscriminatorAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 TTLAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

IN_GRACE = "grace"
INVOICING = "invoicing"  # work index: usage invoices planned and not yet all carried out
DUNNING = "dunning"  # work index: usage invoices whose payment failed, until paid


class GraceIndex(GlobalSecondaryIndex):
    """Sparse: plans whose payment failed, until paid or downgraded."""

    class Meta:
        index_name = "grace"
        projection = AllProjection()

    grace = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class WorkIndex(GlobalSecondaryIndex):
    """Sparse: usage invoices a job still has to move (INVOICING, DUNNING)."""

    class Meta:
        index_name = "work"
        projection = AllProjection()

    work = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class BillingTable(Model):
    class Meta:
        base_name = "billing"
        table_name = "billing"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    expires = TTLAttribute(null=True)
    grace_index = GraceIndex()
    work_index = WorkIndex()


class CustomerRecord(BillingTable, discriminator="customer"):
    user_id = UnicodeAttribute()
    stripe_customer_id = UnicodeAttribute()
    payment_method = UnicodeAttribute(null=True)
    carries = JSONAttribute(null=True)  # {plugin: micros}: usage charges below one cent (or $0.50), billed later
    carried_by = UnicodeAttribute(null=True)  # the invoice that last set ``carries`` (makes it apply once)
    spending_cap_cents = NumberAttribute(null=True)  # the most per-call charges a month may reach
    unpaid = UnicodeSetAttribute(null=True)  # usage invoices whose payment failed and are not paid yet
    past_due_since = UTCDateTimeAttribute(null=True)  # when the oldest of them failed

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", "CUSTOMER"


class PlanRecord(BillingTable, discriminator="plan"):
    """The plan a user holds on a plugin (none: the plugin's default, its free plan or per-call pricing)."""

    user_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    status = UnicodeAttribute()  # active | trialing | past_due | incomplete
    source = UnicodeAttribute()  # subscription | purchase
    stripe_subscription_id = UnicodeAttribute(null=True)
    current_period_end = UTCDateTimeAttribute(null=True)
    cancel_at_period_end = UnicodeAttribute(null=True)
    grace = UnicodeAttribute(null=True)  # IN_GRACE while a payment failed
    grace_until = UTCDateTimeAttribute(null=True)
    addons = ListAttribute(of=UnicodeAttribute, default=list)
    updated_at = UTCDateTimeAttribute()
    pending_plan = UnicodeAttribute(null=True)  # a downgrade that takes effect at ``pending_from``
    pending_from = UTCDateTimeAttribute(null=True)
    stripe_event_at = NumberAttribute(null=True)  # the newest Stripe event applied (unix seconds)

    @staticmethod
    def key(user_id: str, plugin: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"PLAN#{plugin}"


class InvoiceRecord(BillingTable, discriminator="invoice"):
    """The monthly usage invoice of a user: its plan (lines, carries, the months it takes), then its state.

    planned -> carried (below the minimum: nothing charged) | open -> paid | failed -> paid (dunning)
    """

    user_id = UnicodeAttribute()
    month = UnicodeAttribute()
    invoice_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # planned | carried | open | failed | paid
    amount_cents = NumberAttribute()
    carry_in = JSONAttribute(null=True)  # {plugin: micros}
    carry_out = JSONAttribute(null=True)
    lines = JSONAttribute()
    takes = JSONAttribute(null=True)  # [[plugin, month, from_micros, to_micros], ...]
    stripe_invoice_id = UnicodeAttribute(null=True)
    hosted_url = UnicodeAttribute(null=True)  # Stripe's page to pay it
    payment_intent = UnicodeAttribute(null=True)
    work = UnicodeAttribute(null=True)  # INVOICING | DUNNING (sparse index)
    failed_at = UTCDateTimeAttribute(null=True)
    retries = NumberAttribute(default=0)  # dunning retries made
    refunded_cents = NumberAttribute(default=0)
    paid_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(user_id: str, month: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"INV#{month}"


class EventRecord(BillingTable, discriminator="event"):
    """A Stripe event already handled: duplicates and replays are ignored."""

    event_type = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()

    @staticmethod
    def key(event_id: str) -> tuple[str, str]:
        return f"EVT#{event_id}", "EVT"


class TrialRecord(BillingTable, discriminator="trial"):
    """A trial taken: at most one per user and plugin, ever."""

    user_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    started_at = UTCDateTimeAttribute()
    ends_at = UTCDateTimeAttribute()
    source = UnicodeAttribute(default="trial")  # trial (POST /trials) | checkout | subscription
    session_id = UnicodeAttribute(null=True)  # the Checkout that offers it, until a subscription uses it
    subscription_id = UnicodeAttribute(null=True)  # the Stripe subscription that used it

    @staticmethod
    def key(user_id: str, plugin: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"TRIAL#{plugin}"
