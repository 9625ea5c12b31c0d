"""Plans a user holds on a plugin: Checkout, plan changes, cancel and resume, trials, graces.

* **At most one live subscription per (user, plugin).** The plan item (``USER#u / PLAN#plugin``)
  is the slot: a subscription takes it only with a conditional write that finds it empty, held by
  the same subscription, or held by something that is not a live subscription (a trial, a
  purchase). Buying another subscription plan while holding one is refused: plans change through
  Stripe's subscription update (:meth:`Plans.change`). A second subscription that slips through
  anyway (two Checkout pages paid at once) loses the slot and is cancelled and refunded.
* **Upgrades** apply at once with proration (the difference for the rest of the period is
  invoiced and must be paid, or nothing changes); **downgrades** and **cancellations** at the
  end of the period; **resume** undoes either.
* **One trial per (user, plugin), ever**, on every path: the ``TRIAL#plugin`` marker is written
  with a condition before any trial is given (``POST /trials``, or Checkout's trial days), and a
  Checkout left unpaid gives its reservation to the next Checkout of that plugin, never a second one.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.billing.context import BillingContext
from chalicelib.billing.customers import Customers
from chalicelib.billing.records import IN_GRACE, BillingTable, PlanRecord, TrialRecord
from chalicelib.catalog.pricing import Plan, plans_of
from chalicelib.core.clock import iso
from chalicelib.core.dynamo import condition_failed, failed_conditions, find, run_transaction
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError
from chalicelib.core.ids import new_id
from chalicelib.payments.port import Subscription

TRIAL_DAYS = 14
SLOT_STATUSES = ("active", "trialing", "past_due", "incomplete")  # a subscription in them holds the slot

CHECKOUT = {"type": "object", "additionalProperties": False,
            "required": ["plugin", "plan", "success_url", "cancel_url"],
            "properties": {"plugin": {"type": "string", "maxLength": 50}, "plan": {"type": "string", "maxLength": 32},
                           "success_url": {"type": "string", "pattern": "^https?://", "maxLength": 500},
                           "cancel_url": {"type": "string", "pattern": "^https?://", "maxLength": 500}}}
CHANGE = {"type": "object", "additionalProperties": False, "required": ["plan"],
          "properties": {"plan": {"type": "string", "minLength": 1, "maxLength": 32}}}


def plan_view(rec: PlanRecord) -> dict[str, Any]:
    return {"plugin": rec.plugin, "plan": rec.plan_id, "status": rec.status, "source": rec.source,
            "addons": list(rec.addons or []),
            "current_period_end": iso(rec.current_period_end) if rec.current_period_end else None,
            "cancel_at_period_end": rec.cancel_at_period_end == "true",
            "pending_plan": rec.pending_plan, "pending_from": iso(rec.pending_from) if rec.pending_from else None,
            "grace_until": iso(rec.grace_until) if rec.grace_until else None}


def holds_slot(rec: PlanRecord | None, subscription_id: str | None = None) -> bool:
    """Does ``rec`` hold the (user, plugin) slot with a live subscription other than ``subscription_id``?"""
    return (rec is not None and rec.source == "subscription" and rec.status in SLOT_STATUSES
            and bool(rec.stripe_subscription_id) and rec.stripe_subscription_id != subscription_id)


def monthly_cents(plan: Plan) -> int:
    """A plan's price per month (a yearly price over 12): what decides up or down."""
    return plan.price_cents // 12 if plan.interval == "year" else plan.price_cents


def lookup_key(plugin: str, plan: Plan) -> str:
    return f"mf:{plugin}:{plan.id}:{plan.price_cents}:{plan.interval or 'once'}"


