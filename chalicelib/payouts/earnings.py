"""The developer dashboard's read model: period revenue, projected payout, trend, history, 1099."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.catalog.model import Plugin
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import find
from chalicelib.core.periods import period_end, period_of, previous_period
from chalicelib.metering.records import LATENCY_BUCKETS_MS, PluginPeriodRecord, PluginTotalsRecord
from chalicelib.metering.repository import latency_percentile_ms, plugin_days
from chalicelib.payouts.plan import MICROS_PER_CENT, split
from chalicelib.payouts.repository import PayoutRepository
from chalicelib.payouts.service import PayoutService, payout_view
from chalicelib.revenue.service import RevenueService

TREND_DAYS = 30
# 1099-NEC/-MISC reporting threshold: $600 through 2025, $2,000 from 2026 (One Big Beautiful Bill Act).
FORM_1099_THRESHOLD_CENTS = {2025: 600_00, 2026: 2_000_00}


def threshold_1099(year: int) -> int:
    return FORM_1099_THRESHOLD_CENTS[min(max(year, 2025), 2026)]


def _n(rec: Any, name: str) -> int:
    return int(getattr(rec, name) or 0) if rec is not None else 0


def _change(now: int, before: int) -> int | None:
    """Percent change, rounded toward zero; None without a baseline."""
    return None if before == 0 else int((now - before) * 100 / before)


class EarningsService:
    def __init__(self, repository: PayoutRepository, plugins_of: Callable[[str], list[Plugin]], clock: Clock,
                 revenue: RevenueService, payouts: PayoutService) -> None:
        self._repo = repository
        self._plugins_of = plugins_of
        self._clock = clock
        self._revenue = revenue
        self._payouts = payouts

    def dashboard(self, developer: str) -> dict[str, Any]:
        now = self._clock.now()
        current, last = period_of(now), previous_period(period_of(now))
        plugins = self._plugins_of(developer)
        rows, totals = [], {"calls": 0, "revenue_micros": 0, "share_micros": 0, "last_calls": 0, "last_revenue": 0}
        for plugin in plugins:
            this = find(PluginPeriodRecord, PluginPeriodRecord.key(plugin.name, current), consistent=False)
            before = find(PluginPeriodRecord, PluginPeriodRecord.key(plugin.name, last), consistent=False)
            lifetime = find(PluginTotalsRecord, PluginTotalsRecord.key(plugin.name), consistent=False)
            revenue = _n(this, "revenue_micros")
            share = split(revenue, plugin.revenue_share_bps, 0)[0]
            rows.append({"plugin": plugin.name, "status": plugin.status, "share_bps": plugin.revenue_share_bps,
                         "calls": _n(this, "calls"), "paid_calls": _n(this, "paid_calls"),
                         "errors": _n(this, "errors"), "revenue_micros": revenue, "share_micros": share,
                         "users": _n(lifetime, "users"), "lifetime_calls": _n(lifetime, "calls"),
                         "lifetime_revenue_micros": _n(lifetime, "revenue_micros")})
            totals["calls"] += _n(this, "calls")
            totals["revenue_micros"] += revenue
            totals["share_micros"] += share
            totals["last_calls"] += _n(before, "calls")
            totals["last_revenue"] += _n(before, "revenue_micros")
        statement = self._revenue.statement(developer)
        available = self._payouts.available(developer)
        in_flight = statement["owed_micros"] - available
        payouts = self._repo.payouts_of(developer)
        return {
            "currency": "usd",
            "current_period": {"period": current, "ends": period_end(current).isoformat(),
                               "calls": totals["calls"], "revenue_micros": totals["revenue_micros"],
                               "share_micros": totals["share_micros"],
                               "calls_change_pct": _change(totals["calls"], totals["last_calls"]),
                               "revenue_change_pct": _change(totals["revenue_micros"], totals["last_revenue"])},
            # payable: the share of what users paid (less refunds, disputes and payouts); pending: the share
            # of invoices not paid yet; this period's share becomes payable once its invoices are paid
            "balance": {"available_micros": available, "in_flight_micros": in_flight,
                        "pending_micros": statement["pending_micros"]},
            "projected_payout_cents": max(0, available + statement["pending_micros"] + totals["share_micros"])
            // MICROS_PER_CENT,
            "next_payout_date": period_end(current).isoformat(),
            "lifetime": {"calls": sum(r["lifetime_calls"] for r in rows),
                         "revenue_micros": sum(r["lifetime_revenue_micros"] for r in rows),
                         "earned_micros": statement["credited_micros"], "bonus_micros": statement["bonus_micros"],
                         "reversed_micros": statement["reversed_micros"],
                         "paid_cents": statement["paid_micros"] // MICROS_PER_CENT,
                         "users": sum(r["users"] for r in rows)},
            "plugins": rows,
            "trend": self.trend([p.name for p in plugins], now),
            "payouts": [payout_view(r) for r in payouts[:24]],
        }

    def trend(self, plugins: list[str], now: datetime) -> list[dict[str, Any]]:
        days = [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(TREND_DAYS - 1, -1, -1)]
        series: dict[str, dict[str, Any]] = {
            day: {"day": day, "calls": 0, "errors": 0, "revenue_micros": 0, "active_users": 0,
                  "buckets": [0] * len(LATENCY_BUCKETS_MS)} for day in days}
        for plugin in plugins:
            for rec in plugin_days(plugin, days[0], days[-1]):
                row = series[rec.day]
                for name in ("calls", "errors", "revenue_micros", "active_users"):
                    row[name] += _n(rec, name)
                row["buckets"] = [a + _n(rec, f"lat{i}") for i, a in enumerate(row["buckets"])]
        out = []
        for row in series.values():
            buckets = row.pop("buckets")
            out.append({**row, "p50_ms": latency_percentile_ms(buckets, 50), "p99_ms": latency_percentile_ms(buckets, 99)})
        return out

    def form_1099(self, developer: str, year: int) -> dict[str, Any]:
        account = self._repo.account(developer)
        paid = [p for p in self._repo.payouts_of(developer)
                if p.status == "paid" and p.paid_at is not None and p.paid_at.year == year]
        total = sum(int(p.amount_cents) for p in paid)
        us = account is not None and account.tax_form == "W-9"
        return {"developer_id": developer, "year": year, "form": "1099-NEC" if us else None,
                "tax_form": account.tax_form if account else None,
                "legal_name": account.tax_name if account else None,
                "tax_id_last4": account.tax_id_last4 if account else None,
                "total_paid_cents": total, "payouts": len(paid), "threshold_cents": threshold_1099(year),
                "required": us and total >= threshold_1099(year),
                "generated_at": iso(self._clock.now())}

    def all_1099(self, year: int) -> dict[str, Any]:
        rows = [self.form_1099(developer, year) for developer in sorted(self._revenue.payables())]
        return {"year": year, "forms": [r for r in rows if r["form"]]}
