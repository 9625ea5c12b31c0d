"""The seed's worked example end to end on DynamoDB Local and the Stripe stand-in, through the real hourly
aggregation, month close and payout code: a plugin at $0.005 a call with 100,000 free calls (10 users x the
plugin's 10,000 free calls each) used 500,000 times in January -> $2,000.00 of revenue invoiced and paid,
$1,400.00 to the developer (a Connect transfer), $600.00 to the platform. Then $100 of it is refunded and
the developer's next payout (February's identical usage) is exactly $70.00 lower: $1,330.00."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from chalicelib import jobs
from chalicelib.auth.principal import Principal
from chalicelib.core.clock import FixedClock
from chalicelib.metering.records import PluginPeriodRecord
from tests.functional.test_aggregation import count
from tests.support import manifest

DOLLAR = 1_000_000  # µ$
USERS, CALLS_PER_USER, FREE = 10, 50_000, 10_000


def month_of_calls(c, users, month):
    """500,000 metered calls in bulk (the hour counters the gateway's ADDs leave), in both payout halves,
    then two aggregations racing over the same hours."""
    hours = [f"{month}-05T10", f"{month}-20T15"]
    for user in users:
        for hour in hours:
            count("seedplugin", user, hour, CALLS_PER_USER // 2)
    racers = [threading.Thread(target=c.aggregator.run, args=(hours,)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert c.aggregator.run(hours).applied == 0  # both racers together applied each counter once


def test_the_worked_example_from_metered_calls_to_a_transfer_and_a_refund(local_container, stripe_standin,
                                                                          stripe_payments):
    c = local_container
    c.clock = FixedClock(datetime(2026, 1, 21, 18, 0, tzinfo=timezone.utc))  # before any service is built
    c._payments = stripe_payments
    dev_user = c.auth.create_user(email="seed-dev@example.com", password="correct horse battery", role="developer")
    dev = Principal(dev_user.user_id, "developer", "jwt")
    admin = Principal("usr_admin", "admin", "jwt")
    c.catalog.create_plugin(dev, manifest(name="seedplugin", pricing={"tier": "premium", "per_call_price": 0.005,
                                                                      "free_tier_calls": FREE}))
    c.catalog.submit_version(dev, "seedplugin", "1.0.0")
    c.catalog.approve_version(admin, "seedplugin", "1.0.0")
    users = []
    for n in range(USERS):
        user = c.auth.create_user(email=f"seed-user-{n}@example.com", password="correct horse battery", role="user")
        c.billing.set_payment_method(Principal(user.user_id, "user", "jwt"), "pm_card_visa")
        users.append(user.user_id)
    account = c.accounts.onboard(dev, {"return_url": "https://x.example/ok", "refresh_url": "https://x.example/r"})
    stripe_standin.onboard(account["stripe_account_id"])
    assert c.accounts.view(dev)["payouts_enabled"]
    c.accounts.submit_tax_form(dev, {"form": "W-9", "legal_name": "Seed Dev", "country": "US", "tax_id": "123456789"})

    # January: rated by the hourly aggregation (into the ledger as it goes)
    month_of_calls(c, users, "2026-01")
    halves = [PluginPeriodRecord.get(*PluginPeriodRecord.key("seedplugin", p), consistent_read=True)
              for p in ("2026-01-01", "2026-01-15")]
    assert sum(h.calls for h in halves) == 500_000 and sum(h.paid_calls for h in halves) == 400_000
    assert sum(h.revenue_micros for h in halves) == 2_000 * DOLLAR
    assert c.revenue.balance("accrued:seedplugin") == -2_000 * DOLLAR  # rated, not yet invoiced

    # February 1st: the month close invoices it; the cards pay; the shares become payable
    c.clock.moment = datetime(2026, 2, 1, 2, 0, tzinfo=timezone.utc)
    closed = jobs.invoices(c)
    assert len(closed["invoices"]) == USERS and closed["totals"]["amount_cents"] == 200_000
    assert {(i["status"], i["amount_cents"]) for i in closed["invoices"]} == {("paid", 20_000)}
    assert c.revenue.balance("stripe:cash") == 2_000 * DOLLAR
    assert c.revenue.owed(dev.user_id) == 1_400 * DOLLAR
    assert -c.revenue.balance("platform:fees") == 600 * DOLLAR
    assert c.revenue.balance("accrued:seedplugin") == 0 and all(c.revenue.unbilled(u) == 0 for u in users)

    # February 15th: the payout of the period that closed pays it: one $1,400.00 transfer
    c.clock.moment = datetime(2026, 2, 15, 0, 0, 30, tzinfo=timezone.utc)
    stripe_standin.fund(140_000)  # the cards' money is pending for two days in Stripe (the stand-in's clock)
    report = jobs.payouts(c)
    (payout,) = report["payouts"]
    assert (payout["status"], payout["amount_cents"]) == ("paid", 140_000)
    (transfer,) = stripe_standin.transfers(destination=account["stripe_account_id"])
    assert transfer["amount"] == 140_000 and transfer["transfer_group"] == f"payout-{dev.user_id}-2026-02-01"

    # February 20th: an admin refunds $100 of one user's invoice: 70 % of it comes back from the developer
    c.clock.moment = datetime(2026, 2, 20, 12, 0, tzinfo=timezone.utc)
    invoice = closed["invoices"][0]
    refund = c.billing.refund(admin, invoice["stripe_invoice_id"], 10_000, "seed example: a partial refund")
    assert refund["amount_cents"] == 10_000
    assert c.revenue.owed(dev.user_id) == -70 * DOLLAR  # paid out already: carried into the next payout
    assert -c.revenue.balance("platform:fees") == 570 * DOLLAR

    # February's identical usage, closed on March 1st, paid out on March 15th: $1,400.00 - $70.00
    month_of_calls(c, users, "2026-02")
    c.clock.moment = datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc)
    assert jobs.invoices(c)["totals"]["amount_cents"] == 200_000
    c.clock.moment = datetime(2026, 3, 15, 0, 0, 30, tzinfo=timezone.utc)
    stripe_standin.fund(133_000)
    (second,) = jobs.payouts(c)["payouts"]
    assert (second["status"], second["amount_cents"]) == ("paid", 133_000)
    assert [t["amount"] for t in stripe_standin.transfers(destination=account["stripe_account_id"])] == [
        133_000, 140_000]
    statement = c.revenue.statement(dev.user_id)
    assert statement == {"credited_micros": 2_800 * DOLLAR, "reversed_micros": 70 * DOLLAR,
                         "paid_micros": 2_730 * DOLLAR, "clawed_back_micros": 0, "bonus_micros": 0,
                         "owed_micros": 0, "pending_micros": 0}
    check = jobs.ledger_check(c)
    assert check["ok"], check["failures"]
