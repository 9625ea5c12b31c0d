"""Payouts end to end on moto + the Stripe stand-in: from metered calls, through invoices users pay,
to Connect transfers. A developer is paid only on money collected (the ledger's payable balance)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib import jobs
from chalicelib.payments.port import PaymentsError
from tests.functional.money.conftest import Developer
from tests.functional.test_aggregation import count
from tests.support import ECHO_PLUGIN, expect_error, get, post, put, sign_up


def at(clock, iso: str) -> None:
    clock.moment = datetime.fromisoformat(iso).replace(tzinfo=timezone.utc)


def owed(container, developer: str) -> int:
    return container.revenue.owed(developer)


def paying_user(client) -> tuple[str, str]:
    signed = sign_up(client)
    assert post(client, "/billing/payment-method", {"payment_method": "pm_card_visa"},
                signed["access_token"]).status_code == 200
    return signed["access_token"], signed["user"]["user_id"]


def collect(client, container, clock, developers, *, calls=100, month="2026-10", user=None):
    """A paying user makes ``calls`` live calls of each developer's plugin in ``month``; the month
    closes (invoiced, paid with the card): the developers' shares become payable."""
    _, user_id = user or paying_user(client)
    hour = f"{month}-05T10"
    for dev in developers:
        count(dev.plugin, user_id, hour, calls)
    jobs.hourly(container, [hour])
    year, number = int(month[:4]), int(month[5:])
    at(clock, f"{year + number // 12}-{number % 12 + 1:02d}-01T02:00:00")
    return jobs.invoices(container, month)


