"""Test clocks through the official ``stripe`` library and the real marketplace gateway: a customer
on a clock lives in the clock's time, and advancing the clock makes what falls due happen in order."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

DAY = 86400
JAN_1 = 1767225600  # 2026-01-01 00:00:00 UTC: a fixed start makes every period boundary exact
JAN_12, JAN_15, FEB_15, MAR_1 = JAN_1 + 11 * DAY, JAN_1 + 14 * DAY, JAN_1 + 45 * DAY, JAN_1 + 59 * DAY

WATCHED = ["customer.subscription.created", "customer.subscription.trial_will_end",
           "customer.subscription.updated", "customer.subscription.deleted", "invoice.created",
           "invoice.finalized", "invoice.paid", "invoice.payment_succeeded", "test_helpers.test_clock.advancing",
           "test_helpers.test_clock.ready"]


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint: keeps every delivery and wakes whoever waits for them."""

    received: list[tuple[str, bytes]] = []
    arrived = threading.Condition()

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with type(self).arrived:
            type(self).received.append((self.headers.get("Stripe-Signature") or "", body))
            type(self).arrived.notify_all()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hooks() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()


def wait_for_deliveries(count: int) -> list[tuple[str, bytes]]:
    with _Receiver.arrived:
        _Receiver.arrived.wait_for(lambda: len(_Receiver.received) >= count, timeout=20)
        return list(_Receiver.received)


