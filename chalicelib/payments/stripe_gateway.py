"""The :class:`~chalicelib.payments.port.PaymentsPort` on Stripe, through the official ``stripe`` library.

Everything goes through one :class:`stripe.StripeClient` owned by the adapter: no module-level
``stripe.api_key`` / ``stripe.api_base``, so several adapters (live, test, a local stand-in)
can live in one process. Stripe's exceptions never leave this module: they become
:class:`PaymentsError` (``retryable`` tells a definite refusal from a transient failure,
``code`` keeps Stripe's error code such as ``balance_insufficient``),
:class:`CardDeclinedError` or :class:`InvalidWebhookError`.

Idempotency: every creating call sends the caller's key (or a key derived from it) as
Stripe's ``Idempotency-Key``, so a retry after a crash replays the first result. Stripe keeps
keys for 24 hours; the same key with different parameters is a non-retryable
``PaymentsError(code="idempotency_error")``.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NoReturn, cast

import stripe
from stripe.params import (
    AccountCreateParams,
    InvoiceCreateParams,
    PriceCreateParams,
)
from stripe.params.checkout import SessionCreateParams

from chalicelib.core.errors import InvalidInputError
from chalicelib.payments.port import (
    AccountStatus,
    CardDeclinedError,
    CheckoutSession,
    Invoice,
    InvoiceLine,
    InvalidPaymentMethodError,
    InvalidWebhookError,
    PaymentsError,
    Refund,
    Subscription,
)

CURRENCY = "usd"
CHECKOUT_MODES = ("payment", "subscription")
PRICE_INTERVALS = ("day", "week", "month", "year")

_Interval = Literal["day", "month", "week", "year"]
_Mode = Literal["payment", "subscription"]


def _invoice(found: Any) -> Invoice:
    data = found.to_dict() if hasattr(found, "to_dict") else dict(found)
    intent = data.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not intent:  # API versions since 2025-03 list payments instead
        payments = ((data.get("payments") or {}).get("data") or [{}])[0].get("payment") or {}
        intent = payments.get("payment_intent")
    return Invoice(id=str(data["id"]), status=str(data.get("status") or "draft"),
                   amount_due_cents=int(data.get("amount_due") or 0), hosted_url=data.get("hosted_invoice_url"),
                   payment_intent=str(intent) if intent else None, amount_paid_cents=int(data.get("amount_paid") or 0),
                   metadata=dict(data.get("metadata") or {}))


def subscription_of(data: dict[str, Any]) -> Subscription:
    """The port's view of a Stripe subscription object (as retrieved, or in an event)."""
    item = ((data.get("items") or {}).get("data") or [{}])[0]
    price = item.get("price") or {}
    latest = data.get("latest_invoice")
    return Subscription(
        id=str(data["id"]), status=str(data.get("status")), customer=str(data.get("customer") or ""),
        item_id=item.get("id"), price_id=price.get("id") if isinstance(price, dict) else price,
        current_period_start=data.get("current_period_start") or item.get("current_period_start"),
        current_period_end=data.get("current_period_end") or item.get("current_period_end"),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")), trial_end=data.get("trial_end"),
        metadata=dict(data.get("metadata") or {}),
        latest_invoice=latest.get("id") if isinstance(latest, dict) else latest)


def _refusal_code(exc: stripe.StripeError, default: str) -> str:
    return exc.code or default


def _translate(exc: stripe.StripeError) -> NoReturn:
    """Raise the port's error for a Stripe error (``from exc``, so the original stays in the chain)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, stripe.CardError):
        raise CardDeclinedError(message) from exc
    if isinstance(exc, stripe.IdempotencyError):
        raise PaymentsError(message, code=_refusal_code(exc, "idempotency_error"), retryable=False) from exc
    if isinstance(exc, stripe.InvalidRequestError):
        raise PaymentsError(message, code=_refusal_code(exc, "invalid_request_error"), retryable=False) from exc
    if isinstance(exc, stripe.AuthenticationError):
        raise PaymentsError(message, code=_refusal_code(exc, "authentication_error"), retryable=False) from exc
    if isinstance(exc, stripe.PermissionError):
        raise PaymentsError(message, code=_refusal_code(exc, "permission_error"), retryable=False) from exc
    if isinstance(exc, stripe.APIConnectionError):
        raise PaymentsError(message, code="api_connection_error", retryable=True) from exc
    if isinstance(exc, stripe.RateLimitError):
        raise PaymentsError(message, code=_refusal_code(exc, "rate_limit"), retryable=True) from exc
    if isinstance(exc, stripe.APIError):  # 5xx, or a 409 lock timeout the SDK's own retries did not clear
        raise PaymentsError(message, code=_refusal_code(exc, "api_error"), retryable=True) from exc
    # Any other StripeError: a 4xx is a refusal, anything else (no status, 5xx) may pass on a retry.
    status = exc.http_status
    retryable = status is None or status >= 500 or status in (409, 429)
    raise PaymentsError(message, code=_refusal_code(exc, "payments_error"), retryable=retryable) from exc


@contextmanager
def _stripe_errors(callers: tuple[str, ...] = ()) -> Iterator[None]:
    """Stripe's errors as the port's. ``callers`` names the parameters the marketplace's caller
    chose (a country, a return URL): Stripe refusing one of those is the caller's mistake, a 400."""
    try:
        yield
    except stripe.InvalidRequestError as exc:
        if exc.param in callers:
            raise InvalidInputError(f"{exc.param}: {exc.user_message or exc}", code="invalid_parameter",
                                    details=[{"path": exc.param, "message": exc.user_message or str(exc)}]) from exc
        _translate(exc)
    except stripe.StripeError as exc:
        _translate(exc)


