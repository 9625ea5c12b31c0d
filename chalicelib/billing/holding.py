"""What a user holds on a plugin right now: the plan (bought, trialing or the default), its
tier, features and limits. The gateway enforces it, licences state it, the aggregation rates by it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.billing.records import PlanRecord
from chalicelib.catalog.pricing import Plan, plans_of
from chalicelib.core.dynamo import find
from chalicelib.metering.rating import UNLIMITED

HELD_STATUSES = ("active", "trialing", "past_due")  # past_due: within its grace


@dataclass(frozen=True)
class Holding:
    plugin: str
    plan: str  # a plan id, or "usage" (per-call pricing) / "free" (free model) without one
    tier: str  # the plan's id as a tier name, e.g. free | pro | enterprise | usage
    source: str  # default | subscription | purchase | trial
    features: tuple[str, ...] = ()
    monthly_calls: int = UNLIMITED
    concurrency: int = UNLIMITED
    ends_at: datetime | None = None
    upgrade: Plan | None = None  # the next plan up to suggest when a limit is reached
    allowance: int = UNLIMITED  # free calls this month before per-call charges (UNLIMITED: never charged)
    unit_price_micros: int = 0  # what each call past the allowance costs

    @property
    def plan_id(self) -> str | None:
        """The plan id the aggregation rates by (None: the plugin's default)."""
        return None if self.source == "default" else self.plan


def _limits(plan: Plan, raw: dict[str, Any]) -> tuple[int, int]:
    limits = raw.get("limits") or {}
    monthly = limits.get("monthly_calls")
    if monthly is None:  # no overage price: the included calls are a hard cap
        monthly = plan.included_calls if not plan.overage_price_micros else UNLIMITED
    return int(monthly), int(limits.get("concurrency", UNLIMITED))


def _upgrade(plans: dict[str, Plan], current: Plan | None) -> Plan | None:
    allowance = UNLIMITED if current is None else current.included_calls
    better = [p for p in plans.values() if p.purchasable and p.kind != "addon"
              and (p.included_calls == UNLIMITED or (allowance != UNLIMITED and p.included_calls > allowance))]
    return min(better, key=lambda p: p.price_cents, default=None)


def holding_of(record: PlanRecord | None, plugin: str, pricing: dict[str, Any], now: datetime) -> Holding:
    plans = plans_of(pricing)
    raw = {p["id"]: p for p in pricing.get("plans", [])}
    held = record is not None and record.status in HELD_STATUSES and record.plan_id in plans and not (
        record.source == "trial" and record.current_period_end is not None and record.current_period_end <= now)
    plan: Plan | None
    features: tuple[str, ...]
    if held and record is not None:
        effective = record.plan_id
        if record.pending_plan in plans and record.pending_from is not None and record.pending_from <= now:
            effective = str(record.pending_plan)  # a downgrade whose period has begun (its event may be late)
        plan = plans[effective]
        source, ends = record.source, record.current_period_end
        features = tuple(plan.features) + tuple(str(a) for a in (record.addons or []) if a in plans)
    else:
        plan = next((p for p in plans.values() if p.kind == "free"), None)
        source, ends = "default", None
        features = plan.features if plan else ()
    if plan is None:
        free = pricing.get("model", "usage") == "free"
        return Holding(plugin, "free" if free else "usage", "free" if free else "usage", "default",
                       allowance=UNLIMITED if free else int(pricing["free_tier_calls"]),
                       upgrade=_upgrade(plans, None) if plans else None,
                       unit_price_micros=0 if free else int(pricing.get("per_call_price_micros") or 0))
    monthly, concurrency = _limits(plan, raw[plan.id])
    allowance = UNLIMITED if plan.kind == "free" or not plan.overage_price_micros else plan.included_calls
    return Holding(plugin, plan.id, plan.id, source, features, monthly, concurrency, ends, _upgrade(plans, plan),
                   allowance, 0 if allowance == UNLIMITED else int(plan.overage_price_micros))


def current_holding(user_id: str, plugin: str, pricing: dict[str, Any], now: datetime) -> Holding:
    return holding_of(find(PlanRecord, PlanRecord.key(user_id, plugin)), plugin, pricing, now)