@pytest.fixture
def api(gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module-level ``stripe`` API pointed at the gateway with the sandbox key."""
    monkeypatch.setattr(stripe, "api_base", f"{gateway.api_url}/plugins/stripe")
    monkeypatch.setattr(stripe, "api_key", gateway.test_key)
    monkeypatch.setattr(stripe, "max_network_retries", 0)


def monthly_price(amount: int = 1500) -> stripe.Price:
    return stripe.Price.create(unit_amount=amount, currency="usd", recurring={"interval": "month"},
                               product_data={"name": "Pro"})


def test_a_trial_subscription_advanced_two_months_ends_its_trial_and_pays_two_invoices_with_webhooks_in_order(
        api, hooks):
    hook = stripe.WebhookEndpoint.create(url=hooks, enabled_events=WATCHED)
    clock = stripe.test_helpers.TestClock.create(frozen_time=JAN_1, name="trial then monthly")
    assert clock.id.startswith("clock_") and clock.object == "test_helpers.test_clock"
    assert (clock.status, clock.frozen_time, clock.name) == ("ready", JAN_1, "trial then monthly")
    assert clock.livemode is False and clock.status_details.to_dict() == {}
    assert clock.deletes_after == clock.created + 30 * DAY
    customer = stripe.Customer.create(email="clocked@example.com", test_clock=clock.id, payment_method="pm_card_visa",
                                      invoice_settings={"default_payment_method": "pm_card_visa"})
    assert customer.test_clock == clock.id and customer.created == JAN_1
    price = monthly_price()
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": price.id}], trial_period_days=14)
    assert (sub.status, sub.created, sub.trial_end, sub.test_clock) == ("trialing", JAN_1, JAN_15, clock.id)

    advancing = clock.advance(frozen_time=MAR_1)  # two months: the most a monthly subscription allows at once
    assert (advancing.status, advancing.frozen_time) == ("advancing", MAR_1)
    assert advancing.status_details.advancing.target_frozen_time == MAR_1
    ready = stripe.test_helpers.TestClock.retrieve(clock.id)
    assert (ready.status, ready.frozen_time) == ("ready", MAR_1)

    sub = stripe.Subscription.retrieve(sub.id)
    assert (sub.status, sub.trial_end, sub.current_period_start, sub.current_period_end) == (
        "active", JAN_15, FEB_15, JAN_1 + 73 * DAY)
    invoices = sorted(stripe.Invoice.list(customer=customer.id).data, key=lambda i: i.created)
    assert [(i.created, i.billing_reason, i.amount_due, i.amount_paid, i.status, i.test_clock) for i in invoices] == [
        (JAN_1, "subscription_create", 0, 0, "paid", clock.id),
        (JAN_15, "subscription_cycle", 1500, 1500, "paid", clock.id),
        (FEB_15, "subscription_cycle", 1500, 1500, "paid", clock.id)]
    assert [(i.period_start, i.period_end) for i in invoices[1:]] == [(JAN_15, FEB_15), (FEB_15, JAN_1 + 73 * DAY)]
    assert all(i.status_transitions.paid_at == i.created for i in invoices)
    charges = sorted(stripe.Charge.list(customer=customer.id).data, key=lambda c: c.created)
    assert [(c.created, c.amount, c.status, c.invoice) for c in charges] == [
        (JAN_15, 1500, "succeeded", invoices[1].id), (FEB_15, 1500, "succeeded", invoices[2].id)]
    assert customer.invoice_settings.default_payment_method in {c.payment_method for c in charges}

    renewal = ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded",
               "customer.subscription.updated"]
    expected = ([(JAN_1, t) for t in ["customer.subscription.created", *renewal[:4]]]
                + [(JAN_1, "test_helpers.test_clock.advancing"), (JAN_12, "customer.subscription.trial_will_end")]
                + [(JAN_15, t) for t in renewal] + [(FEB_15, t) for t in renewal]
                + [(MAR_1, "test_helpers.test_clock.ready")])
    listed = [e for e in stripe.Event.list(limit=100).auto_paging_iter() if e.type in WATCHED]
    assert [(e.created, e.type) for e in reversed(listed)] == expected  # recorded in clock time, in order
    trial_end_update = next(e for e in reversed(listed) if e.type == "customer.subscription.updated")
    assert trial_end_update.data.previous_attributes.status == "trialing"
    assert trial_end_update.data.object.status == "active"
    assert all(e.request.id is None for e in listed if e.created > JAN_1)  # the clock's doing, no API request

    # Every event reached the endpoint once, signed with the real time (verification's tolerance).
    deliveries = wait_for_deliveries(len(expected))
    received = [stripe.Webhook.construct_event(body.decode(), signature, hook.secret)
                for signature, body in deliveries]
    assert sorted((e.created, e.type) for e in received) == sorted(expected)
    assert sorted(e.id for e in received) == sorted(e.id for e in listed)
    paid = [json.loads(body)["data"]["object"] for _, body in deliveries
            if json.loads(body)["type"] == "invoice.paid"]
    assert sorted(o["amount_paid"] for o in paid) == [0, 1500, 1500]


def test_advancing_backwards_or_too_far_is_refused_like_stripe_and_deleting_a_clock_deletes_its_customers(api):
    clock = stripe.test_helpers.TestClock.create(frozen_time=JAN_1)
    for when in (JAN_1, JAN_1 - DAY):
        with pytest.raises(stripe.InvalidRequestError) as backwards:
            clock.advance(frozen_time=when)
        assert backwards.value.http_status == 400 and backwards.value.param == "frozen_time"
        assert "must be after the test clock's current frozen time" in backwards.value.user_message
    customer = stripe.Customer.create(test_clock=clock.id, payment_method="pm_card_visa",
                                      invoice_settings={"default_payment_method": "pm_card_visa"})
    sub = stripe.Subscription.create(customer=customer.id, items=[{"price": monthly_price().id}])
    assert (sub.status, sub.current_period_start) == ("active", JAN_1)
    with pytest.raises(stripe.InvalidRequestError) as too_far:
        clock.advance(frozen_time=MAR_1 + 1)
    assert too_far.value.param == "frozen_time"
    assert too_far.value.user_message.startswith(f"The frozen time of this clock is {JAN_1} (2026-01-01 00:00:00 "
                                                 f"UTC). You can only advance it up to {MAR_1} (2026-03-01")
    assert stripe.test_helpers.TestClock.retrieve(clock.id).frozen_time == JAN_1  # refused: nothing moved
    with pytest.raises(stripe.InvalidRequestError) as no_clock:
        stripe.Customer.create(test_clock="clock_missing")
    assert no_clock.value.http_status == 404 and no_clock.value.param == "test_clock"

    assert [c.id for c in stripe.test_helpers.TestClock.list().data] == [clock.id]
    deleted = clock.delete()
    assert deleted.deleted is True and deleted.id == clock.id
    with pytest.raises(stripe.InvalidRequestError) as gone:
        stripe.test_helpers.TestClock.retrieve(clock.id)
    assert gone.value.http_status == 404 and gone.value.code == "resource_missing"
    assert stripe.test_helpers.TestClock.list().data == []
    assert stripe.Customer.retrieve(customer.id).deleted is True
    sub = stripe.Subscription.retrieve(sub.id)
    assert (sub.status, sub.ended_at) == ("canceled", JAN_1)


def test_an_advance_leaves_customers_without_the_clock_alone_and_ends_cancel_at_period_end_subscriptions(api):
    price = monthly_price(900)
    plain = stripe.Customer.create(email="real-time@example.com", payment_method="pm_card_visa",
                                   invoice_settings={"default_payment_method": "pm_card_visa"})
    plain_sub = stripe.Subscription.create(customer=plain.id, items=[{"price": price.id}])
    clock = stripe.test_helpers.TestClock.create(frozen_time=JAN_1)
    clocked = stripe.Customer.create(email="clocked@example.com", test_clock=clock.id, payment_method="pm_card_visa",
                                     invoice_settings={"default_payment_method": "pm_card_visa"})
    leaving = stripe.Subscription.create(customer=clocked.id, items=[{"price": price.id}])
    leaving = stripe.Subscription.modify(leaving.id, cancel_at_period_end=True)
    assert (leaving.status, leaving.cancel_at) == ("active", JAN_1 + 31 * DAY)

    clock.advance(frozen_time=JAN_1 + 40 * DAY)

    leaving = stripe.Subscription.retrieve(leaving.id)
    assert (leaving.status, leaving.ended_at) == ("canceled", JAN_1 + 31 * DAY)
    assert [i.billing_reason for i in stripe.Invoice.list(customer=clocked.id).data] == ["subscription_create"]
    deleted = stripe.Event.list(type="customer.subscription.deleted").data
    assert [(e.created, e.data.object.id) for e in deleted] == [(JAN_1 + 31 * DAY, leaving.id)]

    after = stripe.Subscription.retrieve(plain_sub.id)
    assert (after.status, after.current_period_start, after.current_period_end) == (
        "active", plain_sub.current_period_start, plain_sub.current_period_end)
    assert len(stripe.Invoice.list(customer=plain.id).data) == 1
    assert plain.test_clock is None

    # As on Stripe, listing customers leaves the clocks' customers out unless asked for by clock.
    assert [c.id for c in stripe.Customer.list().data] == [plain.id]
    assert [c.id for c in stripe.Customer.list(test_clock=clock.id).data] == [clocked.id]
