"""The ``usage`` table: hour counters, one item per (plugin, user, mode, UTC hour), and
the totals the hourly aggregation derives from them.

Counters only ever move by ``ADD``, so concurrent calls from any number of containers
are counted exactly. ``by_hour`` lets the hourly aggregation find every counter of an
hour without scanning. Each counter remembers the snapshot last aggregated
(``aggregated``), so re-running an hour adds only what changed since: nothing, or the
calls that arrived late.
"""
from __future__ import annotations

from pynamodb.attributes import ListAttribute, NumberAttribute, NumberSetAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

# Upper bounds (ms) of the latency histogram buckets; the last one is open-ended.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000)


class ByHourIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_hour"
        projection = AllProjection()

    hour = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class ByMonthIndex(GlobalSecondaryIndex):
    """Live (user, plugin) months by calendar month: what the monthly invoices bill."""

    class Meta:
        index_name = "by_month"
        projection = AllProjection()

    billing_month = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class ByPeriodIndex(GlobalSecondaryIndex):
    """Plugin totals by payout period: what a payout run settles."""

    class Meta:
        index_name = "by_period"
        projection = AllProjection()

    period = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class DueIndex(GlobalSecondaryIndex):
    """Sparse: live months with charges not yet all rated into the ledger and invoiced.

    A fold that adds charges sets ``due``; the invoice that bills all of them removes it (on the
    month's version, so a late fold in between keeps it). The month close reads exactly these,
    which is how usage that reaches a closed month late still gets billed, once."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due = UnicodeAttribute(hash_key=True)  # always DUE
    due_key = UnicodeAttribute(range_key=True)  # user#plugin#month


DUE = "due"


class UsageTable(Model):
    class Meta:
        base_name = "usage"
        table_name = "usage"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    by_hour = ByHourIndex()
    by_month = ByMonthIndex()
    by_period = ByPeriodIndex()
    due_index = DueIndex()


class UsageHourRecord(UsageTable):
    plugin = UnicodeAttribute()
    user_id = UnicodeAttribute()
    mode = UnicodeAttribute()  # live | sandbox
    hour = UnicodeAttribute()  # 2026-11-22T13
    calls = NumberAttribute(default=0)
    billable = NumberAttribute(default=0)
    non_billable = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    latency_ms_sum = NumberAttribute(default=0)
    for _i in range(len(LATENCY_BUCKETS_MS)):
        locals()[f"lat{_i}"] = NumberAttribute(default=0)
    del _i
    aggregated = ListAttribute(of=NumberAttribute, null=True)  # the snapshot last aggregated
    aggregated_calls = NumberAttribute(null=True)  # its calls: counters only grow, so this names it

    @staticmethod
    def key(plugin: str, user_id: str, mode: str, hour: str) -> tuple[str, str]:
        return f"{plugin}#{user_id}#{mode}", f"H#{hour}"


class UserMonthRecord(UsageTable):
    """One (plugin, user, mode) calendar month: billable calls per payout half and what they cost.

    ``allowance`` and ``unit_price_micros`` are the user's plan when the month's first call
    was aggregated; a plan bought mid-month rates calls from the next month on.
    """

    plugin = UnicodeAttribute()
    user_id = UnicodeAttribute()
    mode = UnicodeAttribute()
    month = UnicodeAttribute()
    billing_month = UnicodeAttribute(null=True)  # set for live months only (sparse index)
    plan = UnicodeAttribute()
    allowance = NumberAttribute()
    unit_price_micros = NumberAttribute()
    calls = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    billable_first = NumberAttribute(default=0)
    billable_second = NumberAttribute(default=0)
    revenue_first_micros = NumberAttribute(default=0)
    revenue_second_micros = NumberAttribute(default=0)
    days = NumberSetAttribute(null=True)  # days of the month with calls (distinct active users per day)
    version = NumberAttribute(default=0)
    rated_micros = NumberAttribute(null=True)  # how far the ledger's rating chain of this month has come
    invoiced_micros = NumberAttribute(null=True)  # how much of it invoices have taken (billed or carried)
    due = UnicodeAttribute(null=True)  # DUE while charges wait for the ledger or an invoice (sparse index)
    due_key = UnicodeAttribute(null=True)

    @staticmethod
    def key(plugin: str, user_id: str, mode: str, month: str) -> tuple[str, str]:
        return f"{plugin}#{user_id}#{mode}", f"M#{month}"

    @property
    def charged_micros(self) -> int:
        return int(self.revenue_first_micros or 0) + int(self.revenue_second_micros or 0)


class PluginPeriodRecord(UsageTable):
    """A plugin's totals in one payout period; ``revenue_micros`` is what the developer's share is taken of."""

    plugin = UnicodeAttribute()
    period = UnicodeAttribute()
    calls = NumberAttribute(default=0)
    billable = NumberAttribute(default=0)
    paid_calls = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    usage_revenue_micros = NumberAttribute(default=0)  # per-call charges
    fee_revenue_micros = NumberAttribute(default=0)  # subscriptions, purchases, add-ons
    revenue_micros = NumberAttribute(default=0)  # the two together

    @staticmethod
    def key(plugin: str, period: str) -> tuple[str, str]:
        return f"PP#{plugin}", f"P#{period}"


class PluginDayRecord(UsageTable):
    """Daily dashboard stats of a plugin (all modes; revenue is live usage)."""

    plugin = UnicodeAttribute()
    day = UnicodeAttribute()
    calls = NumberAttribute(default=0)
    billable = NumberAttribute(default=0)
    errors = NumberAttribute(default=0)
    latency_ms_sum = NumberAttribute(default=0)
    for _i in range(len(LATENCY_BUCKETS_MS)):
        locals()[f"lat{_i}"] = NumberAttribute(default=0)
    del _i
    active_users = NumberAttribute(default=0)
    revenue_micros = NumberAttribute(default=0)

    @staticmethod
    def key(plugin: str, day: str) -> tuple[str, str]:
        return f"PD#{plugin}", f"D#{day}"


class PluginUserRecord(UsageTable):
    """Exists once a user has made a live call to the plugin: lifetime distinct users."""

    @staticmethod
    def key(plugin: str, user_id: str) -> tuple[str, str]:
        return f"PU#{plugin}", f"U#{user_id}"


class PluginTotalsRecord(UsageTable):
    plugin = UnicodeAttribute()
    users = NumberAttribute(default=0)  # distinct users with live calls, ever
    calls = NumberAttribute(default=0)
    revenue_micros = NumberAttribute(default=0)

    @staticmethod
    def key(plugin: str) -> tuple[str, str]:
        return f"PT#{plugin}", "TOTAL"
