"""Collect before you bill, on moto + the Stripe stand-in: a card past the free tier, a spending cap,
dunning of failed usage invoices (402 payment_overdue after the grace), sandbox limits, the month
close (never an open month, a dry run, late usage on the next invoice), refunds and disputes reversing
developers' shares, and the ledger an admin can trace."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib import jobs
from tests.functional.money.conftest import Developer
from tests.functional.money.test_billing import deliver_new_events
from tests.functional.money.test_payouts import at
from tests.functional.test_aggregation import count
from tests.support import ECHO_PLUGIN, expect_error, get, post, put, sign_up


def installed_user(client, plugin, card=None):
    signed = sign_up(client)
    token = signed["access_token"]
    assert post(client, "/plugins/install", {"plugin": plugin, "accept_permissions": ECHO_PLUGIN["permissions"]},
                token).status_code == 201
    if card:
        assert post(client, "/billing/payment-method", {"payment_method": card}, token).status_code == 200
    live = post(client, "/keys", {"name": "live", "mode": "live"}, token).json_body["api_key"]
    return token, signed["user"]["user_id"], live


def call(client, plugin, key):
    return client.http.get(f"/plugins/{plugin}/v1/echo", headers={"Authorization": f"Bearer {key}"})


def test_a_spending_cap_stops_paid_calls_at_the_cap(client, container, admin, stripe_standin):
    Developer(client, admin, stripe_standin, "echo", price="0.25", free=2, ready=False)
    token, _, live = installed_user(client, "echo", card="pm_card_visa")
    expect_error(put(client, "/billing/spending-cap", {"cap_cents": 5}, token), 400, "validation_failed")
    assert put(client, "/billing/spending-cap", {"cap_cents": 100}, token).json_body == {"spending_cap_cents": 100}
    statuses = [call(client, "echo", live).status_code for _ in range(8)]
    assert statuses == [200] * 6 + [402, 402]  # 2 free, then 4 x $0.25 = the $1.00 cap
    refused = call(client, "echo", live).json_body
    assert refused["code"] == "spending_cap_reached" and "/billing/spending-cap" in refused["message"]
    assert put(client, "/billing/spending-cap", {"cap_cents": None}, token).status_code == 200
    assert call(client, "echo", live).status_code == 200
    assert get(client, "/billing", token).json_body["customer"]["spending_cap_cents"] is None


def test_a_failed_usage_invoice_is_dunned_then_live_calls_stop_until_it_is_paid(client, container, clock, admin,
                                                                                stripe_standin):
    dev = Developer(client, admin, stripe_standin, "echo", price="1.00", free=0)
    token, user_id, live = installed_user(client, "echo", card="pm_card_chargeDeclined")
    seen = {e["id"] for e in stripe_standin.events()}
    count("echo", user_id, "2026-10-05T10", 30)
    jobs.hourly(container, ["2026-10-05T10"])
    at(clock, "2026-11-01T02:00:00")
    (invoice,) = jobs.invoices(container)["invoices"]
    assert invoice["amount_cents"] == 3_000 and invoice["status"] == "failed"
    assert invoice["pay_url"].startswith("https://invoice.stripe.com/")
    deliver_new_events(client, stripe_standin, seen)  # invoice.payment_failed: the same state, once
    notes = {n["topic"]: n for n in get(client, "/notifications", token).json_body["notifications"]}
    assert "billing.payment_failed" in notes and invoice["pay_url"] in notes["billing.payment_failed"]["message"]
    assert container.revenue.pending(dev.id) == 21 * 1_000_000  # invoiced: not payable until paid
    assert container.revenue.owed(dev.id) == 0
    billing = get(client, "/billing", token).json_body
    assert billing["customer"]["overdue"] is False and billing["customer"]["unpaid_invoices"] == [invoice["invoice_id"]]
    assert call(client, "echo", live).status_code == 200  # within the grace

    at(clock, "2026-11-02T03:05:00")  # day 1: a retry (declined again)
    (dunning,) = jobs.hourly(container)["dunning"]
    assert dunning["retried"] == "open" and not dunning.get("overdue")
    at(clock, "2026-11-08T03:05:00")  # after the 7-day grace: live calls stop
    (dunning,) = jobs.hourly(container)["dunning"]
    assert dunning["overdue"] is True and dunning["retries"] == 3  # days 3 and 5 are due: one more try
    container.entitlements.forget_user(user_id)  # another container sees it within its cache TTL
    refused = call(client, "echo", live)
    assert refused.status_code == 402 and refused.json_body["code"] == "payment_overdue"
    assert refused.json_body["details"]["pay_url"] is None or "stripe" in refused.json_body["details"]["pay_url"]
    expect_error(post(client, "/billing/invoices/2026-13/pay", None, token), 400, "validation_failed")
    expect_error(post(client, "/billing/invoices/2026-09/pay", None, token), 404, "invoice_not_found")
    expect_error(post(client, "/billing/invoices/2026-10/pay", None, token), 402, "card_declined")

    assert post(client, "/billing/payment-method", {"payment_method": "pm_card_visa"}, token).status_code == 200
    paid = post(client, "/billing/invoices/2026-10/pay", None, token)
    assert paid.status_code == 200 and paid.json_body["status"] == "paid"
    assert call(client, "echo", live).status_code == 200
    assert container.revenue.owed(dev.id) == 21 * 1_000_000 and container.revenue.pending(dev.id) == 0
    expect_error(post(client, "/billing/invoices/2026-10/pay", None, token), 409, "invoice_already_paid")
    deliver_new_events(client, stripe_standin, seen)  # invoice.paid again: nothing counted twice
    assert container.revenue.owed(dev.id) == 21 * 1_000_000
    assert jobs.ledger_check(container)["ok"]


@pytest.fixture
def settings(settings):
    from dataclasses import replace as _replace

    return _replace(settings, sandbox_rate_limit="3/60", sandbox_monthly_calls=5)


def test_sandbox_keys_have_limits_like_stripe_test_mode(client, container, admin, stripe_standin):
    Developer(client, admin, stripe_standin, "echo", ready=False)
    token, _, _ = installed_user(client, "echo")
    first = post(client, "/keys", {"name": "t1", "mode": "test"}, token).json_body["api_key"]
    second = post(client, "/keys", {"name": "t2", "mode": "test"}, token).json_body["api_key"]
    assert [call(client, "echo", first).status_code for _ in range(4)] == [200, 200, 200, 429]
    rate = call(client, "echo", first)
    assert rate.json_body["code"] == "sandbox_limit" and "go live" in rate.json_body["message"]
    assert rate.json_body["details"]["scope"] == "key" and int(rate.headers["Retry-After"]) >= 1
    answers = [call(client, "echo", second) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]  # 5 a month per (user, plugin), all keys
    month = answers[-1].json_body
    assert month["code"] == "sandbox_limit" and month["details"]["scope"] == "month"
    assert month["details"]["limit"] == 5 and "POST /keys" in month["message"]


def test_the_month_close_refuses_an_open_month_dry_runs_and_bills_late_usage_on_the_next_invoice(
        client, container, clock, admin, stripe_standin, capsys):
    dev = Developer(client, admin, stripe_standin, "closing", price="0.01", free=0)
    token, user_id, _ = installed_user(client, "closing", card="pm_card_visa")
    count("closing", user_id, "2026-11-03T10", 10_000)  # $100
    at(clock, "2026-11-30T23:30:00")
    jobs.hourly(container, ["2026-11-03T10"])
    with pytest.raises(Exception) as open_month:
        jobs.invoices(container, "2026-11")
    assert getattr(open_month.value, "code", "") == "month_not_closed"
    assert jobs.main(["invoices", "--month", "2026-11"]) == 1
    assert "month_not_closed" in capsys.readouterr().err

    at(clock, "2026-12-01T02:00:00")
    dry = jobs.invoices(container, "2026-11", dry_run=True)
    assert dry["dry_run"] and dry["invoices"][0]["amount_cents"] == 10_000
    assert get(client, "/billing", token).json_body["invoices"] == []  # nothing changed
    assert jobs.main(["invoices", "--month", "2026-11", "--dry-run"]) == 0
    summary = capsys.readouterr().out
    assert "Usage invoices for 2026-11" in summary and "DRY RUN" in summary and "$100.00" in summary

    count("closing", user_id, "2026-11-30T23", 500)  # written during the last hour: the close re-reads it
    (november,) = jobs.invoices(container, "2026-11")["invoices"]
    assert (november["status"], november["amount_cents"]) == ("paid", 10_500)
    count("closing", user_id, "2026-11-30T23", 1_000)  # reaches the closed month after its invoice
    jobs.hourly(container, ["2026-11-30T23"])
    assert jobs.invoices(container, "2026-11")["invoices"] == []  # never billed twice, never dropped:
    count("closing", user_id, "2026-12-09T10", 2_000)
    jobs.hourly(container, ["2026-12-09T10"])
    at(clock, "2027-01-01T02:00:00")
    (december,) = jobs.invoices(container, "2026-12")["invoices"]
    assert december["amount_cents"] == 3_000
    assert [(l["month"], l["late"], l["amount_cents"]) for l in december["lines"]] == [
        ("2026-11", True, 1_000), ("2026-12", False, 2_000)]  # the late calls: a line of their own
    stripe_lines = stripe_standin.invoices(get(client, "/billing", token).json_body["customer"]["stripe_customer_id"])
    assert sorted(i["amount_paid"] for i in stripe_lines) == [3_000, 10_500]
    assert container.revenue.owed(dev.id) == (10_500 + 3_000) * 10_000 * 7_000 // 10_000
    assert container.revenue.unbilled(user_id) == 0
    assert jobs.ledger_check(container)["ok"]


def test_an_admin_refund_and_a_lost_dispute_take_back_the_developers_share(client, container, clock, admin,
                                                                            stripe_standin):
    stripe_standin.fund(1_000_000)
    dev = Developer(client, admin, stripe_standin, "refunded", price="1.00", free=0)
    token, user_id, _ = installed_user(client, "refunded", card="pm_card_visa")
    count("refunded", user_id, "2026-10-05T10", 200)  # $200
    jobs.hourly(container, ["2026-10-05T10"])
    at(clock, "2026-11-01T02:00:00")
    (invoice,) = jobs.invoices(container)["invoices"]
    assert container.revenue.owed(dev.id) == 140 * 1_000_000
    seen = {e["id"] for e in stripe_standin.events()}

    path = f"/admin/billing/invoices/{invoice['stripe_invoice_id']}/refund"
    expect_error(post(client, path, {"amount_cents": 50}, admin), 400, "validation_failed")  # a reason is required
    expect_error(post(client, path, {"amount_cents": 50, "reason": "x"}, token), 403, "insufficient_role")
    expect_error(post(client, "/admin/billing/invoices/in_nope/refund", {"reason": "goodwill"}, admin), 404,
                 "invoice_not_found")
    expect_error(post(client, path, {"amount_cents": 30_000, "reason": "goodwill"}, admin), 400, "refund_too_large")
    refund = post(client, path, {"amount_cents": 5_000, "reason": "outage on Oct 5"}, admin)
    assert refund.status_code == 200, refund.body
    assert refund.json_body["amount_cents"] == 5_000 and refund.json_body["refunded_total_cents"] == 5_000
    assert container.revenue.owed(dev.id) == 105 * 1_000_000  # 70 % of $150 left
    deliver_new_events(client, stripe_standin, seen)  # charge.refunded: the same refund, not a second one
    assert container.revenue.owed(dev.id) == 105 * 1_000_000
    audit = get(client, "/admin/audit?limit=10", admin).json_body
    assert any("refund" in (row.get("action") or "") and row.get("reason") == "outage on Oct 5"
               for row in audit.get("entries", audit.get("items", [])))
    assert get(client, f"/admin/billing/users/{user_id}", admin).json_body["invoices"][0]["refunded_cents"] == 5_000

    # The payout pays what is left; then a lost dispute of $100 makes the balance negative: carried.
    at(clock, "2026-11-15T00:00:30")
    (payout,) = jobs.payouts(container)["payouts"]
    assert (payout["status"], payout["amount_cents"]) == ("paid", 10_500)
    intent = stripe_standin.client.v1.invoices.retrieve(invoice["stripe_invoice_id"]).to_dict()["payment_intent"]
    charge = stripe_standin.client.v1.payment_intents.retrieve(intent).latest_charge
    dispute = stripe_standin._post(f"/v1/test_helpers/charges/{charge}/dispute", amount=10_000)
    stripe_standin.client.v1.disputes.close(dispute["id"])
    deliver_new_events(client, stripe_standin, seen)
    assert container.revenue.owed(dev.id) == -70 * 1_000_000  # nets against the next earnings
    assert container.revenue.balance("platform:fees") >= 0
    fee = container.revenue.journal(f"dispute:{dispute['id']}:fee")
    assert fee is not None and fee.amount("platform:fees") == 1_500 * 10_000
    at(clock, "2026-12-01T00:00:30")
    (carried,) = jobs.payouts(container)["payouts"]
    assert carried["status"] == "below_minimum" and carried["amount_cents"] == -7_000
    report = jobs.ledger_check(container)
    assert report["ok"], report["failures"]


def test_the_ledger_traces_every_cent_and_the_check_says_which_invariant_fails(client, container, clock, admin,
                                                                              stripe_standin):
    dev = Developer(client, admin, stripe_standin, "traced", price="1.00", free=0)
    token, user_id, _ = installed_user(client, "traced", card="pm_card_visa")
    count("traced", user_id, "2026-10-05T10", 100)
    at(clock, "2026-10-05T11:05:00")
    jobs.hourly(container, ["2026-10-05T10"])
    at(clock, "2026-11-01T02:00:00")
    jobs.invoices(container)
    trail = get(client, f"/admin/ledger/accounts/dev:{dev.id}:payable", admin).json_body
    assert trail["balance_micros"] == -70 * 1_000_000 and [e["kind"] for e in trail["entries"]] == ["collected_share"]
    journal_id = trail["entries"][0]["journal_id"]
    journal = get(client, f"/admin/ledger/journals/{journal_id}", admin).json_body
    assert sum(p["amount_micros"] for p in journal["postings"]) == 0
    rated = get(client, f"/admin/ledger/accounts/user:{user_id}:unbilled", admin).json_body
    assert [e["kind"] for e in rated["entries"]] == ["rating", "invoice_line"] and rated["balance_micros"] == 0
    first = get(client, f"/admin/ledger/journals/{rated['entries'][0]['journal_id']}", admin).json_body
    assert first["refs"] == {"plugin": "traced", "user": user_id, "month": "2026-10", "from": 0, "to": 100_000_000}
    expect_error(get(client, "/admin/ledger/accounts/nonsense", admin), 400, "invalid_account")
    expect_error(get(client, "/admin/ledger/journals/payout:nobody:2026-11-01", admin), 404, "journal_not_found")
    expect_error(get(client, "/admin/ledger/check", token), 403, "insufficient_role")
    assert get(client, "/admin/ledger/check", admin).json_body["ok"] is True

    # A payout the ledger never heard of: the check names the invariant and every admin hears of it.
    from chalicelib.payouts.records import PayoutRecord

    PayoutRecord(*PayoutRecord.key(dev.id, "2026-09-15"), developer_id=dev.id, period="2026-09-15", status="paid",
                 amount_cents=100, rail="stripe", created_at=clock.now()).save()
    failed = get(client, "/admin/ledger/check", admin).json_body
    assert failed["ok"] is False
    assert [f["invariant"] for f in failed["failures"]] == ["payouts_match_the_payouts_context"]
    admin_id = container.auth.authenticate(admin).user_id
    assert any(n["topic"] == "ledger.check_failed" for n in get(client, "/notifications", admin).json_body[
        "notifications"]), admin_id
    assert replace  # noqa: B018 - imported for the fixture above
    assert timedelta


def test_with_reverse_transfer_a_refund_of_earnings_already_paid_is_clawed_back_from_the_transfer_once(
        client, container, clock, admin, stripe_standin):
    container.settings = replace(container.settings, negative_balances="reverse_transfer")  # before payouts is built
    stripe_standin.fund(1_000_000)
    dev = Developer(client, admin, stripe_standin, "clawed", price="1.00", free=0)
    _, user_id, _ = installed_user(client, "clawed", card="pm_card_visa")
    count("clawed", user_id, "2026-10-05T10", 200)  # $200
    jobs.hourly(container, ["2026-10-05T10"])
    at(clock, "2026-11-01T02:00:00")
    (invoice,) = jobs.invoices(container)["invoices"]
    at(clock, "2026-11-15T00:00:30")
    (payout,) = jobs.payouts(container)["payouts"]
    assert (payout["status"], payout["amount_cents"]) == ("paid", 14_000)

    path = f"/admin/billing/invoices/{invoice['stripe_invoice_id']}/refund"
    assert post(client, path, {"amount_cents": 10_000, "reason": "never delivered"}, admin).status_code == 200
    assert container.revenue.owed(dev.id) == -70 * 1_000_000  # paid out already: a negative balance

    at(clock, "2026-12-01T00:00:30")
    report = jobs.payouts(container)
    assert report["clawbacks"] == [{"developer_id": dev.id, "amount_cents": 7_000,
                                    "transfer_id": payout["transfer_id"]}]
    assert stripe_standin.client.v1.transfers.retrieve(payout["transfer_id"]).amount_reversed == 7_000
    assert container.revenue.owed(dev.id) == 0
    assert container.revenue.statement(dev.id)["clawed_back_micros"] == 70 * 1_000_000
    assert jobs.payouts(container, "2026-11-15")["clawbacks"] == []  # rerun: nothing reversed twice
    assert stripe_standin.client.v1.transfers.retrieve(payout["transfer_id"]).amount_reversed == 7_000
    check = jobs.ledger_check(container)
    assert check["ok"], check["failures"]
