"""User billing on moto + the Stripe stand-in: plans through Checkout, Stripe events, grace, usage invoices."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from chalicelib import jobs
from chalicelib.metering.records import PluginPeriodRecord
from tests.functional.money.conftest import Developer
from tests.functional.test_aggregation import count
from tests.stripe_standin import WEBHOOK_SECRET, sign_event
from tests.support import expect_error, get, manifest, post, publish, sign_up

PLANS = [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000},
    {"id": "enterprise", "name": "Enterprise", "kind": "custom", "included_calls": -1},
    {"id": "templates", "name": "Templates", "kind": "addon", "price_cents": 1900, "requires_plan": "pro"},
]
URLS = {"success_url": "https://app.example/ok", "cancel_url": "https://app.example/cancel"}


def deliver(client, event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = json.dumps(event, default=lambda d: int(d) if d == int(d) else float(d)).encode()  # Decimals
    return client.http.post("/billing/stripe/webhook", body=payload, headers={
        "Content-Type": "application/json", "Stripe-Signature": sign_event(payload, secret, timestamp)})


def deliver_new_events(client, standin, since: set[str]) -> list[str]:
    """What Stripe would POST to the endpoint: every event made since, oldest first."""
    fresh = [e for e in reversed(standin.events()) if e["id"] not in since]
    for event in fresh:
        assert deliver(client, event).status_code == 200
        since.add(event["id"])
    return [e["type"] for e in fresh]


def freemium(client, container, admin, name="proveniq"):
    dev = sign_up(client, "developer")["access_token"]
    publish(client, dev, admin, manifest(name=name, pricing={"tier": "standard", "model": "freemium", "plans": PLANS}))
    return sign_up(client)["access_token"]


def test_the_webhook_rejects_bad_signatures_and_ignores_replays(client, container, stripe_standin):
    event = {"id": "evt_test_replay", "type": "customer.subscription.deleted", "data": {"object": {"metadata": {}}}}
    expect_error(deliver(client, event, secret="whsec_wrong"), 400, "invalid_webhook_signature")
    stale = int(datetime.now(timezone.utc).timestamp()) - 3600
    expect_error(deliver(client, event, timestamp=stale), 400, "invalid_webhook_signature")
    unsigned = client.http.post("/billing/stripe/webhook", body=json.dumps(event), headers={})
    expect_error(unsigned, 400, "invalid_webhook_signature")
    assert deliver(client, event).json_body == {"received": True, "handled": True}
    assert deliver(client, event).json_body == {"received": True, "duplicate": True}
    other = {**event, "id": "evt_other", "type": "customer.created"}
    assert deliver(client, other).json_body == {"received": True, "handled": False}


def test_a_pro_subscription_through_checkout_then_a_failed_payment_and_grace(client, container, clock, admin,
                                                                             stripe_standin):
    user = freemium(client, container, admin)
    seen = {e["id"] for e in stripe_standin.events()}
    expect_error(post(client, "/billing/checkout", {"plugin": "proveniq", "plan": "templates", **URLS}, user),
                 409, "plan_required")
    expect_error(post(client, "/billing/checkout", {"plugin": "proveniq", "plan": "enterprise", **URLS}, user),
                 400, "plan_not_purchasable")
    expect_error(post(client, "/billing/checkout", {"plugin": "proveniq", "plan": "gold", **URLS}, user),
                 404, "plan_not_found")
    started = post(client, "/billing/checkout", {"plugin": "proveniq", "plan": "pro", **URLS}, user)
    assert started.status_code == 201, started.body
    assert started.json_body["url"].startswith("https://checkout.stripe.com/")
    stripe_standin.complete_checkout(started.json_body["session_id"])
    types = deliver_new_events(client, stripe_standin, seen)
    assert "customer.subscription.created" in types and "invoice.paid" in types

    billing = get(client, "/billing", user).json_body
    (plan,) = billing["plans"]
    assert (plan["plugin"], plan["plan"], plan["status"]) == ("proveniq", "pro", "active")
    assert billing["customer"]["has_payment_method"]  # the Checkout card also pays usage invoices
    customer = stripe_standin.client.v1.customers.retrieve(billing["customer"]["stripe_customer_id"])
    assert customer.invoice_settings.default_payment_method
    revenue = PluginPeriodRecord.get(*PluginPeriodRecord.key("proveniq", "2026-11-01"))
    assert revenue.fee_revenue_micros == 9_900 * 10_000 and revenue.revenue_micros == 9_900 * 10_000
    expect_error(post(client, "/billing/checkout", {"plugin": "proveniq", "plan": "pro", **URLS}, user),
                 409, "plan_already_held")

    failed = {"id": "evt_test_failed_1", "type": "invoice.payment_failed", "data": {"object": {
        "id": "in_failed_1", "parent": {"subscription_details": {"metadata": {
            "user_id": container.auth.authenticate(user).user_id, "plugin": "proveniq", "plan": "pro"}}}}}}
    assert deliver(client, failed).status_code == 200
    (plan,) = get(client, "/billing", user).json_body["plans"]
    assert plan["status"] == "past_due" and plan["grace_until"] == "2026-11-17T12:00:00Z"  # MF_DUNNING_GRACE_DAYS
    assert any(n["topic"] == "billing.payment_failed" for n in get(client, "/notifications", user).json_body[
        "notifications"])

    clock.moment += timedelta(days=6)
    assert jobs.hourly(container, ["2026-11-10T12"])["downgraded"] == []
    clock.moment += timedelta(days=2)
    (downgraded,) = jobs.hourly(container, ["2026-11-10T12"])["downgraded"]
    assert downgraded["plan"] == "pro"
    assert get(client, "/billing", user).json_body["plans"] == []  # back to the free plan
    sub = stripe_standin.client.v1.subscriptions.list(params={"status": "canceled", "limit": 100})
    assert any(s.to_dict()["metadata"].get("plugin") == "proveniq" for s in sub.data)


def test_a_one_time_add_on_after_pro(client, container, admin, stripe_standin):
    user = freemium(client, container, admin, "miyabi")
    seen = {e["id"] for e in stripe_standin.events()}
    pro = post(client, "/billing/checkout", {"plugin": "miyabi", "plan": "pro", **URLS}, user).json_body
    stripe_standin.complete_checkout(pro["session_id"])
    deliver_new_events(client, stripe_standin, seen)
    addon = post(client, "/billing/checkout", {"plugin": "miyabi", "plan": "templates", **URLS}, user)
    assert addon.status_code == 201 and addon.json_body["interval"] is None
    stripe_standin.complete_checkout(addon.json_body["session_id"])
    assert "checkout.session.completed" in deliver_new_events(client, stripe_standin, seen)
    (plan,) = get(client, "/billing", user).json_body["plans"]
    assert plan["plan"] == "pro" and plan["addons"] == ["templates"]
    revenue = PluginPeriodRecord.get(*PluginPeriodRecord.key("miyabi", "2026-11-01"))
    assert revenue.fee_revenue_micros == (9_900 + 1_900) * 10_000


def test_monthly_usage_invoices_charge_whole_cents_once_and_carry_the_rest(client, container, clock, admin,
                                                                           stripe_standin):
    Developer(client, admin, stripe_standin, "metered", price="0.001", free=0, ready=False)
    heavy, light = sign_up(client), sign_up(client)
    heavy_id, light_id = heavy["user"]["user_id"], light["user"]["user_id"]
    assert post(client, "/billing/payment-method", {"payment_method": "pm_card_visa"},
                heavy["access_token"]).status_code == 200
    count("metered", heavy_id, "2026-10-05T10", 75_001)  # $75.001
    count("metered", light_id, "2026-10-05T10", 40)  # 4 cents: below Stripe's minimum charge
    jobs.hourly(container, ["2026-10-05T10"])
    at_month_start = clock.moment.replace(month=11, day=1, hour=2)
    clock.moment = at_month_start
    report = {i["user_id"]: i for i in jobs.invoices(container)["invoices"]}
    assert report[heavy_id]["status"] == "paid" and report[heavy_id]["amount_cents"] == 7_500
    assert report[heavy_id]["carry_out_micros"] == {"metered": 1_000}  # a tenth of a cent, billed next month
    assert report[light_id]["status"] == "carried" and report[light_id]["carry_out_micros"] == {"metered": 40_000}
    invoices = stripe_standin.invoices(get(client, "/billing", heavy["access_token"]).json_body["customer"][
        "stripe_customer_id"])
    assert [(i["status"], i["amount_due"]) for i in invoices] == [("paid", 7_500)]

    assert jobs.invoices(container)["invoices"] == []  # closed once: a rerun bills nothing
    assert len(stripe_standin.invoices(invoices[0]["customer"])) == 1
    summary = get(client, "/billing", heavy["access_token"]).json_body
    assert summary["invoices"][0]["month"] == "2026-10" and summary["customer"]["carries_micros"] == {"metered": 1_000}


def test_a_plugin_with_too_many_errors_is_auto_disabled_and_an_admin_reinstates_it(client, container, clock,
                                                                                 admin, stripe_standin):
    dev = Developer(client, admin, stripe_standin, "shaky", ready=False)
    count("shaky", "usr_a", "2026-11-10T11", 200, errors=11)  # 5.5 %
    count("shaky", "usr_b", "2026-11-10T10", 50, errors=50)  # an earlier, small hour: not judged
    report = jobs.hourly(container)  # at 12:00 the last two hours are 10 and 11
    assert [d["plugin"] for d in report["auto_disabled"]] == ["shaky"]
    gone = get(client, "/marketplace/plugins/shaky", None)
    assert gone.status_code == 404, gone.body
    (note,) = [n for n in dev.get("/notifications")["notifications"] if n["topic"] == "plugin.auto_disabled"]
    assert "5.5 %" in note["message"]
    assert jobs.hourly(container)["auto_disabled"] == []  # already suspended: once
    assert post(client, "/admin/plugins/shaky/reinstate", None, admin).status_code == 200
    assert get(client, "/marketplace/plugins/shaky", None).status_code == 200


def test_an_unknown_or_foreign_payment_method_is_the_callers_mistake(client, container, stripe_standin):
    owner, other = sign_up(client)["access_token"], sign_up(client)["access_token"]
    attached = post(client, "/billing/payment-method", {"payment_method": "pm_card_visa"}, owner)
    assert attached.status_code == 200
    theirs = attached.json_body["payment_method"]
    for payment_method in ("pm_doesnotexist", theirs):  # unknown; attached to another customer
        response = post(client, "/billing/payment-method", {"payment_method": payment_method}, other)
        assert (response.status_code, response.json_body["code"]) == (400, "invalid_payment_method"), response.body
    assert get(client, "/billing", other).json_body["customer"]["has_payment_method"] is False
