"""Coupons, promotion codes and the discounts they put on customers, subscriptions and invoices."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import public

COUPON_FIELDS = {"id", "amount_off", "currency", "duration", "duration_in_months", "max_redemptions", "metadata",
                 "name", "percent_off", "redeem_by", "applies_to", "currency_options"}
PROMOTION_CODE_FIELDS = {"coupon", "code", "active", "customer", "expires_at", "max_redemptions", "metadata",
                         "restrictions"}


class DiscountsMixin(StripeBase):
    # --- discounts: the seam subscriptions, customers and invoices use ---------------------------------------
    def _redeemable_coupon(self, coupon_id: str, param: str) -> dict[str, Any]:
        coupon = self._load("coupons", coupon_id, param)
        if not coupon["valid"]:
            raise invalid(f"Coupon expired: {coupon_id}", param, "coupon_expired")
        return coupon

    def _new_discount(self, request: Request, params: Mapping[str, Any], *, customer: str | None = None,
                      subscription: str | None = None) -> dict[str, Any]:
        """The discount of ``coupon=`` / ``promotion_code=`` (or ``discounts[0][...]``), redeemed once."""
        source: Mapping[str, Any] = params
        discounts = params.get("discounts")
        if isinstance(discounts, dict):
            discounts = [discounts[k] for k in sorted(discounts)]
        if isinstance(discounts, list) and discounts and isinstance(discounts[0], dict):
            source = discounts[0]
        promotion = None
        promo_id = to_str(source, "promotion_code")
        if promo_id:
            promotion = self._load("promotion_codes", promo_id, "promotion_code")
            if not promotion["active"]:
                raise invalid(f"This promotion code is not active: {promo_id}", "promotion_code",
                              "promotion_code_invalid")
            if promotion.get("customer") and promotion["customer"] != customer:
                raise invalid("This promotion code cannot be redeemed by this customer.", "promotion_code",
                              "promotion_code_customer_not_eligible")
            coupon = self._redeemable_coupon(promotion["coupon"]["id"], "promotion_code")
            promotion["times_redeemed"] += 1
            self._save("promotion_codes", promotion)
        else:
            coupon = self._redeemable_coupon(to_str(source, "coupon", required=True) or "", "coupon")
        coupon["times_redeemed"] += 1
        if coupon.get("max_redemptions") and coupon["times_redeemed"] >= coupon["max_redemptions"]:
            coupon["valid"] = False
        self._save("coupons", coupon)
        start = self._timestamp()
        months = coupon.get("duration_in_months") if coupon["duration"] == "repeating" else None
        discount = self._new_object(request, "discounts", {
            "checkout_session": None, "coupon": public(coupon), "customer": customer,
            "end": start + int(months) * 30 * 86400 if months else None, "invoice": None, "invoice_item": None,
            "promotion_code": promotion["id"] if promotion else None, "start": start, "subscription": subscription})
        for name in ("created", "metadata", "livemode"):
            discount.pop(name, None)
        return discount

    def _apply_discount(self, invoice: dict[str, Any], discount: dict[str, Any] | None) -> None:
        """Take a discount off an invoice's totals (``amount_off`` in the invoice's currency, or
        ``percent_off`` of the subtotal); never below zero."""
        if not discount or invoice["subtotal"] <= 0:
            return
        coupon = discount["coupon"]
        if coupon.get("percent_off") is not None:
            off = round(invoice["subtotal"] * float(coupon["percent_off"]) / 100)
        elif coupon.get("currency") == invoice["currency"]:
            off = int(coupon.get("amount_off") or 0)
        else:
            off = 0
        off = min(off, invoice["subtotal"])
        total = invoice["subtotal"] - off
        invoice.update({"discount": discount, "discounts": [discount["id"]], "total": total,
                        "total_excluding_tax": total, "amount_due": total, "amount_remaining": total,
                        "total_discount_amounts": [{"amount": off, "discount": discount["id"]}]})

    # --- coupons -----------------------------------------------------------------------------------------------
    @endpoint("POST", "/coupons")
    def create_coupon(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, COUPON_FIELDS)
        percent_off = params.get("percent_off")
        amount_off = to_int(params, "amount_off", minimum=1)
        if (percent_off in (None, "")) == (amount_off is None):
            raise invalid("You must pass either `amount_off` or `percent_off`.", "percent_off", "parameter_missing")
        currency = (to_str(params, "currency") or "").lower() or None
        if amount_off is not None and not currency:
            raise invalid("You must pass currency when passing amount_off", "currency", "parameter_missing")
        percent = None
        if percent_off not in (None, ""):
            try:
                percent = float(str(percent_off))
            except ValueError:
                raise invalid(f"Invalid decimal: {percent_off}", "percent_off") from None
            if not 0 < percent <= 100:
                raise invalid("Percent off must be between 0 and 100.", "percent_off")
        duration = to_str(params, "duration", choices=("once", "repeating", "forever")) or "once"
        months = to_int(params, "duration_in_months", minimum=1)
        if duration == "repeating" and months is None:
            raise invalid("You must pass duration_in_months when duration is repeating.", "duration_in_months",
                          "parameter_missing")
        coupon_id = to_str(params, "id") or self.sdk.random_string(8)
        if self.sdk.storage.get("coupons", coupon_id) is not None:
            raise invalid("Coupon already exists.", "id", "resource_already_exists")
        coupon = self._new_object(request, "coupons", {
            "amount_off": amount_off, "currency": currency if amount_off is not None else None,
            "duration": duration, "duration_in_months": months if duration == "repeating" else None,
            "max_redemptions": to_int(params, "max_redemptions", minimum=1), "name": to_str(params, "name"),
            "percent_off": (int(percent) if percent is not None and percent.is_integer() else percent),
            "redeem_by": to_int(params, "redeem_by"), "times_redeemed": 0, "valid": True})
        coupon["id"] = coupon_id
        coupon["metadata"] = merge_metadata({}, params.get("metadata"))
        self._save("coupons", coupon)
        self._emit(request, "coupon.created", coupon)
        return self._render(coupon, params)

    @endpoint("GET", "/coupons/{coupon_id}")
    def retrieve_coupon(self, request: Request, coupon_id: str) -> Response:
        return self._render(self._load("coupons", coupon_id, "coupon"), self._params(request))

    @endpoint("POST", "/coupons/{coupon_id}")
    def update_coupon(self, request: Request, coupon_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"name", "metadata", "currency_options"})
        coupon = self._load("coupons", coupon_id, "coupon")
        if "name" in params:
            coupon["name"] = to_str(params, "name")
        coupon["metadata"] = merge_metadata(coupon.get("metadata"), params.get("metadata"))
        self._save("coupons", coupon)
        self._emit(request, "coupon.updated", coupon)
        return self._render(coupon, params)

    @endpoint("DELETE", "/coupons/{coupon_id}")
    def delete_coupon(self, request: Request, coupon_id: str) -> Response:
        coupon = self._load("coupons", coupon_id, "coupon")
        self._emit(request, "coupon.deleted", coupon)
        self._save("coupons", {**coupon, "deleted": True})
        return Response.json({"id": coupon_id, "object": "coupon", "deleted": True})

    @endpoint("GET", "/coupons")
    def list_coupons(self, request: Request) -> Response:
        return self._list(request, "coupons", self._params(request))

    # --- promotion codes ---------------------------------------------------------------------------------------
    @endpoint("POST", "/promotion_codes")
    def create_promotion_code(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, PROMOTION_CODE_FIELDS)
        coupon = self._load("coupons", to_str(params, "coupon", required=True), "coupon")
        code = to_str(params, "code") or self.sdk.random_string(8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        if any(p["code"].lower() == code.lower() and p["active"]
               for p in self.sdk.storage.query("promotion_codes", limit=None)):
            raise invalid("An active promotion code with `code: " + code + "` already exists.", "code",
                          "resource_already_exists")
        customer = to_str(params, "customer")
        if customer:
            self._load("customers", customer, "customer")
        restrictions: dict[str, Any] = params["restrictions"] if isinstance(params.get("restrictions"), dict) else {}
        promotion = self._new_object(request, "promotion_codes", {
            "active": to_bool(params, "active", default=True), "code": code, "coupon": public(coupon),
            "customer": customer, "expires_at": to_int(params, "expires_at"),
            "max_redemptions": to_int(params, "max_redemptions", minimum=1),
            "restrictions": {"first_time_transaction": to_bool(restrictions, "first_time_transaction"),
                             "minimum_amount": to_int(restrictions, "minimum_amount"),
                             "minimum_amount_currency": to_str(restrictions, "minimum_amount_currency")},
            "times_redeemed": 0})
        promotion["metadata"] = merge_metadata({}, params.get("metadata"))
        self._save("promotion_codes", promotion)
        self._emit(request, "promotion_code.created", promotion)
        return self._render(promotion, params)

    @endpoint("GET", "/promotion_codes/{promo_id}")
    def retrieve_promotion_code(self, request: Request, promo_id: str) -> Response:
        return self._render(self._load("promotion_codes", promo_id, "promotion_code"), self._params(request))

    @endpoint("POST", "/promotion_codes/{promo_id}")
    def update_promotion_code(self, request: Request, promo_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"active", "metadata", "restrictions"})
        promotion = self._load("promotion_codes", promo_id, "promotion_code")
        if "active" in params:
            promotion["active"] = to_bool(params, "active")
        promotion["metadata"] = merge_metadata(promotion.get("metadata"), params.get("metadata"))
        self._save("promotion_codes", promotion)
        self._emit(request, "promotion_code.updated", promotion)
        return self._render(promotion, params)

    @endpoint("GET", "/promotion_codes")
    def list_promotion_codes(self, request: Request) -> Response:
        params = self._params(request)
        code, coupon = to_str(params, "code"), to_str(params, "coupon")
        customer = to_str(params, "customer")
        active = to_bool(params, "active") if "active" in params else None
        return self._list(request, "promotion_codes", params,
                          lambda p: (code is None or p["code"] == code)
                          and (coupon is None or p["coupon"]["id"] == coupon)
                          and (customer is None or p.get("customer") == customer)
                          and (active is None or p["active"] == active),
                          filters=("code", "coupon", "customer", "active"))

    # --- removing a discount -------------------------------------------------------------------------------------
    @endpoint("DELETE", "/customers/{customer_id}/discount")
    def delete_customer_discount(self, request: Request, customer_id: str) -> Response:
        customer = self._load("customers", customer_id, "customer")
        discount = customer.get("discount")
        if not discount:
            raise invalid(f"No active discount for customer: '{customer_id}'", None, "resource_missing")
        customer["discount"] = None
        self._save("customers", customer)
        self._emit(request, "customer.discount.deleted", discount)
        return Response.json({**discount, "deleted": True})

    @endpoint("DELETE", "/subscriptions/{sub_id}/discount")
    def delete_subscription_discount(self, request: Request, sub_id: str) -> Response:
        subscription = self._load("subscriptions", sub_id, "subscription")
        discount = subscription.get("discount")
        if not discount:
            raise invalid(f"No active discount for subscription: '{sub_id}'", None, "resource_missing")
        subscription["discount"] = None
        subscription["discounts"] = []
        self._save("subscriptions", subscription)
        self._emit(request, "customer.discount.deleted", discount)
        return Response.json({**discount, "deleted": True})