class Plans:
    def __init__(self, ctx: BillingContext, customers: Customers) -> None:
        self._ctx = ctx
        self._customers = customers

    @staticmethod
    def record(user_id: str, plugin: str) -> PlanRecord | None:
        return find(PlanRecord, PlanRecord.key(user_id, plugin))

    def _plans(self, plugin: str) -> dict[str, Plan]:
        return plans_of(self._ctx.pricing_of(plugin))

    def _price(self, plugin: str, plan: Plan) -> str:
        return self._ctx.payments.ensure_price(lookup_key=lookup_key(plugin, plan),
                                               product_name=f"{plugin} {plan.name}",
                                               unit_amount_cents=plan.price_cents, interval=plan.interval,
                                               metadata={"plugin": plugin, "plan": plan.id})

    # --- buying -------------------------------------------------------------------------------------
    def _purchasable(self, user_id: str, plugin: str, plan_id: str) -> Plan:
        plans = self._plans(plugin)
        plan = plans.get(plan_id)
        if plan is None:
            raise NotFoundError(f"plugin '{plugin}' has no plan '{plan_id}'", code="plan_not_found")
        if not plan.purchasable:
            raise InvalidInputError(f"the {plan.name} plan is not sold online" +
                                    (" (contact sales)" if plan.kind == "custom" else ""), code="plan_not_purchasable")
        current = self.record(user_id, plugin)
        if current is not None and current.source == "trial":
            current = None  # a trial is converted by buying, the trialed plan included
        if plan.requires_plan and (current is None or current.plan_id != plan.requires_plan):
            raise ConflictError(f"the {plan.name} add-on needs the {plans[plan.requires_plan].name} plan first",
                                code="plan_required")
        if current is not None and (current.plan_id == plan_id or plan_id in (current.addons or [])):
            raise ConflictError(f"you already have {plan.name}", code="plan_already_held")
        if plan.kind in ("subscription", "one_time") and holds_slot(current):
            assert current is not None
            raise ConflictError(f"you hold the {current.plan_id} subscription of '{plugin}': change plans with "
                                f'POST /billing/subscriptions/{plugin}/change {{"plan": "{plan_id}"}} (one '
                                "subscription per plugin; upgrades apply now, prorated)", code="plan_change_required",
                                details={"current": current.plan_id,
                                         "change": f"/billing/subscriptions/{plugin}/change"})
        return plan

    def checkout(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        plugin, plan_id = body["plugin"], body["plan"]
        plan = self._purchasable(user_id, plugin, plan_id)
        customer = self._customers.customer(user_id)
        price = self._price(plugin, plan)
        metadata = {"user_id": user_id, "plugin": plugin, "plan": plan.id, "kind": plan.kind}
        reservation = self._offer_trial(user_id, plugin, plan) if plan.kind == "subscription" else None
        session = self._ctx.payments.create_checkout_session(
            customer_id=customer.stripe_customer_id, price_id=price,
            mode="subscription" if plan.recurring else "payment", success_url=body["success_url"],
            cancel_url=body["cancel_url"], metadata=metadata,
            trial_days=(plan.trial_days or TRIAL_DAYS) if reservation is not None else None,
            idempotency_key=new_id("checkout"))
        if reservation is not None:
            self._bind_trial(user_id, plugin, reservation, session.id)
        return {"session_id": session.id, "url": session.url, "plugin": plugin, "plan": plan.id,
                "amount_cents": plan.price_cents, "interval": plan.interval,
                "trial_days": (plan.trial_days or TRIAL_DAYS) if reservation is not None else 0}

    # --- trials -------------------------------------------------------------------------------------
    def _offer_trial(self, user: str, plugin: str, plan: Plan) -> str | None:
        """Reserve the (user, plugin) trial for a Checkout: the session it is bound to now ("" for
        none), or None when no trial may be given (taken, or offered by a Checkout already paid)."""
        if not plan.trial_days:
            return None
        marker = find(TrialRecord, TrialRecord.key(user, plugin))
        now = self._ctx.clock.now()
        if marker is None:
            try:
                TrialRecord(*TrialRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan.id,
                            started_at=now, ends_at=now + timedelta(days=plan.trial_days), source="checkout"
                            ).save(condition=TrialRecord.pk.does_not_exist())
                return ""
            except PutError as exc:
                if not condition_failed(exc):
                    raise
                return None  # a racer reserved it
        if marker.source != "checkout" or marker.subscription_id:
            return None
        if marker.session_id:  # an earlier Checkout offers it: unpaid, it passes to this one
            status = self._ctx.payments.checkout_session_status(marker.session_id)
            if status == "complete":
                return None
            if status == "open":
                self._ctx.payments.expire_checkout_session(marker.session_id)
        return marker.session_id or ""

    def _bind_trial(self, user: str, plugin: str, previous: str, session_id: str) -> None:
        try:
            TrialRecord(*TrialRecord.key(user, plugin)).update(
                actions=[TrialRecord.session_id.set(session_id)],
                condition=(TrialRecord.session_id.does_not_exist() if not previous
                           else TrialRecord.session_id == previous) & TrialRecord.subscription_id.does_not_exist())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            self._ctx.payments.expire_checkout_session(session_id)  # a racer's Checkout has the trial
            raise ConflictError(f"another Checkout of '{plugin}' started at the same time; start again",
                                code="checkout_in_progress") from None

    def release_trial(self, user: str, plugin: str, session_id: str) -> None:
        """An expired Checkout gives its trial reservation back."""
        try:
            TrialRecord(*TrialRecord.key(user, plugin)).delete(
                condition=(TrialRecord.session_id == session_id) & TrialRecord.subscription_id.does_not_exist())
        except DeleteError as exc:
            if not condition_failed(exc):
                raise

    def trial_used_by(self, user: str, plugin: str, plan_id: str, subscription_id: str, ends: datetime) -> None:
        """A subscription started with a trial: the marker names it (written if no Checkout reserved it)."""
        now = self._ctx.clock.now()
        try:
            TrialRecord(*TrialRecord.key(user, plugin)).update(
                actions=[TrialRecord.subscription_id.set(subscription_id), TrialRecord.ends_at.set(ends),
                         TrialRecord.user_id.set(user), TrialRecord.plugin.set(plugin),
                         TrialRecord.plan_id.set(plan_id), TrialRecord.kind.set(TrialRecord),
                         TrialRecord.started_at.set(now), TrialRecord.source.set("subscription")],
                condition=TrialRecord.pk.does_not_exist())
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            try:
                TrialRecord(*TrialRecord.key(user, plugin)).update(
                    actions=[TrialRecord.subscription_id.set(subscription_id), TrialRecord.ends_at.set(ends)],
                    condition=TrialRecord.subscription_id.does_not_exist())
            except UpdateError as again:
                if not condition_failed(again):
                    raise

    def _trial_plan(self, plugin: str) -> Plan:
        subscriptions = [p for p in self._plans(plugin).values() if p.kind == "subscription"]
        plan = next((p for p in subscriptions if p.trial_days), subscriptions[0] if subscriptions else None)
        if plan is None:
            raise ConflictError(f"'{plugin}' has no subscription plan to try", code="trial_unavailable")
        return plan

    def trial_status(self, user: str, plugin: str) -> dict[str, Any]:
        plan = self._trial_plan(plugin)
        trial = find(TrialRecord, TrialRecord.key(user, plugin))
        if trial is None:
            return {"plugin": plugin, "plan": plan.id, "status": "available", "days": plan.trial_days or TRIAL_DAYS}
        if trial.source == "checkout" and not trial.subscription_id:
            return {"plugin": plugin, "plan": trial.plan_id, "status": "reserved", "session_id": trial.session_id}
        now = self._ctx.clock.now()
        active = trial.ends_at > now
        return {"plugin": plugin, "plan": trial.plan_id, "status": "active" if active else "expired",
                "source": trial.source, "started_at": iso(trial.started_at), "ends_at": iso(trial.ends_at),
                "days_remaining": max(0, -(-int((trial.ends_at - now).total_seconds()) // 86_400)) if active else 0}

    def start_trial(self, user: str, plugin: str) -> dict[str, Any]:
        """The plugin's trial plan for its trial days (14 by default): once per user and plugin, ever."""
        plan, now = self._trial_plan(plugin), self._ctx.clock.now()
        current = self.record(user, plugin)
        if current is not None and current.source != "trial" and current.status in SLOT_STATUSES:
            raise ConflictError(f"you already hold the {current.plan_id} plan of '{plugin}'", code="plan_already_held")
        ends = now + timedelta(days=plan.trial_days or TRIAL_DAYS)

        def build(tx: TransactWrite) -> None:
            tx.save(TrialRecord(*TrialRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan.id,
                                started_at=now, ends_at=ends, source="trial"),
                    condition=TrialRecord.pk.does_not_exist())
            tx.save(PlanRecord(*PlanRecord.key(user, plugin), user_id=user, plugin=plugin, plan_id=plan.id,
                               status="trialing", source="trial", current_period_end=ends, updated_at=now),
                    condition=PlanRecord.pk.does_not_exist() | ~PlanRecord.status.is_in(*SLOT_STATUSES))

        try:
            run_transaction(BillingTable, build)
        except TransactWriteError as exc:
            if failed_conditions(exc)[:1] == [True]:
                raise ConflictError(f"you already had a trial of '{plugin}'", code="trial_already_used") from None
            if any(failed_conditions(exc)):
                raise ConflictError(f"you already hold a plan of '{plugin}'", code="plan_already_held") from None
            raise
        self._ctx.on_plan_change(user, plugin, "trial")
        return self.trial_status(user, plugin)

    # --- changing, cancelling, resuming ---------------------------------------------------------------
    def _subscription(self, user: str, plugin: str) -> PlanRecord:
        rec = self.record(user, plugin)
        if rec is None or rec.source != "subscription" or not rec.stripe_subscription_id \
                or rec.status not in SLOT_STATUSES:
            raise NotFoundError(f"no subscription on '{plugin}'", code="subscription_not_found")
        return rec

    def _in_stripe(self, rec: PlanRecord) -> Subscription:
        """The slot's subscription as Stripe holds it now: it may have ended before its event reached us."""
        subscription = self._ctx.payments.retrieve_subscription(str(rec.stripe_subscription_id))
        if subscription.status not in SLOT_STATUSES:
            raise ConflictError(f"your {rec.plugin} subscription has ended ({subscription.status}): subscribe "
                                "again with POST /billing/checkout", code="subscription_ended")
        return subscription

    def change(self, user: str, plugin: str, plan_id: str) -> dict[str, Any]:
        rec = self._subscription(user, plugin)
        plans = self._plans(plugin)
        target, current = plans.get(plan_id), plans.get(rec.plan_id)
        if target is None:
            raise NotFoundError(f"plugin '{plugin}' has no plan '{plan_id}'", code="plan_not_found")
        if target.kind != "subscription" or not target.purchasable:
            raise InvalidInputError(f"the {target.name} plan is not a subscription you can switch to",
                                    code="plan_not_switchable")
        if plan_id == rec.plan_id and not rec.pending_plan:
            raise ConflictError(f"you already have {target.name}", code="plan_already_held")
        if plan_id == rec.pending_plan:
            raise ConflictError(f"{target.name} already starts at the end of this period", code="plan_change_pending")
        sub_id = str(rec.stripe_subscription_id)
        subscription = self._in_stripe(rec)
        if subscription.item_id is None:
            raise ConflictError("the subscription has no item to change", code="subscription_not_changeable")
        if plan_id == rec.plan_id:  # back to the plan in force: the pending downgrade is undone
            return self.resume(user, plugin)
        upgrade = current is None or monthly_cents(target) > monthly_cents(current)
        price = self._price(plugin, target)
        base = {"user_id": user, "plugin": plugin, "kind": "subscription"}
        period = subscription.current_period_start or 0
        key = f"plan-change:{sub_id}:{rec.plan_id}:{plan_id}:{period}"
        now = self._ctx.clock.now()
        if upgrade:
            self._ctx.payments.change_subscription(  # pays the difference now, or raises and nothing changes
                subscription_id=sub_id, item_id=subscription.item_id, price_id=price, prorate=True,
                metadata={**base, "plan": plan_id, "pending_plan": "", "pending_from": ""}, idempotency_key=key)
            actions: list[Any] = [PlanRecord.plan_id.set(plan_id), PlanRecord.pending_plan.remove(),
                                  PlanRecord.pending_from.remove(), PlanRecord.updated_at.set(now)]
        else:
            ends = subscription.current_period_end or int(now.timestamp())
            self._ctx.payments.change_subscription(
                subscription_id=sub_id, item_id=subscription.item_id, price_id=price, prorate=False,
                metadata={**base, "plan": rec.plan_id, "pending_plan": plan_id, "pending_from": str(ends)},
                idempotency_key=key)
            actions = [PlanRecord.pending_plan.set(plan_id),
                       PlanRecord.pending_from.set(datetime.fromtimestamp(ends, tz=timezone.utc)),
                       PlanRecord.updated_at.set(now)]
        self._update_slot(rec, sub_id, actions)
        self._ctx.on_plan_change(user, plugin, "purchase")
        return plan_view(self.record(user, plugin) or rec)

    def cancel(self, user: str, plugin: str) -> dict[str, Any]:
        rec = self._subscription(user, plugin)
        self._ctx.payments.cancel_subscription(subscription_id=str(rec.stripe_subscription_id), at_period_end=True)
        self._update_slot(rec, str(rec.stripe_subscription_id), [PlanRecord.cancel_at_period_end.set("true")])
        return plan_view(self.record(user, plugin) or rec)

    def resume(self, user: str, plugin: str) -> dict[str, Any]:
        """Undo a cancellation at the period end, and a downgrade waiting for it."""
        rec = self._subscription(user, plugin)
        sub_id = str(rec.stripe_subscription_id)
        if rec.cancel_at_period_end != "true" and not rec.pending_plan:
            raise ConflictError("nothing to resume: the subscription renews as it is", code="nothing_to_resume")
        subscription = self._in_stripe(rec)
        base = {"user_id": user, "plugin": plugin, "kind": "subscription", "plan": rec.plan_id,
                "pending_plan": "", "pending_from": ""}
        if rec.pending_plan:
            plan = self._plans(plugin).get(rec.plan_id)
            if plan is not None and subscription.item_id:
                self._ctx.payments.change_subscription(
                    subscription_id=sub_id, item_id=subscription.item_id, price_id=self._price(plugin, plan),
                    prorate=False, metadata=base,
                    idempotency_key=f"plan-resume:{sub_id}:{rec.pending_plan}:{subscription.current_period_start}")
        if rec.cancel_at_period_end == "true":
            self._ctx.payments.resume_subscription(subscription_id=sub_id, metadata=base)
        self._update_slot(rec, sub_id, [PlanRecord.cancel_at_period_end.remove(), PlanRecord.pending_plan.remove(),
                                        PlanRecord.pending_from.remove()])
        self._ctx.on_plan_change(user, plugin, "purchase")
        return plan_view(self.record(user, plugin) or rec)

    @staticmethod
    def _update_slot(rec: PlanRecord, sub_id: str, actions: list[Any]) -> None:
        try:  # only while the slot still holds this subscription
            PlanRecord(rec.pk, rec.sk).update(actions=actions, condition=PlanRecord.stripe_subscription_id == sub_id)
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            raise ConflictError("the subscription changed meanwhile; look again", code="subscription_changed") from None

    # --- graces -------------------------------------------------------------------------------------
    def expire_graces(self) -> list[dict[str, Any]]:
        """Plans whose payment grace ended: back to the plugin's default plan, subscription cancelled."""
        now, downgraded = self._ctx.clock.now(), []
        for rec in PlanRecord.grace_index.query(IN_GRACE):
            if not isinstance(rec, PlanRecord) or rec.grace_until is None or rec.grace_until > now:
                continue
            if rec.stripe_subscription_id:
                self._ctx.payments.cancel_subscription(subscription_id=rec.stripe_subscription_id, at_period_end=False)
            try:
                rec.delete(condition=PlanRecord.grace_until == rec.grace_until)
            except DeleteError as exc:
                if not condition_failed(exc):
                    raise
                continue  # paid meanwhile: keep the plan
            self._ctx.notifications.notify(
                rec.user_id, f"billing.downgraded:{rec.plugin}:{iso(rec.grace_until)}", "billing.downgraded",
                f"Your {rec.plugin} plan fell back to the free plan: the payment did not succeed within the grace "
                "period.", {"plugin": rec.plugin})
            self._ctx.on_plan_change(rec.user_id, rec.plugin, "downgrade")
            downgraded.append({"user_id": rec.user_id, "plugin": rec.plugin, "plan": rec.plan_id})
        return downgraded
