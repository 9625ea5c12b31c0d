"""Kill the invoices job and the payouts job with SIGKILL at random points, rerun them within and
after Stripe's 24-hour idempotency window: no invoice, invoice line or transfer twice, no cent missing.

Both jobs run as real child processes (``kill_driver.run_job``) on the same DynamoDB Local tables and
Stripe stand-in as the test. Kill points come from a seeded RNG: before or after the n-th Stripe
request of a run (after = Stripe accepted it and the job never heard), after the first accepted
``POST /v1/transfers`` on purpose, or from outside after a random delay (anywhere, DynamoDB writes
included). Some reruns first expire every idempotency key the stand-in holds, as if the rerun came
more than 24 hours later. Then each job runs to the end once within the window and once after it,
and the books are checked against Stripe's.

8 developers each publish a plugin at $0.005 a call (no free tier); 8 users each make 20,000
calls of two of them in January: 8 invoices of $200.00 (two $100.00 lines), $1,600.00 in all;
each developer is owed 2 x $70.00 and paid $140.00 on February 15th.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib import jobs
from chalicelib.auth.principal import Principal
from chalicelib.billing.invoices import UsageInvoices
from chalicelib.core.clock import FixedClock
from chalicelib.payouts.service import transfer_group
from tests.functional.test_aggregation import count
from tests.integration.conftest import it_environ
from tests.integration.kill_driver import KillPoint, run_job
from tests.support import manifest

SEED = 16
KILLS = 20  # at least this many runs of each job end in a SIGKILL
MAX_RUNS = 60
N = 8  # developers, plugins and users
CALLS = 20_000  # per (user, plugin): $100.00
DOLLAR = 1_000_000  # µ$
MONTH, PERIOD = "2026-01", "2026-02-01"
CLOSE = datetime(2026, 2, 1, 2, 0, tzinfo=timezone.utc)
PAYDAY = datetime(2026, 2, 15, 0, 0, 30, tzinfo=timezone.utc)
CLAIM_GAP = timedelta(minutes=11)  # a killed transfer attempt holds its claim for 10 minutes
NEVER = KillPoint("never")


@pytest.fixture(scope="module")
def forkserver() -> Any:
    """Children forked from one server that imported the job code once."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.integration.kill_driver"])
    return ctx


class Runs:
    """Runs one job in a child process again and again, killing it, and keeps the log of what happened."""

    def __init__(self, ctx: Any, job: str, argument: str, environ: dict[str, str], standin: Any) -> None:
        self._ctx, self.job, self.argument, self.environ, self.standin = ctx, job, argument, environ, standin
        self.log: list[dict[str, Any]] = []

    def expire_keys(self) -> int:
        """Stripe forgets every idempotency key (a rerun more than 24 hours later)."""
        answer = self.standin.client.raw_request("post", "/v1/test_helpers/idempotency_keys/expire")
        return int(self.standin.client.deserialize(answer, api_mode="V1")["expired"])

    def run(self, now: datetime, point: KillPoint, *, expired: bool = False) -> dict[str, Any]:
        reader, writer = self._ctx.Pipe(duplex=False)
        child = self._ctx.Process(target=run_job, args=(self.job, self.argument, now.isoformat(), self.environ,
                                                        self.standin.url, self.standin.api_key, point, writer))
        started = time.monotonic()
        child.start()
        writer.close()
        if point.outside_s is not None:
            assert reader.poll(60), "the child never started"
            reader.recv()
            child.join(point.outside_s)  # the random point: wherever the job is by then
            if child.exitcode is None:
                os.kill(child.pid, signal.SIGKILL)
        child.join(120)
        assert child.exitcode is not None, f"{self.job} hung at {point.describe()}"
        messages = []
        while reader.poll():
            try:
                messages.append(reader.recv())
            except EOFError:
                break
        reader.close()
        row = {"job": self.job, "at": now.isoformat(), "point": point.describe(), "keys_expired": expired,
               "exitcode": child.exitcode, "seconds": round(time.monotonic() - started, 2),
               "killed": child.exitcode == -signal.SIGKILL,
               "where": next((m[1] for m in messages if m[0] == "killed"), None),
               "done": next((m[1] for m in messages if m[0] == "done"), None)}
        assert row["killed"] or child.exitcode == 0, row
        self.log.append(row)
        return row

    def kills(self) -> int:
        return sum(1 for row in self.log if row["killed"])

    def summary(self) -> str:
        return "\n".join(f"  {r['at']} {r['seconds']:5.2f}s {'killed' if r['killed'] else 'finished'}"
                         f"{' (keys expired first)' if r['keys_expired'] else ''}: {r['point']}"
                         f"{' -> ' + str(r['where']) if r['where'] else ''}" for r in self.log)


