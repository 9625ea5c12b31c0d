from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.metering.records import (LATENCY_BUCKETS_MS, PluginDayRecord, PluginPeriodRecord, PluginTotalsRecord,
                                         UsageHourRecord)


@dataclass(frozen=True)
class Counts:
    calls: int = 0
    billable: int = 0
    non_billable: int = 0
    errors: int = 0
    latency_ms_sum: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.calls + other.calls, self.billable + other.billable,
                      self.non_billable + other.non_billable, self.errors + other.errors,
                      self.latency_ms_sum + other.latency_ms_sum)


def _counts(rec: UsageHourRecord) -> Counts:
    return Counts(int(rec.calls or 0), int(rec.billable or 0), int(rec.non_billable or 0),
                  int(rec.errors or 0), int(rec.latency_ms_sum or 0))


def latency_bucket(latency_ms: int) -> int:
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS) - 1


def latency_percentile_ms(buckets: tuple[int, ...] | list[int], percent: int) -> int | None:
    """Upper bound of the histogram bucket holding the ``percent``-th percentile call (integers
    only: the first bucket where ``seen / total >= percent / 100``); None without calls."""
    total = sum(buckets)
    if total == 0:
        return None
    seen = 0
    for bound, count in zip(LATENCY_BUCKETS_MS, buckets):
        seen += count
        if seen * 100 >= total * percent:
            return bound
    return LATENCY_BUCKETS_MS[-1]


class UsageRepository:
    def add(self, *, plugin: str, user_id: str, mode: str, hour: str, billable: int, errors: int,
            latency_ms: int) -> Counts:
        """The one write of a metered call: ADD to the hour's counters, return the hour's totals."""
        record = UsageHourRecord(*UsageHourRecord.key(plugin, user_id, mode, hour))
        bucket = getattr(UsageHourRecord, f"lat{latency_bucket(latency_ms)}")
        record.update(actions=[
            UsageHourRecord.calls.add(1), UsageHourRecord.billable.add(billable),
            UsageHourRecord.non_billable.add(1 - billable), UsageHourRecord.errors.add(errors),
            UsageHourRecord.latency_ms_sum.add(latency_ms), bucket.add(1),
            UsageHourRecord.plugin.set(plugin), UsageHourRecord.user_id.set(user_id),
            UsageHourRecord.mode.set(mode), UsageHourRecord.hour.set(hour),
        ])
        return _counts(record)

    def hours(self, *, plugin: str, user_id: str, mode: str, first_hour: str, last_hour: str) -> Counts:
        """Sum of the counters of [first_hour, last_hour], both inclusive."""
        pk, _ = UsageHourRecord.key(plugin, user_id, mode, first_hour)
        total = Counts()
        for rec in UsageHourRecord.query(pk, UsageHourRecord.sk.between(f"H#{first_hour}", f"H#{last_hour}"),
                                         consistent_read=True):
            total = total + _counts(rec)
        return total


def add_fee_revenue(tx: Any, plugin: str, period: str, micros: int) -> None:
    """Join a transaction: subscription, purchase and add-on revenue into the plugin's period."""
    tx.update(PluginPeriodRecord(*PluginPeriodRecord.key(plugin, period)),
              actions=[PluginPeriodRecord.plugin.set(plugin), PluginPeriodRecord.period.set(period),
                       PluginPeriodRecord.fee_revenue_micros.add(micros), PluginPeriodRecord.revenue_micros.add(micros)])
    tx.update(PluginTotalsRecord(*PluginTotalsRecord.key(plugin)),
              actions=[PluginTotalsRecord.plugin.set(plugin), PluginTotalsRecord.revenue_micros.add(micros)])


def plugin_days(plugin: str, first: str, last: str) -> Iterator[PluginDayRecord]:
    """A plugin's daily stats from ``first`` to ``last`` (ISO days, UTC), oldest first."""
    pk, _ = PluginDayRecord.key(plugin, "")
    return PluginDayRecord.query(pk, PluginDayRecord.sk.between(f"D#{first}", f"D#{last}"))
