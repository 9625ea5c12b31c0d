"""User billing through the payments port.

* A Stripe customer per user, created on first need with an idempotency key from our id.
* Plans: subscriptions and add-ons through Checkout (``mode=subscription``), one-time
  purchases through Checkout (``mode=payment``); our metadata (user, plugin, plan) rides on
  the session and the subscription, so every event says whose plan it is.
* Stripe events are verified, then handled once: the event id is written in the same
  transaction as the event's effect.
* A failed subscription payment gives ``GRACE_DAYS`` of grace; then the plan falls back
  to the plugin's default (its free plan, or per-call pricing).
* Monthly usage invoices: the per-call charges the aggregation rated, per user, in whole
  cents; the sub-cent rest (and totals below Stripe's 50-cent minimum) carry to next month.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.auth.principal import Principal
from chalicelib.catalog.pricing import Plan, plans_of
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import condition_failed, failed_conditions, find, run_transaction
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.core.ids import new_id
from chalicelib.core.periods import period_of
from chalicelib.metering.records import UserMonthRecord
from chalicelib.metering.repository import add_fee_revenue
from chalicelib.billing.records import (IN_GRACE, BillingTable, CustomerRecord, EventRecord, InvoiceRecord,
                                        PlanRecord, TrialRecord)
from chalicelib.notifications.service import NotificationService
from chalicelib.payments.port import InvoiceLine, PaymentsError, PaymentsPort
from chalicelib.payouts.plan import MICROS_PER_CENT

log = logging.getLogger(__name__)
Effect = Callable[[TransactWrite], None]  # one part of a Stripe event's transaction
GRACE_DAYS = 3
TRIAL_DAYS = 14
STRIPE_MINIMUM_CHARGE_CENTS = 50
EVENT_RETENTION_DAYS = 30
HANDLED_EVENTS = ("checkout.session.completed", "customer.subscription.created", "customer.subscription.updated",
                  "customer.subscription.deleted", "invoice.paid", "invoice.payment_failed", "account.updated")

CHECKOUT = {"type": "object", "additionalProperties": False,
            "required": ["plugin", "plan", "success_url", "cancel_url"],
            "properties": {"plugin": {"type": "string", "maxLength": 50}, "plan": {"type": "string", "maxLength": 32},
                           "success_url": {"type": "string", "pattern": "^https?://", "maxLength": 500},
                           "cancel_url": {"type": "string", "pattern": "^https?://", "maxLength": 500}}}
PAYMENT_METHOD = {"type": "object", "additionalProperties": False, "required": ["payment_method"],
                  "properties": {"payment_method": {"type": "string", "pattern": "^pm_[A-Za-z0-9_]+$",
                                                    "maxLength": 100}}}


def _ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=timezone.utc) if value else None


def plan_view(rec: PlanRecord) -> dict[str, Any]:
    return {"plugin": rec.plugin, "plan": rec.plan_id, "status": rec.status, "source": rec.source,
            "addons": list(rec.addons or []),
            "current_period_end": iso(rec.current_period_end) if rec.current_period_end else None,
            "cancel_at_period_end": rec.cancel_at_period_end == "true",
            "grace_until": iso(rec.grace_until) if rec.grace_until else None}


class BillingService:
    def __init__(self, payments: PaymentsPort, pricing_of: Callable[[str], dict[str, Any]],
                 email_of: Callable[[str], str], notifications: NotificationService, clock: Clock,
                 on_account_updated: Callable[[dict[str, Any]], None],
                 on_plan_change: Callable[[str, str, str], None] = lambda user, plugin, reason: None) -> None:
        self._on_plan_change = on_plan_change
        self._payments = payments
        self._pricing_of = pricing_of
        self._email_of = email_of
        self._notify = notifications
        self._clock = clock
        self._account_updated = on_account_updated

    # --- plans ---------------------------------------------------------------------------------
    @staticmethod
    def _plan_record(user_id: str, plugin: str) -> PlanRecord | None:
        return find(PlanRecord, PlanRecord.key(user_id, plugin))

    def summary(self, principal: Principal) -> dict[str, Any]:
        user = principal.user_id
        items = list(BillingTable.query(f"USER#{user}"))
        customer = next((r for r in items if isinstance(r, CustomerRecord)), None)
        return {"customer": {"stripe_customer_id": customer.stripe_customer_id,
                             "has_payment_method": bool(customer.payment_method),
                             "carry_micros": int(customer.carry_micros or 0)} if customer else None,
                "plans": [plan_view(r) for r in items if isinstance(r, PlanRecord)],
                "invoices": [{"month": r.month, "status": r.status, "amount_cents": int(r.amount_cents),
                              "lines": r.lines, "stripe_invoice_id": r.stripe_invoice_id}
                             for r in sorted((r for r in items if isinstance(r, InvoiceRecord)),
                                             key=lambda r: r.month, reverse=True)]}

    def _customer(self, user_id: str) -> CustomerRecord:
        existing = find(CustomerRecord, CustomerRecord.key(user_id))
        if existing is not None:
            return existing
        customer_id = self._payments.create_customer(user_id=user_id, email=self._email_of(user_id),
                                                     idempotency_key=f"customer-{user_id}")
        record = CustomerRecord(*CustomerRecord.key(user_id), user_id=user_id, stripe_customer_id=customer_id)
        record.save()  # the same id on a race: the idempotency key made both calls return one customer
        return record

    def set_payment_method(self, principal: Principal, payment_method: str) -> dict[str, Any]:
        customer = self._customer(principal.user_id)
        attached = self._payments.set_default_payment_method(customer_id=customer.stripe_customer_id,
                                                             payment_method=payment_method)
        customer.update(actions=[CustomerRecord.payment_method.set(attached)])
        return {"payment_method": attached}

    def _purchasable(self, user_id: str, plugin: str, plan_id: str) -> Plan:
        plans = plans_of(self._pricing_of(plugin))
        plan = plans.get(plan_id)
        if plan is None:
            raise NotFoundError(f"plugin '{plugin}' has no plan '{plan_id}'", code="plan_not_found")
        if not plan.purchasable:
            raise InvalidInputError(f"the {plan.name} plan is not sold online" +
                                    (" (contact sales)" if plan.kind == "custom" else ""), code="plan_not_purchasable")
        current = self._plan_record(user_id, plugin)
        if current is not None and current.source == "trial":
            current = None  # a trial is converted by buying, the trialed plan included
        if plan.requires_plan and (current is None or current.plan_id != plan.requires_plan):
            raise ConflictError(f"the {plan.name} add-on needs the {plans[plan.requires_plan].name} plan first",
                                code="plan_required")
        if current is not None and (current.plan_id == plan_id or plan_id in (current.addons or [])):
            raise ConflictError(f"you already have {plan.name}", code="plan_already_held")
        return plan

    def checkout(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        plugin, plan_id = body["plugin"], body["plan"]
        plan = self._purchasable(principal.user_id, plugin, plan_id)
        customer = self._customer(principal.user_id)
        lookup = f"mf:{plugin}:{plan.id}:{plan.price_cents}:{plan.interval or 'once'}"
        price = self._payments.ensure_price(lookup_key=lookup, product_name=f"{plugin} {plan.name}",
                                            unit_amount_cents=plan.price_cents, interval=plan.interval,
                                            metadata={"plugin": plugin, "plan": plan.id})
        metadata = {"user_id": principal.user_id, "plugin": plugin, "plan": plan.id, "kind": plan.kind}
        session = self._payments.create_checkout_session(
            customer_id=customer.stripe_customer_id, price_id=price,
            mode="subscription" if plan.recurring else "payment", success_url=body["success_url"],
            cancel_url=body["cancel_url"], metadata=metadata, trial_days=plan.trial_days or None,
            idempotency_key=new_id("checkout"))
        return {"session_id": session.id, "url": session.url, "plugin": plugin, "plan": plan.id,
                "amount_cents": plan.price_cents, "interval": plan.interval}

    def cancel(self, principal: Principal, plugin: str) -> dict[str, Any]:
        rec = self._plan_record(principal.user_id, plugin)
        if rec is None or not rec.stripe_subscription_id:
            raise NotFoundError(f"no subscription on '{plugin}'", code="subscription_not_found")
        self._payments.cancel_subscription(subscription_id=rec.stripe_subscription_id, at_period_end=True)
        rec.update(actions=[PlanRecord.cancel_at_period_end.set("true")])
        return plan_view(rec)

    # --- trials --------------------------------------------------------------------------------
    def _trial_plan(self, plugin: str) -> Plan:
        subscriptions = [p for p in plans_of(self._pricing_of(plugin)).values() if p.kind == "subscription"]
        plan = next((p for p in subscriptions if p.trial_days), subscriptions[0] if subscriptions else None)
        if plan is None:
            raise ConflictError(f"'{plugin}' has no subscription plan to try", code="trial_unavailable")
        return plan

    def trial_status(self, principal: Principal, plugin: str) -> dict[str, Any]:
        plan = self._trial_plan(plugin)
        trial = find(TrialRecord, TrialRecord.key(principal.user_id, plugin))
        if trial is None:
            return {"plugin": plugin, "plan": plan.id, "status": "available", "days": plan.trial_days or TRIAL_DAYS}
        now = self._clock.now()
        active = trial.ends_at > now
        return {"plugin": plugin, "plan": trial.plan_id, "status": "active" if active else "expired",
                "started_at": iso(trial.started_at), "ends_at": iso(trial.ends_at),
                "days_remaining": max(0, -(-int((trial.ends_at - now).total_seconds()) // 86_400)) if active else 0}

    def start_trial(self, principal: Principal, plugin: str) -> dict[str, Any]:
        """The plugin's trial plan for its trial days (14 by default): once per user and plugin, ever."""
        plan, user, now = self._trial_plan(plugin), principal.user_id, self._clock.now()
        current = self._plan_record(user, plugin)
        if current is not None and current.source != "trial" and current.status in ("active", "trialing", "past_due"):
            raise ConflictError(f"you already hold the {current.plan_id} plan of '{plugin}'", code="plan_already_held")
        ends = now + timedelta(days=plan.trial_days or TRIAL_DAYS)

        def build(tx: TransactWrite) -> None:
            tx.save(TrialRecord(*TrialRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan.id,
                                started_at=now, ends_at=ends), condition=TrialRecord.pk.does_not_exist())
            tx.save(PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan.id,
                               status="trialing", source="trial", current_period_end=ends, updated_at=now),
                    condition=PlanRecord.pk.does_not_exist() | ~PlanRecord.status.is_in("active", "trialing",
                                                                                        "past_due"))

        try:
            run_transaction(BillingTable, build)
        except TransactWriteError as exc:
            if failed_conditions(exc)[:1] == [True]:
                raise ConflictError(f"you already had a trial of '{plugin}'", code="trial_already_used") from None
            if any(failed_conditions(exc)):
                raise ConflictError(f"you already hold a plan of '{plugin}'", code="plan_already_held") from None
            raise
        self._on_plan_change(user, plugin, "trial")
        return self.trial_status(principal, plugin)

    # --- Stripe events -------------------------------------------------------------------------
    def handle_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        event = self._payments.parse_webhook(payload, signature)
        if event.get("type") not in HANDLED_EVENTS:
            return {"received": True, "handled": False}
        now = self._clock.now()
        marker = EventRecord(*EventRecord.key(str(event["id"])), event_type=str(event["type"]), received_at=now,
                             expires=now + timedelta(days=EVENT_RETENTION_DAYS))
        obj = event["data"]["object"]
        effects = getattr(self, "_on_" + str(event["type"]).replace(".", "_"))(obj)

        def build(tx: TransactWrite) -> None:
            tx.save(marker, condition=EventRecord.pk.does_not_exist())
            for effect in effects:
                effect(tx)

        try:
            run_transaction(BillingTable, build)
        except TransactWriteError as exc:
            if failed_conditions(exc)[:1] == [True]:
                return {"received": True, "duplicate": True}
            raise
        self._after(event["type"], obj)
        return {"received": True, "handled": True}

    def _fee(self, meta: dict[str, Any], amount_cents: int) -> list[Effect]:
        if not meta.get("plugin") or amount_cents <= 0:
            return []
        period = period_of(self._clock.now())
        return [lambda tx: add_fee_revenue(tx, meta["plugin"], period, amount_cents * MICROS_PER_CENT)]

    def _on_checkout_session_completed(self, session: dict[str, Any]) -> list[Effect]:
        meta = session.get("metadata") or {}
        if session.get("mode") != "payment" or not meta.get("user_id") or not meta.get("plugin"):
            return []  # subscriptions arrive as customer.subscription.* and invoice.paid
        user, plugin, plan = meta["user_id"], meta["plugin"], meta["plan"]
        now = self._clock.now()

        def grant(tx: TransactWrite) -> None:
            if meta.get("kind") == "addon":
                tx.update(PlanRecord(*PlanRecord.key(user, plugin)),
                          actions=[PlanRecord.addons.set(PlanRecord.addons.append([plan])),
                                   PlanRecord.updated_at.set(now)], condition=PlanRecord.pk.exists())
            else:
                tx.save(PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan,
                                   status="active", source="purchase", updated_at=now))

        return [grant, *self._fee(meta, int(session.get("amount_total") or 0))]

    def _on_customer_subscription_created(self, sub: dict[str, Any]) -> list[Effect]:
        meta = sub.get("metadata") or {}
        if not meta.get("user_id") or not meta.get("plugin"):
            return []
        user, plugin, now = meta["user_id"], meta["plugin"], self._clock.now()
        if meta.get("kind") == "addon":
            return [lambda tx: tx.update(PlanRecord(*PlanRecord.key(user, plugin)),
                                         actions=[PlanRecord.addons.set(PlanRecord.addons.append([meta["plan"]]))],
                                         condition=PlanRecord.pk.exists())]
        record = PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=meta["plan"],
                            status=str(sub.get("status")),
                            source="subscription", stripe_subscription_id=sub.get("id"),
                            current_period_end=_ts(sub.get("current_period_end")
                                                   or (sub.get("items", {}).get("data") or [{}])[0]
                                                   .get("current_period_end")),
                            cancel_at_period_end="true" if sub.get("cancel_at_period_end") else None,
                            updated_at=now)
        current = self._plan_record(user, plugin)
        if current is not None:
            record.addons = current.addons
            if sub.get("status") == "past_due" and current.grace_until:
                record.grace, record.grace_until, record.status = IN_GRACE, current.grace_until, "past_due"
        return [lambda tx: tx.save(record)]

    _on_customer_subscription_updated = _on_customer_subscription_created

    def _on_customer_subscription_deleted(self, sub: dict[str, Any]) -> list[Effect]:
        meta = sub.get("metadata") or {}
        if not meta.get("user_id") or not meta.get("plugin") or meta.get("kind") == "addon":
            return []
        rec = self._plan_record(meta["user_id"], meta["plugin"])
        if rec is None or rec.stripe_subscription_id != sub.get("id"):
            return []  # already gone, or replaced by a newer plan
        return [lambda tx: tx.delete(PlanRecord(rec.pk, rec.sk), condition=PlanRecord.stripe_subscription_id == sub["id"])]

    @staticmethod
    def _invoice_meta(invoice: dict[str, Any]) -> dict[str, Any]:
        parent = (invoice.get("parent") or {}).get("subscription_details") or invoice.get("subscription_details") or {}
        return {**(parent.get("metadata") or {}), **(invoice.get("metadata") or {})}

    def _on_invoice_paid(self, invoice: dict[str, Any]) -> list[Effect]:
        meta = self._invoice_meta(invoice)
        if meta.get("kind") == "usage":
            key = InvoiceRecord.key(meta["user_id"], meta["month"])
            return [lambda tx: tx.update(InvoiceRecord(*key), actions=[InvoiceRecord.status.set("paid")],
                                         condition=InvoiceRecord.pk.exists())]
        effects = self._fee(meta, int(invoice.get("amount_paid") or 0))
        rec = self._plan_record(meta.get("user_id", ""), meta.get("plugin", "")) if meta.get("user_id") else None
        if rec is not None and rec.grace:
            key = PlanRecord.key(rec.user_id, rec.plugin)
            effects.append(lambda tx: tx.update(PlanRecord(*key), actions=[
                PlanRecord.grace.remove(), PlanRecord.grace_until.remove(), PlanRecord.status.set("active")]))
        return effects

    def _on_invoice_payment_failed(self, invoice: dict[str, Any]) -> list[Effect]:
        meta = self._invoice_meta(invoice)
        if meta.get("kind") == "usage":
            key = InvoiceRecord.key(meta["user_id"], meta["month"])
            return [lambda tx: tx.update(InvoiceRecord(*key), actions=[InvoiceRecord.status.set("failed")],
                                         condition=InvoiceRecord.pk.exists())]
        rec = self._plan_record(meta.get("user_id", ""), meta.get("plugin", "")) if meta.get("user_id") else None
        if rec is None or rec.grace or rec.status not in ("active", "trialing"):
            return []  # grace is for plans that were paid; a first payment that failed grants nothing
        key, until = PlanRecord.key(rec.user_id, rec.plugin), self._clock.now() + timedelta(days=GRACE_DAYS)
        return [lambda tx: tx.update(PlanRecord(*key), actions=[
            PlanRecord.grace.set(IN_GRACE), PlanRecord.grace_until.set(until), PlanRecord.status.set("past_due")])]

    def _on_account_updated(self, account: dict[str, Any]) -> list[Effect]:
        return []  # applied after the event is recorded: it belongs to the payouts context

    def _after(self, event_type: str, obj: dict[str, Any]) -> None:
        meta = self._invoice_meta(obj) if event_type.startswith("invoice.") else (obj.get("metadata") or {})
        if meta.get("user_id") and meta.get("plugin") and meta.get("kind") != "usage":
            renewal = event_type == "invoice.paid" and obj.get("billing_reason") == "subscription_cycle"
            self._on_plan_change(meta["user_id"], meta["plugin"], "renewal" if renewal else "purchase")
        if event_type == "checkout.session.completed" and meta.get("user_id"):
            self._adopt_card(meta["user_id"], str(obj["id"]))
        if event_type == "account.updated":
            self._account_updated(obj)
        elif event_type == "invoice.payment_failed":
            meta = self._invoice_meta(obj)
            if meta.get("user_id"):
                what = "usage invoice" if meta.get("kind") == "usage" else f"{meta.get('plugin')} subscription"
                self._notify.notify(meta["user_id"], f"billing.payment_failed:{obj.get('id')}", "billing.payment_failed",
                                    f"The payment for your {what} failed. Update your card within {GRACE_DAYS} days "
                                    "to keep your plan.", {"invoice": obj.get("id")})

    def _adopt_card(self, user_id: str, session_id: str) -> None:
        """The card a user paid with in Checkout also pays their usage invoices, unless they chose one."""
        customer = find(CustomerRecord, CustomerRecord.key(user_id))
        if customer is None or customer.payment_method:
            return
        try:
            method = self._payments.adopt_checkout_payment_method(customer_id=customer.stripe_customer_id,
                                                                  session_id=session_id)
        except PaymentsError as exc:  # the event is recorded; the user can still add a card themselves
            log.warning("could not adopt the card of checkout %s: %s", session_id, exc)
            return
        if method:
            customer.update(actions=[CustomerRecord.payment_method.set(method)])

    # --- jobs ----------------------------------------------------------------------------------
    def expire_graces(self) -> list[dict[str, Any]]:
        """Plans whose grace ended: back to the plugin's default plan, subscription cancelled."""
        now, downgraded = self._clock.now(), []
        for rec in PlanRecord.grace_index.query(IN_GRACE):
            if not isinstance(rec, PlanRecord) or rec.grace_until is None or rec.grace_until > now:
                continue
            if rec.stripe_subscription_id:
                self._payments.cancel_subscription(subscription_id=rec.stripe_subscription_id, at_period_end=False)
            try:
                rec.delete(condition=PlanRecord.grace_until == rec.grace_until)
            except DeleteError as exc:
                if not condition_failed(exc):
                    raise
                continue  # paid meanwhile: keep the plan
            self._notify.notify(rec.user_id, f"billing.downgraded:{rec.plugin}:{iso(rec.grace_until)}",
                                "billing.downgraded", f"Your {rec.plugin} plan fell back to the free plan: "
                                "the payment did not succeed within the grace period.", {"plugin": rec.plugin})
            downgraded.append({"user_id": rec.user_id, "plugin": rec.plugin, "plan": rec.plan_id})
        return downgraded

    def invoice_month(self, month: str) -> dict[str, Any]:
        """Bill each user's rated per-call charges of ``month`` (idempotent per user and month)."""
        per_user: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for rec in UserMonthRecord.by_month.query(month):
            if not isinstance(rec, UserMonthRecord):
                continue
            micros = int(rec.revenue_first_micros or 0) + int(rec.revenue_second_micros or 0)
            if micros:
                per_user[rec.user_id].append((rec.plugin, micros))
        return {"month": month, "invoices": [self._invoice_user(user, month, sorted(charges))
                                             for user, charges in sorted(per_user.items())]}

    def _invoice_user(self, user: str, month: str, charges: list[tuple[str, int]]) -> dict[str, Any]:
        key = InvoiceRecord.key(user, month)
        existing = find(InvoiceRecord, key)
        if existing is not None and existing.status != "open":
            return {"user_id": user, "status": existing.status, "amount_cents": int(existing.amount_cents)}
        customer = self._customer(user)
        carry_in = int(existing.carry_in_micros) if existing else int(customer.carry_micros or 0)
        total = carry_in + sum(m for _, m in charges)
        cents, carry_out = divmod(total, MICROS_PER_CENT)
        lines: list[dict[str, Any]] = []
        running = carry_in
        for plugin, micros in charges:  # cumulative rounding: the lines add up to the total exactly
            before, running = running // MICROS_PER_CENT, running + micros
            lines.append({"plugin": plugin, "micros": micros, "amount_cents": running // MICROS_PER_CENT - before})
        carried = cents < STRIPE_MINIMUM_CHARGE_CENTS
        if carried:
            cents, carry_out = 0, total
        # written before charging, so Stripe's invoice events (which may come back first) find it
        record = InvoiceRecord(*key, user_id=user, month=month, status="carried" if carried else "open",
                               amount_cents=cents, carry_in_micros=carry_in, carry_out_micros=carry_out, lines=lines,
                               created_at=self._clock.now())

        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=InvoiceRecord.pk.does_not_exist() | (InvoiceRecord.status == "open"))
            tx.update(CustomerRecord(*CustomerRecord.key(user)), actions=[CustomerRecord.carry_micros.set(carry_out)])

        run_transaction(BillingTable, build)
        if not carried:
            invoice = self._payments.charge_invoice(
                customer_id=customer.stripe_customer_id,
                lines=[InvoiceLine(f"{l['plugin']} API calls, {month}", l["amount_cents"]) for l in lines],
                metadata={"kind": "usage", "user_id": user, "month": month}, idempotency_key=f"usage-{user}-{month}")
            actions: list[Any] = [InvoiceRecord.stripe_invoice_id.set(invoice.id)]
            if invoice.status == "paid":
                actions.append(InvoiceRecord.status.set("paid"))
            record.update(actions=actions)
        return {"user_id": user, "status": record.status, "amount_cents": cents, "carry_out_micros": carry_out,
                "stripe_invoice_id": record.stripe_invoice_id}
