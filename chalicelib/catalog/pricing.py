"""Pricing plans: every model the seeds name, in integers.

``pricing.model`` says how a plugin sells:

* ``usage`` (default): per-call price by tier after a monthly free tier per user (seed 000);
* ``free``: nothing is ever charged;
* ``freemium``: a ``free`` plan with an allowance plus paid plans (seed 004: Free 1,000
  calls, Pro $99/month 50,000 calls, Enterprise custom and unlimited);
* ``subscription``: monthly or yearly plans with included calls and an overage price;
* ``one_time``: a one-time purchase.

Plans are ``free``, ``subscription``, ``one_time``, ``addon`` (one-time or recurring,
optionally requiring another plan) or ``custom`` (priced by contract, "contact sales").
Money: ``price_cents`` per purchase or interval, ``overage_price_micros`` per call;
``included_calls`` per calendar month, ``-1`` for unlimited.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.metering.rating import UNLIMITED, Rate

MODELS = ("usage", "free", "freemium", "subscription", "one_time")
PLAN_KINDS = ("free", "subscription", "one_time", "addon", "custom")
MAX_PLAN_PRICE_CENTS = 10_000_000  # $100,000 per purchase or interval

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "kind"], "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,31}$"},
        "name": {"type": "string", "minLength": 1, "maxLength": 40},
        "description": {"type": "string", "maxLength": 300},
        "kind": {"enum": list(PLAN_KINDS)},
        "price_cents": {"type": "integer", "minimum": 0, "maximum": MAX_PLAN_PRICE_CENTS},
        "interval": {"enum": ["month", "year"]},
        "included_calls": {"type": "integer", "minimum": UNLIMITED, "maximum": 1_000_000_000},
        "overage_price_micros": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "trial_days": {"type": "integer", "minimum": 0, "maximum": 30},
        "requires_plan": {"type": "string"},
        "features": {"type": "array", "maxItems": 30, "uniqueItems": True,
                     "items": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9:_-]{0,47}$"}},
        "limits": {"type": "object", "additionalProperties": False,
                   "properties": {"monthly_calls": {"type": "integer", "minimum": UNLIMITED},
                                  "concurrency": {"type": "integer", "minimum": UNLIMITED}}},
    },
}


@dataclass(frozen=True)
class Plan:
    id: str
    name: str
    kind: str
    price_cents: int = 0
    interval: str | None = None
    included_calls: int = UNLIMITED
    overage_price_micros: int = 0
    trial_days: int = 0
    requires_plan: str | None = None
    features: tuple[str, ...] = ()

    @property
    def purchasable(self) -> bool:
        return self.kind in ("subscription", "one_time", "addon") and self.price_cents > 0

    @property
    def recurring(self) -> bool:
        return self.interval is not None

    @property
    def rate(self) -> Rate:
        if self.kind == "free":
            return Rate(self.included_calls, 0, self.id)
        return Rate(self.included_calls, self.overage_price_micros, self.id)


def check_plans(pricing: dict[str, Any], problems: list[dict[str, str]]) -> None:
    """The rules JSON Schema cannot say; appends to ``problems``."""
    model = pricing.get("model", "usage")
    plans = pricing.get("plans", [])
    ids = [p["id"] for p in plans]
    kinds = {p["kind"] for p in plans}
    for index, plan in enumerate(plans):
        path, kind, price = f"pricing/plans/{index}", plan["kind"], plan.get("price_cents", 0)
        if ids.count(plan["id"]) > 1:
            problems.append({"path": f"{path}/id", "message": f"duplicate plan id {plan['id']!r}"})
        if kind in ("subscription", "one_time", "addon") and price <= 0:
            problems.append({"path": f"{path}/price_cents", "message": f"a {kind} plan needs a price"})
        if kind in ("free", "custom") and price:
            problems.append({"path": f"{path}/price_cents",
                             "message": "free plans cost nothing; custom plans are priced by contract"})
        if kind == "subscription" and "interval" not in plan:
            problems.append({"path": f"{path}/interval", "message": "a subscription bills per month or year"})
        if kind in ("one_time", "free", "custom") and "interval" in plan:
            problems.append({"path": f"{path}/interval", "message": f"a {kind} plan has no billing interval"})
        if plan.get("trial_days") and kind != "subscription":
            problems.append({"path": f"{path}/trial_days", "message": "only subscriptions have trials"})
        required = plan.get("requires_plan")
        if required is not None and (kind != "addon" or required not in ids or required == plan["id"]):
            problems.append({"path": f"{path}/requires_plan",
                             "message": "only add-ons require a plan, and it must be another plan listed here"})
    wanted = {"freemium": ({"free"}, "a free plan and a paid plan"),
              "subscription": ({"subscription"}, "a subscription plan"),
              "one_time": ({"one_time"}, "a one-time plan")}
    if model in wanted:
        need, what = wanted[model]
        paid = model != "freemium" or kinds & {"subscription", "one_time"}
        if not need <= kinds or not paid:
            problems.append({"path": "pricing/plans", "message": f"the {model} model needs {what}"})
    if model == "free" and pricing.get("tier") != "free":
        problems.append({"path": "pricing/tier", "message": "the free model uses the free tier"})
    if model == "free" and kinds - {"free", "custom"}:
        problems.append({"path": "pricing/plans", "message": "the free model sells nothing"})


def plans_of(pricing: dict[str, Any]) -> dict[str, Plan]:
    plans = {}
    for raw in pricing.get("plans", []):
        fields = {k: v for k, v in raw.items() if k not in ("description", "limits")}
        fields["features"] = tuple(raw.get("features", ()))
        plans[raw["id"]] = Plan(**fields)
    return plans


def usage_rate(pricing: dict[str, Any]) -> Rate:
    """The rate of a user who bought no plan: the free plan if the plugin has one, else per call."""
    for plan in plans_of(pricing).values():
        if plan.kind == "free":
            return plan.rate
    if pricing.get("model") == "free":
        return Rate(UNLIMITED, 0, "free")
    return Rate(int(pricing["free_tier_calls"]), int(pricing["per_call_price_micros"]), "usage")


def rate_for(pricing: dict[str, Any], plan_id: str | None) -> Rate:
    plan = plans_of(pricing).get(plan_id or "")
    if plan is None or plan.kind == "addon":
        return usage_rate(pricing)
    return plan.rate
