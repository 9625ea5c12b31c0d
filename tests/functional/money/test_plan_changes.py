"""Plan changes on moto + the Stripe stand-in: one subscription per (user, plugin), upgrades prorated now,
downgrades and cancellations at the period end, resume, one trial ever, Stripe's events in any order."""
from __future__ import annotations

import json

from chalicelib.billing.records import PlanRecord, TrialRecord
from chalicelib.core.dynamo import find
from tests.functional.money.test_billing import URLS, deliver, deliver_new_events
from tests.support import expect_error, get, manifest, post, publish, sign_up

PLANS = [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000, "trial_days": 14},
    {"id": "team", "name": "Team", "kind": "subscription", "price_cents": 29900, "interval": "month",
     "included_calls": 500_000, "overage_price_micros": 500},
]


def plugin_with_plans(client, admin, name):
    dev = sign_up(client, "developer")
    publish(client, dev["access_token"], admin, manifest(name=name, pricing={
        "tier": "standard", "model": "freemium", "plans": PLANS}))
    return dev["user"]["user_id"]


def subscribed(client, standin, token, plugin, plan="pro", seen=None):
    seen = seen if seen is not None else {e["id"] for e in standin.events()}
    started = post(client, "/billing/checkout", {"plugin": plugin, "plan": plan, **URLS}, token)
    assert started.status_code == 201, started.body
    standin.complete_checkout(started.json_body["session_id"])
    deliver_new_events(client, standin, seen)
    return started.json_body, seen


def plans(client, token):
    return {p["plugin"]: p for p in get(client, "/billing", token).json_body["plans"]}


def live_subscriptions(standin, customer):
    found = standin.client.v1.subscriptions.list(params={"customer": customer, "limit": 100})
    return [s for s in found.data if s.status in ("active", "trialing", "past_due")]


