"""A payout run over 1,000 plugins with 10,000 users' usage: what it costs, and what it grows with.

For each size, in fresh tables (its own table prefix) on one DynamoDB Local and with its own
Stripe stand-in (``tests.stripe_standin``: our Stripe mock plugin served on 127.0.0.1):

1. the catalog: N active plugins with a published usage-priced version, owned by D
   developers; each developer has a payout account ready for Stripe (W-9, a connected
   Express account created through ``StripePayments`` and onboarded on the stand-in);
2. the period's usage. Base size: hour counters as the gateway's metering leaves them (each
   user calls ``--per-user`` plugins, each in one random hour of the first half of a month),
   then the hourly aggregation of every hour of that half through the container's
   ``Aggregator`` (rates from the catalog and billing), timed on its own: it grows with
   counters. The other sizes get the same per-plugin period totals written directly (what
   the aggregation leaves for a payout run: ``PluginPeriodRecord`` and ``PluginTotalsRecord``),
   computed from the same counters; on the base size the computation is checked equal, field
   by field, to what the aggregator wrote. (Aggregating 10,000 users' counters takes ~4 min on
   2 cores; doing it three times would not fit a 10-minute benchmark.)
3. ``PayoutService.run(period, dry_run=True)`` (the plan alone), then the real run (plan +
   settle each plugin's revenue + one Stripe transfer per developer), then the same period
   again (idempotent: it must apply nothing and make no transfer).

Sizes: base (1,000 plugins / 250 developers / 10,000 users), the same with 100x the calls in
every counter (same counters: the payout does the same work for 100x the money), and 2x the
plugins and developers (the same counters spread over twice the plugins).

    .venv/bin/python bench/payouts.py [--plugins 1000] [--developers 250] [--users 10000]
                                      [--per-user 1] [--quick] [--no-write]
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import local_backend, write_section  # noqa: E402

PERIOD = "2026-03-01"  # the payout period [Mar 1, Mar 15)
RUN_AT = "2026-03-15T06:00:00Z"  # the run's clock: just after the period closed
PRICE_MICROS = 20_000  # $0.02 per call after the free tier: every developer clears the $50 minimum
FREE_CALLS = 50  # per user, plugin and month
SHARE_BPS = 7_000  # the developer's 70 %
CALLS_RANGE = (200, 400)  # per counter at x1
WEBHOOK_SECRET = "whsec_bench_payouts_0123456789abcdef"


class DynamoCalls:
    """Counts every DynamoDB API call PynamoDB makes (all threads), by operation."""

    def __init__(self) -> None:
        from pynamodb.connection.base import Connection

        self.counts: Counter[str] = Counter()
        original = Connection._make_api_call
        counts = self.counts

        def counted(conn, operation_name, operation_kwargs):  # type: ignore[no-untyped-def]
            counts[operation_name] += 1
            return original(conn, operation_name, operation_kwargs)

        Connection._make_api_call = counted  # type: ignore[method-assign]

    def snapshot(self) -> Counter[str]:
        return Counter(self.counts)


@dataclasses.dataclass(frozen=True)
class Size:
    label: str
    plugins: int
    developers: int
    users: int
    multiplier: int  # calls per counter, times the base


@dataclasses.dataclass
class Result:
    size: Size
    aggregated: bool = False  # through the Aggregator (else the same totals written directly)
    counters: int = 0
    calls: int = 0
    aggregation_s: float = 0.0
    aggregation_ddb: Counter[str] = dataclasses.field(default_factory=Counter)
    dry_run_s: float = 0.0
    dry_ddb: int = 0
    run_s: float = 0.0
    run_ddb: Counter[str] = dataclasses.field(default_factory=Counter)
    settlements: int = 0
    paid: int = 0
    payout_cents: int = 0
    transfers: int = 0
    second_s: float = 0.0
    second_ddb: int = 0
    transfers_after_second: int = 0


def load_catalog(size: Size, now: datetime) -> None:
    from chalicelib.catalog.model import Plugin, Version
    from chalicelib.catalog.records import PluginRecord, VersionRecord
    from chalicelib.catalog.repository import plugin_record, version_record

    pricing = {"model": "usage", "tier": "standard", "free_tier_calls": FREE_CALLS,
               "per_call_price_micros": PRICE_MICROS}
    with PluginRecord.batch_write() as plugins, VersionRecord.batch_write() as versions:
        for i in range(size.plugins):
            name, developer = f"plugin-{i:05d}", developer_of(i, size)
            plugins.save(plugin_record(Plugin(
                name=name, author_id=developer, author_name=f"Developer {developer}", display_name=name.title(),
                description="payout benchmark plugin", category="devops", tags=("bench",), icon=None,
                status="active", status_reason=None, tier="standard", per_call_price_micros=PRICE_MICROS,
                free_tier_calls=FREE_CALLS, revenue_share_bps=SHARE_BPS, latest_version="1.0.0",
                latest_by_major={"1": "1.0.0"}, max_version="1.0.0", install_count=0, rating_sum=0,
                rating_count=0, verified="listed", created_at=now, published_at=now, updated_at=now)))
            versions.save(version_record(Version(
                name=name, version="1.0.0", major=1, manifest={"name": name, "version": "1.0.0", "pricing": pricing},
                status="published", created_at=now, submitted_at=now, published_at=now, reviewed_by="usr_admin")))


def developer_of(plugin_index: int, size: Size) -> str:
    return f"usr_dev{plugin_index % size.developers:05d}"


def onboard_developers(size: Size, payments: Any, standin: Any, now: datetime) -> None:
    """What a developer does before the first payout: a connected account, onboarding, a W-9."""
    from chalicelib.payouts.records import AccountRecord

    with AccountRecord.batch_write() as batch:
        for d in range(size.developers):
            developer = f"usr_dev{d:05d}"
            account_id = payments.create_connect_account(developer_id=developer, email=f"{developer}@example.com",
                                                         country="US", idempotency_key=f"connect-{developer}")
            standin.onboard(account_id)
            batch.save(AccountRecord(*AccountRecord.key(developer), developer_id=developer,
                                     email=f"{developer}@example.com", country="US", tax_form="W-9",
                                     tax_name=f"Developer {d}", tax_id_last4="0000", tax_submitted_at=now,
                                     rail="stripe", stripe_account_id=account_id, payouts_enabled=True,
                                     created_at=now))


HourCounter = tuple[str, str, str, int]  # plugin, user, hour, calls


def usage(size: Size, per_user: int) -> list[HourCounter]:
    """Every user calls ``per_user`` plugins, each in one random hour of the period.

    Counter ``c`` goes to plugin ``c % plugins``, so every plugin gets the same number of
    users; hours and call counts come from one seed, so every size with the same users has
    the same counters (only the calls scale with the multiplier)."""
    from chalicelib.core.periods import hour_key, period_start

    rng = random.Random(20260301)
    start = datetime.combine(period_start(PERIOD), datetime.min.time(), tzinfo=timezone.utc)
    hours = [hour_key(start + timedelta(hours=h)) for h in range(14 * 24)]
    counters = []
    for u in range(size.users):
        for k in range(per_user):
            plugin = f"plugin-{(u * per_user + k) % size.plugins:05d}"
            counters.append((plugin, f"usr_{u:06d}", rng.choice(hours), rng.randint(*CALLS_RANGE) * size.multiplier))
    return counters


def write_counters(counters: list[HourCounter]) -> None:
    """The hour counters the metering leaves (all calls live and billable, no errors)."""
    from chalicelib.metering.records import UsageHourRecord

    with UsageHourRecord.batch_write() as batch:
        for plugin, user, hour, calls in counters:
            batch.save(UsageHourRecord(*UsageHourRecord.key(plugin, user, "live", hour), plugin=plugin,
                                       user_id=user, mode="live", hour=hour, calls=calls, billable=calls,
                                       non_billable=0, errors=0, latency_ms_sum=20 * calls, lat2=calls))


def expected_totals(counters: list[HourCounter]) -> dict[str, dict[str, int]]:
    """Per plugin, what the aggregation makes of the counters in the period: calls, billable,
    paid calls (after each user's monthly free calls), revenue and distinct users."""
    months: dict[tuple[str, str], int] = Counter()
    for plugin, user, _, calls in counters:
        months[(plugin, user)] += calls
    totals: dict[str, dict[str, int]] = {}
    for (plugin, _), calls in months.items():
        paid = max(0, calls - FREE_CALLS)
        row = totals.setdefault(plugin, Counter())
        row.update(calls=calls, billable=calls, paid_calls=paid, revenue_micros=paid * PRICE_MICROS, users=1)
    return totals


def aggregated_totals() -> dict[str, dict[str, int]]:
    """What the aggregator wrote for the period, in the shape of ``expected_totals``."""
    from chalicelib.metering.records import PluginPeriodRecord, PluginTotalsRecord

    found: dict[str, dict[str, int]] = {}
    for rec in PluginPeriodRecord.by_period.query(PERIOD):
        if isinstance(rec, PluginPeriodRecord):
            assert rec.usage_revenue_micros == rec.revenue_micros and not rec.fee_revenue_micros and not rec.errors
            users = int(PluginTotalsRecord.get(*PluginTotalsRecord.key(rec.plugin)).users)
            found[rec.plugin] = Counter(calls=int(rec.calls), billable=int(rec.billable), paid_calls=int(rec.paid_calls),
                                        revenue_micros=int(rec.revenue_micros), users=users)
    return found


def write_totals(totals: dict[str, dict[str, int]]) -> None:
    """The aggregates a payout run reads, as the aggregation leaves them (first half only)."""
    from chalicelib.metering.records import PluginPeriodRecord, PluginTotalsRecord

    with PluginPeriodRecord.batch_write() as periods, PluginTotalsRecord.batch_write() as lifetime:
        for plugin, t in totals.items():
            periods.save(PluginPeriodRecord(*PluginPeriodRecord.key(plugin, PERIOD), plugin=plugin, period=PERIOD,
                                            calls=t["calls"], billable=t["billable"], paid_calls=t["paid_calls"],
                                            errors=0, usage_revenue_micros=t["revenue_micros"], fee_revenue_micros=0,
                                            revenue_micros=t["revenue_micros"]))
            lifetime.save(PluginTotalsRecord(*PluginTotalsRecord.key(plugin), plugin=plugin, users=t["users"],
                                             calls=t["calls"], revenue_micros=t["revenue_micros"]))


def fund(standin: Any, cents: int) -> None:
    """Top the platform balance up to ``cents`` (one card charge is at most $999,999.99)."""
    while standin.balance() < cents:
        standin.fund(min(cents, standin.balance() + 99_999_999))


def period_hour_keys() -> list[str]:
    from chalicelib.core.periods import hour_key, parse_hour, period_hours

    first, last = period_hours(PERIOD)
    hours, moment = [], parse_hour(first)
    while hour_key(moment) <= last:
        hours.append(hour_key(moment))
        moment += timedelta(hours=1)
    return hours


def measure(size: Size, aggregate: bool, per_user: int, base_settings: Any, calls: DynamoCalls,
            token: str) -> Result:
    from chalicelib.core.clock import FixedClock
    from chalicelib.core.dynamo import create_tables
    from chalicelib.payments.stripe_gateway import StripePayments
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container
    from tests.stripe_standin import StripeStandIn

    result = Result(size, aggregated=aggregate)
    clock = FixedClock.at(RUN_AT)
    settings = dataclasses.replace(base_settings, table_prefix=f"mf-bench-payouts-{token}-{size.label.replace(' ', '')}-",
                                   index_background_refresh=False)
    with StripeStandIn() as standin:
        payments = StripePayments(standin.api_key, api_base=standin.url, webhook_secret=WEBHOOK_SECRET)
        built = Container(settings, clock=clock, payments=payments)  # binds the models to this size's tables
        create_tables(TABLES)
        began = time.perf_counter()
        load_catalog(size, clock.now())
        onboard_developers(size, payments, standin, clock.now())
        counters = usage(size, per_user)
        expected = expected_totals(counters)
        result.counters, result.calls = len(counters), sum(c[3] for c in counters)
        if aggregate:
            write_counters(counters)
        else:
            write_totals(expected)
        print(f"[{size.label}] {size.plugins:,} plugins, {size.developers:,} developers, {size.users:,} users, "
              f"{result.counters:,} counters ({result.calls:,} calls): set up in {time.perf_counter() - began:.1f}s",
              flush=True)

        if aggregate:
            hours = period_hour_keys()
            before = calls.snapshot()
            began = time.perf_counter()
            report = built.aggregator.run(hours)
            result.aggregation_s = time.perf_counter() - began
            result.aggregation_ddb = calls.snapshot() - before
            assert report.counters == report.applied == result.counters, (report.counters, report.applied)
            found = aggregated_totals()
            assert found == expected, "the aggregator's period totals differ from the benchmark's own sums"
            print(f"[{size.label}] aggregation: {report.counters:,} counters in {len(hours)} hours in "
                  f"{result.aggregation_s:.1f}s ({report.counters / result.aggregation_s:.0f} counters/s); "
                  f"period totals of {len(found):,} plugins equal the expected ones", flush=True)

        service = built.payouts
        before = calls.snapshot()
        began = time.perf_counter()
        dry = service.run(PERIOD, dry_run=True)
        result.dry_run_s = time.perf_counter() - began
        result.dry_ddb = sum((calls.snapshot() - before).values())
        statuses = Counter(p["status"] for p in dry["payouts"])
        assert statuses == {"pay": size.developers}, statuses  # every developer clears the $50 minimum
        assert not dry["credits"], dry["credits"][:3]  # no milestone bonus: x1 and x100 do the same work
        fund(standin, dry["totals"]["payout_cents"])
        assert not standin.transfers()

        before = calls.snapshot()
        began = time.perf_counter()
        done = service.run(PERIOD)
        result.run_s = time.perf_counter() - began
        result.run_ddb = calls.snapshot() - before
        result.settlements = int(done["applied_settlements"])
        result.paid = sum(p["status"] == "paid" for p in done["payouts"])
        result.payout_cents = sum(p["amount_cents"] for p in done["payouts"] if p["status"] == "paid")
        result.transfers = len(standin.transfers())
        assert result.settlements == size.plugins and result.paid == size.developers == result.transfers, \
            (result.settlements, result.paid, result.transfers)
        assert result.payout_cents == dry["totals"]["payout_cents"]
        print(f"[{size.label}] dry run {result.dry_run_s:.2f}s, run {result.run_s:.2f}s: {result.settlements:,} "
              f"settlements, {result.paid:,} transfers, ${result.payout_cents / 100:,.2f}", flush=True)

        before = calls.snapshot()
        began = time.perf_counter()
        again = service.run(PERIOD)
        result.second_s = time.perf_counter() - began
        result.second_ddb = sum((calls.snapshot() - before).values())
        result.transfers_after_second = len(standin.transfers())
        assert again["applied_settlements"] == again["applied_credits"] == 0 and not again["settlements"]
        assert result.transfers_after_second == result.transfers
        assert all(p["status"] == "paid" for p in again["payouts"]) and len(again["payouts"]) == size.developers
        print(f"[{size.label}] second run {result.second_s:.2f}s: nothing applied, transfers "
              f"{result.transfers} -> {result.transfers_after_second}", flush=True)

        for model in TABLES:  # keep DynamoDB Local's memory to one size at a time
            model.delete_table()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=1_000)
    parser.add_argument("--developers", type=int, default=250)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--per-user", type=int, default=1, help="plugins each user calls (one hour counter each)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 40 plugins, 10 developers, 400 users (nothing written)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.plugins, args.developers, args.users, args.no_write = 40, 10, 400, True

    sizes = [(Size("base", args.plugins, args.developers, args.users, 1), True),
             (Size("calls x100", args.plugins, args.developers, args.users, 100), False),
             (Size("plugins x2", args.plugins * 2, args.developers * 2, args.users, 1), False)]
    token = f"{int(time.time()) % 100000}"
    started = time.perf_counter()
    with local_backend() as built:
        calls = DynamoCalls()
        results = [measure(size, aggregate, args.per_user, built.settings, calls, token)
                   for size, aggregate in sizes]
    total_s = time.perf_counter() - started
    body = report(results, args, total_s)
    print(body)
    if not args.no_write:
        write_section("Payout run (1,000 plugins, 10,000 users)", body)


