"""The Stripe plugin driven by the official ``stripe`` library through the marketplace gateway.

Every gateway test starts a real API server with worker processes, so the flows are
few and long. The marketplace key is the Stripe API key; ``api_base`` is the gateway's
``/plugins/stripe`` (the SDK's ``/v1`` prefix is the marketplace major segment).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest
import stripe

from mocklib_plugin_sdk.state import StoredItem


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def second_user_key(gateway, mode: str = "test") -> str:
    from chalicelib.auth.principal import Principal

    container = gateway.container
    user = container.auth.create_user(email="second-user@example.com", password="correct horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    manifest = json.loads(open(__file__.rsplit("/tests/", 1)[0] + "/chalicelib/manifest.json").read())
    container.installs.install(principal, plugin="stripe", accept_permissions=manifest["permissions"])
    return container.auth.create_key(principal, name="second", mode=mode)["api_key"]


def test_customers_lists_idempotency_modes_and_users_through_the_official_sdk(gateway, monkeypatch):
    client = client_for(gateway, gateway.test_key)

    # Create / retrieve / update (metadata merges, "" removes a key) / livemode false for test keys.
    created = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada",
                                                 "metadata": {"plan": "pro", "team": "x"}})
    assert created.id.startswith("cus_") and created.object == "customer"
    assert created.livemode is False and isinstance(created.created, int)
    assert created.metadata.to_dict() == {"plan": "pro", "team": "x"}
    fetched = client.v1.customers.retrieve(created.id)
    assert (fetched.email, fetched.name) == ("ada@example.com", "Ada")
    updated = client.v1.customers.update(created.id, params={"name": "Ada L.", "metadata": {"team": "", "k": "v"}})
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {"plan": "pro", "k": "v"}

    # Pagination exactly as Stripe: newest first, limit, has_more, cursors, auto_paging_iter.
    ids = [created.id] + [client.v1.customers.create(params={"email": f"c{i}@example.com"}).id for i in range(11)]
    newest_first = list(reversed(ids))
    page = client.v1.customers.list(params={"limit": 5})
    assert page.object == "list" and page.url == "/v1/customers" and page.has_more is True
    assert [c.id for c in page.data] == newest_first[:5]
    after = client.v1.customers.list(params={"limit": 5, "starting_after": page.data[-1].id})
    assert [c.id for c in after.data] == newest_first[5:10]
    before = client.v1.customers.list(params={"limit": 3, "ending_before": newest_first[5]})
    assert [c.id for c in before.data] == newest_first[2:5] and before.has_more is True
    assert [c.id for c in client.v1.customers.list(params={"limit": 4}).auto_paging_iter()] == newest_first
    default_page = client.v1.customers.list()
    assert len(default_page.data) == 10 and default_page.has_more is True
    assert [c.id for c in client.v1.customers.list(params={"email": "c3@example.com"}).data] == [ids[4]]
    assert len(client.v1.customers.list(params={"created": {"gte": created.created}, "limit": 100}).data) == 12
    assert client.v1.customers.list(params={"created": {"gt": created.created + 86400}}).data == []
    with pytest.raises(stripe.InvalidRequestError) as unknown_filter:
        client.v1.customers.list(params={"colour": "red"})
    assert unknown_filter.value.param == "colour"

    # Search (a subset of Stripe's query language), paged with next_page.
    found = client.v1.customers.search(params={"query": "email:'c3@example.com'"})
    assert found.object == "search_result" and [c.id for c in found.data] == [ids[4]]
    assert client.v1.customers.search(params={"query": "metadata['plan']:'pro'"}).data[0].id == created.id
    matched = client.v1.customers.search(params={"query": "email~'@example.com'", "limit": 5})
    assert matched.has_more is True and matched.next_page
    assert [c.id for c in matched.auto_paging_iter()] == newest_first
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search(params={"query": "colour:'red'"})

    # Errors in Stripe's shape raise the SDK's own classes.
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    assert missing.value.param == "id" and "No such customer" in missing.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.customers.list(params={"limit": 101})
    assert too_many.value.http_status == 400 and too_many.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"colour": "red"})
    assert unknown.value.code == "parameter_unknown" and unknown.value.param == "colour"
    # A bad key is the gateway's 401; its body nests {"error": {"type": "authentication_error"}} for SDKs.
    with pytest.raises(stripe.AuthenticationError) as unauthenticated:
        client_for(gateway, "mf_test_not_a_real_key").v1.customers.list()
    assert unauthenticated.value.http_status == 401

    # Delete: a tombstone on retrieve, gone from lists, 404 on update.
    deleted = client.v1.customers.delete(ids[1])
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(ids[1]).deleted is True
    assert ids[1] not in [c.id for c in client.v1.customers.list(params={"limit": 100}).data]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.update(ids[1], params={"name": "x"})

    # Idempotency: same key + same params replays; different params is an IdempotencyError.
    first = client.v1.customers.create(params={"email": "idem@example.com"},
                                       options={"idempotency_key": "key-1"})
    again = client.v1.customers.create(params={"email": "idem@example.com"},
                                       options={"idempotency_key": "key-1"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    with pytest.raises(stripe.IdempotencyError) as idem:
        client.v1.customers.create(params={"email": "other@example.com"}, options={"idempotency_key": "key-1"})
    assert idem.value.http_status == 400 and "key-1" in idem.value.user_message
    with pytest.raises(stripe.IdempotencyError):
        client.v1.refunds.create(params={"charge": "ch_x"}, options={"idempotency_key": "key-1"})

    # Live key through the module-level configuration: its own state, livemode true.
    monkeypatch.setattr(stripe, "api_base", f"{gateway.api_url}/plugins/stripe")
    monkeypatch.setattr(stripe, "api_key", gateway.live_key)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    assert stripe.Customer.list().data == []
    live = stripe.Customer.create(email="live@example.com", idempotency_key="key-1")
    assert live.livemode is True and live.email == "live@example.com"  # keys are per mode too
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Customer.retrieve(created.id)
    assert [c.id for c in stripe.Customer.list().auto_paging_iter()] == [live.id]

    # Another user sees none of it, even with the same idempotency key.
    other = client_for(gateway, second_user_key(gateway))
    assert other.v1.customers.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.customers.retrieve(created.id)
    mine = other.v1.customers.create(params={"email": "other@example.com"}, options={"idempotency_key": "key-1"})
    assert mine.id != first.id


def test_payment_methods_intents_charges_refunds_balance_and_events(gateway):
    client = client_for(gateway, gateway.test_key)
    customer = client.v1.customers.create(params={"email": "pay@example.com"})

    # Payment methods: test tokens attach as fresh pm_ objects; card numbers create them; detach.
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert visa.id.startswith("pm_") and visa.id != "pm_card_visa" and visa.customer == customer.id
    assert (visa.card.brand, visa.card.last4) == ("visa", "4242")
    master = client.v1.payment_methods.attach("pm_card_mastercard", params={"customer": customer.id})
    assert master.card.brand == "mastercard"
    numbered = client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4000000000009995", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    assert numbered.customer is None and numbered.card.last4 == "9995"
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert {pm.id for pm in listed.data} == {visa.id, master.id}
    assert client.v1.payment_methods.detach(master.id).customer is None

    # SetupIntents save a card for later: success attaches it; 3-D Secure asks for action first.
    setup = client.v1.setup_intents.create(params={"customer": customer.id, "payment_method": "pm_card_amex",
                                                   "confirm": True, "usage": "off_session"})
    assert setup.id.startswith("seti_") and setup.status == "succeeded"
    assert client.v1.payment_methods.retrieve(setup.payment_method).customer == customer.id
    secure_setup = client.v1.setup_intents.create(params={"customer": customer.id})
    assert secure_setup.status == "requires_payment_method"
    secure_setup = client.v1.setup_intents.confirm(secure_setup.id,
                                                   params={"payment_method": "pm_card_threeDSecure2Required"})
    assert secure_setup.status == "requires_action"
    assert client.v1.setup_intents.cancel(secure_setup.id).status == "canceled"
    client.v1.payment_methods.detach(setup.payment_method)
    assert [pm.id for pm in client.v1.customers.payment_methods.list(customer.id).data] == [visa.id]
    with pytest.raises(stripe.CardError) as bad_number:
        client.v1.payment_methods.create(params={"type": "card", "card": {
            "number": "4242424242424241", "exp_month": 1, "exp_year": 2040}})
    assert bad_number.value.code == "incorrect_number" and bad_number.value.http_status == 402

    # Automatic capture: succeeded, a Charge as latest_charge, expandable.
    paid = client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "customer": customer.id, "payment_method": visa.id, "confirm": True,
        "metadata": {"order": "42"}})
    assert paid.id.startswith("pi_") and paid.status == "succeeded" and paid.amount_received == 2000
    assert paid.latest_charge.startswith("ch_")
    expanded = client.v1.payment_intents.retrieve(paid.id, params={"expand": ["latest_charge", "customer"]})
    assert expanded.latest_charge.id == paid.latest_charge and expanded.latest_charge.paid is True
    assert expanded.latest_charge.captured is True and expanded.customer.email == "pay@example.com"

    # Step by step + manual capture of part of the amount.
    manual = client.v1.payment_intents.create(params={"amount": 5000, "currency": "usd",
                                                      "capture_method": "manual"})
    assert manual.status == "requires_payment_method"
    manual = client.v1.payment_intents.update(manual.id, params={"payment_method": "pm_card_mastercard"})
    assert manual.status == "requires_confirmation"
    manual = client.v1.payment_intents.confirm(manual.id)
    assert manual.status == "requires_capture" and manual.amount_capturable == 5000
    manual = client.v1.payment_intents.capture(manual.id, params={"amount_to_capture": 3000})
    assert manual.status == "succeeded" and manual.amount_received == 3000
    with pytest.raises(stripe.InvalidRequestError) as not_cancelable:
        client.v1.payment_intents.cancel(manual.id)
    assert not_cancelable.value.code == "payment_intent_unexpected_state"

    # Cancel an uncaptured authorization.
    held = client.v1.payment_intents.create(params={"amount": 700, "currency": "usd", "capture_method": "manual",
                                                    "payment_method": "pm_card_visa", "confirm": True})
    canceled = client.v1.payment_intents.cancel(held.id, params={"cancellation_reason": "requested_by_customer"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "requested_by_customer"

    # Declines raise CardError with decline_code; the intent goes back to requires_payment_method.
    for token, decline in [("pm_card_chargeDeclined", "generic_decline"),
                           ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")]:
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "payment_method": token,
                                                     "confirm": True})
        error = declined.value
        assert error.http_status == 402 and error.code == "card_declined"
        assert error.error.decline_code == decline and error.error.charge.startswith("ch_")
        failed_pi = client.v1.payment_intents.retrieve(error.error.payment_intent.id)
        assert failed_pi.status == "requires_payment_method"
        assert failed_pi.last_payment_error.decline_code == decline
    with pytest.raises(stripe.CardError) as by_number:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "payment_method": numbered.id,
                                                 "confirm": True})
    assert by_number.value.error.decline_code == "insufficient_funds"

    # 3-D Secure: requires_action, then confirming again completes it.
    secure = client.v1.payment_intents.create(params={
        "amount": 1500, "currency": "usd", "payment_method": "pm_card_authenticationRequired", "confirm": True})
    assert secure.status == "requires_action" and secure.next_action.type == "use_stripe_sdk"
    secure = client.v1.payment_intents.confirm(secure.id)
    assert secure.status == "succeeded"

    # Refunds: partial, then the rest; over-refunding is refused.
    partial = client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 500})
    assert partial.id.startswith("re_") and partial.status == "succeeded" and partial.charge == paid.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": paid.latest_charge, "amount": 1600})
    assert too_much.value.code == "amount_too_large" and too_much.value.param == "amount"
    rest = client.v1.refunds.create(params={"charge": paid.latest_charge})
    assert rest.amount == 1500
    charge = client.v1.charges.retrieve(paid.latest_charge, params={"expand": ["payment_intent"]})
    assert charge.refunded is True and charge.amount_refunded == 2000 and charge.payment_intent.id == paid.id
    assert client.v1.refunds.retrieve(partial.id).amount == 500
    assert [r.id for r in client.v1.refunds.list(params={"charge": paid.latest_charge}).data] == [rest.id, partial.id]
    charges = client.v1.charges.list(params={"customer": customer.id})
    assert [c.id for c in charges.data] == [paid.latest_charge]

    # Balance: captured charges wait in pending for two days (2000 + 3000 + 1500); refunds debit the
    # available balance at once (-2000).
    balance = client.v1.balance.retrieve()
    assert balance.object == "balance" and balance.livemode is False
    assert [(b.amount, b.currency) for b in balance.pending] == [(6500, "usd")]
    assert [(b.amount, b.currency) for b in balance.available] == [(-2000, "usd")]
    ledger = list(client.v1.balance_transactions.list(params={"expand": ["data.source"]}).auto_paging_iter())
    assert sum(t.net for t in ledger) == 4500 and {t.type for t in ledger} == {"charge", "refund"}
    refund_txn = client.v1.balance_transactions.retrieve(partial.balance_transaction)
    assert (refund_txn.amount, refund_txn.source) == (-500, partial.id)
    assert [t.source.id for t in ledger if t.type == "charge"][-1] == paid.latest_charge

    # Events, newest first, filterable by type.
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    for wanted in ("customer.created", "payment_method.attached", "payment_intent.succeeded", "charge.refunded",
                   "payment_intent.payment_failed", "payment_intent.canceled", "refund.created"):
        assert wanted in types
    refunded = client.v1.events.list(params={"type": "charge.refunded"})
    assert [e.data.object.id for e in refunded.data] == [paid.latest_charge] * 2
    assert refunded.data[0].data.object.amount_refunded == 2000  # newest first
    event = client.v1.events.retrieve(refunded.data[0].id)
    assert event.id.startswith("evt_") and event.type == "charge.refunded"

    searched = client.v1.payment_intents.search(params={"query": "status:'succeeded' AND amount>1800"})
    assert [pi.id for pi in searched.data] == [manual.id, paid.id]
    refunded_charges = client.v1.charges.search(params={"query": "refunded:'true' AND amount>1000"})
    assert [c.id for c in refunded_charges.data] == [paid.latest_charge]

    # Nothing of this exists in live mode.
    live = client_for(gateway, gateway.live_key)
    assert live.v1.payment_intents.list().data == [] and live.v1.balance.retrieve().available[0].amount == 0


def test_standalone_paths_keep_the_v1_prefix_and_unknown_urls_are_stripe_errors(call):
    created = call("POST", "/v1/customers", headers={"content-type": "application/x-www-form-urlencoded"},
                   body=b"email=a%40b.c&metadata[x]=1")
    assert created.status == 200, created.body
    customer = created.json()
    assert customer["email"] == "a@b.c" and customer["metadata"] == {"x": "1"} and customer["livemode"] is True
    assert call("GET", f"/customers/{customer['id']}").json()["id"] == customer["id"]
    sandboxed = call("GET", f"/customers/{customer['id']}", sandbox=True)
    assert sandboxed.status == 404 and sandboxed.json()["error"]["code"] == "resource_missing"

    unknown = call("GET", "/v1/nothing_here")
    assert unknown.status == 404
    assert unknown.json()["error"]["type"] == "invalid_request_error"
    assert "Unrecognized request URL" in unknown.json()["error"]["message"]


FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_test_card_numbers_decide_the_outcome_of_a_confirmation(call):
    def pay(number: str):
        pm = call("POST", "/payment_methods", headers=FORM,
                  body=f"type=card&card[number]={number}&card[exp_month]=12&card[exp_year]=2040".encode()).json()
        return call("POST", "/payment_intents", headers=FORM, sandbox=False,
                    body=f"amount=1000&currency=usd&confirm=true&payment_method={pm['id']}".encode())

    assert pay("4242424242424242").json()["status"] == "succeeded"
    declined = pay("4000000000000002")
    assert declined.status == 402
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "generic_decline")
    assert error["payment_intent"]["status"] == "requires_payment_method" and error["charge"].startswith("ch_")
    assert pay("4000000000009995").json()["error"]["decline_code"] == "insufficient_funds"
    assert pay("4000002500003155").json()["status"] == "requires_action"
    assert pay("5555555555554444").json()["status"] == "succeeded"


def test_an_idempotency_key_still_in_flight_is_a_409_and_is_kept_per_user(call, store):
    digest = hashlib.sha256(b"busy").hexdigest()
    pending = {"state": "pending", "fingerprint": "x", "endpoint": "POST /v1/customers"}
    store.put(StoredItem("stripe#live#usr_a", f"idempotency#{digest}", json.dumps(pending),
                         datetime.now(timezone.utc), None))
    body = b"email=a%40b.c"
    busy = call("POST", "/customers", user="usr_a", headers={**FORM, "idempotency-key": "busy"}, body=body)
    assert busy.status == 400  # the fingerprint differs: a parameter mismatch wins
    pending["fingerprint"] = hashlib.sha256(json.dumps(["/customers", [["email", "a@b.c"]]]).encode()).hexdigest()
    store.put(StoredItem("stripe#live#usr_a", f"idempotency#{digest}", json.dumps(pending),
                         datetime.now(timezone.utc), None))
    busy = call("POST", "/customers", user="usr_a", headers={**FORM, "idempotency-key": "busy"}, body=body)
    assert busy.status == 409 and busy.json()["error"]["type"] == "idempotency_error"

    other = call("POST", "/customers", user="usr_b", headers={**FORM, "idempotency-key": "busy"}, body=body)
    replay = call("POST", "/customers", user="usr_b", headers={**FORM, "idempotency-key": "busy"}, body=body)
    assert other.status == 200 and replay.json()["id"] == other.json()["id"]
    assert replay.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in other.headers