def test_upgrade_now_prorated_downgrade_and_cancel_at_period_end_and_resume(client, container, admin, stripe_standin):
    owner = plugin_with_plans(client, admin, "planful")
    signed = sign_up(client)
    user, user_id = signed["access_token"], signed["user"]["user_id"]
    session, seen = subscribed(client, stripe_standin, user, "planful")
    assert session["trial_days"] == 14  # the first subscription of this (user, plugin) gets the trial
    assert plans(client, user)["planful"]["status"] == "trialing"
    customer = get(client, "/billing", user).json_body["customer"]["stripe_customer_id"]

    # Buying another subscription plan is refused: plans change, never a second subscription.
    refused = expect_error(post(client, "/billing/checkout", {"plugin": "planful", "plan": "team", **URLS}, user),
                           409, "plan_change_required")
    assert "/billing/subscriptions/planful/change" in refused["message"]

    # Trials end (the period advances): the user pays, then upgrades now, prorated.
    (sub,) = live_subscriptions(stripe_standin, customer)
    stripe_standin._post(f"/v1/test_helpers/subscriptions/{sub.id}/advance")
    deliver_new_events(client, stripe_standin, seen)
    assert plans(client, user)["planful"]["status"] == "active"
    assert container.revenue.owed(owner) == 9_900 * 10_000 * 7_000 // 10_000  # 70 % of the first month paid
    upgraded = post(client, "/billing/subscriptions/planful/change", {"plan": "team"}, user)
    assert upgraded.status_code == 200, upgraded.body
    assert upgraded.json_body["plan"] == "team" and upgraded.json_body["pending_plan"] is None
    deliver_new_events(client, stripe_standin, seen)
    (sub,) = live_subscriptions(stripe_standin, customer)  # still one subscription, now at Team's price
    assert sub["items"].data[0].price.unit_amount == 29_900 and sub.metadata["plan"] == "team"
    proration = stripe_standin.client.v1.invoices.retrieve(sub.latest_invoice)
    assert proration.billing_reason == "subscription_update" and proration.status == "paid"
    assert 0 < proration.amount_paid <= 29_900 - 9_900  # only the difference, for the rest of the period
    assert container.revenue.owed(owner) == (9_900 + proration.amount_paid) * 10_000 * 7_000 // 10_000
    assert container.holding(user_id, "planful").plan == "team"

    # Downgrade at the period end: Team until then, Pro's price from the next invoice.
    down = post(client, "/billing/subscriptions/planful/change", {"plan": "pro"}, user)
    assert down.status_code == 200 and (down.json_body["plan"], down.json_body["pending_plan"]) == ("team", "pro")
    expect_error(post(client, "/billing/subscriptions/planful/change", {"plan": "pro"}, user), 409,
                 "plan_change_pending")
    deliver_new_events(client, stripe_standin, seen)
    assert plans(client, user)["planful"]["pending_plan"] == "pro"
    assert container.holding(user_id, "planful").plan == "team"
    stripe_standin._post(f"/v1/test_helpers/subscriptions/{sub.id}/advance")  # the period ends
    deliver_new_events(client, stripe_standin, seen)
    assert plans(client, user)["planful"]["plan"] == "pro" and plans(client, user)["planful"]["pending_plan"] is None
    renewal = stripe_standin.client.v1.invoices.retrieve(
        stripe_standin.client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert renewal.amount_paid == 9_900

    # Cancel at the period end, then resume; a downgrade can be undone the same way.
    cancelled = post(client, "/billing/subscriptions/planful/cancel", None, user)
    assert cancelled.status_code == 200 and cancelled.json_body["cancel_at_period_end"] is True
    deliver_new_events(client, stripe_standin, seen)
    assert stripe_standin.client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is True
    resumed = post(client, "/billing/subscriptions/planful/resume", None, user)
    assert resumed.status_code == 200 and resumed.json_body["cancel_at_period_end"] is False
    assert stripe_standin.client.v1.subscriptions.retrieve(sub.id).cancel_at_period_end is False
    expect_error(post(client, "/billing/subscriptions/planful/resume", None, user), 409, "nothing_to_resume")
    expect_error(post(client, "/billing/subscriptions/planful/change", {"plan": "free"}, user), 400,
                 "plan_not_switchable")
    expect_error(post(client, "/billing/subscriptions/nothing/cancel", None, user), 404, "subscription_not_found")

    # Cancelled for good at the period end: the slot is free, and a new subscription gets no second trial.
    post(client, "/billing/subscriptions/planful/cancel", None, user)
    stripe_standin._post(f"/v1/test_helpers/subscriptions/{sub.id}/advance")
    deliver_new_events(client, stripe_standin, seen)
    assert "planful" not in plans(client, user)
    again, _ = subscribed(client, stripe_standin, user, "planful", seen=seen)
    assert again["trial_days"] == 0 and plans(client, user)["planful"]["status"] == "active"
    expect_error(post(client, "/trials/planful", None, user), 409, "plan_already_held")
    assert len(live_subscriptions(stripe_standin, customer)) == 1
    assert container.billing.ctx.revenue.check({}).ok


def test_two_checkouts_paid_at_once_leave_one_subscription_and_refund_the_other(client, container, admin,
                                                                                 stripe_standin):
    plugin_with_plans(client, admin, "twice")
    signed = sign_up(client)
    user = signed["access_token"]
    seen = {e["id"] for e in stripe_standin.events()}
    first = post(client, "/billing/checkout", {"plugin": "twice", "plan": "team", **URLS}, user).json_body
    second = post(client, "/billing/checkout", {"plugin": "twice", "plan": "team", **URLS}, user).json_body
    stripe_standin.complete_checkout(first["session_id"])
    stripe_standin.complete_checkout(second["session_id"])  # two tabs, both paid
    deliver_new_events(client, stripe_standin, seen)
    deliver_new_events(client, stripe_standin, seen)  # the cancellation and the refund come back as events
    customer = get(client, "/billing", user).json_body["customer"]["stripe_customer_id"]
    (kept,) = live_subscriptions(stripe_standin, customer)
    assert plans(client, user)["twice"]["plan"] == "team"
    assert find(PlanRecord, PlanRecord.key(signed["user"]["user_id"], "twice")).stripe_subscription_id == kept.id
    paid = [i for i in stripe_standin.invoices(customer) if i["status"] == "paid" and i["amount_paid"]]
    refunds = stripe_standin.client.v1.refunds.list(params={"limit": 100}).data
    refunded = {r.payment_intent for r in refunds if r.to_dict().get("metadata", {}).get("mf_duplicate")
                and r.payment_intent in {i["payment_intent"] for i in paid}}  # the stand-in is the session's
    assert len(paid) == 2 and len(refunded) == 1  # charged twice for one period, once given back
    notes = [n["topic"] for n in get(client, "/notifications", user).json_body["notifications"]]
    assert "billing.duplicate_subscription" in notes
    assert container.revenue.check({}).ok


def test_a_duplicate_an_admin_refunded_before_its_events_arrived_is_cancelled_and_the_books_agree(
        client, container, admin, stripe_standin):
    plugin_with_plans(client, admin, "refunded-twice")
    signed = sign_up(client)
    user = signed["access_token"]
    seen = {e["id"] for e in stripe_standin.events()}
    sessions = [post(client, "/billing/checkout", {"plugin": "refunded-twice", "plan": "team", **URLS},
                     user).json_body["session_id"] for _ in range(2)]
    for session in sessions:  # two tabs, both paid
        stripe_standin.complete_checkout(session)
    second = stripe_standin.client.v1.checkout.sessions.retrieve(sessions[1]).subscription
    invoice = stripe_standin.client.v1.subscriptions.retrieve(str(second)).latest_invoice
    refund = post(client, f"/admin/billing/invoices/{invoice}/refund", {"reason": "asked by the user"}, admin)
    assert refund.status_code == 200, refund.body  # before the marketplace heard of that payment
    deliver_new_events(client, stripe_standin, seen)  # the second one is the duplicate: nothing left to refund
    deliver_new_events(client, stripe_standin, seen)
    customer = get(client, "/billing", user).json_body["customer"]["stripe_customer_id"]
    (kept,) = live_subscriptions(stripe_standin, customer)
    assert kept.id != second and stripe_standin.client.v1.subscriptions.retrieve(str(second)).status == "canceled"
    assert container.revenue.balance("stripe:cash") == 29_900 * 10_000  # two payments in, one refunded
    assert container.revenue.check({}).ok


def test_resuming_a_subscription_that_ended_before_its_event_arrived_is_a_conflict_not_a_502(
        client, container, admin, stripe_standin):
    plugin_with_plans(client, admin, "ended-early")
    user = sign_up(client)["access_token"]
    session, seen = subscribed(client, stripe_standin, user, "ended-early", plan="team")
    assert post(client, "/billing/subscriptions/ended-early/cancel", None, user).status_code == 200
    sub = stripe_standin.client.v1.checkout.sessions.retrieve(session["session_id"]).subscription
    stripe_standin._post(f"/v1/test_helpers/subscriptions/{sub}/advance")  # the period ends: cancelled
    for verb, body in (("resume", None), ("change", {"plan": "pro"})):  # customer.subscription.deleted not here yet
        expect_error(post(client, f"/billing/subscriptions/ended-early/{verb}", body, user), 409,
                     "subscription_ended")
    deliver_new_events(client, stripe_standin, seen)
    assert "ended-early" not in plans(client, user)


def test_stripe_events_out_of_order_and_duplicated_change_nothing_twice(client, container, admin, stripe_standin):
    plugin_with_plans(client, admin, "ordered")
    signed = sign_up(client)
    user, user_id = signed["access_token"], signed["user"]["user_id"]
    seen = {e["id"] for e in stripe_standin.events()}
    session = post(client, "/billing/checkout", {"plugin": "ordered", "plan": "team", **URLS}, user).json_body
    stripe_standin.complete_checkout(session["session_id"])
    fresh = [e for e in reversed(stripe_standin.events()) if e["id"] not in seen]
    for event in reversed(fresh):  # newest first: the opposite of what happened
        assert deliver(client, event).status_code == 200
    for event in fresh:  # and all of them again: the ones handled are duplicates now
        assert deliver(client, event).json_body in ({"received": True, "duplicate": True},
                                                    {"received": True, "handled": False})
    assert plans(client, user)["ordered"]["status"] == "active"
    owner = container.catalog.get_plugin("ordered").author_id
    assert container.revenue.owed(owner) == 29_900 * 10_000 * 7_000 // 10_000  # paid once, counted once

    # An old "created" delivered after the subscription was cancelled does not bring it back.
    sub_id = find(PlanRecord, PlanRecord.key(user_id, "ordered")).stripe_subscription_id
    created = next(e for e in fresh if e["type"] == "customer.subscription.created")
    stripe_standin.client.v1.subscriptions.cancel(sub_id)
    deleted = stripe_standin.events("customer.subscription.deleted", limit=1)[0]
    assert deliver(client, deleted).status_code == 200
    assert "ordered" not in plans(client, user)
    replayed = {**created, "id": created["id"] + "_retry"}  # the same fact under another delivery
    assert deliver(client, replayed).status_code == 200
    assert "ordered" not in plans(client, user)


def test_one_trial_per_user_and_plugin_on_every_path(client, container, admin, stripe_standin):
    plugin_with_plans(client, admin, "trialled")
    signed = sign_up(client)
    user, user_id = signed["access_token"], signed["user"]["user_id"]
    assert post(client, "/trials/trialled", None, user).status_code == 201
    expect_error(post(client, "/trials/trialled", None, user), 409, "trial_already_used")
    session = post(client, "/billing/checkout", {"plugin": "trialled", "plan": "pro", **URLS}, user)
    assert session.status_code == 201 and session.json_body["trial_days"] == 0  # the trial was taken
    stored = stripe_standin.client.v1.checkout.sessions.retrieve(session.json_body["session_id"]).to_dict()
    assert not (stored.get("subscription_data") or {}).get("trial_period_days")

    # An abandoned Checkout hands its trial reservation to the next one, never a second trial.
    other = sign_up(client)["access_token"]
    first = post(client, "/billing/checkout", {"plugin": "trialled", "plan": "pro", **URLS}, other).json_body
    assert first["trial_days"] == 14
    assert get(client, "/trials/trialled", other).json_body["status"] == "reserved"
    expect_error(post(client, "/trials/trialled", None, other), 409, "trial_already_used")
    second = post(client, "/billing/checkout", {"plugin": "trialled", "plan": "pro", **URLS}, other).json_body
    assert second["trial_days"] == 14
    assert stripe_standin.client.v1.checkout.sessions.retrieve(first["session_id"]).status == "expired"
    seen = {e["id"] for e in stripe_standin.events()}
    stripe_standin.complete_checkout(second["session_id"])
    deliver_new_events(client, stripe_standin, seen)
    other_id = container.auth.authenticate(other).user_id
    marker = find(TrialRecord, TrialRecord.key(other_id, "trialled"))
    assert marker.subscription_id and marker.session_id == second["session_id"]
    third = post(client, "/billing/checkout", {"plugin": "trialled", "plan": "team", **URLS}, sign_up(client)[
        "access_token"]).json_body
    assert third["trial_days"] == 0  # Team has no trial days
    assert json.loads(json.dumps(get(client, "/trials/trialled", user).json_body))["status"] == "active"
    assert user_id
