"""StripePayments (the PaymentsPort adapter) against the local Stripe stand-in.

The stand-in is session-scoped: every test makes its own customers, accounts and keys and
never assumes an empty list.
"""
from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from chalicelib.payments.port import InvalidWebhookError, InvoiceLine, PaymentsError
from chalicelib.payments.stripe_gateway import StripePayments
from tests.stripe_standin import WEBHOOK_SECRET, StripeStandIn, sign_event


def new_customer(payments: StripePayments, standin: StripeStandIn, card: str | None = "pm_card_visa") -> str:
    user = standin.unique("user")
    customer_id = payments.create_customer(user_id=user, email=f"{user}@example.com",
                                           idempotency_key=standin.unique("cus"))
    if card is not None:
        payments.set_default_payment_method(customer_id=customer_id, payment_method=card)
    return customer_id


def recurring_price(payments: StripePayments, standin: StripeStandIn, amount: int = 1500) -> str:
    return payments.ensure_price(lookup_key=standin.unique("plan"), product_name="Pro plan",
                                 unit_amount_cents=amount, interval="month", metadata={"plugin": "pro"})


# --- customers and prices -----------------------------------------------------------------------------

def test_create_customer_is_idempotent_and_tagged(stripe_payments: StripePayments,
                                                   stripe_standin: StripeStandIn) -> None:
    key = stripe_standin.unique("cus")
    first = stripe_payments.create_customer(user_id="u-42", email="ada@example.com", idempotency_key=key)
    again = stripe_payments.create_customer(user_id="u-42", email="ada@example.com", idempotency_key=key)

    assert first == again and first.startswith("cus_")
    customer = stripe_standin.client.v1.customers.retrieve(first)
    assert customer.email == "ada@example.com"
    assert customer.metadata is not None and customer.metadata.to_dict() == {"user_id": "u-42"}
    assert customer.livemode is False  # mf_test_ key: sandbox


def test_set_default_payment_method_attaches_the_token(stripe_payments: StripePayments,
                                                       stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)

    pm_id = stripe_payments.set_default_payment_method(customer_id=customer_id, payment_method="pm_card_visa")

    assert pm_id.startswith("pm_") and pm_id != "pm_card_visa"
    customer = stripe_standin.client.v1.customers.retrieve(customer_id)
    assert customer.invoice_settings is not None and customer.invoice_settings.default_payment_method == pm_id
    assert stripe_standin.client.v1.payment_methods.retrieve(pm_id).customer == customer_id


def test_ensure_price_returns_the_same_price_for_a_lookup_key(stripe_payments: StripePayments,
                                                              stripe_standin: StripeStandIn) -> None:
    monthly_key, once_key = stripe_standin.unique("monthly"), stripe_standin.unique("once")

    monthly = [stripe_payments.ensure_price(lookup_key=monthly_key, product_name="Pro", unit_amount_cents=1500,
                                            interval="month", metadata={"plugin": "pro"}) for _ in range(2)]
    once = [stripe_payments.ensure_price(lookup_key=once_key, product_name="Credits", unit_amount_cents=500,
                                         interval=None, metadata={"plugin": "credits"}) for _ in range(2)]

    assert monthly[0] == monthly[1] and once[0] == once[1] and monthly[0] != once[0]
    price = stripe_standin.client.v1.prices.retrieve(monthly[0])
    assert (price.type, price.unit_amount, price.currency, price.lookup_key) == ("recurring", 1500, "usd",
                                                                                  monthly_key)
    assert price.recurring is not None and price.recurring.interval == "month"
    assert price.metadata.to_dict() == {"plugin": "pro"}
    one_time = stripe_standin.client.v1.prices.retrieve(once[0])
    assert (one_time.type, one_time.unit_amount, one_time.lookup_key) == ("one_time", 500, once_key)
    for key, expected in ((monthly_key, monthly[0]), (once_key, once[0])):
        listed = stripe_standin.client.v1.prices.list(params={"lookup_keys": [key]})
        assert [p.id for p in listed.data] == [expected]


