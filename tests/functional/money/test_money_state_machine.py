"""A hypothesis state machine over the money flows, on moto + the Stripe stand-in (real HTTP, the real
``stripe`` library) with the ledger in its contract-tested in-memory fake.

Each example is a user of two plugins with subscription plans. Rules: Checkout (completed with a good or
a declining card, or abandoned; or completed and its events delivered in one step), trials, plan changes
(upgrade, downgrade), cancel and resume, renewals (the period ends, maybe with a declining card),
Stripe's events delivered late, in any order, some twice, admin refunds and disputes (won or lost).
After every step:

* at most one live subscription per (user, plugin) among those the marketplace has heard of (a second
  one it hears of is cancelled at once), and the plan it holds is that one;
* never charged twice for one period: one paid invoice per subscription and period (a plan change bills
  its proration apart), and a duplicate subscription's payment is given back in full;
* never a second trial of a (user, plugin), whatever the path;
* the ledger balances: its accounts sum to zero, every journal balances, clearing accounts are empty.

At the end of each example every event still pending is delivered (shuffled, duplicated), and then the
ledger's cash must be exactly what Stripe holds for these customers: payments, less refunds, less lost
disputes and dispute fees.
"""
from __future__ import annotations

import json
import os
import random
from typing import Any, ClassVar

import pytest
import stripe
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from chalicelib.billing.records import PlanRecord
from chalicelib.core.dynamo import find
from chalicelib.revenue import ledger
from chalicelib.revenue.ledger import MICROS_PER_CENT
from chalicelib.revenue.memory import InMemoryLedgerRepository
from tests.functional.money.test_billing import URLS, deliver
from tests.support import get, manifest, post, publish, sign_up

PLUGINS = ("sm-alpha", "sm-beta")
PLANS = [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 1_500, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000, "trial_days": 7},
    {"id": "team", "name": "Team", "kind": "subscription", "price_cents": 4_500, "interval": "month",
     "included_calls": 500_000, "overage_price_micros": 500},
]
LIVE = ("active", "trialing", "past_due")
# MF_SM_NO_SHRINK=1: report the first failing example as it is (shrinking these flows takes minutes)
NO_SHRINK: dict[str, Any] = {"phases": [Phase.explicit, Phase.reuse, Phase.generate]} \
    if os.environ.get("MF_SM_NO_SHRINK") else {}
CARDS = ("pm_card_visa", "pm_card_visa", "pm_card_chargeDeclined")


class World:
    client: Any
    container: Any
    standin: Any
    admin: str
    ledger: InMemoryLedgerRepository
    customers: list[str]
    seen: set[str]
    disputes: set[str]


class MoneyMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        signed = sign_up(w.client)
        self.token, self.user = signed["access_token"], signed["user"]["user_id"]
        assert post(w.client, "/billing/payment-method", {"payment_method": "pm_card_visa"}, self.token).status_code == 200
        self.customer = get(w.client, "/billing", self.token).json_body["customer"]["stripe_customer_id"]
        w.customers.append(self.customer)
        self.pending: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.known: set[str] = set()  # subscriptions the marketplace heard of
        self.subscribed: set[str] = set()  # plugins of those (plan changes, cancel and resume act on them)
        self.paid_seen = False  # a paid invoice was delivered (something to refund)
        self.sessions: list[str] = []
        self.local_trials: set[str] = set()
        self.poll()

    # --- Stripe's side ---------------------------------------------------------------------------------
    def poll(self) -> None:
        w = self.world
        fresh = [e for e in reversed(w.standin.events()) if e["id"] not in w.seen]
        for event in fresh:
            w.seen.add(event["id"])
            if self._mine(event):
                self.pending.append(event)

    def _mine(self, event: dict[str, Any]) -> bool:
        obj = event["data"]["object"]
        return obj.get("customer") == self.customer or (obj.get("metadata") or {}).get("user_id") == self.user \
            or (obj.get("object") == "dispute" and obj.get("id") in self.world.disputes)

    def _deliver(self, event: dict[str, Any]) -> None:
        answer = deliver(self.world.client, event)
        assert answer.status_code == 200, f"{event['type']} {event['id']}: {answer.body[:600]!r}"
        obj = event["data"]["object"]
        if event["type"].startswith("customer.subscription."):
            self.known.add(obj["id"])
            if (obj.get("metadata") or {}).get("plugin") in PLUGINS:
                self.subscribed.add(obj["metadata"]["plugin"])
        if event["type"] == "invoice.paid" and obj.get("amount_paid"):
            self.paid_seen = True

    def subscriptions(self, plugin: str) -> list[Any]:
        found = self.world.standin.client.v1.subscriptions.list(params={"customer": self.customer, "status": "all",
                                                                         "limit": 100})
        return [s for s in found.data if s.metadata.to_dict().get("plugin") == plugin]

    def slot(self, plugin: str) -> PlanRecord | None:
        return find(PlanRecord, PlanRecord.key(self.user, plugin))

    # --- rules ---------------------------------------------------------------------------------------------
    @rule(plugin=st.sampled_from(PLUGINS), plan=st.sampled_from(["pro", "team"]))
    def checkout(self, plugin: str, plan: str) -> None:
        answer = post(self.world.client, "/billing/checkout", {"plugin": plugin, "plan": plan, **URLS}, self.token)
        assert answer.status_code in (201, 409), answer.body
        if answer.status_code == 201:
            self.sessions.append(answer.json_body["session_id"])

    @rule(data=st.data(), plugin=st.sampled_from(PLUGINS), plan=st.sampled_from(["pro", "team"]))
    def subscribe_and_stripe_delivers(self, data: st.DataObject, plugin: str, plan: str) -> None:
        """Checkout paid by card and what Stripe sends about it delivered, in any order, some twice: in one
        step, so that plan changes, refunds and disputes find a subscription to act on."""
        answer = post(self.world.client, "/billing/checkout", {"plugin": plugin, "plan": plan, **URLS}, self.token)
        assert answer.status_code in (201, 409), answer.body
        if answer.status_code == 201:
            try:
                self.world.standin.complete_checkout(answer.json_body["session_id"], "pm_card_visa")
            except stripe.InvalidRequestError:
                return
        self.poll()
        if self.pending:
            self.stripe_delivers(data)

    @precondition(lambda self: self.sessions)
    @rule(data=st.data(), card=st.sampled_from(CARDS))
    def pay_checkout(self, data: st.DataObject, card: str) -> None:
        session = data.draw(st.sampled_from(self.sessions))
        try:
            self.world.standin.complete_checkout(session, card)
        except stripe.InvalidRequestError:  # expired meanwhile (another Checkout took its trial)
            self.sessions.remove(session)
            return
        except stripe.CardError:
            return  # declined: the session stays open
        self.sessions.remove(session)

    @precondition(lambda self: self.sessions)
    @rule(data=st.data())
    def abandon_checkout(self, data: st.DataObject) -> None:
        session = data.draw(st.sampled_from(self.sessions))
        self.sessions.remove(session)
        try:
            self.world.standin.client.v1.checkout.sessions.expire(session)
        except stripe.InvalidRequestError:
            pass

    @rule(plugin=st.sampled_from(PLUGINS))
    def trial(self, plugin: str) -> None:
        answer = post(self.world.client, f"/trials/{plugin}", None, self.token)
        assert answer.status_code in (201, 409), answer.body
        if answer.status_code == 201:
            self.local_trials.add(plugin)

    @precondition(lambda self: self.subscribed)
    @rule(data=st.data(), plan=st.sampled_from(["pro", "team"]))
    def change_plan(self, data: st.DataObject, plan: str) -> None:
        plugin = data.draw(st.sampled_from(sorted(self.subscribed)))
        answer = post(self.world.client, f"/billing/subscriptions/{plugin}/change", {"plan": plan}, self.token)
        assert answer.status_code in (200, 402, 404, 409), answer.body

    @precondition(lambda self: self.subscribed)
    @rule(data=st.data(), resume=st.booleans())
    def cancel_or_resume(self, data: st.DataObject, resume: bool) -> None:
        plugin = data.draw(st.sampled_from(sorted(self.subscribed)))
        verb = "resume" if resume else "cancel"
        answer = post(self.world.client, f"/billing/subscriptions/{plugin}/{verb}", None, self.token)
        assert answer.status_code in (200, 404, 409), answer.body

    @rule(plugin=st.sampled_from(PLUGINS), card=st.sampled_from(CARDS))
    def period_ends(self, plugin: str, card: str) -> None:
        """The period of a live subscription ends: a renewal charged to ``card``, a trial's end, or the
        cancellation asked for."""
        live = [s for s in self.subscriptions(plugin) if s.status in LIVE]
        if not live:
            return
        sub = live[0]
        client = self.world.standin.client
        method = client.v1.payment_methods.attach(card, params={"customer": self.customer})
        client.v1.subscriptions.update(sub.id, params={"default_payment_method": method.id})
        self.world.standin._post(f"/v1/test_helpers/subscriptions/{sub.id}/advance")

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def stripe_delivers(self, data: st.DataObject) -> None:
        """Some of the pending events, in any order, some twice (the rest stay pending: later, out of order)."""
        count = data.draw(st.integers(1, len(self.pending)))
        order = data.draw(st.permutations(range(len(self.pending))))[:count]
        chosen = [self.pending[i] for i in order]
        for event in chosen:
            self.pending.remove(event)
            self._deliver(event)
            self.delivered.append(event)
            if data.draw(st.booleans()):
                self._deliver(event)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def stripe_retries_a_delivery(self, data: st.DataObject) -> None:
        self._deliver(data.draw(st.sampled_from(self.delivered)))

    def _paid_invoices(self) -> list[dict[str, Any]]:
        return [i for i in self.world.standin.invoices(self.customer) if i["status"] == "paid" and i["amount_paid"]]

    @precondition(lambda self: self.paid_seen)
    @rule(data=st.data())
    def admin_refunds(self, data: st.DataObject) -> None:
        paid = self._paid_invoices()
        if not paid:
            return
        invoice = data.draw(st.sampled_from(paid))
        amount = data.draw(st.one_of(st.none(), st.integers(1, invoice["amount_paid"])))
        body = {"reason": "state machine refund", **({"amount_cents": amount} if amount else {})}
        answer = post(self.world.client, f"/admin/billing/invoices/{invoice['id']}/refund", body, self.world.admin)
        assert answer.status_code in (200, 400, 409), answer.body

    @rule(data=st.data(), outcome=st.sampled_from(["lost", "won"]))
    def card_holder_disputes(self, data: st.DataObject, outcome: str) -> None:
        client = self.world.standin.client
        charges = [c for c in client.v1.charges.list(params={"customer": self.customer, "limit": 100}).data
                   if c.status == "succeeded" and not c.disputed and c.amount_refunded < c.amount]
        if not charges:
            return
        charge = data.draw(st.sampled_from(charges))
        dispute = self.world.standin._post(f"/v1/test_helpers/charges/{charge.id}/dispute")
        self.world.disputes.add(dispute["id"])
        self.world.standin._post(f"/v1/test_helpers/disputes/{dispute['id']}/close", status=outcome)

    # --- invariants ------------------------------------------------------------------------------------------
    @invariant()
    def money_is_right(self) -> None:
        self.poll()
        for plugin in PLUGINS:
            subs = self.subscriptions(plugin)
            live_known = [s for s in subs if s.id in self.known and s.status in LIVE]
            assert len(live_known) <= 1, f"two live subscriptions of {plugin}: {[s.id for s in live_known]}"
            slot = self.slot(plugin)
            if slot is not None and slot.source == "subscription" and slot.status in LIVE:
                assert slot.stripe_subscription_id in {s.id for s in subs}
            trials = sum(1 for s in subs if s.to_dict().get("trial_start")) + (plugin in self.local_trials)
            assert trials <= 1, f"a second trial of {plugin}"
        self._never_charged_twice_for_a_period()
        self._duplicates_refunded()
        self._ledger_balances()

    def _never_charged_twice_for_a_period(self) -> None:
        """One paid invoice per subscription and period (a plan change bills its proration apart)."""
        charged: dict[tuple[str, int], str] = {}
        for invoice in self._paid_invoices():
            sub = invoice.get("subscription")
            if not sub or invoice.get("billing_reason") not in ("subscription_create", "subscription_cycle"):
                continue
            period = (str(sub), int(invoice["period_start"]))
            assert period not in charged, f"{sub} charged twice for one period: {charged[period]}, {invoice['id']}"
            charged[period] = invoice["id"]

    def _duplicates_refunded(self) -> None:
        notes = get(self.world.client, "/notifications", self.token).json_body["notifications"]
        duplicates = {n["data"]["subscription"] for n in notes if n["topic"] == "billing.duplicate_subscription"}
        client = self.world.standin.client
        for sub_id in duplicates:
            sub = client.v1.subscriptions.retrieve(sub_id)
            assert sub.status == "canceled"
            if sub.latest_invoice:
                invoice = client.v1.invoices.retrieve(sub.latest_invoice).to_dict()
                if invoice["status"] == "paid" and invoice["amount_paid"]:
                    charge = client.v1.payment_intents.retrieve(invoice["payment_intent"]).latest_charge
                    refunded = client.v1.charges.retrieve(charge)
                    disputed = sum(d.amount for d in client.v1.disputes.list(params={"charge": charge}).data
                                   if d.status == "lost")
                    assert refunded.amount_refunded + disputed == invoice["amount_paid"], "a duplicate kept its money"

    def _ledger_balances(self) -> None:
        repo = self.world.ledger
        total = sum(v for group in ledger.GROUPS for v in repo.balances(group).values())
        assert total == 0
        assert all(v == 0 for v in repo.balances("clearing").values())
        assert all(sum(p.amount_micros for p in j.postings) == 0 for j in repo.journals())

    def teardown(self) -> None:
        shuffled = random.Random(len(self.pending)).sample(self.pending, len(self.pending))
        for event in shuffled + shuffled[: len(shuffled) // 2]:
            self._deliver(event)
        self.pending = []
        self.poll()
        for event in list(self.pending):  # what those deliveries made Stripe do (a duplicate's cancellation)
            self._deliver(event)
        self.pending = []
        for plugin in PLUGINS:
            live = [s for s in self.subscriptions(plugin) if s.status in LIVE]
            assert len(live) <= 1, f"after every event: two live subscriptions of {plugin}"
        self.money_is_right()


def stripe_cash(standin, customers: list[str], disputes: set[str]) -> int:
    """What Stripe holds from these customers: captured charges, less refunds, less lost disputes and fees."""
    client = standin.client
    cents = 0
    for customer in customers:
        for charge in client.v1.charges.list(params={"customer": customer, "limit": 100}).auto_paging_iter():
            if charge.status == "succeeded" and charge.captured:
                cents += charge.amount - charge.amount_refunded
    for dispute_id in disputes:
        dispute = client.v1.disputes.retrieve(dispute_id)
        cents -= 1_500 + (dispute.amount if dispute.status == "lost" else 0)
    return cents


@pytest.fixture
def ledger_repository():
    return InMemoryLedgerRepository()


@pytest.fixture
def container(settings, runtime, clock, stripe_payments, ledger_repository):
    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    with mock_aws():
        built = Container(settings, clock=clock, runtime=runtime, payments=stripe_payments, ledger=ledger_repository)
        create_tables(TABLES)
        set_container(built)
        try:
            yield built
        finally:
            set_container(None)


def test_money_state_machine(client, container, admin, stripe_standin, ledger_repository):
    for plugin in PLUGINS:
        dev = sign_up(client, "developer")["access_token"]
        publish(client, dev, admin, manifest(name=plugin, pricing={"tier": "standard", "model": "freemium",
                                                                   "plans": PLANS}))
    world = World()
    world.client, world.container, world.standin, world.admin = client, container, stripe_standin, admin
    world.ledger, world.customers = ledger_repository, []
    world.seen = {e["id"] for e in stripe_standin.events()}
    world.disputes = set()
    MoneyMachine.world = world
    run_state_machine_as_test(MoneyMachine, settings=settings(
        max_examples=int(os.environ.get("MF_SM_EXAMPLES", "12")), stateful_step_count=15, deadline=None,
        derandomize=not os.environ.get("MF_SM_EXAMPLES"),
        suppress_health_check=list(HealthCheck), **NO_SHRINK))
    cash = ledger_repository.balance(ledger.CASH)
    assert cash == stripe_cash(stripe_standin, world.customers, world.disputes) * MICROS_PER_CENT, json.dumps(
        {"ledger": cash, "customers": len(world.customers)})
