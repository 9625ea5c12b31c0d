"""Billing (products, prices, subscriptions, invoices, Checkout) through the official ``stripe``
library and the real marketplace gateway. Few, long flows: each gateway test starts a server."""
from __future__ import annotations

import json

import pytest
import stripe


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def second_user_key(gateway) -> str:
    """A second marketplace user with the plugin installed (same way the fixture makes the first)."""
    from chalicelib.auth.principal import Principal

    container = gateway.container
    user = container.auth.create_user(email="billing-second@example.com", password="correct horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    manifest = json.loads(open(__file__.rsplit("/tests/", 1)[0] + "/chalicelib/manifest.json").read())
    container.installs.install(principal, plugin="stripe", accept_permissions=manifest["permissions"])
    return container.auth.create_key(principal, name="second", mode="test")["api_key"]


def event_types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]


def test_products_prices_subscriptions_invoices_and_their_events(gateway):
    client = client_for(gateway, gateway.test_key)

    # Products: create / retrieve / update / list (active filter), metadata merge.
    gold = client.v1.products.create(params={"name": "Gold", "metadata": {"tier": "gold"}})
    assert gold.id.startswith("prod_") and gold.object == "product" and gold.active is True
    old = client.v1.products.create(params={"name": "Legacy"})
    old = client.v1.products.update(old.id, params={"active": False, "metadata": {"k": "v"}})
    assert old.active is False and old.metadata.to_dict() == {"k": "v"}
    assert client.v1.products.retrieve(gold.id).metadata.to_dict() == {"tier": "gold"}
    assert [p.id for p in client.v1.products.list(params={"active": True}).data] == [gold.id]
    assert [p.id for p in client.v1.products.list().data] == [old.id, gold.id]

    # Prices: recurring month / year, one-time, product_data, filters product / active / type.
    monthly = client.v1.prices.create(params={"unit_amount": 1500, "currency": "usd", "product": gold.id,
                                              "recurring": {"interval": "month"}})
    assert monthly.id.startswith("price_") and monthly.type == "recurring"
    assert monthly.recurring.interval == "month" and monthly.recurring.interval_count == 1
    yearly = client.v1.prices.create(params={"unit_amount": 15000, "currency": "usd", "product": gold.id,
                                             "recurring": {"interval": "year"}})
    one_time = client.v1.prices.create(params={"unit_amount": 2500, "currency": "usd",
                                               "product_data": {"name": "Setup fee"}})
    assert one_time.type == "one_time" and one_time.recurring is None
    assert client.v1.products.retrieve(one_time.product).name == "Setup fee"
    assert [p.id for p in client.v1.prices.list(params={"product": gold.id}).data] == [yearly.id, monthly.id]
    assert [p.id for p in client.v1.prices.list(params={"type": "one_time"}).data] == [one_time.id]
    client.v1.prices.update(yearly.id, params={"active": False, "nickname": "annual"})
    assert client.v1.prices.retrieve(yearly.id).nickname == "annual"
    assert [p.id for p in client.v1.prices.list(params={"active": True, "product": gold.id}).data] == [monthly.id]
    with pytest.raises(stripe.InvalidRequestError) as no_price:
        client.v1.prices.retrieve("price_missing")
    assert no_price.value.http_status == 404 and no_price.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as no_product:
        client.v1.prices.create(params={"unit_amount": 100, "currency": "usd"})
    assert no_product.value.param == "product"

    # A good default card (invoice_settings) -> active, first invoice paid.
    ada = client.v1.customers.create(params={"email": "ada@example.com"})
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": ada.id})
    client.v1.customers.update(ada.id, params={"invoice_settings": {"default_payment_method": visa.id}})
    sub = client.v1.subscriptions.create(params={"customer": ada.id, "items": [{"price": monthly.id}],
                                                 "expand": ["latest_invoice"]})
    assert sub.id.startswith("sub_") and sub.status == "active"
    assert sub.items.data[0].price.id == monthly.id
    assert 28 * 86400 <= sub.current_period_end - sub.current_period_start <= 31 * 86400
    invoice = sub.latest_invoice
    assert invoice.id.startswith("in_") and invoice.status == "paid" and invoice.paid is True
    assert (invoice.amount_due, invoice.amount_paid, invoice.subscription) == (1500, 1500, sub.id)
    assert invoice.lines.data[0].amount == 1500 and invoice.lines.data[0].price.id == monthly.id
    intent = client.v1.payment_intents.retrieve(invoice.payment_intent)
    assert intent.status == "succeeded" and intent.amount == 1500 and intent.customer == ada.id

    # Yearly with the subscription's own default_payment_method.
    yearly_sub = client.v1.subscriptions.create(params={
        "customer": ada.id, "items": [{"price": client.v1.prices.create(params={
            "unit_amount": 9900, "currency": "usd", "product": gold.id, "recurring": {"interval": "year"}}).id}],
        "default_payment_method": "pm_card_mastercard"})
    assert yearly_sub.status == "active"
    assert 365 * 86400 <= yearly_sub.current_period_end - yearly_sub.current_period_start <= 366 * 86400

    # Trial: trialing, a zero-amount paid invoice, the period ends with the trial.
    trial = client.v1.subscriptions.create(params={"customer": ada.id, "items": [{"price": monthly.id}],
                                                   "trial_period_days": 14})
    assert trial.status == "trialing" and trial.trial_end == trial.current_period_end
    assert trial.trial_end - trial.trial_start == 14 * 86400
    trial_invoice = client.v1.invoices.retrieve(trial.latest_invoice)
    assert (trial_invoice.amount_due, trial_invoice.status) == (0, "paid")

    # A declining card -> incomplete, open invoice; paying it with a good card activates it.
    bob = client.v1.customers.create(params={"email": "bob@example.com"})
    bad = client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": bob.id})
    failing = client.v1.subscriptions.create(params={"customer": bob.id, "items": [{"price": monthly.id}],
                                                     "default_payment_method": bad.id})
    assert failing.status == "incomplete"
    open_invoice = client.v1.invoices.retrieve(failing.latest_invoice)
    assert (open_invoice.status, open_invoice.paid, open_invoice.amount_paid) == ("open", False, 0)
    assert open_invoice.attempt_count == 1
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(open_invoice.id)
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    paid = client.v1.invoices.pay(open_invoice.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.paid, paid.amount_paid) == ("paid", True, 1500)
    assert client.v1.subscriptions.retrieve(failing.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(open_invoice.id)

    # payment_behavior=default_incomplete: the client confirms the invoice's PaymentIntent itself.
    pending = client.v1.subscriptions.create(params={"customer": bob.id, "items": [{"price": monthly.id}],
                                                     "payment_behavior": "default_incomplete",
                                                     "expand": ["latest_invoice"]})
    assert pending.status == "incomplete" and pending.latest_invoice.status == "open"
    assert pending.latest_invoice.confirmation_secret.client_secret.startswith(pending.latest_invoice.payment_intent)
    confirmed = client.v1.payment_intents.confirm(pending.latest_invoice.payment_intent,
                                                  params={"payment_method": "pm_card_visa"})
    assert confirmed.status == "succeeded" and confirmed.amount == 1500
    assert client.v1.subscriptions.retrieve(pending.id).status == "active"
    assert client.v1.invoices.retrieve(pending.latest_invoice.id).paid is True

    # Invoices list by customer / subscription.
    assert [i.id for i in client.v1.invoices.list(params={"subscription": failing.id}).data] == [open_invoice.id]
    assert len(client.v1.invoices.list(params={"customer": ada.id}).data) == 3

    # Mock-only renewal: a new period and a subscription_cycle invoice; a trial ends; a decline -> past_due.
    renewed = json.loads(client.raw_request("post", f"/v1/test_helpers/subscriptions/{sub.id}/advance").body)
    assert renewed["status"] == "active" and renewed["current_period_start"] == sub.current_period_end
    cycle = client.v1.invoices.retrieve(renewed["latest_invoice"])
    assert (cycle.billing_reason, cycle.status, cycle.amount_paid) == ("subscription_cycle", "paid", 1500)
    after_trial = json.loads(client.raw_request("post", f"/v1/test_helpers/subscriptions/{trial.id}/advance").body)
    assert after_trial["status"] == "active"
    assert client.v1.invoices.retrieve(after_trial["latest_invoice"]).amount_paid == 1500
    client.v1.subscriptions.update(failing.id, params={"default_payment_method": bad.id})
    lapsed = json.loads(client.raw_request("post", f"/v1/test_helpers/subscriptions/{failing.id}/advance").body)
    assert lapsed["status"] == "past_due"
    assert client.v1.invoices.pay(lapsed["latest_invoice"], params={"payment_method": "pm_card_visa"}).paid
    assert client.v1.subscriptions.retrieve(failing.id).status == "active"
    sub = client.v1.subscriptions.retrieve(sub.id)

    # Update (cancel_at_period_end), cancel (DELETE), list (canceled hidden unless status=all).
    updated = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True,
                                                              "metadata": {"reason": "budget"}})
    assert updated.cancel_at_period_end is True and updated.cancel_at == sub.current_period_end
    ended = json.loads(client.raw_request("post", f"/v1/test_helpers/subscriptions/{yearly_sub.id}/advance").body)
    assert ended["status"] == "active"
    client.v1.subscriptions.update(yearly_sub.id, params={"cancel_at_period_end": True})
    ended = json.loads(client.raw_request("post", f"/v1/test_helpers/subscriptions/{yearly_sub.id}/advance").body)
    assert ended["status"] == "canceled" and ended["ended_at"] == ended["current_period_end"]
    canceled = client.v1.subscriptions.cancel(trial.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    listed = [s.id for s in client.v1.subscriptions.list(params={"customer": ada.id}).data]
    assert listed == [sub.id]
    assert trial.id in [s.id for s in client.v1.subscriptions.list(params={"status": "all"}).data]
    with pytest.raises(stripe.InvalidRequestError) as bad_item:
        client.v1.subscriptions.create(params={"customer": ada.id, "items": [{"price": one_time.id}]})
    assert bad_item.value.param == "items[0][price]"

    types = event_types(client)
    for expected in ("customer.subscription.created", "customer.subscription.updated",
                     "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed",
                     "invoice.finalized", "product.created", "price.created"):
        assert expected in types, expected
    assert [e.data.object.id for e in client.v1.events.list(params={"type": "invoice.payment_failed"}).data] \
        == [lapsed["latest_invoice"], open_invoice.id, open_invoice.id]


def test_checkout_sessions_complete_through_the_test_helper_and_stay_per_mode(gateway):
    client = client_for(gateway, gateway.test_key)
    product = client.v1.products.create(params={"name": "Poster"})
    poster = client.v1.prices.create(params={"unit_amount": 1200, "currency": "usd", "product": product.id})
    plan = client.v1.prices.create(params={"unit_amount": 900, "currency": "usd", "product": product.id,
                                           "recurring": {"interval": "month"}})

    # Payment mode: amount from the line items, hosted url; completing creates a succeeded intent.
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": poster.id, "quantity": 2}],
        "success_url": "https://shop.example.com/ok", "cancel_url": "https://shop.example.com/no"})
    assert session.id.startswith("cs_test_") and session.url.startswith("https://checkout.stripe.com/")
    assert (session.status, session.payment_status, session.amount_total) == ("open", "unpaid", 2400)
    items = client.v1.checkout.sessions.line_items.list(session.id)
    assert items.data[0].quantity == 2 and items.data[0].amount_total == 2400
    done = json.loads(client.raw_request("post", f"/v1/test_helpers/checkout/sessions/{session.id}/complete").body)
    assert (done["status"], done["payment_status"], done["url"]) == ("complete", "paid", None)
    intent = client.v1.payment_intents.retrieve(done["payment_intent"])
    assert intent.status == "succeeded" and intent.amount == 2400
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent == intent.id

    # A declining card leaves the session open (402 card error), a good card then completes it.
    retry = client.v1.checkout.sessions.create(params={
        "mode": "payment", "line_items": [{"price": poster.id, "quantity": 1}],
        "success_url": "https://shop.example.com/ok"})
    with pytest.raises(stripe.CardError):
        client.raw_request("post", f"/v1/test_helpers/checkout/sessions/{retry.id}/complete",
                           payment_method="pm_card_chargeDeclined")
    assert client.v1.checkout.sessions.retrieve(retry.id).status == "open"
    expired = client.v1.checkout.sessions.expire(retry.id)
    assert expired.status == "expired"

    # Subscription mode with an existing customer: completing creates an active subscription.
    cus = client.v1.customers.create(params={"email": "sub@example.com"})
    sub_session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer": cus.id, "line_items": [{"price": plan.id, "quantity": 1}],
        "success_url": "https://shop.example.com/ok"})
    completed = json.loads(client.raw_request(
        "post", f"/v1/test_helpers/checkout/sessions/{sub_session.id}/complete").body)
    subscription = client.v1.subscriptions.retrieve(completed["subscription"])
    assert subscription.status == "active" and subscription.customer == cus.id
    assert client.v1.invoices.retrieve(completed["invoice"]).status == "paid"
    with pytest.raises(stripe.InvalidRequestError) as wrong_mode:
        client.v1.checkout.sessions.create(params={"mode": "payment", "success_url": "https://e.com/ok",
                                                   "line_items": [{"price": plan.id, "quantity": 1}]})
    assert wrong_mode.value.param == "line_items[0][price]"
    with pytest.raises(stripe.InvalidRequestError) as no_session:
        client.v1.checkout.sessions.retrieve("cs_test_missing")
    assert no_session.value.http_status == 404

    assert [s.id for s in client.v1.checkout.sessions.list(params={"status": "complete"}).data] \
        == [sub_session.id, session.id]
    assert [s.id for s in client.v1.checkout.sessions.list(params={"customer": cus.id}).data] == [sub_session.id]
    completed_events = client.v1.events.list(params={"type": "checkout.session.completed"}).data
    assert [e.data.object.id for e in completed_events] == [sub_session.id, session.id]

    # Another user sees none of this user's billing objects.
    other = client_for(gateway, second_user_key(gateway))
    assert other.v1.checkout.sessions.list().data == [] and other.v1.subscriptions.list().data == []
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        other.v1.checkout.sessions.retrieve(session.id)
    assert foreign.value.http_status == 404

    # Live mode sees none of the sandbox's billing objects.
    live = client_for(gateway, gateway.live_key)
    assert live.v1.checkout.sessions.list().data == [] and live.v1.products.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.subscriptions.retrieve(subscription.id)
    live_price = live.v1.prices.create(params={"unit_amount": 500, "currency": "eur",
                                               "product_data": {"name": "Live"}})
    assert live_price.livemode is True and client.v1.prices.list(params={"currency": "eur"}).data == []


