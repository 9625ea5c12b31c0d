"""The ``billing`` table: Stripe customers, users' plans per plugin, invoices, processed events."""
from __future__ import annotations

from pynamodb.attributes import (DiscriminatorAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

IN_GRACE = "grace"


class GraceIndex(GlobalSecondaryIndex):
    """Sparse: plans whose payment failed, until paid or downgraded."""

    class Meta:
        index_name = "grace"
        projection = AllProjection()

    grace = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class BillingTable(Model):
    class Meta:
        base_name = "billing"
        table_name = "billing"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    expires = TTLAttribute(null=True)
    grace_index = GraceIndex()


class CustomerRecord(BillingTable, discriminator="customer"):
    user_id = UnicodeAttribute()
    stripe_customer_id = UnicodeAttribute()
    payment_method = UnicodeAttribute(null=True)
    carry_micros = NumberAttribute(default=0)  # usage charges below one cent, billed next month

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

    @staticmethod
    def key(user_id: str, plugin: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"PLAN#{plugin}"


class InvoiceRecord(BillingTable, discriminator="invoice"):
    """The monthly usage invoice of a user."""

    user_id = UnicodeAttribute()
    month = UnicodeAttribute()
    status = UnicodeAttribute()  # carried | open | paid | failed
    amount_cents = NumberAttribute()
    carry_in_micros = NumberAttribute()
    carry_out_micros = NumberAttribute()
    lines = JSONAttribute()
    stripe_invoice_id = UnicodeAttribute(null=True)
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

    @staticmethod
    def key(user_id: str, plugin: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"TRIAL#{plugin}"