def report(results: list[Result], args: argparse.Namespace, total_s: float) -> str:
    base, more_calls, more_plugins = results
    agg = base.aggregation_ddb
    per_counter = ", ".join(f"{op} {n / base.counters:.2f}" for op, n in agg.most_common())
    rows = []
    for r in results:
        s = r.size
        rows.append(
            f"| {s.label} | {s.plugins:,} | {s.developers:,} | {s.users:,} | {r.calls:,} | {r.dry_run_s:.2f} | "
            f"{r.run_s:.2f} | **{r.run_s / base.run_s:.2f}x** | {sum(r.run_ddb.values()):,} | {r.settlements:,} | "
            f"{r.paid:,} | ${r.payout_cents / 100:,.2f} | {r.second_s:.2f} | {r.transfers} -> {r.transfers_after_second} |")
    base_ddb = sum(base.run_ddb.values())
    ops = ", ".join(f"{op} {n:,}" for op, n in base.run_ddb.most_common())
    flags = " --quick" if args.quick else "".join(
        f" --{name.replace('_', '-')} {getattr(args, name)}" for name, default in
        (("plugins", 1_000), ("developers", 250), ("users", 10_000), ("per_user", 1)) if getattr(args, name) != default)
    return f"""Command: `.venv/bin/python bench/payouts.py{flags}` (whole run {total_s / 60:.1f} min)

Each size in fresh tables (own table prefix) on one DynamoDB Local (in memory), with its
own Stripe stand-in (`tests/stripe_standin.py`, our Stripe mock plugin as a local HTTP
server) reached through `StripePayments` (the official `stripe` library). Plugins are
usage-priced (${PRICE_MICROS / 1e6:.2f} per call after {FREE_CALLS} free calls per user and month, {SHARE_BPS // 100} % developer
share) and spread evenly over their developers ({base.size.plugins // base.size.developers} each); every developer has a W-9 and
an onboarded Connect account. Usage: each user calls {args.per_user} plugin{"s" if args.per_user > 1 else ""}, each in one random
hour of the period {PERIOD} (first half of the month), {CALLS_RANGE[0]}-{CALLS_RANGE[1]} calls per hour counter at x1;
the counters and hours are the same in every size (one seed). The payout run is
`PayoutService.run("{PERIOD}")`: plan, settle every plugin's period revenue into its
developer's balance (one transaction each), then per developer reserve the payout, make
one Stripe transfer and complete it.

**Aggregation (base size): {base.counters:,} hour counters of {base.size.users:,} users in {base.aggregation_s:.0f} s,
{base.counters / base.aggregation_s:.0f} counters/s** (`Aggregator.run` over the period's 336 hours, through the
container: rates from the catalog and billing). DynamoDB calls per counter: {per_counter}
(GetItem: the counter, its month, the first-user check, the user's plan; Query: the rate's
published version, plus the hour's `by_hour` page; one transaction folding the counter into
the month, period, day and lifetime items): a fixed cost per counter, so it grows
with counters, not with calls or plugins. The other two sizes did not re-run it (three runs
would take ~{3 * base.aggregation_s / 60:.0f} min of this benchmark): their period totals (`PluginPeriodRecord`,
`PluginTotalsRecord`, the only usage items a payout run reads) were written directly from
the same counters, by the same sums that were checked equal, plugin by plugin and field by
field, to what the aggregator wrote for the base size.

| size | plugins | developers | users | calls | dry run (plan) s | payout run s | run vs base | DynamoDB calls in the run | settlements | transfers | paid out | second run s | transfers before -> after the 2nd run |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

- 100x the calls in every counter: the payout run takes **{more_calls.run_s / base.run_s:.2f}x** the base time, with
  {sum(more_calls.run_ddb.values()):,} DynamoDB calls vs {base_ddb:,} (the amounts are 100x, the work is not).
- 2x the plugins and developers: **{more_plugins.run_s / base.run_s:.2f}x** the base time, {sum(more_plugins.run_ddb.values()):,} DynamoDB calls
  ({sum(more_plugins.run_ddb.values()) / base_ddb:.2f}x).
- Each time is one run (a payout run moves money once) on 2 cores shared by this process,
  DynamoDB Local and the stand-in: wall times vary by tens of percent from one full run to
  the next, so the ratios do too; the DynamoDB call counts are exact and are the steadier
  measure of the work.
- Base run: {base_ddb:,} DynamoDB calls, {base_ddb / base.size.plugins:.1f} per plugin ({ops}), plus one
  Stripe transfer per developer. Per plugin: its catalog entry, settled amount, carry and
  milestone counters (the plan), one settlement transaction; per developer: its account
  (the plan), five look-ups while paying (payout, balance, account, the account again for
  the transfer, the payout after it), the reserve and complete transactions, the transfer
  and a notification. The dry run is the plan alone: {base.dry_ddb:,} DynamoDB calls, {base.dry_run_s / base.run_s * 100:.0f} % of the run's time.
- Idempotency: the second run of the same period applied nothing (no settlement, no credit)
  and made no transfer: the stand-in's transfer count is unchanged in every size. It costs
  {base.second_ddb:,} DynamoDB calls at base: a plan (every settled amount now equals the revenue, so
  there is nothing to settle, carry or credit) and one look-up of each developer's paid payout.
- No milestone bonus is reached in any size (checked: no credits; at 100x a plugin has at
  most {CALLS_RANGE[1] * 100 * -(-base.size.users * args.per_user // base.size.plugins):,} calls in the month, under the 1M calls milestone), so x1 and x100 do the
  same work; a milestone adds one credit transaction per plugin once.
"""


if __name__ == "__main__":
    main()