def random_point(rng: random.Random, transfers: bool, last_seconds: float) -> KillPoint:
    """Early points, so each run gets only a little further than the last; a third of them from
    outside at a random moment of a run as long as the last one (and at the latest at a Stripe point)."""
    most = 1 if transfers else 3
    roll = rng.random()
    if roll < 0.3:
        return KillPoint("after", "", rng.randint(1, most))
    if roll < 0.5:
        return KillPoint("before", "", rng.randint(1, most))
    if roll < 0.7:
        return KillPoint("after", "POST /v1/transfers" if transfers else "POST /v1/invoices", 1)
    return KillPoint("after", "", most, outside_s=rng.random() * last_seconds)


def kill_until(runs: Runs, rng: random.Random, first: list[KillPoint], start: datetime, gap: timedelta) -> datetime:
    """``first``'s points, then random ones until ``KILLS`` runs were killed; returns the next run's time."""
    now = start
    for n in range(MAX_RUNS):
        if runs.kills() >= KILLS:
            break
        point = first[n] if n < len(first) else random_point(rng, runs.job == "payouts", runs.log[-1]["seconds"])
        expired = n >= len(first) and rng.random() < 0.25
        if expired:
            runs.expire_keys()
        runs.run(now, point, expired=expired)
        now += gap
    assert runs.kills() >= KILLS, runs.summary()
    return now


def setup_month(c: Any, standin: Any) -> tuple[list[Principal], dict[str, str], list[Any]]:
    admin = Principal("usr_admin", "admin", "jwt")
    devs, accounts = [], {}
    for n in range(N):
        user = c.auth.create_user(email=f"kill-dev-{n}@example.com", password="correct horse battery",
                                  role="developer")
        dev = Principal(user.user_id, "developer", "jwt")
        name = f"killplug{n}"
        c.catalog.create_plugin(dev, manifest(name=name, pricing={"tier": "premium", "per_call_price": 0.005,
                                                                   "free_tier_calls": 0}))
        c.catalog.submit_version(dev, name, "1.0.0")
        c.catalog.approve_version(admin, name, "1.0.0")
        account = c.accounts.onboard(dev, {"return_url": "https://x.example/ok", "refresh_url": "https://x.example/r"})
        standin.onboard(account["stripe_account_id"])
        assert c.accounts.view(dev)["payouts_enabled"]
        c.accounts.submit_tax_form(dev, {"form": "W-9", "legal_name": f"Dev {n}", "country": "US",
                                         "tax_id": "123456789"})
        devs.append(dev)
        accounts[dev.user_id] = account["stripe_account_id"]
    customers = []
    for n in range(N):
        user = c.auth.create_user(email=f"kill-user-{n}@example.com", password="correct horse battery", role="user")
        customers.append(c.billing.set_payment_method(Principal(user.user_id, "user", "jwt"), "pm_card_visa"))
        for plugin in (n, (n + 1) % N):
            count(f"killplug{plugin}", user.user_id, f"{MONTH}-10T10", CALLS)
    c.aggregator.run([f"{MONTH}-10T10"])
    return devs, accounts, customers


def held(standin: Any) -> int:
    """The platform's balance at Stripe, available and pending (cents)."""
    balance = standin.client.v1.balance.retrieve()
    return sum(entry.amount for part in (balance.available, balance.pending) for entry in part
               if entry.currency == "usd")


def stripe_invoices_of(standin: Any, user_id: str) -> list[dict[str, Any]]:
    found = standin.client.v1.invoices.search(params={
        "query": f"metadata['mf_invoice']:'usage-{user_id}-{MONTH}'", "limit": 100})
    return [invoice.to_dict() for invoice in found.data]


