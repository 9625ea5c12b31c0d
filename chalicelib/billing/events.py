"""Stripe events: verified, recorded once, applied in order, money through the ledger.

Each event id is written in the same transaction as the event's effect on billing's items, so a
duplicate changes nothing there. What an event means for money (a payment, a refund, a lost
dispute) is posted to the ledger under ids derived from Stripe's own objects (the payment
intent, the dispute), again on every delivery, duplicates included: a crash between recording
the event and posting its journals is repaired by Stripe's retry, and nothing is counted twice.

Subscription events are told apart (``created`` may take the (user, plugin) slot, ``updated``
changes the subscription that holds it, ``deleted`` frees it) and never trusted for state: the
subscription is read from Stripe as it is now, and an event older than the one the slot last
applied is ignored (Stripe delivers out of order).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.billing.context import BillingContext
from chalicelib.billing.customers import Customers
from chalicelib.billing.invoices import UsageInvoices
from chalicelib.billing.outcome import Effect, Outcome
from chalicelib.billing.plans import SLOT_STATUSES, Plans, holds_slot
from chalicelib.billing.records import IN_GRACE, BillingTable, EventRecord, PlanRecord
from chalicelib.core.dynamo import failed_conditions, run_transaction
from chalicelib.core.periods import period_of
from chalicelib.metering.repository import add_fee_revenue
from chalicelib.payments.port import PaymentsError, Subscription
from chalicelib.revenue.ledger import MICROS_PER_CENT

log = logging.getLogger(__name__)
EVENT_RETENTION_DAYS = 30
HANDLED_EVENTS = ("checkout.session.completed", "checkout.session.expired", "customer.subscription.created",
                  "customer.subscription.updated", "customer.subscription.deleted", "invoice.paid",
                  "invoice.payment_failed", "charge.refunded", "charge.dispute.closed", "account.updated")
DISPUTE_FEE_CENTS = 1_500  # Stripe's, when the event does not say
NOTHING_LEFT_TO_REFUND = ("charge_already_refunded", "charge_disputed")  # the money is back, or the dispute's


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=timezone.utc) if value else None


def invoice_meta(invoice: dict[str, Any]) -> dict[str, Any]:
    parent = (invoice.get("parent") or {}).get("subscription_details") or invoice.get("subscription_details") or {}
    return {**(parent.get("metadata") or {}), **(invoice.get("metadata") or {})}


class StripeEvents:
    def __init__(self, ctx: BillingContext, customers: Customers, plans: Plans, invoices: UsageInvoices) -> None:
        self._ctx = ctx
        self._customers = customers
        self._plans = plans
        self._invoices = invoices

    def handle(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        event = self._ctx.payments.parse_webhook(payload, signature)
        kind = str(event.get("type"))
        if kind not in HANDLED_EVENTS:
            return {"received": True, "handled": False}
        obj, created = event["data"]["object"], int(event.get("created") or 0)
        now = self._ctx.clock.now()
        marker = EventRecord(*EventRecord.key(str(event["id"])), event_type=kind, received_at=now,
                             expires=now + timedelta(days=EVENT_RETENTION_DAYS))
        handler = getattr(self, "_on_" + kind.replace(".", "_"))
        duplicate = False
        for attempt in range(4):
            outcome: Outcome = handler(obj, created)

            def build(tx: TransactWrite) -> None:
                tx.save(marker, condition=EventRecord.pk.does_not_exist())
                for effect in outcome.effects:
                    effect(tx)

            try:
                run_transaction(BillingTable, build)
                break
            except TransactWriteError as exc:
                failed = failed_conditions(exc)
                if failed[:1] == [True]:
                    duplicate = True
                    break
                if not any(failed) or attempt == 3:
                    raise
                # an item moved since the handler read it (a racing event): read again, decide again
        for action in outcome.always:
            action()
        if not duplicate:
            for action in outcome.once:
                action()
        return {"received": True, "duplicate": True} if duplicate else {"received": True, "handled": True}

    # --- Checkout ---------------------------------------------------------------------------------------
    def _on_checkout_session_completed(self, session: dict[str, Any], created: int) -> Outcome:
        meta = session.get("metadata") or {}
        user = meta.get("user_id")
        out = Outcome()
        if not user:
            return out
        mode = session.get("mode")
        if mode == "setup":
            out.always.append(lambda: self._customers.adopt_card(user, str(session["id"]), replace=True))
            return out
        out.once.append(lambda: self._customers.adopt_card(user, str(session["id"])))
        plugin, plan = meta.get("plugin"), meta.get("plan")
        if mode != "payment" or not plugin or not plan:
            return out  # subscriptions arrive as customer.subscription.* and invoice.paid
        now = self._ctx.clock.now()

        def grant(tx: TransactWrite) -> None:
            if meta.get("kind") == "addon":
                tx.update(PlanRecord(*PlanRecord.key(user, plugin)),
                          actions=[PlanRecord.addons.set(PlanRecord.addons.append([plan])),
                                   PlanRecord.updated_at.set(now)], condition=PlanRecord.pk.exists())
            else:
                tx.save(PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan,
                                   status="active", source="purchase", updated_at=now),
                        condition=PlanRecord.pk.does_not_exist() | ~PlanRecord.source.is_in("subscription")
                        | ~PlanRecord.status.is_in(*SLOT_STATUSES))

        current = self._plans.record(user, plugin)
        if meta.get("kind") == "addon" or not holds_slot(current):
            out.effects.append(grant)
        amount = int(session.get("amount_total") or 0)
        out.effects += self._fee(plugin, amount)
        payment = session.get("payment_intent")
        if amount > 0 and payment:
            out.always.append(lambda: self._collect_plan(str(payment), user, plugin, amount, "purchase"))
        out.once.append(lambda: self._ctx.on_plan_change(user, plugin, "purchase"))
        return out

    def _on_checkout_session_expired(self, session: dict[str, Any], created: int) -> Outcome:
        meta = session.get("metadata") or {}
        out = Outcome()
        if meta.get("user_id") and meta.get("plugin") and session.get("mode") == "subscription":
            out.always.append(lambda: self._plans.release_trial(meta["user_id"], meta["plugin"], str(session["id"])))
        return out

    # --- subscriptions ----------------------------------------------------------------------------------
    def _on_customer_subscription_created(self, sub: dict[str, Any], created: int) -> Outcome:
        return self._subscription(sub, created, may_take_slot=True)

    def _on_customer_subscription_updated(self, sub: dict[str, Any], created: int) -> Outcome:
        return self._subscription(sub, created, may_take_slot=True)

    def _on_customer_subscription_deleted(self, sub: dict[str, Any], created: int) -> Outcome:
        return self._subscription(sub, created, may_take_slot=False)

    def _subscription(self, event_sub: dict[str, Any], created: int, *, may_take_slot: bool) -> Outcome:
        meta = event_sub.get("metadata") or {}
        user, plugin = meta.get("user_id"), meta.get("plugin")
        out = Outcome()
        if not user or not plugin:
            return out
        sub = self._ctx.payments.retrieve_subscription(str(event_sub["id"]))  # as it is now, not as it was
        rec = self._plans.record(user, plugin)
        now = self._ctx.clock.now()
        if meta.get("kind") == "addon":
            return self._addon(sub, user, plugin, meta.get("plan", ""), rec, now)
        mine = rec is not None and rec.stripe_subscription_id == sub.id
        if mine and rec is not None and rec.stripe_event_at and int(rec.stripe_event_at) > created:
            return out  # older than what the slot holds: Stripe delivered it late
        if sub.status not in SLOT_STATUSES:
            if mine:
                out.effects.append(lambda tx: tx.delete(PlanRecord(*PlanRecord.key(user, plugin)),
                                                        condition=PlanRecord.stripe_subscription_id == sub.id))
                out.once.append(lambda: self._ctx.on_plan_change(user, plugin, "cancelled"))
            return out
        if holds_slot(rec, sub.id) or (not mine and not may_take_slot):
            # another live subscription holds the slot: this one is a duplicate (two Checkouts paid)
            out.always.append(lambda: self._cancel_duplicate(sub, user, plugin))
            return out
        record = self._plan_record(sub, user, plugin, rec, created, now)
        out.effects.append(lambda tx: tx.save(record, condition=(
            PlanRecord.pk.does_not_exist() | PlanRecord.stripe_subscription_id.does_not_exist()
            | (PlanRecord.stripe_subscription_id == sub.id) | ~PlanRecord.status.is_in(*SLOT_STATUSES)
            | ~PlanRecord.source.is_in("subscription"))))
        if sub.trial_end and sub.status == "trialing":
            ends = _ts(sub.trial_end) or now
            out.always.append(lambda: self._plans.trial_used_by(user, plugin, record.plan_id, sub.id, ends))
        out.once.append(lambda: self._ctx.on_plan_change(user, plugin, "purchase"))
        return out

    def _plan_record(self, sub: Subscription, user: str, plugin: str, rec: PlanRecord | None, created: int,
                     now: datetime) -> PlanRecord:
        plan_id = sub.metadata.get("plan", "")
        pending, pending_from = sub.metadata.get("pending_plan") or None, sub.metadata.get("pending_from") or None
        if pending and pending_from and sub.current_period_start and int(pending_from) <= int(sub.current_period_start):
            plan_id, pending, pending_from = pending, None, None  # the period the downgrade waited for began
        record = PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan_id,
                            status=sub.status, source="subscription", stripe_subscription_id=sub.id,
                            current_period_end=_ts(sub.current_period_end),
                            cancel_at_period_end="true" if sub.cancel_at_period_end else None, updated_at=now,
                            pending_plan=pending, pending_from=_ts(pending_from) if pending_from else None,
                            stripe_event_at=created)
        if rec is not None and rec.stripe_subscription_id == sub.id:
            record.addons = rec.addons
            if rec.grace and sub.status == "past_due":
                record.grace, record.grace_until = rec.grace, rec.grace_until
        return record

    def _addon(self, sub: Subscription, user: str, plugin: str, addon: str, rec: PlanRecord | None,
               now: datetime) -> Outcome:
        out = Outcome()
        if rec is None or not addon:
            return out
        addons: list[Any] = [a for a in (rec.addons or []) if a != addon]
        if sub.status in SLOT_STATUSES:
            addons.append(addon)
        if addons != list(rec.addons or []):
            out.effects.append(lambda tx: tx.update(PlanRecord(rec.pk, rec.sk), actions=[
                PlanRecord.addons.set(addons), PlanRecord.updated_at.set(now)], condition=PlanRecord.pk.exists()))
            out.once.append(lambda: self._ctx.on_plan_change(user, plugin, "purchase"))
        return out

    def _cancel_duplicate(self, sub: Subscription, user: str, plugin: str) -> None:
        """A second live subscription of one (user, plugin): cancelled now, its payment given back."""
        if sub.status not in ("canceled", "incomplete_expired"):
            self._ctx.payments.cancel_subscription(subscription_id=sub.id, at_period_end=False)
        if sub.latest_invoice:
            invoice = self._ctx.payments.retrieve_invoice(sub.latest_invoice)
            if invoice.status == "paid" and invoice.payment_intent and invoice.amount_paid_cents > 0:
                try:  # what is left of it (an admin may have refunded part or all of it already)
                    self._ctx.payments.refund(payment_intent=invoice.payment_intent, amount_cents=None,
                                              reason="duplicate subscription", metadata={"mf_duplicate": sub.id},
                                              idempotency_key=f"duplicate-subscription-{sub.id}")
                except PaymentsError as exc:
                    if exc.code not in NOTHING_LEFT_TO_REFUND:
                        raise
                    log.info("duplicate subscription %s: nothing left to refund (%s)", sub.id, exc.code)
        self._ctx.notifications.notify(
            user, f"billing.duplicate:{sub.id}", "billing.duplicate_subscription",
            f"You already had a {plugin} subscription: the second one was cancelled and its payment refunded. "
            f"Change plans with POST /billing/subscriptions/{plugin}/change.",
            {"plugin": plugin, "subscription": sub.id})

    # --- invoices and payments ----------------------------------------------------------------------------
    def _fee(self, plugin: str, amount_cents: int) -> list[Effect]:
        """Subscription and purchase revenue in the plugin's period stats (the developer's dashboard)."""
        if amount_cents <= 0:
            return []
        period = period_of(self._ctx.clock.now())
        return [lambda tx: add_fee_revenue(tx, plugin, period, amount_cents * MICROS_PER_CENT)]

    def _collect_plan(self, payment: str, user: str, plugin: str, amount_cents: int, source: str) -> None:
        developer, share_bps = self._ctx.owner_of(plugin)
        self._ctx.revenue.plan_paid(payment, user=user, plugin=plugin, developer=developer, amount_cents=amount_cents,
                                    share_bps=share_bps, referral=self._ctx.referral_of(developer), source=source)

    def _on_invoice_paid(self, invoice: dict[str, Any], created: int) -> Outcome:
        meta = invoice_meta(invoice)
        out = Outcome()
        if meta.get("kind") == "usage":
            return self._invoices.on_paid(meta, invoice)
        user, plugin = meta.get("user_id"), meta.get("plugin")
        if not user or not plugin:
            return out
        amount = int(invoice.get("amount_paid") or 0)
        out.effects += self._fee(plugin, amount)
        payment = invoice.get("payment_intent") or f"invoice-{invoice['id']}"
        if amount > 0:
            source = "renewal" if invoice.get("billing_reason") == "subscription_cycle" else "subscription"
            out.always.append(lambda: self._collect_plan(str(payment), user, plugin, amount, source))
        rec = self._plans.record(user, plugin)
        if rec is not None and rec.grace:
            key = PlanRecord.key(rec.user_id, rec.plugin)
            out.effects.append(lambda tx: tx.update(PlanRecord(*key), actions=[
                PlanRecord.grace.remove(), PlanRecord.grace_until.remove(), PlanRecord.status.set("active")]))
        renewal = invoice.get("billing_reason") == "subscription_cycle"
        out.once.append(lambda: self._ctx.on_plan_change(user, plugin, "renewal" if renewal else "purchase"))
        return out

    def _on_invoice_payment_failed(self, invoice: dict[str, Any], created: int) -> Outcome:
        meta = invoice_meta(invoice)
        if meta.get("kind") == "usage":
            return self._invoices.on_failed(meta, invoice)
        out = Outcome()
        user, plugin = meta.get("user_id"), meta.get("plugin")
        rec = self._plans.record(user, plugin) if user and plugin else None
        if rec is None or rec.grace or rec.status not in ("active", "trialing"):
            return out  # grace is for plans that were paid; a first payment that failed grants nothing
        key = PlanRecord.key(rec.user_id, rec.plugin)
        until = self._ctx.clock.now() + timedelta(days=self._ctx.grace_days)
        out.effects.append(lambda tx: tx.update(PlanRecord(*key), actions=[
            PlanRecord.grace.set(IN_GRACE), PlanRecord.grace_until.set(until), PlanRecord.status.set("past_due")]))

        def notice() -> None:
            self._ctx.notifications.notify(
                rec.user_id, f"billing.payment_failed:{invoice.get('id')}", "billing.payment_failed",
                f"The payment for your {plugin} subscription failed. Stripe retries it; update your card within "
                f"{self._ctx.grace_days} days to keep your plan.",
                {"invoice": invoice.get("id"), "pay_url": invoice.get("hosted_invoice_url")})

        out.once.append(notice)
        return out

    def _on_charge_refunded(self, charge: dict[str, Any], created: int) -> Outcome:
        out = Outcome()
        payment = charge.get("payment_intent")
        if payment:
            refunded = int(charge.get("amount_refunded") or 0) * MICROS_PER_CENT
            out.always.append(lambda: self._invoices.refunded(str(payment), refunded))
        return out

    def _on_charge_dispute_closed(self, dispute: dict[str, Any], created: int) -> Outcome:
        """Stripe's fee is the platform's whatever the outcome; a lost dispute also takes the amount
        back out of the shares (won: the money came back)."""
        out = Outcome()
        payment = dispute.get("payment_intent")
        fee = sum(int(t.get("fee") or 0) for t in dispute.get("balance_transactions") or [] if isinstance(t, dict)) \
            or DISPUTE_FEE_CENTS
        lost = dispute.get("status") == "lost"

        def settle() -> None:
            if lost and payment:
                self._ctx.revenue.reverse("dispute", str(payment), int(dispute.get("amount") or 0) * MICROS_PER_CENT,
                                          "dispute lost")
            self._ctx.revenue.dispute_fee(str(dispute["id"]), fee)

        out.always.append(settle)
        return out

    def _on_account_updated(self, account: dict[str, Any], created: int) -> Outcome:
        out = Outcome()
        out.always.append(lambda: self._ctx.on_account_updated(account))  # the payouts context's
        return out
