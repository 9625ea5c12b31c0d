from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.billing.customers import SETUP, SPENDING_CAP
from chalicelib.billing.invoices import REFUND
from chalicelib.billing.plans import CHANGE
from chalicelib.billing.service import CHECKOUT, PAYMENT_METHOD
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.http import Api, ApiRequest
from chalicelib.payments.port import CardDeclinedError, InvalidPaymentMethodError, InvalidWebhookError, PaymentsError
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="billing")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(value: str) -> str:
    if not _MONTH.match(value):
        raise InvalidInputError("a month is YYYY-MM", code="validation_failed",
                                details=[{"path": "month", "message": "expected YYYY-MM"}])
    return value


@api.route("/billing", auth="user",
           summary="Your Stripe customer, payment standing, plans per plugin and monthly usage invoices")
def summary(req: ApiRequest) -> dict[str, Any]:
    return container().billing.summary(req.caller)


@api.route("/billing/payment-method", methods=("POST",), auth="user", body=PAYMENT_METHOD,
           raises=(InvalidPaymentMethodError, CardDeclinedError, PaymentsError),
           summary="Attach a card (a Stripe payment method id) and make it the default for invoices")
def payment_method(req: ApiRequest) -> dict[str, Any]:
    return container().billing.set_payment_method(req.caller, req.json(PAYMENT_METHOD)["payment_method"])


@api.route("/billing/setup", methods=("POST",), auth="user", body=SETUP, status=201, limit="purchase",
           raises=(InvalidInputError, PaymentsError),
           summary="Add a card without paying: a Stripe Checkout in setup mode (needed past a free tier)")
def setup(req: ApiRequest) -> dict[str, Any]:
    return container().billing.setup_session(req.caller, req.json(SETUP))


@api.route("/billing/spending-cap", methods=("PUT",), auth="user", body=SPENDING_CAP, raises=(PaymentsError,),
           summary="The most your per-call charges may reach in a month (cents; null: no cap)")
def spending_cap(req: ApiRequest) -> dict[str, Any]:
    return container().billing.set_spending_cap(req.caller, req.json(SPENDING_CAP)["cap_cents"])


@api.route("/billing/checkout", methods=("POST",), auth="user", body=CHECKOUT, status=201, limit="purchase",
           raises=(NotFoundError, InvalidInputError, ConflictError, PaymentsError),
           summary="Start a Stripe Checkout for a plugin plan: subscription, one-time purchase or add-on")
def checkout(req: ApiRequest) -> dict[str, Any]:
    return container().billing.checkout(req.caller, req.json(CHECKOUT))


@api.route("/billing/subscriptions/{plugin}/change", methods=("POST",), auth="user", body=CHANGE, limit="purchase",
           raises=(NotFoundError, InvalidInputError, ConflictError, CardDeclinedError, PaymentsError),
           summary="Change a subscription's plan: an upgrade now (the rest of the period prorated and paid), "
                   "a downgrade at the end of the period")
def change_plan(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.change_plan(req.caller, plugin, req.json(CHANGE)["plan"])


@api.route("/billing/subscriptions/{plugin}/cancel", methods=("POST",), auth="user",
           raises=(NotFoundError, ConflictError, PaymentsError),
           summary="Cancel a plugin subscription at the end of its period")
def cancel(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.cancel(req.caller, plugin)


@api.route("/billing/subscriptions/{plugin}/resume", methods=("POST",), auth="user",
           raises=(NotFoundError, ConflictError, PaymentsError),
           summary="Keep a subscription that was to end (or downgrade) at the end of its period")
def resume(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.resume(req.caller, plugin)


@api.route("/billing/invoices/{month}/pay", methods=("POST",), auth="user", limit="purchase",
           raises=(InvalidInputError, NotFoundError, ConflictError, CardDeclinedError, PaymentsError),
           summary="Pay a usage invoice whose payment failed, now, with your default card")
def pay_invoice(req: ApiRequest, month: str) -> dict[str, Any]:
    return container().billing.pay_invoice(req.caller, _month(month))


@api.route("/billing/stripe/webhook", methods=("POST",), limit=None, cors=False,
           raises=(InvalidWebhookError, PaymentsError),  # PaymentsError: events make us ask Stripe again
           summary="Stripe events (verified by Stripe-Signature; each event id handled once)")
def stripe_webhook(req: ApiRequest) -> dict[str, Any]:
    return container().billing.handle_webhook(req.raw.raw_body, req.raw.headers.get("stripe-signature"))


@api.route("/trials/{plugin}", methods=("POST",), auth="user", status=201, limit="purchase",
           raises=(NotFoundError, ConflictError),
           summary="Start the plugin's trial (14 days of its Pro plan by default; once per plugin, ever)")
def start_trial(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.start_trial(req.caller, plugin)


@api.route("/trials/{plugin}", auth="user", raises=(NotFoundError, ConflictError),
           summary="Your trial of a plugin: available, reserved (by a Checkout), active (days remaining) or expired")
def trial_status(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.trial_status(req.caller, plugin)


@api.route("/admin/billing/users/{user_id}", auth="admin", raises=(NotFoundError,),
           summary="A user's billing: payment standing, plans, usage invoices (with their Stripe ids)")
def user_billing(req: ApiRequest, user_id: str) -> dict[str, Any]:
    container().auth.get_user(user_id)
    return container().billing.user_billing(user_id)


@api.route("/admin/billing/invoices/{invoice_id}/refund", methods=("POST",), auth="admin", body=REFUND,
           raises=(NotFoundError, ConflictError, InvalidInputError, PaymentsError),
           summary="Refund a user's paid invoice (Stripe id), in full or in part, with a reason; the developers' "
                   "shares are reversed pro rata")
def refund(req: ApiRequest, invoice_id: str) -> dict[str, Any]:
    body = req.json(REFUND)
    return container().billing.refund(req.caller, invoice_id, body.get("amount_cents"), body["reason"])
