"""Metering use cases: count a proxied call, and report usage.

Billable means: a live-key call the plugin answered with a status below 500. Sandbox
(``mf_test_``) calls are counted but never billable; runtime failures (crash, timeout,
out of memory) and plugin 5xx count as errors and are never billable.

The warm path is one DynamoDB write: the hour counter ``ADD``. The month-to-date total
needed for the usage headers is that hour's total plus the sum of the month's earlier
hours, which is read once per (plugin, user, mode) and hour per container and cached.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from datetime import datetime, timedelta

from chalicelib.billing.holding import Holding
from chalicelib.core.clock import Clock
from chalicelib.metering.rating import UNLIMITED
from chalicelib.core.periods import hour_key
from chalicelib.metering.repository import Counts, UsageRepository


@dataclass(frozen=True)
class MeteredCall:
    plugin: str
    user_id: str
    sandbox: bool
    status: int | None  # None: the runtime failed and the plugin gave no answer
    latency_ms: int

    @property
    def billable(self) -> bool:
        return not self.sandbox and self.status is not None and self.status < 500

    @property
    def error(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass(frozen=True)
class MonthUsage:
    calls: int
    billable: int
    free_tier_calls: int
    sandbox: bool

    @property
    def free_calls_remaining(self) -> int | None:
        """None for sandbox calls and for plans that never charge per call."""
        if self.sandbox or self.free_tier_calls == UNLIMITED:
            return None
        return max(0, self.free_tier_calls - self.billable)


class MeteringService:
    def __init__(self, repository: UsageRepository, clock: Clock) -> None:
        self._repo = repository
        self._clock = clock
        self._before: dict[tuple[str, str, str], Counts] = {}
        self._before_hour = ""
        self._this_hour: dict[tuple[str, str, str], Counts] = {}  # this container's last view of the hour
        self._lock = threading.Lock()

    def record(self, call: MeteredCall, *, free_tier_calls: int) -> MonthUsage:
        now = self._clock.now()
        hour, mode = hour_key(now), "sandbox" if call.sandbox else "live"
        this_hour = self._repo.add(plugin=call.plugin, user_id=call.user_id, mode=mode, hour=hour,
                                   billable=int(call.billable), errors=int(call.error),
                                   latency_ms=max(0, call.latency_ms))
        month = self._earlier_this_month(call.plugin, call.user_id, mode, now) + this_hour
        with self._lock:
            if self._before_hour == hour:
                self._this_hour[(call.plugin, call.user_id, mode)] = this_hour  # the counter's total, all containers
        return MonthUsage(calls=month.calls, billable=month.billable, free_tier_calls=free_tier_calls,
                          sandbox=call.sandbox)

    def _earlier_this_month(self, plugin: str, user_id: str, mode: str, now: datetime) -> Counts:
        hour = hour_key(now)
        key = (plugin, user_id, mode)
        with self._lock:
            if self._before_hour != hour:
                self._before, self._before_hour, self._this_hour = {}, hour, {}
            cached = self._before.get(key)
        if cached is not None:
            return cached
        first_hour = now.replace(day=1, hour=0)
        if hour_key(first_hour) == hour:
            earlier = Counts()
        else:
            earlier = self._repo.hours(plugin=plugin, user_id=user_id, mode=mode,
                                       first_hour=hour_key(first_hour),
                                       last_hour=hour_key(now - timedelta(hours=1)))
        with self._lock:
            if self._before_hour == hour:
                self._before[key] = earlier
        return earlier

    def billable_so_far(self, plugin: str, user_id: str) -> int:
        """Live billable calls this month before the next call, as this container last saw them (the
        earlier hours read once an hour, this hour's counter as the last call here returned it): what
        the gateway asks before letting a call past the free tier. Calls in flight elsewhere are not in it."""
        now = self._clock.now()
        earlier = self._earlier_this_month(plugin, user_id, "live", now)
        with self._lock:
            this_hour = self._this_hour.get((plugin, user_id, "live"), Counts())
        return earlier.billable + this_hour.billable

    def month_usage(self, *, plugin: str, user_id: str, sandbox: bool, month: str) -> Counts:
        """Counters of a whole calendar month (``YYYY-MM``), read from the hour items."""
        mode = "sandbox" if sandbox else "live"
        return self._repo.hours(plugin=plugin, user_id=user_id, mode=mode, first_hour=f"{month}-01T00",
                                last_hour=f"{month}-31T23")

    def report(self, *, user_id: str, plugins: list[tuple[str, int]], month: str) -> dict[str, object]:
        """Per installed plugin (name, free tier): this month's live and sandbox counters."""
        rows = []
        for plugin, free_tier in plugins:
            live = self.month_usage(plugin=plugin, user_id=user_id, sandbox=False, month=month)
            sandbox = self.month_usage(plugin=plugin, user_id=user_id, sandbox=True, month=month)
            rows.append({
                "plugin": plugin,
                "live": {"calls": live.calls, "billable": live.billable, "errors": live.errors,
                         "free_tier_calls": free_tier, "free_calls_used": min(live.billable, free_tier),
                         "free_calls_remaining": max(0, free_tier - live.billable)},
                "sandbox": {"calls": sandbox.calls, "errors": sandbox.errors},
            })
        return {"month": month, "plugins": rows}

    def stats(self, *, user_id: str, month: str, holdings: list[Holding],
              quota_used: Callable[[str], int]) -> dict[str, Any]:
        """Per plugin: this month's live usage against the plan's quota (seed 003's usage stats)."""
        rows = []
        for holding in holdings:
            live = self.month_usage(plugin=holding.plugin, user_id=user_id, sandbox=False, month=month)
            sandbox = self.month_usage(plugin=holding.plugin, user_id=user_id, sandbox=True, month=month)
            limited = holding.monthly_calls != UNLIMITED
            used = quota_used(holding.plugin) if limited else live.calls
            rows.append({"plugin": holding.plugin, "plan": holding.plan, "tier": holding.tier,
                         "source": holding.source, "calls": live.calls, "billable": live.billable,
                         "errors": live.errors, "sandbox_calls": sandbox.calls,
                         "quota": {"limit": holding.monthly_calls, "used": used,
                                   "remaining": max(0, holding.monthly_calls - used) if limited else UNLIMITED},
                         "concurrency": holding.concurrency})
        return {"period": month, "plugins": rows}
