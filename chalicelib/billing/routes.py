from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.billing.service import CHECKOUT, PAYMENT_METHOD
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.http import Api, ApiRequest
from chalicelib.payments.port import CardDeclinedError, InvalidPaymentMethodError, InvalidWebhookError, PaymentsError
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="billing")


@api.route("/billing", auth="user", summary="Your Stripe customer, plans per plugin and monthly usage invoices")
def summary(req: ApiRequest) -> dict[str, Any]:
    return container().billing.summary(req.caller)


@api.route("/billing/payment-method", methods=("POST",), auth="user", body=PAYMENT_METHOD,
           raises=(InvalidPaymentMethodError, CardDeclinedError, PaymentsError),
           summary="Attach a card (a Stripe payment method id) and make it the default for invoices")
def payment_method(req: ApiRequest) -> dict[str, Any]:
    return container().billing.set_payment_method(req.caller, req.json(PAYMENT_METHOD)["payment_method"])


@api.route("/billing/checkout", methods=("POST",), auth="user", body=CHECKOUT, status=201, limit="purchase",
           raises=(NotFoundError, InvalidInputError, ConflictError, PaymentsError),
           summary="Start a Stripe Checkout for a plugin plan: subscription, one-time purchase or add-on")
def checkout(req: ApiRequest) -> dict[str, Any]:
    return container().billing.checkout(req.caller, req.json(CHECKOUT))


@api.route("/billing/subscriptions/{plugin}/cancel", methods=("POST",), auth="user",
           raises=(NotFoundError, PaymentsError),
           summary="Cancel a plugin subscription at the end of its period")
def cancel(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.cancel(req.caller, plugin)


@api.route("/billing/stripe/webhook", methods=("POST",), limit=None, cors=False,
           raises=(InvalidWebhookError, PaymentsError),  # PaymentsError: account.updated asks Stripe again
           summary="Stripe events (verified by Stripe-Signature; each event id handled once)")
def stripe_webhook(req: ApiRequest) -> dict[str, Any]:
    return container().billing.handle_webhook(req.raw.raw_body, req.raw.headers.get("stripe-signature"))


@api.route("/trials/{plugin}", methods=("POST",), auth="user", status=201, limit="purchase",
           raises=(NotFoundError, ConflictError),
           summary="Start the plugin's trial (14 days of its Pro plan by default; once per plugin, ever)")
def start_trial(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.start_trial(req.caller, plugin)


@api.route("/trials/{plugin}", auth="user", raises=(NotFoundError, ConflictError),
           summary="Your trial of a plugin: available, active (with days remaining) or expired")
def trial_status(req: ApiRequest, plugin: str) -> dict[str, Any]:
    return container().billing.trial_status(req.caller, plugin)
