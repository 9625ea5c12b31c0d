"""The hourly aggregation on moto: exact, idempotent, late-call safe, free tier in call order."""
from __future__ import annotations

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.metering.aggregation import Aggregator
from chalicelib.metering.rating import Rate
from chalicelib.metering.records import (PluginDayRecord, PluginPeriodRecord, PluginTotalsRecord, UsageHourRecord,
                                         UserMonthRecord)

PREMIUM = Rate(allowance=1_000, unit_price_micros=5_000)


def count(plugin: str, user: str, hour: str, calls: int, *, billable: int | None = None, errors: int = 0,
          mode: str = "live", latency_ms: int = 20) -> None:
    """What ``calls`` proxied calls leave behind: the hour counter's ADDs, in one write."""
    billable = calls - errors if billable is None else billable
    rec = UsageHourRecord(*UsageHourRecord.key(plugin, user, mode, hour))
    rec.update(actions=[
        UsageHourRecord.calls.add(calls), UsageHourRecord.billable.add(billable if mode == "live" else 0),
        UsageHourRecord.non_billable.add(calls - (billable if mode == "live" else 0)),
        UsageHourRecord.errors.add(errors), UsageHourRecord.latency_ms_sum.add(latency_ms * calls),
        UsageHourRecord.lat2.add(calls), UsageHourRecord.plugin.set(plugin), UsageHourRecord.user_id.set(user),
        UsageHourRecord.mode.set(mode), UsageHourRecord.hour.set(hour)])


def period(plugin: str, name: str) -> PluginPeriodRecord:
    return PluginPeriodRecord.get(*PluginPeriodRecord.key(plugin, name), consistent_read=True)


@pytest.fixture
def aggregator(container):
    return Aggregator(lambda plugin, user: PREMIUM, FixedClock.at("2026-01-20T00:30:00Z"))


def test_the_seed_worked_example_from_hour_counters(container):
    """At 20 users with 5,000 free calls each here (moto copies the table per transaction);
    tests/integration/test_money_end_to_end.py runs it with 100 users on DynamoDB Local."""
    aggregator = Aggregator(lambda plugin, user: Rate(5_000, 5_000), FixedClock.at("2026-01-20T00:30:00Z"))
    hours = ["2026-01-02T10", "2026-01-09T15"]
    for user in range(20):  # 20 users x 25,000 calls
        for hour in hours:
            count("stripe", f"usr_{user:03d}", hour, 12_500)
    report = aggregator.run(hours)
    assert report.applied == 40

    totals = period("stripe", "2026-01-01")
    assert (totals.calls, totals.billable, totals.paid_calls) == (500_000, 500_000, 400_000)
    assert totals.revenue_micros == 2_000 * 1_000_000  # $2,000
    assert PluginTotalsRecord.get(*PluginTotalsRecord.key("stripe")).users == 20
    day = PluginDayRecord.get(*PluginDayRecord.key("stripe", "2026-01-02"))
    assert (day.calls, day.active_users) == (250_000, 20)


def test_rerunning_an_hour_changes_nothing_and_late_calls_add_only_the_difference(aggregator):
    count("echo", "usr_a", "2026-01-03T10", 800)
    aggregator.run(["2026-01-03T10"])
    assert aggregator.run(["2026-01-03T10"]).applied == 0

    count("echo", "usr_a", "2026-01-03T10", 500)  # arrived after the hour was aggregated
    assert aggregator.run(["2026-01-03T10"]).applied == 1
    assert aggregator.run(["2026-01-03T10"]).applied == 0
    totals = period("echo", "2026-01-01")
    assert (totals.calls, totals.paid_calls, totals.revenue_micros) == (1_300, 300, 300 * 5_000)
    day = PluginDayRecord.get(*PluginDayRecord.key("echo", "2026-01-03"))
    assert (day.calls, day.active_users, day.lat2) == (1_300, 1, 1_300)


def test_the_free_tier_is_used_in_call_order_across_the_two_periods(aggregator):
    count("echo", "usr_a", "2026-01-14T23", 600)
    count("echo", "usr_a", "2026-01-15T00", 600)
    aggregator.run(["2026-01-14T23", "2026-01-15T00"])
    assert period("echo", "2026-01-01").paid_calls == 0
    assert period("echo", "2026-01-15").paid_calls == 200

    count("echo", "usr_a", "2026-01-14T23", 100)  # a late call of the first half uses free calls first
    aggregator.run(["2026-01-14T23"])
    assert period("echo", "2026-01-01").paid_calls == 0
    assert period("echo", "2026-01-15").paid_calls == 300
    month = UserMonthRecord.get(*UserMonthRecord.key("echo", "usr_a", "live", "2026-01"))
    assert (month.billable_first, month.billable_second, month.revenue_second_micros) == (700, 600, 300 * 5_000)


def test_errors_and_sandbox_calls_are_counted_but_never_charged(aggregator):
    count("echo", "usr_a", "2026-01-05T08", 2_000, errors=500)
    count("echo", "usr_a", "2026-01-05T08", 3_000, mode="sandbox")
    aggregator.run(["2026-01-05T08"])
    totals = period("echo", "2026-01-01")
    assert (totals.calls, totals.errors, totals.billable, totals.paid_calls) == (5_000, 500, 1_500, 500)
    assert PluginTotalsRecord.get(*PluginTotalsRecord.key("echo")).users == 1  # sandbox use is not a user


def test_the_month_keeps_the_rate_it_started_with(container):
    rates = iter([Rate(10, 1_000, "usage"), Rate(0, 99_999, "other")])
    aggregator = Aggregator(lambda plugin, user: next(rates), FixedClock.at("2026-01-20T00:30:00Z"))
    count("echo", "usr_a", "2026-01-05T08", 15)
    count("echo", "usr_a", "2026-01-06T08", 15)
    aggregator.run(["2026-01-05T08", "2026-01-06T08"])
    assert period("echo", "2026-01-01").revenue_micros == 20 * 1_000
