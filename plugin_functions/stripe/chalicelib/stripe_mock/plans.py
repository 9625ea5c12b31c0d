"""Plans: Stripe's legacy name for recurring prices.

A plan is a recurring price seen through the older shape (``amount``, ``interval`` at the top,
``object: "plan"``): Stripe keeps one object under both names, so a plan's id works wherever a
price id does (``items[0][price]`` or ``items[0][plan]``), and ``GET /v1/plans/{id}`` answers a
recurring price created through ``/v1/prices``. Here plans are stored as prices too.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid, missing
from .params import check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import public

PLAN_FIELDS = {"amount", "amount_decimal", "currency", "interval", "interval_count", "product", "id", "nickname",
               "active", "metadata", "usage_type", "trial_period_days", "billing_scheme"}


def plan_view(price: Mapping[str, Any]) -> dict[str, Any]:
    """A recurring price in the plan shape (the same id, created time and product)."""
    recurring = price.get("recurring") or {}
    return {"id": price["id"], "object": "plan", "active": price.get("active", True), "aggregate_usage": None,
            "amount": price.get("unit_amount"), "amount_decimal": price.get("unit_amount_decimal"),
            "billing_scheme": price.get("billing_scheme", "per_unit"), "created": price.get("created"),
            "currency": price.get("currency"), "interval": recurring.get("interval"),
            "interval_count": recurring.get("interval_count", 1), "livemode": price.get("livemode", False),
            "metadata": dict(price.get("metadata") or {}), "meter": recurring.get("meter"),
            "nickname": price.get("nickname"), "product": price.get("product"), "tiers_mode": price.get("tiers_mode"),
            "transform_usage": None, "trial_period_days": recurring.get("trial_period_days"),
            "usage_type": recurring.get("usage_type", "licensed")}


class PlansMixin(StripeBase):
    def _load_plan(self, plan_id: str) -> dict[str, Any]:
        price = self.sdk.storage.get("prices", plan_id) if plan_id else None
        if price is None or price.get("deleted") or price.get("type") != "recurring":
            raise missing("plans", plan_id, "plan")
        return price

    def _render_plan(self, price: Mapping[str, Any], params: Mapping[str, Any]) -> Response:
        return Response.json(self._expand(plan_view(public(price)), self._expand_list(params)))

    @endpoint("POST", "/plans")
    def create_plan(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, PLAN_FIELDS)
        interval = to_str(params, "interval", required=True)
        product = params.get("product")
        if product in (None, ""):
            raise invalid("Missing required param: product.", "product", "parameter_missing")
        plan_id = to_str(params, "id")
        if plan_id and self.sdk.storage.get("prices", plan_id) is not None:
            raise invalid("Plan already exists.", "id", "resource_already_exists")
        price_params: dict[str, Any] = {
            "currency": params.get("currency"), "unit_amount": params.get("amount"),
            "unit_amount_decimal": params.get("amount_decimal"), "nickname": params.get("nickname"),
            "active": params.get("active", True), "metadata": params.get("metadata"),
            "recurring": {"interval": interval, "interval_count": params.get("interval_count", 1),
                          "usage_type": params.get("usage_type") or "licensed"}}
        # ``product`` is an id, or (plans only) the product to create: ``product[name]=...``
        price_params["product_data" if isinstance(product, dict) else "product"] = product
        price = self._create_price(request, price_params, price_id=plan_id)
        trial = to_int(params, "trial_period_days", minimum=0, maximum=730)
        if trial is not None:
            price["recurring"]["trial_period_days"] = trial
            self._save("prices", price)
        self._emit(request, "plan.created", plan_view(price))
        return self._render_plan(price, params)

    @endpoint("GET", "/plans/{plan_id}")
    def retrieve_plan(self, request: Request, plan_id: str) -> Response:
        return self._render_plan(self._load_plan(plan_id), self._params(request))

    @endpoint("POST", "/plans/{plan_id}")
    def update_plan(self, request: Request, plan_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"active", "nickname", "metadata", "product", "trial_period_days"})
        price = self._load_plan(plan_id)
        before = plan_view(public(price))
        if "active" in params:
            price["active"] = to_bool(params, "active", True)
        if "nickname" in params:
            price["nickname"] = to_str(params, "nickname")
        if "product" in params:
            price["product"] = self._load("products", to_str(params, "product"), "product")["id"]
        if "trial_period_days" in params:
            price["recurring"]["trial_period_days"] = to_int(params, "trial_period_days", minimum=0, maximum=730)
        price["metadata"] = merge_metadata(price.get("metadata"), params.get("metadata"))
        self._save("prices", price)
        after = plan_view(public(price))
        self._emit(request, "plan.updated", after, {k: v for k, v in before.items() if after.get(k) != v})
        return self._render_plan(price, params)

    @endpoint("GET", "/plans")
    def list_plans(self, request: Request) -> Response:
        params = self._params(request)
        active = to_bool(params, "active") if "active" in params else None
        product = to_str(params, "product")
        return self._list(request, "prices", params,
                          lambda p: p.get("type") == "recurring" and (active is None or p["active"] == active)
                          and (product is None or p["product"] == product),
                          url="/v1/plans", filters=("active", "product"), view=plan_view)

    @endpoint("DELETE", "/plans/{plan_id}")
    def delete_plan(self, request: Request, plan_id: str) -> Response:
        """Deleting a plan removes the price of the same id too (they are one object); the
        subscriptions that use it keep their copy, as Stripe's do."""
        price = self._load_plan(plan_id)
        price["deleted"] = True
        self._save("prices", price)
        self._emit(request, "plan.deleted", plan_view(public(price)))
        return Response.json({"id": plan_id, "object": "plan", "deleted": True})

