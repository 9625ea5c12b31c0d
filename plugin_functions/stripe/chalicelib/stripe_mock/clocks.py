"""Test clocks: customers that live in simulated time, moved forward on request.

A customer created with ``test_clock`` and everything of it (subscriptions, invoices, payment
intents, charges, events) take "now" from its clock instead of the real time. A request runs on the
clock of the first object it loads that belongs to one (``_load``), so the resource modules need
not pass the clock along; ``advance`` moves the clock and replays, in time order, what falls due on
the way (trial reminders, trial ends, renewals, cancellations at period end).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from mocklib_plugin_sdk import Headers, Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, to_int, to_str
from .resources import public

DELETES_AFTER_S = 30 * 86400  # Stripe deletes a test clock 30 days after it was created
TRIAL_WILL_END_S = 3 * 86400  # customer.subscription.trial_will_end: three days before the trial ends
RENEWING = ("active", "trialing", "past_due")
ENDED = ("canceled", "incomplete_expired")
MAX_STEPS = 1000  # a safety net only: the two-interval limit keeps a real advance far below it


@dataclasses.dataclass(frozen=True)
class Due:
    """One thing that falls due while a clock moves: when, what, for which subscription."""

    at: int
    action: str  # "trial_will_end" | "period_end"
    subscription: str


def next_due(subscriptions: Iterable[Mapping[str, Any]], since: int, until: int) -> Due | None:
    """The earliest thing due by ``until`` (ties: the reminder first, then the oldest subscription).
    A reminder whose moment passed before the clock got there (a trial under three days) is due now."""
    found: list[tuple[int, int, Due]] = []
    for sub in subscriptions:
        if sub["status"] not in RENEWING:
            continue
        if sub["status"] == "trialing" and sub.get("trial_end") and not sub.get("_trial_will_end_sent"):
            at = max(since, int(sub["trial_end"]) - TRIAL_WILL_END_S)
            if at <= until:
                found.append((at, 0, Due(at, "trial_will_end", sub["id"])))
        if int(sub["current_period_end"]) <= until:
            found.append((int(sub["current_period_end"]), 1, Due(int(sub["current_period_end"]), "period_end",
                                                                 sub["id"])))
    return min(found, key=lambda entry: entry[:2])[2] if found else None


def utc_text(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclasses.dataclass(frozen=True)
class _Now:
    clock: str
    time: int


# The clock the current request runs on (None: real time). A context variable, not an attribute:
# one plugin instance may serve requests on several threads.
_NOW: ContextVar[_Now | None] = ContextVar("stripe_test_clock_now", default=None)


class TestClocksMixin(StripeBase):
    __test__ = False  # a name pytest would otherwise try to collect

    # --- the clock a request runs on -----------------------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        token = _NOW.set(None)  # every request starts on real time
        try:
            return super().handle_request(request)
        finally:
            _NOW.reset(token)

    def _timestamp(self, test_clock: str | None = None) -> int:
        now = _NOW.get()
        return super()._timestamp(test_clock or (now.clock if now else None))

    def _clock_time(self, test_clock: str) -> int | None:
        now = _NOW.get()
        if now is not None and now.clock == test_clock:
            return now.time  # mid-advance: the moment being replayed, not the target
        clock = self.sdk.storage.get("test_clocks", test_clock)
        return None if clock is None or clock.get("deleted") else int(clock["frozen_time"])

    def _enter_clock(self, clock_id: str | None, at: int | None = None) -> None:
        if not clock_id:
            return
        time = at if at is not None else self._clock_time(clock_id)
        if time is not None:
            _NOW.set(_Now(clock_id, time))

    def _load(self, kind: str, object_id: Any, param: str = "id") -> dict[str, Any]:
        obj = super()._load(kind, object_id, param)
        if _NOW.get() is None and kind != "test_clocks":
            self._enter_clock(self._clock_of(obj))
        return obj

    def _clock_of(self, obj: Mapping[str, Any]) -> str | None:
        """Customers, subscriptions and invoices name their clock; payment intents, charges and
        the like belong to the clock of their customer."""
        if "test_clock" in obj:
            return obj["test_clock"] or None
        customer_id = obj.get("customer")
        if isinstance(customer_id, str) and customer_id:
            customer = self.sdk.storage.get("customers", customer_id) or {}
            return customer.get("test_clock") or None
        return None

    def _customer_clock(self, params: Mapping[str, Any]) -> str | None:
        """``test_clock`` of a new customer: checked, and the request runs on it from here on
        (so the customer is created at the clock's time)."""
        clock_id = to_str(params, "test_clock")
        if clock_id:
            self._load("test_clocks", clock_id, "test_clock")
            self._enter_clock(clock_id)
        return clock_id

    # --- the clock's customers and subscriptions ---------------------------------------------------
    def _clock_customers(self, clock_id: str) -> list[dict[str, Any]]:
        found = [c for c in self.sdk.storage.query("customers", {"test_clock": clock_id}, limit=None)
                 if not c.get("deleted")]
        return sorted(found, key=lambda c: c.get("_seq", 0))

    def _clock_subscriptions(self, clock_id: str) -> list[dict[str, Any]]:
        subs = [s for c in self._clock_customers(clock_id)
                for s in self.sdk.storage.query("subscriptions", {"customer": c["id"]}, limit=None)]
        return sorted(subs, key=lambda s: s.get("_seq", 0))

    def _advance_limit(self, frozen: int, subscriptions: Iterable[Mapping[str, Any]]) -> int:
        """Stripe's rule: two intervals of the shortest subscription, or two years without one."""
        limits = [self._add_interval(frozen, item["price"]["recurring"]["interval"],
                                     2 * int(item["price"]["recurring"]["interval_count"]))
                  for sub in subscriptions if sub["status"] not in ENDED for item in sub["items"]["data"]]
        return min(limits, default=self._add_interval(frozen, "year", 2))

    @staticmethod
    def _automatic(request: Request) -> Request:
        """What a clock does on its own is no API request: its events carry no request id or key."""
        headers = Headers({k: v for k, v in request.headers.items() if k != "idempotency-key"})
        return dataclasses.replace(request, request_id="", headers=headers)

    # --- endpoints -------------------------------------------------------------------------------------
    @endpoint("POST", "/test_helpers/test_clocks")
    def create_test_clock(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"frozen_time", "name"})
        frozen = to_int(params, "frozen_time", required=True)
        name = to_str(params, "name")
        if name is not None and len(name) > 300:
            raise invalid("name must be at most 300 characters long.", "name")
        clock = self._new_object(request, "test_clocks", {
            "deletes_after": 0, "frozen_time": frozen, "name": name, "status": "ready", "status_details": {}})
        clock.pop("metadata", None)
        clock["deletes_after"] = clock["created"] + DELETES_AFTER_S
        self._save("test_clocks", clock)
        self._emit(request, "test_helpers.test_clock.created", clock)
        return self._render(clock, params)

    @endpoint("GET", "/test_helpers/test_clocks/{clock_id}")
    def retrieve_test_clock(self, request: Request, clock_id: str) -> Response:
        return self._render(self._load("test_clocks", clock_id, "test_clock"), self._params(request))

    @endpoint("GET", "/test_helpers/test_clocks")
    def list_test_clocks(self, request: Request) -> Response:
        return self._list(request, "test_clocks", self._params(request))

    @endpoint("DELETE", "/test_helpers/test_clocks/{clock_id}")
    def delete_test_clock(self, request: Request, clock_id: str) -> Response:
        """As Stripe: the clock goes, and so do its customers (their subscriptions canceled first)."""
        clock = self._load("test_clocks", clock_id, "test_clock")
        self._enter_clock(clock_id)
        for customer in self._clock_customers(clock_id):
            for sub in self.sdk.storage.query("subscriptions", {"customer": customer["id"]}, limit=None):
                if sub["status"] not in ENDED:
                    self.cancel_subscription(request, sub["id"])
            self.delete_customer(request, customer["id"])
        self._save("test_clocks", {"id": clock_id, "object": clock["object"], "deleted": True,
                                   "_seq": clock["_seq"], "created": clock["created"]})
        self._emit(request, "test_helpers.test_clock.deleted", clock)
        return Response.json({"id": clock_id, "object": clock["object"], "deleted": True})

    @endpoint("POST", "/test_helpers/test_clocks/{clock_id}/advance")
    def advance_test_clock(self, request: Request, clock_id: str) -> Response:
        """Answers like Stripe, with the clock ``advancing`` to ``frozen_time``; the work is done
        before the answer here, so the clock is ``ready`` again for the next request."""
        params = self._params(request)
        check_unknown(params, {"frozen_time"})
        target = to_int(params, "frozen_time", required=True) or 0
        clock = self._load("test_clocks", clock_id, "test_clock")
        if clock["status"] != "ready":
            raise invalid(f"The test clock {clock_id} is {clock['status']}; only a ready test clock can be "
                          "advanced.")
        frozen = int(clock["frozen_time"])
        if target <= frozen:
            raise invalid(f"The frozen_time you specified ({target}, {utc_text(target)}) must be after the test "
                          f"clock's current frozen time ({frozen}, {utc_text(frozen)}).", "frozen_time")
        limit = self._advance_limit(frozen, self._clock_subscriptions(clock_id))
        if target > limit:
            raise invalid(f"The frozen time of this clock is {frozen} ({utc_text(frozen)}). You can only advance "
                          f"it up to {limit} ({utc_text(limit)}). You can only advance a test clock up to two "
                          "intervals from the current frozen time at a time, based on the shortest subscription "
                          "interval in the test clock. For example, if a test clock has a monthly and yearly "
                          "subscription, you may only advance up to two months at a time. If the test clock has "
                          "no subscriptions or subscription schedules, you can advance up to 2 years from the "
                          "current frozen time.", "frozen_time")
        clock.update({"status": "advancing", "frozen_time": target,
                      "status_details": {"advancing": {"target_frozen_time": target}}})
        self._save("test_clocks", clock)
        answer = public(clock)
        automatic = self._automatic(request)
        self._enter_clock(clock_id, frozen)
        self._emit(automatic, "test_helpers.test_clock.advancing", clock)
        finished = False
        try:
            finished = self._replay(automatic, clock_id, frozen, target)
        finally:  # a failure mid-way must not leave the clock advancing for ever (Stripe's internal_failure)
            self._enter_clock(clock_id, target)
            clock.update({"status": "ready" if finished else "internal_failure", "status_details": {}})
            self._save("test_clocks", clock)
            self._emit(automatic, "test_helpers.test_clock." + clock["status"], clock)
        return Response.json(self._expand(answer, self._expand_list(params)))

    def _replay(self, request: Request, clock_id: str, since: int, until: int) -> bool:
        """Everything due in ``(since, until]``, one moment at a time in time order (a renewal
        changes what is due next, so the plan is made again after each step)."""
        for _ in range(MAX_STEPS):
            due = next_due(self._clock_subscriptions(clock_id), since, until)
            if due is None:
                return True
            self._enter_clock(clock_id, due.at)
            subscription = self._load("subscriptions", due.subscription)
            if due.action == "trial_will_end":
                subscription["_trial_will_end_sent"] = True
                self._save("subscriptions", subscription)
                self._emit(request, "customer.subscription.trial_will_end", subscription)
            else:
                self._end_period(request, subscription)
            since = due.at
        return False
