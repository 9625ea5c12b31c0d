"""The ``payouts`` table: developer accounts, balances, the ledger, settlements and payouts.

Every money movement is a conditional write in one transaction with the ledger entry
that explains it, whose key is derived from what caused it: applying the same
settlement, credit or payout twice fails its condition instead of paying twice.
"""
from __future__ import annotations

from pynamodb.attributes import (BooleanAttribute, DiscriminatorAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute,
                                 UTCDateTimeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

BALANCES = "balances"
OPEN = "open"


class ListingIndex(GlobalSecondaryIndex):
    """Sparse: every balance (``balances``) and every payout still moving money (``open``)."""

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


class BalanceRecord(PayoutsTable, discriminator="balance"):
    developer_id = UnicodeAttribute()
    listing = UnicodeAttribute(default=BALANCES)
    balance_micros = NumberAttribute(default=0)  # owed to the developer, reserved part included
    reserved_micros = NumberAttribute(default=0)  # set aside for payouts in flight
    earned_micros = NumberAttribute(default=0)  # lifetime revenue share
    bonus_micros = NumberAttribute(default=0)  # lifetime bonuses
    paid_cents = NumberAttribute(default=0)  # lifetime paid out
    version = NumberAttribute(default=0)

    @staticmethod
    def key(developer_id: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", "BALANCE"


class LedgerRecord(PayoutsTable, discriminator="ledger"):
    developer_id = UnicodeAttribute()
    entry = UnicodeAttribute()  # earning | referral | milestone | payout
    amount_micros = NumberAttribute()  # + credit, - payout
    period = UnicodeAttribute(null=True, attr_name="ledger_period")  # not in the payouts' by_period index
    plugin = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @staticmethod
    def key(developer_id: str, ref: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", f"L#{ref}"


class SettlementRecord(PayoutsTable, discriminator="settlement"):
    """How much of a plugin's period revenue has been settled into its developer's balance."""

    plugin = UnicodeAttribute()
    settled_micros = NumberAttribute(default=0)
    developer_micros = NumberAttribute(default=0)
    platform_micros = NumberAttribute(default=0)

    @staticmethod
    def key(plugin: str, period: str) -> tuple[str, str]:
        return f"S#{plugin}", f"P#{period}"


class CarryRecord(PayoutsTable, discriminator="carry"):
    """A plugin's share remainder (below one micro-dollar, in micro-dollar basis points)."""

    plugin = UnicodeAttribute()
    carry = NumberAttribute(default=0)

    @staticmethod
    def key(plugin: str) -> tuple[str, str]:
        return f"S#{plugin}", "CARRY"


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
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)  # manual settlement: the bank / PayPal / chain reference
    paid_by = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    paid_at = UTCDateTimeAttribute(null=True)

    @staticmethod
    def key(developer_id: str, period: str) -> tuple[str, str]:
        return f"DEV#{developer_id}", f"PO#{period}"