def test_ensure_price_after_a_lost_race_converges(stripe_payments: StripePayments, stripe_standin: StripeStandIn,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two creators that both saw no price: the derived idempotency key makes the second a replay."""
    key = stripe_standin.unique("raced")
    ask: dict[str, Any] = {"lookup_key": key, "product_name": "Team", "unit_amount_cents": 700,
                           "interval": "year", "metadata": {"plugin": "team"}}
    prices = stripe_payments.client.v1.prices
    real_list = prices.list
    empty = real_list(params={"lookup_keys": [stripe_standin.unique("nothing")]})
    monkeypatch.setattr(prices, "list", lambda *args, **kwargs: empty)  # both looked before either created

    first = stripe_payments.ensure_price(**ask)
    second = stripe_payments.ensure_price(**ask)

    monkeypatch.undo()
    assert first == second
    assert [p.id for p in real_list(params={"lookup_keys": [key]}).data] == [first]
    assert stripe_standin.client.v1.prices.retrieve(first).active is True


# --- checkout -------------------------------------------------------------------------------------------

def completed_event(standin: StripeStandIn, session_id: str) -> dict[str, Any]:
    events = [e for e in standin.events("checkout.session.completed") if e["data"]["object"]["id"] == session_id]
    assert len(events) == 1, events
    return events[0]


def test_checkout_subscription_carries_metadata_to_the_subscription(stripe_payments: StripePayments,
                                                                    stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)
    price_id = recurring_price(stripe_payments, stripe_standin)
    metadata = {"install_id": stripe_standin.unique("inst"), "plugin": "pro"}
    key = stripe_standin.unique("cs")

    session = stripe_payments.create_checkout_session(
        customer_id=customer_id, price_id=price_id, mode="subscription", success_url="https://mf.test/ok",
        cancel_url="https://mf.test/cancel", metadata=metadata, trial_days=None, idempotency_key=key)
    replay = stripe_payments.create_checkout_session(
        customer_id=customer_id, price_id=price_id, mode="subscription", success_url="https://mf.test/ok",
        cancel_url="https://mf.test/cancel", metadata=metadata, trial_days=None, idempotency_key=key)

    assert session.id.startswith("cs_test_") and session.url and replay == session
    stripe_standin.complete_checkout(session.id)
    event = completed_event(stripe_standin, session.id)
    completed = event["data"]["object"]
    assert completed["metadata"] == metadata and completed["mode"] == "subscription"
    assert completed["customer"] == customer_id and completed["status"] == "complete"
    subscription = stripe_standin.client.v1.subscriptions.retrieve(completed["subscription"])
    assert subscription.metadata.to_dict() == metadata
    assert subscription.status == "active" and subscription.customer == customer_id


def test_checkout_subscription_with_a_trial(stripe_payments: StripePayments,
                                            stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)
    price_id = recurring_price(stripe_payments, stripe_standin)
    metadata = {"install_id": stripe_standin.unique("inst")}

    session = stripe_payments.create_checkout_session(
        customer_id=customer_id, price_id=price_id, mode="subscription", success_url="https://mf.test/ok",
        cancel_url="https://mf.test/cancel", metadata=metadata, trial_days=14,
        idempotency_key=stripe_standin.unique("cs"))
    completed = stripe_standin.complete_checkout(session.id)

    subscription = stripe_standin.client.v1.subscriptions.retrieve(completed["subscription"])
    assert subscription.status == "trialing" and subscription.metadata.to_dict() == metadata
    assert subscription.trial_end is not None and subscription.trial_start is not None
    assert subscription.trial_end - subscription.trial_start == 14 * 86400


def test_checkout_payment_carries_metadata_to_the_payment_intent(stripe_payments: StripePayments,
                                                                 stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)
    price_id = stripe_payments.ensure_price(lookup_key=stripe_standin.unique("pack"), product_name="Pack",
                                            unit_amount_cents=2500, interval=None, metadata={})
    metadata = {"order_id": stripe_standin.unique("order")}

    session = stripe_payments.create_checkout_session(
        customer_id=customer_id, price_id=price_id, mode="payment", success_url="https://mf.test/ok",
        cancel_url="https://mf.test/cancel", metadata=metadata, trial_days=None,
        idempotency_key=stripe_standin.unique("cs"))
    stripe_standin.complete_checkout(session.id)

    completed = completed_event(stripe_standin, session.id)["data"]["object"]
    assert completed["metadata"] == metadata and completed["mode"] == "payment"
    assert completed["payment_status"] == "paid" and completed["amount_total"] == 2500
    intent = stripe_standin.client.v1.payment_intents.retrieve(completed["payment_intent"])
    assert intent.status == "succeeded" and intent.metadata.to_dict() == metadata


def test_checkout_rejects_an_unknown_mode(stripe_payments: StripePayments) -> None:
    with pytest.raises(PaymentsError) as caught:
        stripe_payments.create_checkout_session(
            customer_id="cus_x", price_id="price_x", mode="setup", success_url="https://mf.test/ok",
            cancel_url="https://mf.test/cancel", metadata={}, trial_days=None, idempotency_key="k")
    assert caught.value.retryable is False


def test_cancel_subscription_now_and_at_period_end(stripe_payments: StripePayments,
                                                   stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin)
    price_id = recurring_price(stripe_payments, stripe_standin)
    subs = stripe_standin.client.v1.subscriptions
    later = subs.create(params={"customer": customer_id, "items": [{"price": price_id}]})
    now = subs.create(params={"customer": customer_id, "items": [{"price": price_id}]})

    stripe_payments.cancel_subscription(subscription_id=later.id, at_period_end=True)
    stripe_payments.cancel_subscription(subscription_id=now.id, at_period_end=False)
    stripe_payments.cancel_subscription(subscription_id=now.id, at_period_end=False)  # a retried job: no error

    ending = subs.retrieve(later.id)
    assert ending.status == "active" and ending.cancel_at_period_end is True
    assert subs.retrieve(now.id).status == "canceled"
    with pytest.raises(PaymentsError) as caught:
        stripe_payments.cancel_subscription(subscription_id="sub_doesnotexist", at_period_end=False)
    assert caught.value.code == "resource_missing" and caught.value.retryable is False


# --- one-off invoices -----------------------------------------------------------------------------------

LINES = [InvoiceLine(description="API calls over the free tier", amount_cents=1200),
         InvoiceLine(description="Premium plugin: extra seats", amount_cents=300)]


def test_charge_invoice_pays_with_a_good_card_once(stripe_payments: StripePayments,
                                                   stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin)
    key = stripe_standin.unique("usage-2026-05")
    metadata = {"period": "2026-05", "user_id": "u-7"}

    invoice = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata=metadata,
                                             idempotency_key=key)
    again = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata=metadata,
                                           idempotency_key=key)

    assert (invoice.status, invoice.amount_due_cents) == ("paid", 1500)
    assert again == invoice
    invoices = stripe_standin.invoices(customer_id)
    assert [i["id"] for i in invoices] == [invoice.id]
    stored = invoices[0]
    assert stored["metadata"] == metadata and stored["collection_method"] == "charge_automatically"
    assert [(line["description"], line["amount"]) for line in stored["lines"]["data"]] == [
        (line.description, line.amount_cents) for line in LINES]


def test_charge_invoice_declined_stays_open_and_is_not_duplicated(stripe_payments: StripePayments,
                                                                  stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card="pm_card_chargeDeclined")
    key = stripe_standin.unique("usage")

    invoice = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={},
                                             idempotency_key=key)
    again = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={},
                                           idempotency_key=key)

    assert (invoice.status, invoice.amount_due_cents) == ("open", 1500)
    assert again.id == invoice.id and again.status == "open"
    invoices = stripe_standin.invoices(customer_id)
    assert [i["id"] for i in invoices] == [invoice.id]
    assert invoices[0]["attempt_count"] == 1  # the retry replayed the decline, it did not charge again
    failed = [e for e in stripe_standin.events("invoice.payment_failed") if e["data"]["object"]["id"] == invoice.id]
    assert len(failed) == 1


def test_charge_invoice_resumes_an_invoice_finalized_or_paid_meanwhile(stripe_payments: StripePayments,
                                                                       stripe_standin: StripeStandIn) -> None:
    """A retry after a crash whose earlier steps went through without their replies being seen."""
    customer_id = new_customer(stripe_payments, stripe_standin)
    key = stripe_standin.unique("usage")
    invoices = stripe_standin.client.v1.invoices
    draft = invoices.create(params={"customer": customer_id, "collection_method": "charge_automatically",
                                    "pending_invoice_items_behavior": "exclude", "metadata": {}},
                            options={"idempotency_key": f"{key}:invoice"})
    for n, line in enumerate(LINES):
        stripe_standin.client.v1.invoice_items.create(
            params={"customer": customer_id, "invoice": draft.id, "amount": line.amount_cents, "currency": "usd",
                    "description": line.description}, options={"idempotency_key": f"{key}:item:{n}"})
    invoices.finalize_invoice(draft.id)  # without the adapter's key: it cannot be replayed
    invoices.pay(draft.id)

    invoice = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={},
                                             idempotency_key=key)

    assert (invoice.id, invoice.status, invoice.amount_due_cents) == (draft.id, "paid", 1500)
    assert [i["id"] for i in stripe_standin.invoices(customer_id)] == [draft.id]


def test_charge_invoice_without_a_payment_method_stays_open(stripe_payments: StripePayments,
                                                            stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)
    key = stripe_standin.unique("usage")

    invoice = stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={},
                                             idempotency_key=key)

    assert (invoice.status, invoice.amount_due_cents) == ("open", 1500)
    assert stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={},
                                          idempotency_key=key) == invoice
    assert [i["id"] for i in stripe_standin.invoices(customer_id)] == [invoice.id]


def test_charge_invoice_for_an_unknown_customer_is_refused(stripe_payments: StripePayments) -> None:
    with pytest.raises(PaymentsError) as caught:
        stripe_payments.charge_invoice(customer_id="cus_missing", lines=LINES, metadata={}, idempotency_key="k-x")
    assert caught.value.code == "resource_missing" and caught.value.retryable is False


def test_charge_invoice_zero_total_is_paid_on_finalize(stripe_payments: StripePayments,
                                                       stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin, card=None)  # no card needed

    invoice = stripe_payments.charge_invoice(
        customer_id=customer_id, lines=[InvoiceLine("Free tier", 0)], metadata={},
        idempotency_key=stripe_standin.unique("usage"))

    assert (invoice.status, invoice.amount_due_cents) == ("paid", 0)


def test_charge_invoice_same_key_other_lines_is_refused(stripe_payments: StripePayments,
                                                        stripe_standin: StripeStandIn) -> None:
    customer_id = new_customer(stripe_payments, stripe_standin)
    key = stripe_standin.unique("usage")
    stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES, metadata={}, idempotency_key=key)

    with pytest.raises(PaymentsError) as caught:
        stripe_payments.charge_invoice(customer_id=customer_id, lines=LINES[:1] + [InvoiceLine("other", 1)],
                                       metadata={}, idempotency_key=key)

    assert caught.value.code == "idempotency_error" and caught.value.retryable is False
    assert len(stripe_standin.invoices(customer_id)) == 1


# --- Connect --------------------------------------------------------------------------------------------

def new_account(payments: StripePayments, standin: StripeStandIn, key: str | None = None) -> str:
    developer = standin.unique("dev")
    return payments.create_connect_account(developer_id=developer, email=f"{developer}@example.com",
                                           country="US", idempotency_key=key or standin.unique("acct"))


def test_connect_account_onboarding(stripe_payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    key = stripe_standin.unique("acct")
    account_id = stripe_payments.create_connect_account(developer_id="dev-1", email="dev1@example.com",
                                                        country="US", idempotency_key=key)
    assert stripe_payments.create_connect_account(developer_id="dev-1", email="dev1@example.com", country="US",
                                                  idempotency_key=key) == account_id
    assert new_account(stripe_payments, stripe_standin) != account_id
    account = stripe_standin.client.v1.accounts.retrieve(account_id)
    assert account.type == "express" and account.email == "dev1@example.com" and account.country == "US"
    assert account.metadata is not None and account.metadata.to_dict() == {"developer_id": "dev-1"}

    url = stripe_payments.create_account_link(account_id=account_id, refresh_url="https://mf.test/refresh",
                                              return_url="https://mf.test/return")
    assert url.startswith("https://")

    before = stripe_payments.account_status(account_id)
    assert (before.id, before.payouts_enabled, before.details_submitted) == (account_id, False, False)
    stripe_standin.onboard(account_id)
    after = stripe_payments.account_status(account_id)
    assert (after.id, after.payouts_enabled, after.details_submitted) == (account_id, True, True)


def test_account_link_for_a_missing_account_is_refused(stripe_payments: StripePayments) -> None:
    with pytest.raises(PaymentsError) as caught:
        stripe_payments.create_account_link(account_id="acct_missing", refresh_url="https://mf.test/r",
                                            return_url="https://mf.test/r")
    assert caught.value.code == "resource_missing" and caught.value.retryable is False


def test_transfer_is_idempotent(stripe_payments: StripePayments, stripe_standin: StripeStandIn) -> None:
    account_id = new_account(stripe_payments, stripe_standin)
    stripe_standin.onboard(account_id)
    stripe_standin.fund(5000)
    key = stripe_standin.unique("payout")
    metadata = {"payout_id": key}

    first = stripe_payments.create_transfer(account_id=account_id, amount_cents=1234, description="May payout",
                                            metadata=metadata, transfer_group=key, idempotency_key=key)
    again = stripe_payments.create_transfer(account_id=account_id, amount_cents=1234, description="May payout",
                                            metadata=metadata, transfer_group=key, idempotency_key=key)

    assert first == again and first.startswith("tr_")
    transfers = stripe_standin.transfers(destination=account_id)
    assert [t["id"] for t in transfers] == [first]
    assert (transfers[0]["amount"], transfers[0]["currency"], transfers[0]["description"],
            transfers[0]["metadata"]) == (1234, "usd", "May payout", metadata)
    assert sum(t["id"] == first for t in stripe_standin.transfers()) == 1


def test_transfer_beyond_the_balance_is_a_definite_refusal(stripe_payments: StripePayments,
                                                           stripe_standin: StripeStandIn) -> None:
    account_id = new_account(stripe_payments, stripe_standin)
    stripe_standin.onboard(account_id)
    available = stripe_standin.fund(10_000)

    with pytest.raises(PaymentsError) as caught:
        stripe_payments.create_transfer(account_id=account_id, amount_cents=available + 1, description="too much",
                                        metadata={}, transfer_group="too-much",
                                        idempotency_key=stripe_standin.unique("payout"))

    assert caught.value.code == "balance_insufficient" and caught.value.retryable is False
    assert stripe_standin.transfers(destination=account_id) == []


# --- transport errors -------------------------------------------------------------------------------------

def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when we return: nothing listens there


def test_connection_error_is_retryable(stripe_standin: StripeStandIn) -> None:
    payments = StripePayments(stripe_standin.api_key, api_base=f"http://127.0.0.1:{closed_port()}",
                              webhook_secret=WEBHOOK_SECRET)
    started = time.monotonic()

    with pytest.raises(PaymentsError) as caught:
        payments.create_customer(user_id="u", email="u@example.com", idempotency_key="k-conn")

    assert caught.value.retryable is True and caught.value.code == "api_connection_error"
    assert isinstance(caught.value.__cause__, stripe.APIConnectionError)
    assert time.monotonic() - started < 10  # the SDK's own retries back off briefly, not for long


# --- webhooks -------------------------------------------------------------------------------------------------

@pytest.fixture
def some_event(stripe_payments: StripePayments, stripe_standin: StripeStandIn) -> bytes:
    new_customer(stripe_payments, stripe_standin, card=None)
    return json.dumps(stripe_standin.events("customer.created", limit=1)[0]).encode("utf-8")


def test_parse_webhook_accepts_a_signed_event(stripe_payments: StripePayments, some_event: bytes) -> None:
    event = stripe_payments.parse_webhook(some_event, sign_event(some_event, WEBHOOK_SECRET))

    assert type(event) is dict and event == json.loads(some_event)
    assert event["type"] == "customer.created" and event["data"]["object"]["id"].startswith("cus_")


@pytest.mark.parametrize("signature", [
    pytest.param(lambda body: sign_event(body, "whsec_test_someone_else"), id="wrong-secret"),
    pytest.param(lambda body: sign_event(body + b" ", WEBHOOK_SECRET), id="other-body"),
    pytest.param(lambda body: sign_event(body, WEBHOOK_SECRET, int(time.time()) - 3600), id="stale"),
    pytest.param(lambda body: "t=1,v0=abc", id="garbled"),
    pytest.param(lambda body: None, id="missing"),
    pytest.param(lambda body: "", id="empty"),
])
def test_parse_webhook_rejects(stripe_payments: StripePayments, some_event: bytes, signature: Any) -> None:
    with pytest.raises(InvalidWebhookError):
        stripe_payments.parse_webhook(some_event, signature(some_event))


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe"], ids=["not-json", "not-object", "not-utf8"])
def test_parse_webhook_rejects_a_signed_non_event(stripe_payments: StripePayments, body: bytes) -> None:
    header = sign_event(body, WEBHOOK_SECRET)
    with pytest.raises(InvalidWebhookError):
        stripe_payments.parse_webhook(body, header)


class _Receiver(BaseHTTPRequestHandler):
    received: queue.Queue[tuple[bytes, str | None]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.put((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[bytes, str | None]]]]:
    received: queue.Queue[tuple[bytes, str | None]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stripe/webhook", received
    finally:
        server.shutdown()
        server.server_close()


def test_parse_webhook_verifies_a_delivery_from_the_stand_in(
        stripe_standin: StripeStandIn, receiver: tuple[str, queue.Queue[tuple[bytes, str | None]]]) -> None:
    url, received = receiver
    endpoint = stripe_standin.client.v1.webhook_endpoints.create(
        params={"url": url, "enabled_events": ["customer.created"]})
    try:
        assert endpoint.secret is not None
        payments = StripePayments(stripe_standin.api_key, api_base=stripe_standin.url,
                                  webhook_secret=endpoint.secret)
        customer_id = payments.create_customer(user_id="u-hook", email="hook@example.com",
                                               idempotency_key=stripe_standin.unique("cus"))
        deadline = time.monotonic() + 5
        while True:  # other customers may be created meanwhile by nobody else, but be tolerant
            body, signature = received.get(timeout=max(0.1, deadline - time.monotonic()))
            event = payments.parse_webhook(body, signature)
            if event["data"]["object"]["id"] == customer_id:
                break
        assert event["type"] == "customer.created"
        with pytest.raises(InvalidWebhookError):
            StripePayments(stripe_standin.api_key, api_base=stripe_standin.url,
                           webhook_secret=WEBHOOK_SECRET).parse_webhook(body, signature)
    finally:
        stripe_standin.client.v1.webhook_endpoints.delete(endpoint.id)
