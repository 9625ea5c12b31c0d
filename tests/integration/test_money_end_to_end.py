"""The seed's worked example end to end on DynamoDB Local and the Stripe stand-in:
100 users x 5,000 metered calls of a premium plugin (1,000 free each) in Jan 1-15, two
aggregations racing over the same hours, then the payout run: $2,000 revenue, a $1,400
Connect transfer, $600 platform (plus the $500 "first 100 users" milestone bonus)."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from chalicelib import jobs
from chalicelib.auth.principal import Principal
from chalicelib.core.clock import FixedClock
from chalicelib.metering.records import PluginPeriodRecord
from tests.functional.test_aggregation import count
from tests.support import manifest


def test_the_worked_example_from_metered_calls_to_a_transfer(local_container, stripe_standin, stripe_payments):
    c = local_container
    c.clock = FixedClock(datetime(2026, 1, 9, 18, 0, tzinfo=timezone.utc))  # before any service is built
    c._payments = stripe_payments
    dev_user = c.auth.create_user(email="seed-dev@example.com", password="correct horse battery", role="developer")
    dev = Principal(dev_user.user_id, "developer", "jwt")
    admin = Principal("usr_admin", "admin", "jwt")
    c.catalog.create_plugin(dev, manifest(name="stripe", pricing={"tier": "premium", "per_call_price": 0.005,
                                                                  "free_tier_calls": 1000}))
    c.catalog.submit_version(dev, "stripe", "1.0.0")
    c.catalog.approve_version(admin, "stripe", "1.0.0")

    hours = ["2026-01-02T10", "2026-01-09T15"]
    for user in range(100):
        for hour in hours:
            count("stripe", f"usr_{user:03d}", hour, 2_500)
    racers = [threading.Thread(target=c.aggregator.run, args=(hours,)) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert c.aggregator.run(hours).applied == 0  # both racers together applied each counter once
    totals = PluginPeriodRecord.get(*PluginPeriodRecord.key("stripe", "2026-01-01"), consistent_read=True)
    assert (totals.calls, totals.billable, totals.paid_calls) == (500_000, 500_000, 400_000)
    assert totals.revenue_micros == 2_000 * 1_000_000

    stripe_standin.fund(200_000)
    account = c.accounts.onboard(dev, {"return_url": "https://x.example/ok", "refresh_url": "https://x.example/r"})
    stripe_standin.onboard(account["stripe_account_id"])
    assert c.accounts.view(dev)["payouts_enabled"]
    c.accounts.submit_tax_form(dev, {"form": "W-9", "legal_name": "Seed Dev", "country": "US", "tax_id": "123456789"})

    c.clock.moment = datetime(2026, 1, 15, 0, 0, 30, tzinfo=timezone.utc)
    report = jobs.payouts(c)
    assert report["totals"]["revenue_micros"] == 2_000 * 1_000_000
    assert report["totals"]["developer_micros"] == 1_400 * 1_000_000
    assert report["totals"]["platform_micros"] == 600 * 1_000_000
    # 100 distinct users also reach the "first 100 users" milestone: a $500 bonus on top, paid once
    assert [(c["kind"], c["amount_micros"]) for c in report["credits"]] == [("milestone", 500 * 1_000_000)]
    (payout,) = report["payouts"]
    assert (payout["status"], payout["amount_cents"]) == ("paid", 140_000 + 50_000)
    (transfer,) = stripe_standin.transfers(destination=account["stripe_account_id"])
    assert transfer["amount"] == 190_000 and transfer["currency"] == "usd"
