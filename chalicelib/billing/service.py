"""User billing through the payments port: the facade the routes and jobs use.

The parts, each in its module:

* ``customers``: the Stripe customer, the card (directly or Checkout in setup mode), the spending
  cap and the payment standing the gateway checks;
* ``plans``: Checkout, plan changes through Stripe's subscription update (one live subscription
  per (user, plugin)), cancel and resume, trials (one per (user, plugin), ever), graces;
* ``events``: Stripe's events, verified, recorded once, applied in order, money into the ledger;
* ``invoices`` (with the pure ``invoicing``): the month close, dunning, refunds.

Money moves only through the revenue context (the ledger): rated charges, invoice lines,
payments, refunds and lost disputes are its journals.
"""
from __future__ import annotations

from typing import Any

from chalicelib.auth.principal import Principal
from chalicelib.billing.context import BillingContext
from chalicelib.billing.customers import PAYMENT_METHOD_SCHEMA, Customers, Standing
from chalicelib.billing.events import StripeEvents
from chalicelib.billing.invoices import UsageInvoices, invoice_view
from chalicelib.billing.plans import CHECKOUT, Plans, plan_view
from chalicelib.billing.records import BillingTable, InvoiceRecord, PlanRecord

__all__ = ["BillingService", "CHECKOUT", "PAYMENT_METHOD"]
PAYMENT_METHOD = PAYMENT_METHOD_SCHEMA


class BillingService:
    def __init__(self, ctx: BillingContext) -> None:
        self.ctx = ctx
        self.customers = Customers(ctx)
        self.plans = Plans(ctx, self.customers)
        self.invoices = UsageInvoices(ctx, self.customers)
        self.events = StripeEvents(ctx, self.customers, self.plans, self.invoices)

    def summary(self, principal: Principal) -> dict[str, Any]:
        user = principal.user_id
        items = list(BillingTable.query(f"USER#{user}"))
        return {"customer": self.customers.view(user),
                "plans": [plan_view(r) for r in items if isinstance(r, PlanRecord)],
                "invoices": [invoice_view(r) for r in sorted((r for r in items if isinstance(r, InvoiceRecord)),
                                                             key=lambda r: r.month, reverse=True)]}

    def standing(self, user_id: str) -> Standing:
        return self.customers.standing(user_id)

    # --- the routes' verbs ----------------------------------------------------------------------------
    def set_payment_method(self, principal: Principal, payment_method: str) -> dict[str, Any]:
        return self.customers.set_payment_method(principal.user_id, payment_method)

    def setup_session(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        return self.customers.setup_session(principal.user_id, body)

    def set_spending_cap(self, principal: Principal, cap_cents: int | None) -> dict[str, Any]:
        return self.customers.set_spending_cap(principal.user_id, cap_cents)

    def checkout(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        return self.plans.checkout(principal.user_id, body)

    def change_plan(self, principal: Principal, plugin: str, plan: str) -> dict[str, Any]:
        return self.plans.change(principal.user_id, plugin, plan)

    def cancel(self, principal: Principal, plugin: str) -> dict[str, Any]:
        return self.plans.cancel(principal.user_id, plugin)

    def resume(self, principal: Principal, plugin: str) -> dict[str, Any]:
        return self.plans.resume(principal.user_id, plugin)

    def trial_status(self, principal: Principal, plugin: str) -> dict[str, Any]:
        return self.plans.trial_status(principal.user_id, plugin)

    def start_trial(self, principal: Principal, plugin: str) -> dict[str, Any]:
        return self.plans.start_trial(principal.user_id, plugin)

    def pay_invoice(self, principal: Principal, month: str) -> dict[str, Any]:
        return self.invoices.pay_now(principal.user_id, month)

    def refund(self, admin: Principal, stripe_invoice_id: str, amount_cents: int | None, reason: str) -> dict[str, Any]:
        return self.invoices.refund(admin.user_id, stripe_invoice_id, amount_cents, reason)

    def user_billing(self, user_id: str) -> dict[str, Any]:
        """An admin's view of a user's billing (to find what to refund)."""
        return self.summary(Principal(user_id, "user", "jwt"))

    def handle_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self.events.handle(payload, signature)

    # --- jobs ---------------------------------------------------------------------------------------
    def expire_graces(self) -> list[dict[str, Any]]:
        return self.plans.expire_graces()

    def dunning(self) -> list[dict[str, Any]]:
        return self.invoices.dunning()

    def invoice_month(self, month: str, *, dry_run: bool = False) -> dict[str, Any]:
        return self.invoices.close(month, dry_run=dry_run)
