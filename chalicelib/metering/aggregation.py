"""The hourly aggregation: hour counters become monthly, per-period and daily totals.

For each counter of an hour (found through ``by_hour``), the delta since the snapshot it
last contributed is folded, in one transaction, into:

* the (plugin, user, mode) month: billable calls per payout half, and the revenue of
  each half with the free allowance used up in call order (see ``rating``);
* the plugin's payout-period totals (revenue included) for both halves if needed;
* the plugin's daily stats (calls, errors, latency histogram, active users, revenue);
* the plugin's lifetime totals (distinct live users).

The counter's snapshot moves in the same transaction, conditioned on the snapshot read,
and the month item on its version: re-running an hour changes nothing, a counter that
grew after its hour was aggregated (a late call) adds just the difference, in the period
its hour belongs to, and two aggregations racing cannot both apply one delta.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core.clock import Clock
from chalicelib.core.dynamo import failed_conditions, find, run_transaction
from chalicelib.core.periods import half_of, hour_key, parse_hour
from chalicelib.metering.rating import Rate, paid_by_half
from chalicelib.metering.records import (DUE, LATENCY_BUCKETS_MS, PluginDayRecord, PluginPeriodRecord,
                                         PluginTotalsRecord, PluginUserRecord, UsageHourRecord, UsageTable,
                                         UserMonthRecord)

log = logging.getLogger(__name__)
_BUCKETS = tuple(f"lat{i}" for i in range(len(LATENCY_BUCKETS_MS)))
_SNAPSHOT = ("calls", "billable", "errors", "latency_ms_sum", *_BUCKETS)

RateLookup = Callable[[str, str], Rate]  # (plugin, user) -> the user's rate now
RatedListener = Callable[[str, str, str], None]  # (plugin, user, month): a live month's charges grew


@dataclass
class HourTotals:
    calls: int = 0
    errors: int = 0


@dataclass
class AggregationReport:
    hours: list[str] = field(default_factory=list)
    counters: int = 0
    applied: int = 0
    per_plugin: dict[str, dict[str, HourTotals]] = field(default_factory=dict)  # hour -> plugin -> totals


def _snapshot(rec: UsageHourRecord) -> list[int]:
    return [int(getattr(rec, name) or 0) for name in _SNAPSHOT]


class Aggregator:
    def __init__(self, rate_for: RateLookup, clock: Clock, on_rated: RatedListener | None = None) -> None:
        self._rate_for = rate_for
        self._clock = clock
        self._on_rated = on_rated

    def recent_hours(self, count: int = 2) -> list[str]:
        """The last ``count`` complete hours: the hourly run re-reads the one before too, for late calls."""
        now = self._clock.now()
        return [hour_key(now - timedelta(hours=n)) for n in range(count, 0, -1)]

    def run(self, hours: Iterable[str]) -> AggregationReport:
        report = AggregationReport()
        for hour in hours:
            parse_hour(hour)  # validates
            report.hours.append(hour)
            totals: dict[str, HourTotals] = {}
            for key in UsageHourRecord.by_hour.query(hour):
                report.counters += 1
                counter = UsageHourRecord.get(key.pk, key.sk, consistent_read=True)
                plugin_totals = totals.setdefault(counter.plugin, HourTotals())
                plugin_totals.calls += int(counter.calls or 0)
                plugin_totals.errors += int(counter.errors or 0)
                if self._apply(counter):
                    report.applied += 1
                    if counter.mode == "live" and self._on_rated is not None:
                        # the month's charges into the ledger (a chain: a crash here is caught up by the
                        # next fold of the month or, at the latest, by the month close)
                        self._on_rated(counter.plugin, counter.user_id, counter.hour[:7])
            report.per_plugin[hour] = totals
        return report

    def _apply(self, counter: UsageHourRecord, attempts: int = 5) -> bool:
        """Fold one counter's delta in; False when there was nothing new."""
        for _ in range(attempts):
            snapshot = _snapshot(counter)
            before = [int(v) for v in (counter.aggregated or [0] * len(_SNAPSHOT))]  # type: ignore[call-overload,list-item]
            if snapshot == before:
                return False
            try:
                self._fold(counter, before, snapshot)
                return True
            except TransactWriteError as exc:
                if not any(failed_conditions(exc)):
                    raise
                # another run moved the snapshot or the month first: read again and redo
                counter = UsageHourRecord.get(counter.pk, counter.sk, consistent_read=True)
        raise RuntimeError(f"could not aggregate {counter.pk} {counter.sk}: kept conflicting")

    def _fold(self, counter: UsageHourRecord, before: list[int], snapshot: list[int]) -> None:
        delta = dict(zip(_SNAPSHOT, (now - then for now, then in zip(snapshot, before))))
        plugin, user, mode, hour = counter.plugin, counter.user_id, counter.mode, counter.hour
        moment = parse_hour(hour)
        month, day, half = hour[:7], hour[:10], half_of(moment.day)
        live = mode == "live"
        periods = (f"{month}-01", f"{month}-15")

        month_key = UserMonthRecord.key(plugin, user, mode, month)
        found = find(UserMonthRecord, month_key)
        is_new = found is None
        if found is None:
            rate = self._rate_for(plugin, user)
            current = UserMonthRecord(*month_key, plan=rate.plan, allowance=rate.allowance,
                                      unit_price_micros=rate.unit_price_micros, version=0)
        else:
            current = found
            rate = Rate(int(current.allowance), int(current.unit_price_micros), current.plan)
        b1, b2 = int(current.billable_first or 0), int(current.billable_second or 0)
        billable = delta["billable"] if live else 0
        n1, n2 = (b1 + billable, b2) if half == 1 else (b1, b2 + billable)
        old_paid, new_paid = paid_by_half(rate, b1, b2), paid_by_half(rate, n1, n2)
        paid_delta = (new_paid[0] - old_paid[0], new_paid[1] - old_paid[1])
        revenue_delta = (paid_delta[0] * rate.unit_price_micros, paid_delta[1] * rate.unit_price_micros)
        days = set(int(d) for d in (current.days or ()))
        first_today = moment.day not in days and delta["calls"] > 0
        new_user = is_new and live and find(PluginUserRecord, PluginUserRecord.key(plugin, user),
                                                consistent=False) is None

        def build(tx: TransactWrite) -> None:
            snapshot_condition = (UsageHourRecord.aggregated_calls.does_not_exist() if counter.aggregated is None
                                  else UsageHourRecord.aggregated_calls == before[0])
            tx.update(UsageHourRecord(counter.pk, counter.sk),
                      actions=[UsageHourRecord.aggregated.set(snapshot),  # type: ignore[arg-type]
                               UsageHourRecord.aggregated_calls.set(snapshot[0])],
                      condition=snapshot_condition)
            month_actions: list[Any] = [
                UserMonthRecord.plugin.set(plugin), UserMonthRecord.user_id.set(user),
                UserMonthRecord.mode.set(mode), UserMonthRecord.month.set(month),
                UserMonthRecord.plan.set(rate.plan), UserMonthRecord.allowance.set(rate.allowance),
                UserMonthRecord.unit_price_micros.set(rate.unit_price_micros),
                UserMonthRecord.calls.add(delta["calls"]), UserMonthRecord.errors.add(delta["errors"]),
                UserMonthRecord.billable_first.set(n1), UserMonthRecord.billable_second.set(n2),
                UserMonthRecord.revenue_first_micros.set(new_paid[0] * rate.unit_price_micros),
                UserMonthRecord.revenue_second_micros.set(new_paid[1] * rate.unit_price_micros),
                UserMonthRecord.version.set(int(current.version) + 1),
            ]
            if live:
                month_actions.append(UserMonthRecord.billing_month.set(month))
            if live and sum(revenue_delta) > 0:
                month_actions += [UserMonthRecord.due.set(DUE), UserMonthRecord.due_key.set(f"{user}#{plugin}#{month}")]
            if first_today:
                month_actions.append(UserMonthRecord.days.add({moment.day}))
            tx.update(UserMonthRecord(*month_key), actions=month_actions,
                      condition=(UserMonthRecord.version.does_not_exist() if is_new
                                 else UserMonthRecord.version == int(current.version)))
            for index, period in enumerate(periods):
                this_half = index + 1 == half
                if not this_half and paid_delta[index] == 0:
                    continue
                actions: list[Any] = [PluginPeriodRecord.plugin.set(plugin), PluginPeriodRecord.period.set(period),
                           PluginPeriodRecord.paid_calls.add(paid_delta[index]),
                           PluginPeriodRecord.usage_revenue_micros.add(revenue_delta[index]),
                           PluginPeriodRecord.revenue_micros.add(revenue_delta[index])]
                if this_half:
                    actions += [PluginPeriodRecord.calls.add(delta["calls"]),
                                PluginPeriodRecord.billable.add(billable),
                                PluginPeriodRecord.errors.add(delta["errors"])]
                tx.update(PluginPeriodRecord(*PluginPeriodRecord.key(plugin, period)), actions=actions)
            day_actions: list[Any] = [PluginDayRecord.plugin.set(plugin), PluginDayRecord.day.set(day),
                           PluginDayRecord.calls.add(delta["calls"]), PluginDayRecord.billable.add(billable),
                           PluginDayRecord.errors.add(delta["errors"]),
                           PluginDayRecord.latency_ms_sum.add(delta["latency_ms_sum"]),
                           PluginDayRecord.revenue_micros.add(revenue_delta[half - 1])]
            day_actions += [getattr(PluginDayRecord, b).add(delta[b]) for b in _BUCKETS if delta[b]]
            if first_today:
                day_actions.append(PluginDayRecord.active_users.add(1))
            tx.update(PluginDayRecord(*PluginDayRecord.key(plugin, day)), actions=day_actions)
            totals: list[Any] = [PluginTotalsRecord.plugin.set(plugin), PluginTotalsRecord.calls.add(delta["calls"]),
                      PluginTotalsRecord.revenue_micros.add(sum(revenue_delta))]
            if new_user:
                tx.save(PluginUserRecord(*PluginUserRecord.key(plugin, user)),
                        condition=PluginUserRecord.pk.does_not_exist())
                totals.append(PluginTotalsRecord.users.add(1))
            tx.update(PluginTotalsRecord(*PluginTotalsRecord.key(plugin)), actions=totals)

        run_transaction(UsageTable, build)
