"""Connect (accounts, account links, transfers, reversals) and signed webhook endpoints, driven by the
official ``stripe`` library through the marketplace gateway. Few, long flows: every gateway test
starts a real API server with worker processes."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def second_user_key(gateway) -> str:
    from chalicelib.auth.principal import Principal

    container = gateway.container
    user = container.auth.create_user(email="connect-second@example.com", password="correct horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    manifest = json.loads(open(__file__.rsplit("/tests/", 1)[0] + "/chalicelib/manifest.json").read())
    container.installs.install(principal, plugin="stripe", accept_permissions=manifest["permissions"])
    return container.auth.create_key(principal, name="second", mode="test")["api_key"]


def fund_platform(client: stripe.StripeClient, amount: int) -> None:
    # The bypass card: other cards' funds wait two days in the pending balance, as on Stripe.
    intent = client.v1.payment_intents.create(params={"amount": amount, "currency": "usd",
                                                      "payment_method": "pm_card_bypassPending", "confirm": True})
    assert intent.status == "succeeded"


def usd_available(client: stripe.StripeClient) -> int:
    return next(b.amount for b in client.v1.balance.retrieve().available if b.currency == "usd")


def test_connect_accounts_onboarding_transfers_reversals_and_idempotency(gateway):
    client = client_for(gateway, gateway.test_key)

    # Accounts: create / retrieve / update / list / delete.
    express = client.v1.accounts.create(params={
        "type": "express", "email": "seller@example.com", "country": "US",
        "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
        "metadata": {"seller": "1"}})
    assert express.id.startswith("acct_") and express.object == "account" and express.type == "express"
    assert (express.charges_enabled, express.payouts_enabled, express.details_submitted) == (False, False, False)
    assert express.capabilities.to_dict() == {"card_payments": "inactive", "transfers": "inactive"}
    assert express.default_currency == "usd" and express.metadata.to_dict() == {"seller": "1"}
    assert "tos_acceptance.date" in express.requirements.currently_due
    assert client.v1.accounts.retrieve(express.id).email == "seller@example.com"
    updated = client.v1.accounts.update(express.id, params={"email": "new@example.com", "metadata": {"tier": "a"}})
    assert updated.email == "new@example.com" and updated.metadata.to_dict() == {"seller": "1", "tier": "a"}
    with pytest.raises(stripe.InvalidRequestError) as no_type:
        client.v1.accounts.create(params={"email": "x@example.com"})
    assert no_type.value.code == "parameter_missing" and no_type.value.param == "type"

    # Account links, then the mock-only onboarding helper flips the flags.
    link = client.v1.account_links.create(params={"account": express.id, "refresh_url": "https://example.com/r",
                                                  "return_url": "https://example.com/ok",
                                                  "type": "account_onboarding"})
    assert link.object == "account_link" and link.url.startswith("https://connect.stripe.com/")
    assert link.expires_at > link.created
    with pytest.raises(stripe.InvalidRequestError) as no_account:
        client.v1.account_links.create(params={"account": "acct_missing", "refresh_url": "https://e.com/r",
                                               "return_url": "https://e.com/ok", "type": "account_onboarding"})
    assert no_account.value.code == "resource_missing" and no_account.value.http_status == 404
    onboarded = client.raw_request("post", f"/v1/test_helpers/accounts/{express.id}/onboard")
    assert json.loads(onboarded.body)["charges_enabled"] is True
    fetched = client.v1.accounts.retrieve(express.id)
    assert (fetched.charges_enabled, fetched.payouts_enabled, fetched.details_submitted) == (True, True, True)
    assert fetched.capabilities.to_dict() == {"card_payments": "active", "transfers": "active"}

    # Custom accounts are enabled once every onboarding field is present.
    custom = client.v1.accounts.create(params={
        "type": "custom", "country": "US", "business_type": "individual",
        "business_profile": {"url": "https://shop.example.com"}, "external_account": "btok_us",
        "tos_acceptance": {"date": 1700000000, "ip": "8.8.8.8"}})
    assert custom.charges_enabled is True and custom.requirements.currently_due == []
    partial = client.v1.accounts.create(params={"type": "custom", "business_type": "company"})
    assert partial.charges_enabled is False
    assert client.v1.accounts.update(partial.id, params={
        "business_profile": {"url": "https://b.example.com"}, "external_account": "btok_us",
        "tos_acceptance": {"date": 1700000000, "ip": "8.8.8.8"}}).payouts_enabled is True
    assert [a.id for a in client.v1.accounts.list().data] == [partial.id, custom.id, express.id]
    deleted = client.v1.accounts.delete(partial.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.accounts.retrieve(partial.id)

    # Transfers debit the platform balance; too much is balance_insufficient.
    fund_platform(client, 5000)
    assert usd_available(client) == 5000
    with pytest.raises(stripe.InvalidRequestError) as broke:
        client.v1.transfers.create(params={"amount": 6000, "currency": "usd", "destination": express.id})
    assert broke.value.code == "balance_insufficient" and broke.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as nowhere:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": "acct_nope"})
    assert nowhere.value.code == "resource_missing" and nowhere.value.param == "destination"
    transfer = client.v1.transfers.create(
        params={"amount": 2000, "currency": "usd", "destination": express.id, "transfer_group": "ORDER_1",
                "metadata": {"order": "1"}, "description": "payout share"},
        options={"idempotency_key": "tr-1"})
    assert transfer.id.startswith("tr_") and transfer.object == "transfer" and transfer.amount == 2000
    assert (transfer.destination, transfer.transfer_group, transfer.description) == (express.id, "ORDER_1",
                                                                                    "payout share")
    assert transfer.reversed is False and transfer.amount_reversed == 0 and transfer.reversals.data == []
    replay = client.v1.transfers.create(
        params={"amount": 2000, "currency": "usd", "destination": express.id, "transfer_group": "ORDER_1",
                "metadata": {"order": "1"}, "description": "payout share"},
        options={"idempotency_key": "tr-1"})
    assert replay.id == transfer.id and replay.last_response.headers.get("Idempotent-Replayed") == "true"
    assert usd_available(client) == 3000  # debited once
    other = client.v1.transfers.create(params={"amount": 500, "currency": "usd", "destination": custom.id})
    assert [t.id for t in client.v1.transfers.list().data] == [other.id, transfer.id]
    assert [t.id for t in client.v1.transfers.list(params={"destination": express.id}).data] == [transfer.id]
    assert client.v1.transfers.retrieve(transfer.id).metadata.to_dict() == {"order": "1"}
    assert client.v1.transfers.update(transfer.id, params={"metadata": {"x": "y"}}).metadata.to_dict() == {
        "order": "1", "x": "y"}
    txn = client.v1.balance_transactions.retrieve(transfer.balance_transaction)
    assert (txn.type, txn.amount) == ("transfer", -2000)

    # Reversals: partial, then the rest; too much is amount_too_large.
    partial_rev = client.v1.transfers.reversals.create(transfer.id, params={"amount": 500})
    assert partial_rev.id.startswith("trr_") and partial_rev.object == "transfer_reversal"
    assert partial_rev.amount == 500 and partial_rev.transfer == transfer.id
    after = client.v1.transfers.retrieve(transfer.id)
    assert (after.amount_reversed, after.reversed) == (500, False)
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.transfers.reversals.create(transfer.id, params={"amount": 5000})
    assert too_much.value.code == "amount_too_large"
    rest = client.v1.transfers.reversals.create(transfer.id)
    assert rest.amount == 1500
    full = client.v1.transfers.retrieve(transfer.id)
    assert (full.amount_reversed, full.reversed) == (2000, True) and full.reversals.total_count == 2
    assert [r.id for r in client.v1.transfers.reversals.list(transfer.id).data] == [rest.id, partial_rev.id]
    assert client.v1.transfers.reversals.retrieve(transfer.id, rest.id).amount == 1500
    assert usd_available(client) == 5000 - 500  # only `other` remains out
    events = client.v1.events.list(params={"type": "transfer.*"}).data
    assert [e.type for e in events][:2] == ["transfer.reversed", "transfer.reversed"]

    # Sandbox and live never see each other's accounts.
    live = client_for(gateway, gateway.live_key)
    assert live.v1.accounts.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        live.v1.transfers.retrieve(transfer.id)

    # Another user neither sees these accounts nor can transfer to them.
    stranger = client_for(gateway, second_user_key(gateway))
    assert stranger.v1.accounts.list().data == [] and stranger.v1.transfers.list().data == []
    fund_platform(stranger, 1000)
    with pytest.raises(stripe.InvalidRequestError) as foreign:
        stranger.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": express.id})
    assert foreign.value.code == "resource_missing"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_webhook_endpoints_receive_events_signed_exactly_as_stripe_signs(gateway):
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        client = client_for(gateway, gateway.test_key)
        hook = client.v1.webhook_endpoints.create(params={"url": url, "enabled_events": ["customer.created"],
                                                          "description": "mine"})
        assert hook.id.startswith("we_") and hook.secret.startswith("whsec_") and hook.status == "enabled"
        fetched = client.v1.webhook_endpoints.retrieve(hook.id)
        assert fetched.url == url and "secret" not in fetched
        assert [w.id for w in client.v1.webhook_endpoints.list().data] == [hook.id]
        everything = client.v1.webhook_endpoints.create(params={"url": url + "/all", "enabled_events": ["*"]})
        client.v1.webhook_endpoints.update(everything.id, params={"disabled": True})
        with pytest.raises(stripe.InvalidRequestError) as no_events:
            client.v1.webhook_endpoints.create(params={"url": url})
        assert no_events.value.param == "enabled_events"

        customer = client.v1.customers.create(params={"email": "hook@example.com"})
        client.v1.customers.update(customer.id, params={"name": "not subscribed"})  # customer.updated: not sent
        deadline = time.monotonic() + 10
        while not _Receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(_Receiver.received) == 1
        headers, body = _Receiver.received[0]
        event = stripe.Webhook.construct_event(body.decode(), headers["stripe-signature"], hook.secret)
        assert event.type == "customer.created" and event.data.object.id == customer.id
        assert client.v1.events.retrieve(event.id).pending_webhooks == 1
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body.decode().replace("hook@", "evil@"), headers["stripe-signature"],
                                           hook.secret)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body.decode(), headers["stripe-signature"], "whsec_wrong")

        # '*' endpoints get everything once re-enabled; deleted endpoints get nothing.
        client.v1.webhook_endpoints.update(everything.id, params={"disabled": False})
        client.v1.webhook_endpoints.delete(hook.id)
        _Receiver.received = []
        client.v1.customers.update(customer.id, params={"name": "now everything"})
        deadline = time.monotonic() + 10
        while not _Receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        assert len(_Receiver.received) == 1
        headers, body = _Receiver.received[0]
        event = stripe.Webhook.construct_event(body.decode(), headers["stripe-signature"], everything.secret)
        assert event.type == "customer.updated"
        assert [w.id for w in client.v1.webhook_endpoints.list().data] == [everything.id]
    finally:
        server.shutdown()
