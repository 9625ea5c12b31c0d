"""The scheduled jobs, as plain functions of the container: EventBridge runs them through
``app.py``, the dev stack's scheduler and ``python -m chalicelib.jobs`` run the same code.

    python -m chalicelib.jobs hourly                     # aggregate, auto-disable, graces, dunning, payout retries
    python -m chalicelib.jobs aggregate --hour 2026-11-22T13 [--hour ...]
    python -m chalicelib.jobs payouts [--period 2026-11-01] [--dry-run]
    python -m chalicelib.jobs invoices [--month 2026-10] [--dry-run] [--json]
    python -m chalicelib.jobs ledger-check               # the ledger's invariants; alerts when one fails
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import timedelta
from typing import Any

from chalicelib.core.errors import DomainError
from chalicelib.core.periods import closed_period, hour_key, month_key
from chalicelib.metering.aggregation import AggregationReport, HourTotals
from chalicelib.wiring import Container, container

log = logging.getLogger(__name__)
ERROR_RATE_LIMIT_BPS = 500  # 5 %
AUTO_DISABLE_MIN_CALLS = 100  # below this an hour says too little
CLOSE_REREAD_HOURS = 6  # the month close re-aggregates the month's last hours first (late counters)


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
    result["dunning"] = c.billing.dunning()
    result["payouts_retried"] = c.payouts.retry_open()
    today = c.clock.now().date()
    result["trending_changed"] = c.catalog.refresh_trends((today - timedelta(days=6)).isoformat(), today.isoformat())
    return result


def payouts(c: Container, period: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    if not dry_run:
        c.aggregator.run(c.aggregator.recent_hours())  # the period's last hour, complete
    return c.payouts.run(period or closed_period(c.clock.now()), dry_run=dry_run)


def last_month(c: Container) -> str:
    return month_key(c.clock.now().replace(day=1) - timedelta(days=1))


def invoices(c: Container, month: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Close ``month`` (default: last month): refused while it is open; a dry run changes nothing."""
    month = month or last_month(c)
    if not dry_run:
        from chalicelib.billing.invoices import month_end

        end = month_end(month)
        if end <= c.clock.now():  # its last hours once more: counters written late still count
            hours = [hour_key(end - timedelta(hours=n)) for n in range(CLOSE_REREAD_HOURS, 0, -1)]
            c.aggregator.run(hours + [h for h in c.aggregator.recent_hours() if h not in hours])
    return c.billing.invoice_month(month, dry_run=dry_run)


def summarize_invoices(result: dict[str, Any]) -> str:
    """What a person reads after the month close."""
    totals, rows = result["totals"], result["invoices"]
    verb = "would bill" if result["dry_run"] else "billed"
    lines = [f"Usage invoices for {result['month']} (closed {result['closed_at']})" + (" - DRY RUN, nothing changed"
                                                                                       if result["dry_run"] else ""),
             f"  {len(rows)} user(s) with charges; {verb} ${totals.get('amount_cents', 0) / 100:,.2f}"]
    carried = [r for r in rows if r["amount_cents"] == 0]
    if carried:
        lines.append(f"  {len(carried)} below the $0.50 minimum: carried to next month")
    if totals.get("late_lines"):
        lines.append(f"  {totals['late_lines']} line(s) of late usage from earlier months: "
                     f"${totals.get('late_cents', 0) / 100:,.2f}")
    for status in ("paid", "open", "failed", "carried"):
        count = totals.get(f"status_{status}", 0)
        if count:
            lines.append(f"  {status}: {count}")
    if result.get("resumed"):
        lines.append(f"  finished {len(result['resumed'])} invoice(s) an earlier run had started")
    for row in rows:
        late = sum(1 for line in row["lines"] if line["late"])
        lines.append(f"    {row['user_id']}: ${row['amount_cents'] / 100:,.2f} {row['status']}"
                     + (f" ({late} late line(s))" if late else "") + (f" pay: {row['pay_url']}" if row.get("pay_url")
                                                                       and row["status"] == "failed" else ""))
    return "\n".join(lines)


def ledger_check(c: Container) -> dict[str, Any]:
    """The ledger's invariants (entries sum to zero; each developer's payouts are their credited shares
    less reversals less what is carried; the payouts context agrees). A failure is logged loudly and
    every admin gets a notification; the result names the invariant that failed."""
    report = c.revenue.check(c.payouts.paid_totals())
    result = {"ok": report.ok, "checked_at": report.checked_at, "accounts": report.accounts,
              "totals": report.totals, "failures": report.failures}
    if not report.ok:
        log.error("ALERT ledger invariants failed: %s", json.dumps(report.failures, default=str))
        names = sorted({f["invariant"] for f in report.failures})
        for admin in admins(c):
            c.notifications.notify(admin, f"ledger.check_failed:{report.checked_at[:10]}", "ledger.check_failed",
                                   f"The ledger check failed: {', '.join(names)}. Details in GET "
                                   "/admin/ledger/check.", {"failures": report.failures[:20]})
    return result


def admins(c: Container, limit: int = 20_000) -> list[str]:
    found, cursor, seen = [], None, 0
    while seen < limit:
        page = c.auth.list_users(limit=200, cursor=cursor)
        found += [u["user_id"] for u in page["users"] if u.get("role") == "admin"]
        seen += len(page["users"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.jobs")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("hourly", help="aggregate the last two hours, auto-disable, graces, dunning, payout retries")
    aggregate = commands.add_parser("aggregate", help="aggregate given hours (idempotent)")
    aggregate.add_argument("--hour", action="append", required=True, help="YYYY-MM-DDTHH, repeatable")
    pay = commands.add_parser("payouts", help="pay a closed period (idempotent)")
    pay.add_argument("--period", help="YYYY-MM-01 or YYYY-MM-15 (default: the last closed period)")
    pay.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    bill = commands.add_parser("invoices", help="close a month: invoice its usage (idempotent; refused while open)")
    bill.add_argument("--month", help="YYYY-MM (default: last month)")
    bill.add_argument("--dry-run", action="store_true", help="print what would be billed, change nothing")
    bill.add_argument("--json", action="store_true", help="the whole result as JSON instead of a summary")
    commands.add_parser("ledger-check", help="prove the ledger's invariants; alert when one fails")
    args = parser.parse_args(argv)
    c = container()
    try:
        if args.command == "hourly":
            result = hourly(c)
        elif args.command == "aggregate":
            result = hourly(c, args.hour)
        elif args.command == "payouts":
            result = payouts(c, args.period, args.dry_run)
        elif args.command == "ledger-check":
            result = ledger_check(c)
        else:
            result = invoices(c, args.month, args.dry_run)
            if not args.json:
                print(summarize_invoices(result))
                return 0
    except DomainError as exc:
        print(f"refused [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2, default=str)
    print()
    return 0 if result.get("ok", True) else 2


if __name__ == "__main__":
    sys.exit(main())
