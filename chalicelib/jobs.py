"""The scheduled jobs, as plain functions of the container: EventBridge runs them through
``app.py``, the dev stack's scheduler and ``python -m chalicelib.jobs`` run the same code.

    python -m chalicelib.jobs hourly                     # aggregate the last two hours, auto-disable, graces
    python -m chalicelib.jobs aggregate --hour 2026-11-22T13 [--hour ...]
    python -m chalicelib.jobs payouts [--period 2026-11-01] [--dry-run]
    python -m chalicelib.jobs invoices [--month 2026-10]
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from chalicelib.core.periods import closed_period, month_key
from chalicelib.metering.aggregation import AggregationReport, HourTotals
from chalicelib.wiring import Container, container

ERROR_RATE_LIMIT_BPS = 500  # 5 %
AUTO_DISABLE_MIN_CALLS = 100  # below this an hour says too little


def unhealthy(totals: HourTotals) -> bool:
    return totals.calls >= AUTO_DISABLE_MIN_CALLS and totals.errors * 10_000 > totals.calls * ERROR_RATE_LIMIT_BPS


def auto_disable(c: Container, report: AggregationReport) -> list[dict[str, Any]]:
    """Suspend active plugins whose last aggregated hour had more than 5 % errors; tell their developers."""
    if not report.hours:
        return []
    hour = report.hours[-1]
    disabled = []
    for name, totals in sorted(report.per_plugin.get(hour, {}).items()):
        if not unhealthy(totals):
            continue
        plugin = c.catalog.get_plugin(name)
        if plugin.status != "active":
            continue
        rate = f"{totals.errors * 100 / totals.calls:.1f} %"
        reason = f"auto-disabled: {rate} errors in {totals.calls} calls during {hour}:00 UTC (limit 5 %)"
        c.catalog.suspend(name, reason)
        c.audit.record("system", "plugin.auto_disabled", target=f"name={name}", reason=reason,
                       details={"hour": hour, "calls": totals.calls, "errors": totals.errors})
        c.notifications.notify(plugin.author_id, f"plugin.auto_disabled:{name}:{hour}", "plugin.auto_disabled",
                               f"{plugin.display_name} was suspended: {reason}. Fix it and ask an admin to "
                               "reinstate it.", {"plugin": name, "hour": hour, "calls": totals.calls,
                                                 "errors": totals.errors})
        disabled.append({"plugin": name, "hour": hour, "calls": totals.calls, "errors": totals.errors})
    return disabled


def hourly(c: Container, hours: list[str] | None = None) -> dict[str, Any]:
    report = c.aggregator.run(hours or c.aggregator.recent_hours())
    result: dict[str, Any] = {"hours": report.hours, "counters": report.counters, "applied": report.applied,
                              "auto_disabled": auto_disable(c, report)}
    result["downgraded"] = c.billing.expire_graces()
    today = c.clock.now().date()
    result["trending_changed"] = c.catalog.refresh_trends((today - timedelta(days=6)).isoformat(), today.isoformat())
    return result


def payouts(c: Container, period: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    if not dry_run:
        c.aggregator.run(c.aggregator.recent_hours())  # the period's last hour, complete
    return c.payouts.run(period or closed_period(c.clock.now()), dry_run=dry_run)


def invoices(c: Container, month: str | None = None) -> dict[str, Any]:
    last_month = c.clock.now().replace(day=1) - timedelta(days=1)
    return c.billing.invoice_month(month or month_key(last_month))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hourly", help="aggregate the last two hours, auto-disable, expire graces")
    aggregate = commands.add_parser("aggregate", help="aggregate given hours (idempotent)")
    aggregate.add_argument("--hour", action="append", required=True, help="YYYY-MM-DDTHH, repeatable")
    pay = commands.add_parser("payouts", help="settle and pay a closed period (idempotent)")
    pay.add_argument("--period", help="YYYY-MM-01 or YYYY-MM-15 (default: the last closed period)")
    pay.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    bill = commands.add_parser("invoices", help="charge last month's usage (idempotent)")
    bill.add_argument("--month", help="YYYY-MM (default: last month)")
    args = parser.parse_args(argv)
    c = container()
    if args.command == "hourly":
        result = hourly(c)
    elif args.command == "aggregate":
        result = hourly(c, args.hour)
    elif args.command == "payouts":
        result = payouts(c, args.period, args.dry_run)
    else:
        result = invoices(c, args.month)
    json.dump(result, sys.stdout, indent=2, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