def test_one_off_invoices_go_from_draft_to_open_to_paid_or_void(gateway):
    client = client_for(gateway, gateway.test_key)
    cus = client.v1.customers.create(params={"email": "inv@example.com"})
    card = client.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
    client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": card.id}})
    fee = client.v1.prices.create(params={"unit_amount": 700, "currency": "usd",
                                          "product_data": {"name": "Consulting hour"}})

    # Pending items are pulled in with pending_invoice_items_behavior=include.
    by_price = client.v1.invoice_items.create(params={"customer": cus.id, "price": fee.id, "quantity": 3})
    assert by_price.id.startswith("ii_") and by_price.amount == 2100 and by_price.invoice is None
    client.v1.invoice_items.create(params={"customer": cus.id, "amount": 500, "currency": "usd",
                                           "description": "Travel"})
    assert len(client.v1.invoice_items.list(params={"customer": cus.id, "pending": True}).data) == 2
    draft = client.v1.invoices.create(params={"customer": cus.id, "pending_invoice_items_behavior": "include",
                                              "description": "March"})
    assert (draft.status, draft.paid, draft.amount_due) == ("draft", False, 2600)
    assert [line.amount for line in draft.lines.data] == [2100, 500]
    extra = client.v1.invoice_items.create(params={"customer": cus.id, "amount": 400, "currency": "usd",
                                                   "invoice": draft.id})
    assert client.v1.invoices.retrieve(draft.id).amount_due == 3000
    client.v1.invoice_items.delete(extra.id)
    assert client.v1.invoices.update(draft.id, params={"metadata": {"po": "42"}}).amount_due == 2600

    finalized = client.v1.invoices.finalize_invoice(draft.id)
    assert finalized.status == "open" and finalized.number
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.update(draft.id, params={"description": "too late"})
    paid = client.v1.invoices.pay(draft.id)
    assert (paid.status, paid.paid, paid.amount_paid, paid.amount_remaining) == ("paid", True, 2600, 0)
    assert client.v1.charges.retrieve(paid.charge).amount == 2600

    # A second invoice is voided; an empty draft deleted.
    other = client.v1.invoices.create(params={"customer": cus.id})
    client.v1.invoice_items.create(params={"customer": cus.id, "amount": 900, "currency": "usd",
                                           "invoice": other.id})
    client.v1.invoices.finalize_invoice(other.id)
    voided = client.v1.invoices.void_invoice(other.id)
    assert voided.status == "void"
    with pytest.raises(stripe.InvalidRequestError) as not_open:
        client.v1.invoices.pay(other.id)
    assert not_open.value.http_status == 400
    empty = client.v1.invoices.create(params={"customer": cus.id})
    assert client.v1.invoices.delete(empty.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.retrieve(empty.id)
    assert [i.status for i in client.v1.invoices.list(params={"customer": cus.id}).data] == ["void", "paid"]
    types = event_types(client)
    assert {"invoice.created", "invoice.finalized", "invoice.paid", "invoice.voided", "invoice.deleted",
            "invoiceitem.created"} <= set(types)