def test_metered_calls_become_a_connect_transfer_once_the_user_paid(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "echo", price="1.00", free=5)
    user = sign_up(client)["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]},
                user).status_code == 201
    live = post(client, "/keys", {"name": "live", "mode": "live"}, user).json_body["api_key"]
    test = post(client, "/keys", {"name": "test", "mode": "test"}, user).json_body["api_key"]
    call = lambda key: client.http.get("/plugins/echo/v1/echo", headers={"Authorization": f"Bearer {key}"})  # noqa: E731
    for _ in range(5):  # the free tier needs no card
        assert call(live).status_code == 200
    refused = call(live)  # the 6th would be billed: collect before you bill
    assert refused.status_code == 402 and refused.json_body["code"] == "payment_method_required"
    assert "/billing/setup" in refused.json_body["message"]
    assert refused.json_body["details"]["add_payment_method"] == "/billing/setup"
    assert post(client, "/billing/payment-method", {"payment_method": "pm_card_visa"}, user).status_code == 200
    for key, calls in ((live, 80), (test, 10)):
        for _ in range(calls):
            assert call(key).status_code == 200

    at(clock, "2026-11-10T13:05:00")
    assert jobs.hourly(container)["applied"] == 2
    earnings = dev.get("/developer/earnings")
    assert earnings["current_period"]["calls"] == 95
    assert earnings["current_period"]["revenue_micros"] == 80 * 1_000_000  # 85 live, 5 free, sandbox never
    assert earnings["projected_payout_cents"] == 5_600 and earnings["balance"]["available_micros"] == 0

    at(clock, "2026-11-15T00:00:30")
    nothing = jobs.payouts(container)  # rated is not collected: nothing to pay yet
    assert nothing["payouts"] == [] or all(p["amount_cents"] == 0 for p in nothing["payouts"])
    assert stripe_standin.transfers(destination=dev.account_id()) == []

    at(clock, "2026-12-01T02:00:00")
    (invoice,) = jobs.invoices(container)["invoices"]
    assert (invoice["status"], invoice["amount_cents"]) == ("paid", 8_000)
    assert owed(container, dev.id) == 56 * 1_000_000
    at(clock, "2026-12-14T09:00:00")
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-12-01"}, admin), 409, "period_not_closed")
    at(clock, "2026-12-15T00:00:30")
    report = jobs.payouts(container)
    assert report["totals"]["payout_cents"] == 5_600
    (payout,) = report["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == 5_600
    (transfer,) = stripe_standin.transfers(destination=dev.account_id())
    assert transfer["amount"] == 5_600 and transfer["id"] == payout["transfer_id"]
    assert transfer["transfer_group"] == f"payout-{dev.id}-2026-12-01"

    again = jobs.payouts(container)  # a second run of the same period: nothing new
    assert again["payouts"][0]["transfer_id"] == transfer["id"]
    assert len(stripe_standin.transfers(destination=dev.account_id())) == 1
    assert owed(container, dev.id) == 0
    topics = [n["topic"] for n in dev.get("/notifications")["notifications"]]
    assert "payout.paid" in topics
    assert jobs.ledger_check(container)["ok"]


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
    devs = [Developer(client, admin, stripe_standin, f"kill-{i}") for i in range(3)]
    collect(client, container, clock, devs)
    at(clock, "2026-11-15T00:00:30")
    container.payouts._payments = KilledAfter(stripe_payments, 2)
    with pytest.raises(SystemExit):
        jobs.payouts(container)
    container.payouts._payments = stripe_payments
    at(clock, "2026-11-15T00:20:00")  # after the killed run's claim lapsed
    jobs.payouts(container)
    for dev in devs:
        (transfer,) = stripe_standin.transfers(destination=dev.account_id())
        assert transfer["amount"] == 7_000  # 100 calls x $1 x 70 %
        assert owed(container, dev.id) == 0
    assert jobs.ledger_check(container)["ok"]


class Refusing:
    def __init__(self, inner, code="api_error", retryable=True):
        self.inner, self.code, self.retryable = inner, code, retryable

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def create_transfer(self, **kwargs):
        self.keys = [*getattr(self, "keys", []), kwargs["idempotency_key"]]
        raise PaymentsError("Stripe is having a bad day", code=self.code, retryable=self.retryable)


def test_a_stripe_error_keeps_the_balance_and_a_later_run_retries_with_a_new_key(client, container, clock, admin,
                                                                                  stripe_standin, stripe_payments):
    dev = Developer(client, admin, stripe_standin, "flaky")
    collect(client, container, clock, [dev])
    at(clock, "2026-11-15T00:00:30")
    refusing = Refusing(stripe_payments, "balance_insufficient", retryable=False)  # a 4xx: its key replays it
    container.payouts._payments = refusing
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "pending" and payout["attempts"] == 1 and "bad day" in payout["last_error"]
    assert owed(container, dev.id) == 70 * 1_000_000  # untouched, the amount only set aside
    assert stripe_standin.transfers(destination=dev.account_id()) == []

    container.payouts._payments = stripe_payments  # the cause is fixed
    at(clock, "2026-11-15T01:05:00")
    retried = jobs.hourly(container)["payouts_retried"]  # the next hour, not the next payout day
    assert [r["status"] for r in retried] == ["paid"] and retried[0]["attempts"] == 2
    (transfer,) = stripe_standin.transfers(destination=dev.account_id())
    assert refusing.keys == [f"payout-{dev.id}-2026-11-01-a1"]  # the retry used -a2: a new key
    assert owed(container, dev.id) == 0 and transfer["amount"] == 7_000


def test_held_without_a_tax_form_then_paid_once_it_is_filed(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "no-tax", ready=False)
    dev.onboard(stripe_standin)
    collect(client, container, clock, [dev])
    at(clock, "2026-11-15T00:00:30")
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "held" and "tax form" in payout["reason"]
    assert dev.get("/developer/account")["missing"] == ["tax_form"]
    assert any(n["topic"] == "payout.held" for n in dev.get("/notifications")["notifications"])

    dev.tax_form("W-8BEN", "DE")
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "paid" and payout["amount_cents"] == 7_000


def test_below_the_minimum_rolls_over_to_the_next_period(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "small")
    collect(client, container, clock, [dev], calls=40)  # $28 share
    at(clock, "2026-11-15T00:00:30")
    (payout,) = jobs.payouts(container)["payouts"]
    assert payout["status"] == "below_minimum" and payout["amount_cents"] == 2_800
    collect(client, container, clock, [dev], calls=40, month="2026-11")
    at(clock, "2026-12-15T00:00:30")
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
    collect(client, container, clock, [paypal, wire])
    at(clock, "2026-11-15T00:00:30")
    payouts = {p["developer_id"]: p for p in jobs.payouts(container)["payouts"]}
    assert payouts[wire.id]["status"] == "below_minimum" and "5,000" in payouts[wire.id]["reason"]
    manual = payouts[paypal.id]
    assert manual["status"] == "manual" and manual["instructions"]["details"] == {"email": "ada@example.com"}
    assert container.payouts.available(paypal.id) == 0  # set aside for the payout in flight

    path = f"/admin/payouts/{paypal.id}/2026-11-01/paid"
    paid = post(client, path, {"reference": "PAYPAL-7Y2"}, admin)
    assert paid.status_code == 200 and paid.json_body["status"] == "paid"
    expect_error(post(client, path, {"reference": "PAYPAL-7Y2"}, admin), 409, "payout_not_manual")
    assert owed(container, paypal.id) == 0
    listed = client.http.get("/admin/payouts?period=2026-11-01", headers={"Authorization": f"Bearer {admin}"})
    assert {p["status"] for p in listed.json_body["payouts"]} == {"paid", "below_minimum"}
    assert jobs.ledger_check(container)["ok"]


def test_milestone_bonuses_are_paid_once_and_referrals_pay_both_on_collected_money(client, container, clock, admin,
                                                                                    stripe_standin):
    stripe_standin.fund(100_000_000)  # bonuses are the platform's money, not collected from users
    referrer = Developer(client, admin, stripe_standin, "ref-a")
    newcomer = Developer(client, admin, stripe_standin, "ref-b")
    expect_error(post(client, "/developer/referral", {"code": newcomer.id}, newcomer.token), 400, "invalid_referral")
    assert post(client, "/developer/referral", {"code": referrer.id}, newcomer.token).status_code == 200
    expect_error(post(client, "/developer/referral", {"code": referrer.id}, newcomer.token), 409,
                 "referral_already_set")
    collect(client, container, clock, [newcomer])  # a paying user: $100 collected in October
    for user in range(100):  # 100 users of ref-b in November (invoiced in December: not paid here)
        count("ref-b", f"usr_{user}", "2026-11-03T10", 1)
    at(clock, "2026-11-15T00:00:30")
    jobs.hourly(container, ["2026-11-03T10"])
    report = jobs.payouts(container)
    credits = {(c["developer"], c["kind"]): c["amount_micros"] for c in report["credits"]}
    assert credits[(newcomer.id, "milestone")] == 500 * 1_000_000  # first 100 live users
    paid = {p["developer_id"]: (p["status"], p["amount_cents"]) for p in report["payouts"]}
    assert paid[newcomer.id] == ("paid", 7_000 + 50_000 + 500)  # share + milestone + 5 % referral of $100
    assert paid[referrer.id] == ("below_minimum", 500)  # the referrer's 5 %: $5 rolls over

    at(clock, "2026-12-01T00:00:30")
    assert not [c for c in jobs.payouts(container)["credits"] if c["kind"] == "milestone"]
    assert jobs.ledger_check(container)["ok"]


def test_a_dry_run_plans_without_paying_and_periods_are_validated(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "dry")
    collect(client, container, clock, [dev])
    plan = post(client, "/admin/payouts/run", {"period": "2026-11-01", "dry_run": True}, admin)
    assert plan.status_code == 200 and plan.json_body["payouts"][0]["status"] == "pay"
    assert owed(container, dev.id) == 70_000_000 and get(client, "/admin/payouts?period=2026-11-01",
                                                          admin).json_body["payouts"] == []
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-11-02"}, admin), 400, "validation_failed")
    expect_error(post(client, "/admin/payouts/run", {"period": "2026-11-01"}, dev.token), 403, "insufficient_role")


def test_1099_summary_for_us_developers(client, container, clock, admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "tax")
    collect(client, container, clock, [dev], calls=3_000)  # $2,100 share
    at(clock, "2026-11-15T00:00:30")
    jobs.payouts(container)
    form = dev.get("/developer/tax/1099?year=2026")
    assert form["form"] == "1099-NEC" and form["total_paid_cents"] == 210_000 and form["required"] is True
    forms = client.http.get("/admin/tax/1099?year=2026", headers={"Authorization": f"Bearer {admin}"}).json_body
    assert [f["developer_id"] for f in forms["forms"]] == [dev.id]