def test_killing_the_invoices_and_payouts_jobs_anywhere_never_bills_or_pays_twice_nor_loses_a_cent(
        local_container, dynamodb_local, table_prefix, stripe_standin, stripe_payments, forkserver):
    c = local_container
    c.clock = FixedClock(datetime(2026, 1, 20, 12, 0, tzinfo=timezone.utc))
    c._payments = stripe_payments
    devs, accounts, _ = setup_month(c, stripe_standin)
    environ = {**it_environ(dynamodb_local.endpoint, table_prefix), "AWS_ACCESS_KEY_ID": "integration",
               "AWS_SECRET_ACCESS_KEY": "integration", "AWS_DEFAULT_REGION": "us-east-1"}
    rng = random.Random(SEED)
    standin_balance = held(stripe_standin)

    # --- the month close, killed again and again ---------------------------------------------------------
    close = Runs(forkserver, "invoices", MONTH, environ, stripe_standin)
    now = kill_until(close, rng, [KillPoint("after", "POST /v1/invoices", 3),  # the first card charged
                                  KillPoint("before", "POST /v1/invoiceitems", 2)], CLOSE, timedelta(minutes=5))
    assert close.run(now, NEVER)["done"] is not None  # within the window
    close.expire_keys()
    assert close.run(now + timedelta(days=1), NEVER, expired=True)["done"] is not None  # after it

    records = [rec for rec in (UsageInvoices.record(u, MONTH) for u in _user_ids(c)) if rec is not None]
    assert len(records) == N and {(r.status, int(r.amount_cents)) for r in records} == {("paid", 20_000)}
    for rec in records:
        made = stripe_invoices_of(stripe_standin, rec.user_id)
        assert len(made) == 1, (rec.user_id, [(i["id"], i["status"]) for i in made])  # one Stripe invoice each
        (invoice,) = made
        assert invoice["status"] == "paid" and invoice["amount_paid"] == 20_000
        lines = [(line["amount"], line["description"]) for line in invoice["lines"]["data"]]
        assert sorted(lines) == sorted((20_000 // 2, line["description"]) for line in rec.lines)  # no line twice
        charges = stripe_standin.client.v1.charges.list(params={"customer": invoice["customer"], "limit": 100})
        assert sum(ch.amount for ch in charges.data if ch.status == "succeeded") == 20_000  # charged once
    assert held(stripe_standin) - standin_balance == N * 20_000
    assert c.revenue.balance("stripe:cash") == N * 200 * DOLLAR
    assert all(c.revenue.owed(dev.user_id) == 140 * DOLLAR for dev in devs)
    assert -c.revenue.balance("platform:fees") == N * 60 * DOLLAR
    assert all(c.revenue.balance(f"accrued:killplug{n}") == 0 for n in range(N))
    assert jobs.ledger_check(c)["ok"]

    # --- the payout of February 1st-15th, killed again and again --------------------------------------------
    stripe_standin.fund(N * 14_000)  # card payments are pending for two days, as in Stripe's test mode
    pay = Runs(forkserver, "payouts", PERIOD, environ, stripe_standin)
    now = kill_until(pay, rng, [KillPoint("after", "POST /v1/transfers", 1),  # Stripe accepted a transfer
                                KillPoint("before", "POST /v1/transfers", 1)], PAYDAY, CLAIM_GAP)
    assert pay.run(now, NEVER)["done"] is not None  # within the window
    pay.expire_keys()
    assert pay.run(now + timedelta(days=2), NEVER, expired=True)["done"] is not None  # after it

    paid = 0
    for dev in devs:
        made = stripe_standin.transfers(destination=accounts[dev.user_id])
        assert [(t["amount"], t["transfer_group"]) for t in made] == [(14_000, transfer_group(dev.user_id, PERIOD))]
        paid += made[0]["amount"]
        assert c.revenue.owed(dev.user_id) == 0
        assert c.revenue.statement(dev.user_id)["paid_micros"] == 140 * DOLLAR
    assert paid * 10_000 == sum(c.revenue.statement(d.user_id)["credited_micros"] for d in devs)
    assert {(p["status"], p["amount_cents"]) for p in c.payouts.list_period(PERIOD)["payouts"]} == {("paid", 14_000)}
    check = jobs.ledger_check(c)
    assert check["ok"], check["failures"]
    print(f"\ninvoices: {len(close.log)} runs, {close.kills()} killed\n{close.summary()}"
          f"\npayouts: {len(pay.log)} runs, {pay.kills()} killed\n{pay.summary()}")


def _user_ids(c: Any) -> list[str]:
    page = c.auth.list_users(limit=200)
    return sorted(u["user_id"] for u in page["users"] if u.get("role") == "user")