class StripePayments:
    """Stripe behind :class:`~chalicelib.payments.port.PaymentsPort`.

    ``api_base`` points the client at another API root (the local stand-in, or the
    marketplace gateway's ``.../plugins/stripe``); ``None`` means Stripe itself.
    ``webhook_secret`` is the endpoint's ``whsec_...`` signing secret and
    ``webhook_tolerance_s`` the accepted age of a ``Stripe-Signature`` timestamp.
    """

    #: Retries of connection errors, 409 and 5xx inside the SDK (same idempotency key, with backoff)
    #: before a retryable :class:`PaymentsError` reaches the caller.
    MAX_NETWORK_RETRIES = 2

    def __init__(self, api_key: str, *, api_base: str | None, webhook_secret: str,
                 webhook_tolerance_s: int = 300, http_client: stripe.HTTPClient | None = None) -> None:
        self._client = stripe.StripeClient(
            api_key, base_addresses={"api": api_base} if api_base else None,
            max_network_retries=self.MAX_NETWORK_RETRIES, http_client=http_client)
        self._webhook_secret = webhook_secret
        self._webhook_tolerance_s = webhook_tolerance_s

    @property
    def client(self) -> stripe.StripeClient:
        """The underlying client (for diagnostics and tests; business code uses the port methods)."""
        return self._client

    # --- customers ------------------------------------------------------------------------------
    def create_customer(self, *, user_id: str, email: str, idempotency_key: str) -> str:
        with _stripe_errors():
            customer = self._client.v1.customers.create(
                params={"email": email, "metadata": {"user_id": user_id}},
                options={"idempotency_key": idempotency_key})
        return customer.id

    def set_default_payment_method(self, *, customer_id: str, payment_method: str) -> str:
        """Attach ``payment_method`` (an id or a test token) and make it the customer's default.

        A test token such as ``pm_card_visa`` becomes a fresh ``pm_...``; that id is returned.
        A payment method Stripe does not know, or one attached to another customer, is the
        caller's mistake: :class:`InvalidPaymentMethodError` with Stripe's message.
        """
        with _stripe_errors():
            try:
                attached = self._client.v1.payment_methods.attach(payment_method, params={"customer": customer_id})
            except stripe.InvalidRequestError as exc:
                raise InvalidPaymentMethodError(exc.user_message or str(exc)) from exc
            self._client.v1.customers.update(
                customer_id, params={"invoice_settings": {"default_payment_method": attached.id}})
        return attached.id

    def adopt_checkout_payment_method(self, *, customer_id: str, session_id: str) -> str | None:
        with _stripe_errors():
            session = self._client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent", "subscription", "setup_intent"]})
            found = session.to_dict()
            intent, subscription = found.get("payment_intent") or {}, found.get("subscription") or {}
            setup = found.get("setup_intent") or {}
            method = (intent.get("payment_method") if isinstance(intent, dict) else None) or \
                (subscription.get("default_payment_method") if isinstance(subscription, dict) else None) or \
                (setup.get("payment_method") if isinstance(setup, dict) else None)
            if isinstance(method, dict):
                method = method.get("id")
            if not method:
                return None
            self._client.v1.customers.update(customer_id, params={"invoice_settings": {"default_payment_method": method}})
        return str(method)

    # --- prices and checkout --------------------------------------------------------------------
    def ensure_price(self, *, lookup_key: str, product_name: str, unit_amount_cents: int,
                     interval: str | None, metadata: Mapping[str, str]) -> str:
        """The active price with ``lookup_key``, else a new one (recurring when ``interval`` is given).

        The creation uses an idempotency key derived from ``lookup_key`` alone, so two racing
        creators get the same price (the loser's request replays the winner's). Creating again
        with other parameters within Stripe's 24 h key lifetime is ``idempotency_error``.
        ``transfer_lookup_key`` lets the new price take the key over from an archived one
        (Stripe refuses a lookup key that another price, even an inactive one, still holds).
        """
        if interval is not None and interval not in PRICE_INTERVALS:
            raise PaymentsError(f"unsupported price interval {interval!r}", code="invalid_interval",
                                retryable=False)
        with _stripe_errors():
            found = self._client.v1.prices.list(params={"lookup_keys": [lookup_key], "active": True, "limit": 1})
            if found.data:
                return found.data[0].id
            params: PriceCreateParams = {
                "currency": CURRENCY, "unit_amount": unit_amount_cents, "lookup_key": lookup_key,
                "transfer_lookup_key": True, "product_data": {"name": product_name},
                "metadata": dict(metadata)}
            if interval is not None:
                params["recurring"] = {"interval": cast(_Interval, interval)}
            price = self._client.v1.prices.create(params=params,
                                                  options={"idempotency_key": f"price:{lookup_key}"})
        return price.id

    def create_checkout_session(self, *, customer_id: str, price_id: str, mode: str, success_url: str,
                                cancel_url: str, metadata: Mapping[str, str], trial_days: int | None,
                                idempotency_key: str) -> CheckoutSession:
        """A hosted Checkout Session for one unit of ``price_id``.

        ``metadata`` goes on the session and on what it creates: the subscription
        (``subscription_data[metadata]``, plus ``trial_period_days`` when ``trial_days`` is
        given) or the PaymentIntent (``payment_intent_data[metadata]``). ``trial_days`` is
        ignored in payment mode.
        """
        if mode not in CHECKOUT_MODES:
            raise PaymentsError(f"unsupported checkout mode {mode!r}", code="invalid_mode", retryable=False)
        params: SessionCreateParams = {
            "mode": cast(_Mode, mode), "customer": customer_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url, "cancel_url": cancel_url, "metadata": dict(metadata)}
        if mode == "subscription":
            params["subscription_data"] = {"metadata": dict(metadata)}
            if trial_days:
                params["subscription_data"]["trial_period_days"] = trial_days
        else:
            params["payment_intent_data"] = {"metadata": dict(metadata)}
        with _stripe_errors(callers=("success_url", "cancel_url")):
            session = self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": idempotency_key})
        return CheckoutSession(id=session.id, url=session.url)

    def create_setup_session(self, *, customer_id: str, success_url: str, cancel_url: str,
                             metadata: Mapping[str, str], idempotency_key: str) -> CheckoutSession:
        params: SessionCreateParams = {"mode": "setup", "customer": customer_id, "currency": CURRENCY,
                                       "success_url": success_url, "cancel_url": cancel_url,
                                       "metadata": dict(metadata), "setup_intent_data": {"metadata": dict(metadata)}}
        with _stripe_errors(callers=("success_url", "cancel_url")):
            session = self._client.v1.checkout.sessions.create(params=params,
                                                               options={"idempotency_key": idempotency_key})
        return CheckoutSession(id=session.id, url=session.url)

    def checkout_session_status(self, session_id: str) -> str:
        with _stripe_errors():
            return str(self._client.v1.checkout.sessions.retrieve(session_id).status)

    def expire_checkout_session(self, session_id: str) -> None:
        with _stripe_errors():
            try:
                self._client.v1.checkout.sessions.expire(session_id)
            except stripe.InvalidRequestError:
                if self._client.v1.checkout.sessions.retrieve(session_id).status == "open":
                    raise

    def retrieve_subscription(self, subscription_id: str) -> Subscription:
        with _stripe_errors():
            found = self._client.v1.subscriptions.retrieve(subscription_id)
        return subscription_of(found.to_dict())

    def change_subscription(self, *, subscription_id: str, item_id: str, price_id: str, prorate: bool,
                            metadata: Mapping[str, str], idempotency_key: str) -> Subscription:
        """An upgrade invoices the prorated difference at once and fails (``CardDeclinedError``) when
        that payment fails (``payment_behavior=error_if_incomplete``: nothing changes then)."""
        with _stripe_errors():
            found = self._client.v1.subscriptions.update(subscription_id, params={
                "items": [{"id": item_id, "price": price_id}],
                "proration_behavior": "always_invoice" if prorate else "none",
                "payment_behavior": "error_if_incomplete", "metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key})
        return subscription_of(found.to_dict())

    def resume_subscription(self, *, subscription_id: str, metadata: Mapping[str, str]) -> Subscription:
        with _stripe_errors():
            found = self._client.v1.subscriptions.update(subscription_id, params={
                "cancel_at_period_end": False, "metadata": dict(metadata)})
        return subscription_of(found.to_dict())

    def cancel_subscription(self, *, subscription_id: str, at_period_end: bool) -> None:
        """Cancel now (``DELETE``) or at the end of the current period.

        Cancelling a subscription that is already canceled is a no-op, so a retried job succeeds.
        """
        with _stripe_errors():
            try:
                if at_period_end:
                    self._client.v1.subscriptions.update(subscription_id, params={"cancel_at_period_end": True})
                else:
                    self._client.v1.subscriptions.cancel(subscription_id)
            except stripe.InvalidRequestError:
                current = self._client.v1.subscriptions.retrieve(subscription_id)
                if current.status != "canceled":
                    raise

    # --- one-off invoices -----------------------------------------------------------------------
    def charge_invoice(self, *, customer_id: str, lines: Sequence[InvoiceLine], metadata: Mapping[str, str],
                       idempotency_key: str) -> Invoice:
        """Create, finalize and try to pay a one-off invoice with the customer's default card.

        Idempotent as a whole for ``idempotency_key``: each step has a key of its own derived
        from it (``:invoice``, ``:item:<n>``, ``:finalize``, ``:pay``), so calling again after
        a crash at any point continues the same invoice instead of creating another; an
        invoice found already finalized or paid is returned as it is now. A declined card is
        not an exception: the invoice comes back ``open``, and so does one that could not be
        charged at all (the customer has no usable default payment method). A zero total is
        ``paid`` on finalize.
        """
        key = idempotency_key
        invoices = self._client.v1.invoices
        with _stripe_errors():
            invoice = self._existing_invoice(customer_id, metadata.get("mf_invoice"))
            if invoice is None:
                create: InvoiceCreateParams = {
                    "customer": customer_id, "collection_method": "charge_automatically",
                    "pending_invoice_items_behavior": "exclude", "metadata": dict(metadata)}
                invoice = invoices.create(params=create, options={"idempotency_key": f"{key}:invoice"})
            invoice_id = invoice.id
            if invoice.status == "draft":
                # a draft found again (after the 24 h of the keys) keeps the items it has: add the rest
                present = len(invoice.lines.data) if invoice.lines is not None else 0
                try:
                    for n, line in enumerate(lines):
                        if n < present:
                            continue
                        self._client.v1.invoice_items.create(
                            params={"customer": customer_id, "invoice": invoice_id, "amount": line.amount_cents,
                                    "currency": CURRENCY, "description": line.description},
                            options={"idempotency_key": f"{key}:item:{n}"})
                    invoice = invoices.finalize_invoice(invoice_id, options={"idempotency_key": f"{key}:finalize"})
                except stripe.InvalidRequestError:
                    # Finalized meanwhile (an earlier attempt got further than its replies told us)?
                    invoice = invoices.retrieve(invoice_id)
                    if invoice.status == "draft":
                        raise
            if invoice.status == "open":
                try:
                    invoice = invoices.pay(invoice_id, options={"idempotency_key": f"{key}:pay"})
                except stripe.CardError:
                    invoice = invoices.retrieve(invoice_id)  # stays open; its current state (it may be paid since)
                except stripe.InvalidRequestError:
                    # "Invoice is already paid" (a retry), or nothing to charge it to (no default
                    # payment method): either way the invoice's current state is the answer.
                    invoice = invoices.retrieve(invoice_id)
        return _invoice(invoice)

    def _existing_invoice(self, customer_id: str, ours: str | None) -> Any:
        """The invoice made earlier for our invoice ``ours``, if any (its items are re-added only to a draft)."""
        if not ours:
            return None
        found = self._client.v1.invoices.search(
            params={"query": f"customer:'{customer_id}' AND metadata['mf_invoice']:'{ours}'", "limit": 10})
        live = [i for i in found.data if i.status != "void"]
        return live[0] if live else None

    def pay_invoice(self, invoice_id: str, *, idempotency_key: str) -> Invoice:
        invoices = self._client.v1.invoices
        with _stripe_errors():
            try:
                return _invoice(invoices.pay(invoice_id, options={"idempotency_key": idempotency_key}))
            except (stripe.CardError, stripe.InvalidRequestError):
                return _invoice(invoices.retrieve(invoice_id))  # declined (still open), or already paid

    def retrieve_invoice(self, invoice_id: str) -> Invoice:
        with _stripe_errors():
            return _invoice(self._client.v1.invoices.retrieve(invoice_id))

    def refund(self, *, payment_intent: str, amount_cents: int | None, reason: str, metadata: Mapping[str, str],
               idempotency_key: str) -> Refund:
        params: dict[str, Any] = {"payment_intent": payment_intent, "reason": "requested_by_customer",
                                  "metadata": {**metadata, "reason": reason[:500]}}
        if amount_cents is not None:
            params["amount"] = amount_cents
        with _stripe_errors(callers=("amount",)):
            refund = self._client.v1.refunds.create(params=params,  # type: ignore[arg-type]
                                                    options={"idempotency_key": idempotency_key})
            charge = self._client.v1.charges.retrieve(str(refund.charge)) if refund.charge else None
        return Refund(id=refund.id, amount_cents=refund.amount, charge=str(refund.charge) if refund.charge else None,
                      refunded_total_cents=int(charge.amount_refunded) if charge is not None else refund.amount)

    def reverse_transfer(self, *, transfer_id: str, amount_cents: int, metadata: Mapping[str, str],
                         idempotency_key: str) -> str:
        with _stripe_errors():
            for earlier in self._client.v1.transfers.reversals.list(transfer_id, params={"limit": 100}).data:
                found = earlier.to_dict().get("metadata") or {}
                if metadata and all(found.get(k) == v for k, v in metadata.items()):
                    return str(earlier.id)  # made before (its idempotency key may have expired)
            reversal = self._client.v1.transfers.reversals.create(
                transfer_id, params={"amount": amount_cents, "metadata": dict(metadata)},
                options={"idempotency_key": idempotency_key})
        return reversal.id

    # --- Connect ----------------------------------------------------------------------------------
    def create_connect_account(self, *, developer_id: str, email: str, country: str,
                               idempotency_key: str) -> str:
        """An Express account that can receive transfers (after onboarding)."""
        params: AccountCreateParams = {
            "type": "express", "email": email, "country": country,
            "capabilities": {"transfers": {"requested": True}}, "metadata": {"developer_id": developer_id}}
        with _stripe_errors(callers=("country",)):
            account = self._client.v1.accounts.create(params=params, options={"idempotency_key": idempotency_key})
        return account.id

    def create_account_link(self, *, account_id: str, refresh_url: str, return_url: str) -> str:
        """The URL of Stripe's hosted onboarding for ``account_id`` (valid for a few minutes)."""
        with _stripe_errors(callers=("refresh_url", "return_url")):
            link = self._client.v1.account_links.create(params={
                "account": account_id, "type": "account_onboarding",
                "refresh_url": refresh_url, "return_url": return_url})
        return link.url

    def account_status(self, account_id: str) -> AccountStatus:
        with _stripe_errors():
            account = self._client.v1.accounts.retrieve(account_id)
        return AccountStatus(id=account.id, payouts_enabled=bool(account.payouts_enabled),
                             details_submitted=bool(account.details_submitted))

    def create_transfer(self, *, account_id: str, amount_cents: int, description: str,
                        metadata: Mapping[str, str], transfer_group: str, idempotency_key: str) -> str:
        """A USD transfer from the platform balance; more than is available is
        ``PaymentsError(code="balance_insufficient", retryable=False)``."""
        with _stripe_errors():
            transfer = self._client.v1.transfers.create(
                params={"amount": amount_cents, "currency": CURRENCY, "destination": account_id,
                        "description": description, "metadata": dict(metadata),
                        "transfer_group": transfer_group},
                options={"idempotency_key": idempotency_key})
        return transfer.id

    def find_transfer(self, transfer_group: str) -> str | None:
        with _stripe_errors():
            found = self._client.v1.transfers.list(params={"transfer_group": transfer_group, "limit": 1})
        return found.data[0].id if found.data else None

    # --- webhooks -----------------------------------------------------------------------------------
    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The verified event as a plain dict (``stripe.Webhook.construct_event`` with this
        client's requestor), or :class:`InvalidWebhookError` for a missing or wrong
        signature, a timestamp older than ``webhook_tolerance_s`` or a body that is not a JSON object."""
        try:
            event = self._client.construct_event(payload, signature, self._webhook_secret,
                                                 self._webhook_tolerance_s)
            return event.to_dict()
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhookError(exc.user_message or str(exc)) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # not UTF-8, not JSON, not an object
            raise InvalidWebhookError(f"webhook payload is not a JSON event: {exc}") from exc
