"""The ``payouts`` table: developer payout accounts and payouts (what is owed lives in the ledger).

A payout is created with its amount set aside (the ``INFLIGHT`` marker: one money-moving payout
per developer at a time) on the condition that none exists for its period; a transfer is made
only after looking for one in its transfer group, under a claim with a lease and an attempt
number persisted before the call (the idempotency key's suffix).
"""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, DiscriminatorAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

OPEN = "open"


class ListingIndex(GlobalSecondaryIndex):
    """Sparse: every payout still moving money (``open``)."""

    class Meta:
        index_name = "listing"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class PayoutPeriodIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_period"
        projection = AllProjection()

    period = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class PayoutsTable(Model):
    class Meta:
        base_name = "payouts"
        table_name = "payouts"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    listing_index = ListingIndex()
    period_index = PayoutPeriodIndex()


class AccountRecord(PayoutsTable, discriminator="account"):
    developer_id = UnicodeAttribute()
    email = UnicodeAttribute()
    country = UnicodeAttribute(null=True)
    tax_form = UnicodeAttribute(null=True)  # W-9 | W-8BEN
    tax_name = UnicodeAttribute(null=True)
    tax_id_last4 = UnicodeAttribute(null=True)  # never the whole number
    tax_submitted_at = UTCDateTimeAttribute(null=True)
    rail = UnicodeAttribute(default="stripe")
    rail_details = JSONAttribute(null=True)
    stripe_account_id = UnicodeAttribute(null=True)
    payouts_enabled = BooleanAttribute(default=False)  # refreshed from Stripe on account reads and events
    referred_by = UnicodeAttribute(null=True)
    referred_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(developer_id: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", "ACCOUNT"


class PayoutRecord(PayoutsTable, discriminator="payout"):
    developer_id = UnicodeAttribute()
    period = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | manual | paid | held | below_minimum
    listing = UnicodeAttribute(null=True)  # OPEN while pending or manual
    amount_cents = NumberAttribute()
    rail = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    transfer_id = UnicodeAttribute(null=True)
    instructions = JSONAttribute(null=True)
    attempts = NumberAttribute(default=0)  # transfer attempts begun (persisted before each call)
    claimed_until = UTCDateTimeAttribute(null=True)  # a run is making the transfer until then
    transfer_group = UnicodeAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)  # manual settlement: the bank / PayPal / chain reference
    paid_by = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(developer_id: str, period: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", f"PO#{period}"


class InflightRecord(PayoutsTable, discriminator="inflight"):
    """The developer's money-moving payout not yet paid: at most one at a time."""

    period = UnicodeAttribute(attr_name="inflight_period")  # not in the by_period index

    @staticmethod
    def key(developer_id: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", "INFLIGHT"
