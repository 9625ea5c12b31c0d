"""Payouts end to end on moto + the Stripe stand-in: from metered calls to Connect transfers."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib import jobs
from chalicelib.payments.port import PaymentsError
from chalicelib.payouts.records import BalanceRecord
from chalicelib.payouts.repository import PayoutRepository
from tests.functional.money.conftest import Developer
from tests.functional.test_aggregation import count
from tests.support import ECHO_PLUGIN, expect_error, post, put, sign_up


def at(clock, iso: str) -> None:
    clock.moment = datetime.fromisoformat(iso).replace(tzinfo=timezone.utc)


def balance(developer: str) -> BalanceRecord:
    return PayoutRepository.balance(developer)


def test_metered_calls_become_a_connect_transfer(client, container, clock, admin, stripe_standin):
    stripe_standin.fund(1_000_000)
    dev = Developer(client, admin, stripe_standin, "echo", price="1.00", free=5)
    user = sign_up(client)["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]},
                user).status_code == 201
    live = post(client, "/keys", {"name": "live", "mode": "live"}, user).json_body["api_key"]
    test = post(client, "/keys", {"name": "test", "mode": "test"}, user).json_body["api_key"]
    for key, calls in ((live, 85), (test, 10)):
        for _ in range(calls):
            assert client.http.get("/plugins/echo/v1/echo",
                                   headers={"Authorization": f"Bearer {key}"}).status_code == 200

    at(clock, "2026-11-10T13:05:00")
    assert jobs.hourly(container)["applied"] == 2
    earnings = dev.get("/developer/earnings")
    assert earnings["current_period"]["calls"] == 95
    assert earnings["current_period"]["revenue_micros"] == 80 * 1_000_000  # 85 live, 5 free, sandbox never
    assert earnings["projected_payout_cents"] == 5_600 and earnings["next_payout_date"] == "2026-11-15"

    at(clock, "2026-11-14T09:00:00")
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-11-01"}, admin), 409, "period_not_closed")
    at(clock, "2026-11-15T00:00:30")
    report = jobs.payouts(container)
    assert report["totals"] == {"revenue_micros": 80_000_000, "developer_micros": 56_000_000,
                                "platform_micros": 24_000_000, "credits_micros": 0, "payout_cents": 5_600}
    (payout,) = report["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == 5_600
    (transfer,) = stripe_standin.transfers(destination=dev.account_id())
    assert transfer["amount"] == 5_600 and transfer["id"] == payout["transfer_id"]

    again = jobs.payouts(container)  # a second run of the same period: nothing new
    assert again["settlements"] == [] and again["payouts"][0]["transfer_id"] == transfer["id"]
    assert len(stripe_standin.transfers(destination=dev.account_id())) == 1
    assert balance(dev.id).balance_micros == 0 and balance(dev.id).paid_cents == 5_600
    topics = [n["topic"] for n in dev.get("/notifications")["notifications"]]
    assert "payout.paid" in topics


def seed_revenue(developers, hour="2026-11-03T10", calls=100):
    for dev in developers:
        count(dev.plugin, f"usr_{dev.plugin}", hour, calls)


class KilledAfter:
    """The payments port, dying (like a killed Lambda) right after the n-th transfer went through."""

    def __init__(self, inner, n):
        self.inner, self.n, self.made = inner, n, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_transfer(self, **kwargs):
        transfer = self.inner.create_transfer(**kwargs)
        self.made += 1
        if self.made == self.n:
            raise SystemExit("killed")
        return transfer


def test_a_run_killed_after_some_transfers_and_rerun_pays_nobody_twice(client, container, clock, admin,
                                                                       stripe_standin, stripe_payments):
    stripe_standin.fund(10_000_000)
    devs = [Developer(client, admin, stripe_standin, f"kill-{i}") for i in range(3)]
    seed_revenue(devs)
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    container.payouts._payments = KilledAfter(stripe_payments, 2)
    with pytest.raises(SystemExit):
        jobs.payouts(container)
    container.payouts._payments = stripe_payments
    jobs.payouts(container)

    for dev in devs:
        (transfer,) = stripe_standin.transfers(destination=dev.account_id())
        assert transfer["amount"] == 7_000  # 100 calls x $1 x 70 %
        assert balance(dev.id).balance_micros == 0 and balance(dev.id).reserved_micros == 0
        assert balance(dev.id).paid_cents == 7_000


class Refusing:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_transfer(self, **kwargs):
        raise PaymentsError("Stripe is having a bad day", code="api_error")


def test_a_stripe_error_keeps_the_balance_and_the_next_run_retries(client, container, clock, admin,
                                                                   stripe_standin, stripe_payments):
    stripe_standin.fund(10_000_000)
    dev = Developer(client, admin, stripe_standin, "flaky")
    seed_revenue([dev])
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    container.payouts._payments = Refusing(stripe_payments)
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "pending" and payout["attempts"] == 1 and "bad day" in payout["last_error"]
    assert balance(dev.id).balance_micros == 70 * 1_000_000  # untouched, the amount only reserved
    assert stripe_standin.transfers(destination=dev.account_id()) == []

    container.payouts._payments = stripe_payments
    at(clock, "2026-12-01T00:00:30")
    report = jobs.payouts(container)
    assert [r["status"] for r in report["retried"]] == ["paid"]
    assert len(stripe_standin.transfers(destination=dev.account_id())) == 1
    assert balance(dev.id).balance_micros == 0


def test_held_without_a_tax_form_then_paid_once_it_is_filed(client, container, clock, admin, stripe_standin):
    stripe_standin.fund(10_000_000)
    dev = Developer(client, admin, stripe_standin, "no-tax", ready=False)
    dev.onboard(stripe_standin)
    seed_revenue([dev])
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "held" and "tax form" in payout["reason"]
    assert dev.get("/developer/account")["missing"] == ["tax_form"]
    assert any(n["topic"] == "payout.held" for n in dev.get("/notifications")["notifications"])

    dev.tax_form("W-8BEN", "DE")
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == 7_000


def test_below_the_minimum_rolls_over_to_the_next_period(client, container, clock, admin, stripe_standin):
    stripe_standin.fund(10_000_000)
    dev = Developer(client, admin, stripe_standin, "small")
    seed_revenue([dev], calls=40)  # $28 share
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "below_minimum" and payout["amount_cents"] == 2_800
    seed_revenue([dev], hour="2026-11-20T10", calls=40)
    at(clock, "2026-12-01T00:00:30")
    jobs.hourly(container, ["2026-11-20T10"])
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == 5_600


def test_manual_rails_give_instructions_an_admin_marks_paid(client, container, clock, admin, stripe_standin):
    paypal = Developer(client, admin, stripe_standin, "pp", ready=False)
    paypal.tax_form()
    wire = Developer(client, admin, stripe_standin, "wire", ready=False)
    wire.tax_form()
    bad = put(client, "/developer/payout-method", {"rail": "usdc", "details": {"address": "0x12"}}, paypal.token)
    expect_error(bad, 400, "validation_failed")
    assert put(client, "/developer/payout-method", {"rail": "paypal", "details": {"email": "ada@example.com"}},
               paypal.token).status_code == 200
    assert put(client, "/developer/payout-method", {"rail": "wire", "details": {
        "account_name": "Ada Dev", "bank_name": "Bank", "account_number": "DE89370400440532013000",
        "swift": "COBADEFFXXX"}}, wire.token).status_code == 200
    seed_revenue([paypal, wire])
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    payouts = {p["developer_id"]: p for p in jobs.payouts(container)["payouts"]}
    assert payouts[wire.id]["status"] == "below_minimum" and "5,000" in payouts[wire.id]["reason"]
    manual = payouts[paypal.id]
    assert manual["status"] == "manual" and manual["instructions"]["details"] == {"email": "ada@example.com"}
    assert balance(paypal.id).reserved_micros == 70_000_000

    path = f"/admin/payouts/{paypal.id}/2026-11-01/paid"
    paid = post(client, path, {"reference": "PAYPAL-7Y2"}, admin)
    assert paid.status_code == 200 and paid.json_body["status"] == "paid"
    expect_error(post(client, path, {"reference": "PAYPAL-7Y2"}, admin), 409, "payout_not_manual")
    assert balance(paypal.id).balance_micros == 0
    listed = client.http.get("/admin/payouts?period=2026-11-01", headers={"Authorization": f"Bearer {admin}"})
    assert {p["status"] for p in listed.json_body["payouts"]} == {"paid", "below_minimum"}


def test_milestone_bonuses_are_paid_once_and_referrals_pay_both(client, container, clock, admin, stripe_standin):
    stripe_standin.fund(100_000_000)
    referrer = Developer(client, admin, stripe_standin, "ref-a")
    newcomer = Developer(client, admin, stripe_standin, "ref-b")
    expect_error(post(client, "/developer/referral", {"code": newcomer.id}, newcomer.token), 400, "invalid_referral")
    assert post(client, "/developer/referral", {"code": referrer.id}, newcomer.token).status_code == 200
    expect_error(post(client, "/developer/referral", {"code": referrer.id}, newcomer.token), 409,
                 "referral_already_set")
    for user in range(100):  # 100 users of ref-b
        count("ref-b", f"usr_{user}", "2026-11-03T10", 1)
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    report = jobs.payouts(container)
    credits = {(c["developer"], c["kind"]): c["amount_micros"] for c in report["credits"]}
    assert credits[(newcomer.id, "milestone")] == 500 * 1_000_000  # first 100 users
    assert credits[(newcomer.id, "referral")] == credits[(referrer.id, "referral")] == 5_000_000  # 5 % of $100
    paid = {p["developer_id"]: (p["status"], p["amount_cents"]) for p in report["payouts"]}
    assert paid[newcomer.id] == ("paid", 7_000 + 50_000 + 500)
    assert paid[referrer.id] == ("below_minimum", 500)  # $5 rolls over

    count("ref-b", "usr_late", "2026-11-16T10", 100)
    at(clock, "2026-12-01T00:00:30")
    jobs.hourly(container, ["2026-11-16T10"])
    assert not [c for c in jobs.payouts(container)["credits"] if c["kind"] == "milestone"]


def test_a_dry_run_plans_without_paying_and_periods_are_validated(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "dry")
    seed_revenue([dev])
    jobs.hourly(container, ["2026-11-03T10"])
    plan = post(client, "/admin/payouts/run", {"period": "2026-11-01", "dry_run": True}, admin)
    assert plan.status_code == 200 and plan.json_body["payouts"][0]["status"] == "pay"
    assert balance(dev.id).balance_micros == 0  # nothing settled
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-11-02"}, admin), 400, "validation_failed")
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-11-01"}, dev.token), 403, "insufficient_role")


def test_1099_summary_for_us_developers(client, container, clock, admin, stripe_standin):
    stripe_standin.fund(10_000_000)
    dev = Developer(client, admin, stripe_standin, "tax")
    seed_revenue([dev], calls=3_000)  # $2,100 share
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    jobs.payouts(container)
    form = dev.get("/developer/tax/1099?year=2026")
    assert form["form"] == "1099-NEC" and form["total_paid_cents"] == 210_000 and form["required"] is True
    forms = client.http.get("/admin/tax/1099?year=2026", headers={"Authorization": f"Bearer {admin}"}).json_body
    assert [f["developer_id"] for f in forms["forms"]] == [dev.id]
