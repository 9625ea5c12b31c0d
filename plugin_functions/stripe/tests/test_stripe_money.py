"""What the marketplace's money flows need from Stripe, driven by the official ``stripe`` library through
the marketplace gateway: plan changes with proration, cancel at the period end and resume, Checkout in
setup mode, invoice search by metadata, a failed invoice paid later, refunds of invoice charges,
disputes, transfer groups and reversals, idempotency keys forgotten after 24 hours."""
from __future__ import annotations

import pytest
import stripe


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def raw(client: stripe.StripeClient, path: str, **params) -> dict:
    return client.deserialize(client.raw_request("post", path, **params), api_mode="V1").to_dict()


def types(client: stripe.StripeClient) -> list[str]:
    return [e.type for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]


def test_plan_changes_setup_checkout_failed_invoices_refunds_and_searches(gateway):
    client = client_for(gateway, gateway.test_key)
    customer = client.v1.customers.create(params={"email": "plans@example.com"})
    product = client.v1.products.create(params={"name": "Proveniq"})
    pro = client.v1.prices.create(params={"unit_amount": 9_900, "currency": "usd", "product": product.id,
                                          "recurring": {"interval": "month"}})
    team = client.v1.prices.create(params={"unit_amount": 29_900, "currency": "usd", "product": product.id,
                                           "recurring": {"interval": "month"}})

    # Checkout in setup mode: a card saved, nothing charged, the SetupIntent names it.
    with pytest.raises(stripe.InvalidRequestError) as no_currency:
        client.v1.checkout.sessions.create(params={"mode": "setup", "customer": customer.id,
                                                   "success_url": "https://x.example/ok"})
    assert no_currency.value.param == "currency"
    setup = client.v1.checkout.sessions.create(params={
        "mode": "setup", "customer": customer.id, "currency": "usd", "success_url": "https://x.example/ok",
        "setup_intent_data": {"metadata": {"user_id": "usr_1"}}, "metadata": {"kind": "setup"}})
    assert setup.mode == "setup" and setup.amount_total is None and setup.url.startswith("https://checkout.stripe")
    done = raw(client, f"/v1/test_helpers/checkout/sessions/{setup.id}/complete", payment_method="pm_card_visa")
    assert done["status"] == "complete" and done["payment_status"] == "no_payment_required"
    intent = client.v1.setup_intents.retrieve(done["setup_intent"])
    assert intent.status == "succeeded" and intent.customer == customer.id and intent.metadata["user_id"] == "usr_1"
    assert client.v1.payment_methods.retrieve(intent.payment_method).customer == customer.id
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": intent.payment_method}})
    assert {"setup_intent.succeeded", "checkout.session.completed"} <= set(types(client))

    # Upgrade now with proration: the difference for the rest of the period, invoiced and paid.
    sub = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": pro.id}],
                                                 "metadata": {"plan": "pro"}})
    assert sub.status == "active"
    item = sub["items"].data[0].id
    upgraded = client.v1.subscriptions.update(sub.id, params={
        "items": [{"id": item, "price": team.id}], "proration_behavior": "always_invoice",
        "payment_behavior": "error_if_incomplete", "metadata": {"plan": "team"}})
    assert upgraded["items"].data[0].price.id == team.id and upgraded.metadata["plan"] == "team"
    proration = client.v1.invoices.retrieve(upgraded.latest_invoice)
    assert proration.billing_reason == "subscription_update" and proration.status == "paid"
    credit, charge = (line.amount for line in proration.lines.data)
    assert -9_900 <= credit < 0 < charge <= 29_900 and 0 < proration.amount_paid == credit + charge <= 20_000
    assert all(line.to_dict()["proration"] for line in proration.lines.data)

    # A declined proration with error_if_incomplete changes nothing.
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": None}})
    declined = client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": customer.id})
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": declined.id})
    enterprise = client.v1.prices.create(params={"unit_amount": 99_900, "currency": "usd", "product": product.id,
                                                 "recurring": {"interval": "month"}})
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.update(sub.id, params={
            "items": [{"id": item, "price": enterprise.id}], "proration_behavior": "always_invoice",
            "payment_behavior": "error_if_incomplete"})
    kept = client.v1.subscriptions.retrieve(sub.id)
    assert kept["items"].data[0].price.id == team.id and kept.status == "active"
    assert client.v1.invoices.list(params={"subscription": sub.id, "status": "void"}).data[0].total > 0

    # Downgrade at the period end (no proration), cancel at the period end, resume.
    client.v1.subscriptions.update(sub.id, params={"default_payment_method": intent.payment_method})
    down = client.v1.subscriptions.update(sub.id, params={"items": [{"id": item, "price": pro.id}],
                                                          "proration_behavior": "none"})
    assert down["items"].data[0].price.id == pro.id and down.latest_invoice == upgraded.latest_invoice
    cancelling = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": True})
    assert cancelling.cancel_at_period_end and cancelling.cancel_at == cancelling.current_period_end
    resumed = client.v1.subscriptions.update(sub.id, params={"cancel_at_period_end": False})
    assert not resumed.cancel_at_period_end and resumed.cancel_at is None
    renewed = raw(client, f"/v1/test_helpers/subscriptions/{sub.id}/advance")
    cycle = client.v1.invoices.retrieve(renewed["latest_invoice"])
    assert cycle.billing_reason == "subscription_cycle" and cycle.amount_paid == 9_900  # the lower price

    # create_prorations: billed with the next renewal.
    client.v1.subscriptions.update(sub.id, params={"items": [{"id": item, "price": team.id}]})
    next_cycle = client.v1.invoices.retrieve(raw(client, f"/v1/test_helpers/subscriptions/{sub.id}/advance")
                                             ["latest_invoice"])
    assert len(next_cycle.lines.data) == 3 and next_cycle.amount_paid > 29_900 - 9_900

    # A one-off invoice found again by its metadata; a failed payment paid later with another card.
    other = client.v1.customers.create(params={"email": "late@example.com"})
    bad = client.v1.payment_methods.attach("pm_card_chargeDeclined", params={"customer": other.id})
    client.v1.customers.update(other.id, params={"invoice_settings": {"default_payment_method": bad.id}})
    usage = client.v1.invoices.create(params={"customer": other.id, "metadata": {"mf_invoice": "usage-usr_9-2026-11"}})
    client.v1.invoice_items.create(params={"customer": other.id, "invoice": usage.id, "amount": 12_345,
                                           "currency": "usd", "description": "calls"})
    client.v1.invoices.finalize_invoice(usage.id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(usage.id)
    assert client.v1.invoices.retrieve(usage.id).status == "open"
    assert "invoice.payment_failed" in types(client)
    found = client.v1.invoices.search(params={
        "query": f"customer:'{other.id}' AND metadata['mf_invoice']:'usage-usr_9-2026-11'"})
    assert [i.id for i in found.data] == [usage.id]
    paid = client.v1.invoices.pay(usage.id, params={"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and paid.amount_paid == 12_345

    # Refund part of the invoice's charge, then the rest: charge.refunded says how much so far.
    pi = paid.to_dict()["payment_intent"]
    first = client.v1.refunds.create(params={"payment_intent": pi, "amount": 2_345})
    rest = client.v1.refunds.create(params={"payment_intent": pi})
    assert (first.amount, rest.amount) == (2_345, 10_000)
    refunded = [e.data.object for e in client.v1.events.list(params={"type": "charge.refunded", "limit": 2}).data]
    assert [c.amount_refunded for c in refunded] == [12_345, 2_345] and refunded[0].payment_intent == pi
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.refunds.create(params={"payment_intent": pi, "amount": 1})
    assert twice.value.code == "charge_already_refunded"


def test_disputes_transfer_groups_reversals_and_forgotten_idempotency_keys(gateway):
    client = client_for(gateway, gateway.test_key)
    customer = client.v1.customers.create(params={"email": "dispute@example.com"})
    intent = client.v1.payment_intents.create(params={"amount": 20_000, "currency": "usd", "customer": customer.id,
                                                      "payment_method": "pm_card_bypassPending", "confirm": True})
    # bypassPending: the charges' funds are available at once, so the dispute arithmetic shows there
    balance = lambda: next(b.amount for b in client.v1.balance.retrieve().available if b.currency == "usd")  # noqa: E731
    before = balance()

    # A dispute takes the amount and Stripe's $15 fee at once; lost, they stay gone; won, the amount comes back.
    lost = raw(client, f"/v1/test_helpers/charges/{intent.latest_charge}/dispute", amount=5_000, reason="fraudulent")
    assert lost["status"] == "needs_response" and lost["payment_intent"] == intent.id
    assert lost["balance_transactions"][0]["fee"] == 1_500 and balance() == before - 6_500
    assert client.v1.charges.retrieve(intent.latest_charge).disputed is True
    with pytest.raises(stripe.InvalidRequestError):
        raw(client, f"/v1/test_helpers/charges/{intent.latest_charge}/dispute")
    accepted = client.v1.disputes.close(lost["id"])
    assert accepted.status == "lost" and balance() == before - 6_500
    closed = client.v1.events.list(params={"type": "charge.dispute.closed", "limit": 1}).data[0].data.object
    assert (closed.id, closed.status, closed.amount) == (lost["id"], "lost", 5_000)
    second = client.v1.payment_intents.create(params={"amount": 3_000, "currency": "usd",
                                                      "payment_method": "pm_card_bypassPending", "confirm": True})
    won = raw(client, f"/v1/test_helpers/charges/{second.latest_charge}/dispute")
    decided = raw(client, f"/v1/test_helpers/disputes/{won['id']}/close", status="won")
    assert decided["status"] == "won" and decided["amount"] == 3_000
    assert balance() == before - 6_500 + 3_000 - 1_500
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": second.id}).data] == [won["id"]]
    assert client.v1.disputes.retrieve(won["id"]).status == "won"

    # Transfers found by their group; reversals listed with their metadata.
    account = client.v1.accounts.create(params={"type": "express", "country": "US", "email": "dev@example.com"})
    raw(client, f"/v1/test_helpers/accounts/{account.id}/onboard")
    transfer = client.v1.transfers.create(params={"amount": 5_600, "currency": "usd", "destination": account.id,
                                                  "transfer_group": "payout-usr_d-2026-11-01"},
                                          options={"idempotency_key": "payout-usr_d-2026-11-01-a1"})
    found = client.v1.transfers.list(params={"transfer_group": "payout-usr_d-2026-11-01"}).data
    assert [t.id for t in found] == [transfer.id]
    assert client.v1.transfers.list(params={"transfer_group": "payout-usr_d-2026-11-15"}).data == []
    reversal = client.v1.transfers.reversals.create(transfer.id, params={"amount": 700,
                                                                         "metadata": {"mf_clawback": "usr_d:p"}})
    listed = client.v1.transfers.reversals.list(transfer.id).data
    assert [(r.id, r.amount, r.metadata["mf_clawback"]) for r in listed] == [(reversal.id, 700, "usr_d:p")]

    # Idempotency keys replay a result for 24 hours, then are forgotten (the test helper skips the wait).
    again = client.v1.transfers.create(params={"amount": 5_600, "currency": "usd", "destination": account.id,
                                               "transfer_group": "payout-usr_d-2026-11-01"},
                                       options={"idempotency_key": "payout-usr_d-2026-11-01-a1"})
    assert again.id == transfer.id
    assert raw(client, "/v1/test_helpers/idempotency_keys/expire")["expired"] >= 1
    later = client.v1.transfers.create(params={"amount": 5_600, "currency": "usd", "destination": account.id,
                                               "transfer_group": "payout-usr_d-2026-11-01"},
                                       options={"idempotency_key": "payout-usr_d-2026-11-01-a1"})
    assert later.id != transfer.id  # why a payout always looks in its transfer group first
    assert len(client.v1.transfers.list(params={"transfer_group": "payout-usr_d-2026-11-01"}).data) == 2
