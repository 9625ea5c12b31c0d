"""Charges API with tokens and sources, the pending balance, coupons and promotion codes, tax rates and
tax ids, payouts, and Stripe's error shapes, driven by the official ``stripe`` library through the
marketplace gateway."""
from __future__ import annotations

import pytest
import stripe


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def balance_of(client: stripe.StripeClient, status: str) -> int:
    balance = client.v1.balance.retrieve()
    return next((b.amount for b in getattr(balance, status) if b.currency == "usd"), 0)


def test_charges_tokens_sources_pending_balance_and_payouts_work_like_stripe(gateway):
    client = client_for(gateway, gateway.test_key)

    # Unknown URLs and path words are Stripe's "Unrecognized request URL" 404 (type and message only).
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.raw_request("get", "/v1/invoices/create_preview")
    assert unknown.value.http_status == 404
    assert unknown.value.json_body == {"error": {
        "message": "Unrecognized request URL (GET: /v1/invoices/create_preview). Please see https://stripe.com/docs "
                   "or we can help at https://support.stripe.com/.", "type": "invalid_request_error"}}
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_nope")
    error = missing.value.json_body["error"]
    assert (error["code"], error["param"], error["doc_url"]) == (
        "resource_missing", "id", "https://stripe.com/docs/error-codes/resource-missing")
    assert error["request_log_url"].startswith("https://dashboard.stripe.com/test/logs/req_")

    # Charges API: a test token, captured at once; its funds wait two days in the pending balance.
    charge = client.v1.charges.create(params={"amount": 2000, "currency": "usd", "source": "tok_visa"})
    assert charge.id.startswith("ch_") and charge.paid and charge.captured and charge.status == "succeeded"
    assert charge.source.object == "card" and charge.source.brand == "Visa" and charge.source.last4 == "4242"
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction)
    assert txn.status == "pending" and txn.available_on > txn.created
    assert (balance_of(client, "pending"), balance_of(client, "available")) == (2000, 0)

    # 4000000000000077 (POST /tokens with the number) goes straight to the available balance.
    token = client.v1.tokens.create(params={"card": {"number": "4000000000000077", "exp_month": 12,
                                                     "exp_year": 2034, "cvc": "123"}})
    assert token.id.startswith("tok_") and token.card.id.startswith("card_") and token.used is False
    bypass = client.v1.charges.create(params={"amount": 5000, "currency": "usd", "source": token.id})
    assert client.v1.balance_transactions.retrieve(bypass.balance_transaction).status == "available"
    assert (balance_of(client, "pending"), balance_of(client, "available")) == (2000, 5000)
    with pytest.raises(stripe.InvalidRequestError) as reused:
        client.v1.charges.create(params={"amount": 5000, "currency": "usd", "source": token.id})
    assert reused.value.code == "token_already_used"
    bypass_pm = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                         "payment_method": "pm_card_bypassPending"})
    assert bypass_pm.status == "succeeded" and balance_of(client, "available") == 6000

    # capture=false authorises; POST /charges/{id}/capture takes all or part of it.
    held = client.v1.charges.create(params={"amount": 3000, "currency": "usd", "source": "tok_mastercard",
                                            "capture": False})
    assert held.captured is False and held.balance_transaction is None
    captured = client.v1.charges.capture(held.id, params={"amount": 2500})
    assert captured.captured and captured.amount_captured == 2500 and captured.amount_refunded == 500
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.charges.capture(held.id)
    assert twice.value.code == "charge_already_captured"

    # A declining token is a 402 card error naming the failed charge.
    with pytest.raises(stripe.CardError) as declined:
        client.v1.charges.create(params={"amount": 2000, "currency": "usd", "source": "tok_chargeDeclined"})
    assert declined.value.code == "card_declined" and declined.value.error.decline_code == "generic_decline"
    failed = client.v1.charges.retrieve(declined.value.json_body["error"]["charge"])
    assert failed.status == "failed" and failed.failure_code == "card_declined"

    # Customer cards: attach a token, the first becomes default_source, charging the customer uses it.
    customer = client.v1.customers.create(params={"email": "cards@example.com", "source": "tok_amex"})
    assert customer.default_source.startswith("card_")
    second = client.v1.customers.payment_sources.create(customer.id,
                                                         params={"source": "tok_visa_debit"})
    cards = client.v1.customers.payment_sources.list(customer.id, params={"object": "card"})
    assert {c.id for c in cards.data} == {customer.default_source, second.id}
    by_default = client.v1.charges.create(params={"amount": 1200, "currency": "usd", "customer": customer.id})
    assert by_default.source.id == customer.default_source and by_default.customer == customer.id
    client.v1.customers.update(customer.id, params={"default_source": second.id})
    assert client.v1.charges.create(params={"amount": 1200, "currency": "usd",
                                            "customer": customer.id}).source.funding == "debit"
    deleted = client.v1.customers.payment_sources.delete(customer.id, second.id)
    assert deleted.deleted is True
    source = client.v1.sources.create(params={"type": "card", "token": "tok_visa"})
    assert source.id.startswith("src_") and source.status == "chargeable" and source.card.last4 == "4242"

    # A customer created with a test PaymentMethod that is also its invoice default.
    ada = client.v1.customers.create(params={"payment_method": "pm_card_visa",
                                             "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    default_pm = ada.invoice_settings.default_payment_method
    assert default_pm.startswith("pm_") and client.v1.payment_methods.retrieve(default_pm).customer == ada.id

    # Payouts take only the available balance.
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payouts.create(params={"amount": 1_000_000, "currency": "usd"})
    assert too_much.value.code == "balance_insufficient"
    available = balance_of(client, "available")
    payout = client.v1.payouts.create(params={"amount": 4000, "currency": "usd"})
    assert payout.id.startswith("po_") and payout.status == "paid"
    assert balance_of(client, "available") == available - 4000
    assert [p.id for p in client.v1.payouts.list().data] == [payout.id]


def test_coupons_promotion_codes_discounts_tax_rates_and_tax_ids_apply_like_stripe(gateway):
    client = client_for(gateway, gateway.test_key)
    half = client.v1.coupons.create(params={"percent_off": 50, "duration": "once", "id": "HALF"})
    assert (half.id, half.percent_off, half.valid, half.times_redeemed) == ("HALF", 50, True, 0)
    five = client.v1.coupons.create(params={"amount_off": 500, "currency": "usd", "duration": "repeating",
                                            "duration_in_months": 3})
    promo = client.v1.promotion_codes.create(params={"coupon": five.id, "code": "WELCOME"})
    assert promo.id.startswith("promo_") and promo.coupon.id == five.id and promo.active
    assert [p.id for p in client.v1.promotion_codes.list(params={"code": "WELCOME"}).data] == [promo.id]

    product = client.v1.products.create(params={"name": "Pro"})
    price = client.v1.prices.create(params={"unit_amount": 2000, "currency": "usd", "product": product.id,
                                            "recurring": {"interval": "month"}})
    ada = client.v1.customers.create(params={"email": "ada@example.com", "payment_method": "pm_card_visa",
                                             "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    sub = client.v1.subscriptions.create(params={"customer": ada.id, "items": [{"price": price.id}],
                                                 "coupon": "HALF", "expand": ["latest_invoice"]})
    assert sub.status == "active" and sub.discount.coupon.id == "HALF"
    invoice = sub.latest_invoice
    assert (invoice.subtotal, invoice.total, invoice.amount_paid) == (2000, 1000, 1000)
    assert client.v1.coupons.retrieve("HALF").times_redeemed == 1
    assert client.v1.subscriptions.delete_discount(sub.id).deleted is True

    bob = client.v1.customers.create(params={"email": "bob@example.com", "promotion_code": promo.id,
                                             "payment_method": "pm_card_visa",
                                             "invoice_settings": {"default_payment_method": "pm_card_visa"}})
    assert bob.discount.promotion_code == promo.id and bob.discount.coupon.amount_off == 500
    bob_sub = client.v1.subscriptions.create(params={"customer": bob.id, "items": [{"price": price.id}],
                                                     "expand": ["latest_invoice"]})
    assert bob_sub.latest_invoice.total == 1500
    # The upcoming invoice: create_preview (today's API); GET /invoices/upcoming is gone since 2025-03-31.
    preview = client.deserialize(client.raw_request("post", "/v1/invoices/create_preview", customer=bob.id),
                                 api_mode="V1")
    assert preview.billing_reason == "upcoming" and preview.subscription == bob_sub.id
    assert (preview.subtotal, preview.total) == (2000, 1500) and preview.period_start == bob_sub.current_period_end
    with pytest.raises(stripe.InvalidRequestError) as upcoming:
        client.raw_request("get", "/v1/invoices/upcoming", customer=bob.id)
    assert upcoming.value.http_status == 404 and upcoming.value.json_body["error"]["message"].startswith(
        "Unrecognized request URL (GET: /v1/invoices/upcoming).")
    assert client.v1.customers.delete_discount(bob.id).deleted is True
    assert client.v1.customers.retrieve(bob.id).discount is None

    # Tax rates and customer tax ids are recorded (no tax is computed).
    vat = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": False,
                                             "country": "GB"})
    assert vat.id.startswith("txr_") and vat.percentage == 20 and vat.active
    assert client.v1.tax_rates.update(vat.id, params={"active": False}).active is False
    tax_id = client.v1.customers.tax_ids.create(ada.id, params={"type": "eu_vat", "value": "DE123456789"})
    assert tax_id.id.startswith("txi_") and tax_id.country == "EU" and tax_id.customer == ada.id
    assert [t.id for t in client.v1.customers.tax_ids.list(ada.id).data] == [tax_id.id]
    assert client.v1.customers.tax_ids.delete(ada.id, tax_id.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as bad_coupon:
        client.v1.subscriptions.create(params={"customer": ada.id, "items": [{"price": price.id}],
                                               "coupon": "NOPE"})
    assert bad_coupon.value.code == "resource_missing" and bad_coupon.value.param == "coupon"
