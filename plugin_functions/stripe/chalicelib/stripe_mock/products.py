"""Products and prices."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import as_list, check_unknown, merge_metadata, to_bool, to_int, to_str
from .resources import public


class ProductsMixin(StripeBase):
    # --- billing: products, prices, subscriptions, invoices, checkout ------------------------------
    PRODUCT_FIELDS = {"name", "active", "description", "metadata", "images", "url", "statement_descriptor",
                      "unit_label", "tax_code", "shippable", "default_price_data", "id", "marketing_features"}

    def _product_fields(self, params: Mapping[str, Any], product: dict[str, Any]) -> None:
        for name in ("name", "description", "url", "statement_descriptor", "unit_label", "tax_code"):
            if name in params:
                product[name] = to_str(params, name)
        if "active" in params:
            product["active"] = to_bool(params, "active", True)
        if "shippable" in params:
            product["shippable"] = to_bool(params, "shippable")
        if "images" in params:
            product["images"] = as_list(params["images"], "images")
        product["metadata"] = merge_metadata(product.get("metadata"), params.get("metadata"))

    def _create_product(self, request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        if not to_str(params, "name"):
            raise invalid("Missing required param: name.", "name", "parameter_missing")
        product = self._new_object(request, "products", {
            "active": True, "default_price": None, "description": None, "images": [], "marketing_features": [],
            "package_dimensions": None, "shippable": None, "statement_descriptor": None, "tax_code": None,
            "type": "service", "unit_label": None, "url": None, "updated": self._timestamp()})
        if to_str(params, "id"):
            if self.sdk.storage.get("products", str(params["id"])):
                raise invalid("Product already exists.", "id", "resource_already_exists")
            product["id"] = str(params["id"])
        self._product_fields(params, product)
        self._save("products", product)
        self._emit(request, "product.created", product)
        return product

    @endpoint("POST", "/products")
    def create_product(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.PRODUCT_FIELDS)
        product = self._create_product(request, params)
        data = params.get("default_price_data")
        if isinstance(data, dict):
            price = self._create_price(request, {**data, "product": product["id"]})
            product["default_price"] = price["id"]
            self._save("products", product)
        return self._render(product, params)

    @endpoint("GET", "/products/{product_id}")
    def retrieve_product(self, request: Request, product_id: str) -> Response:
        return self._render(self._load("products", product_id), self._params(request))

    @endpoint("POST", "/products/{product_id}")
    def update_product(self, request: Request, product_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, (self.PRODUCT_FIELDS - {"id", "default_price_data"}) | {"default_price"})
        product = self._load("products", product_id)
        before = public(dict(product))
        self._product_fields(params, product)
        if "default_price" in params:
            price_id = to_str(params, "default_price")
            if price_id and self._load("prices", price_id, "default_price")["product"] != product_id:
                raise invalid("The default price must belong to this product.", "default_price")
            product["default_price"] = price_id
        product["updated"] = self._timestamp()
        self._save("products", product)
        self._emit(request, "product.updated", product,
                   {k: v for k, v in before.items() if product.get(k) != v and k != "updated"})
        return self._render(product, params)

    @endpoint("DELETE", "/products/{product_id}")
    def delete_product(self, request: Request, product_id: str) -> Response:
        product = self._load("products", product_id)
        if any(p.get("product") == product_id for p in self.sdk.storage.query("prices", limit=None)):
            raise invalid("This product cannot be deleted because it has one or more user-created prices.")
        product["deleted"] = True
        self._save("products", product)
        self._emit(request, "product.deleted", product)
        return Response.json({"id": product_id, "object": "product", "deleted": True})

    @endpoint("GET", "/products")
    def list_products(self, request: Request) -> Response:
        params = self._params(request)
        active = to_bool(params, "active") if "active" in params else None
        ids = as_list(params.get("ids"), "ids")
        return self._list(request, "products", params,
                          lambda p: (active is None or p["active"] == active) and (not ids or p["id"] in ids),
                          filters=("active", "ids", "shippable", "url"))

    PRICE_FIELDS = {"unit_amount", "currency", "product", "product_data", "recurring", "active", "nickname",
                    "metadata", "lookup_key", "billing_scheme", "tax_behavior", "unit_amount_decimal",
                    "transfer_lookup_key"}

    def _create_price(self, request: Request, params: Mapping[str, Any], *,
                      price_id: str | None = None) -> dict[str, Any]:
        """A price; ``price_id``: the id a plan was created with (a plan and its price share it)."""
        currency = (to_str(params, "currency", required=True) or "").lower()
        unit_amount = to_int(params, "unit_amount", minimum=0, maximum=99999999)
        if unit_amount is None:
            if params.get("unit_amount_decimal") not in (None, ""):
                unit_amount = int(float(str(params["unit_amount_decimal"])))
            else:
                raise invalid("Missing required param: unit_amount.", "unit_amount", "parameter_missing")
        product_id = to_str(params, "product")
        if product_id:
            self._load("products", product_id, "product")
        elif isinstance(params.get("product_data"), dict):
            product_id = self._create_product(request, params["product_data"])["id"]
        else:
            raise invalid("You must specify either `product` or `product_data` when creating a price.",
                          "product", "parameter_missing")
        recurring = None
        if params.get("recurring") not in (None, ""):
            spec = params["recurring"]
            if not isinstance(spec, dict):
                raise invalid("Invalid object", "recurring")
            interval = to_str(spec, "interval", required=True)
            if interval not in ("day", "week", "month", "year"):
                raise invalid("Invalid recurring[interval]: must be one of day, week, month, or year",
                              "recurring[interval]")
            recurring = {"interval": interval,
                         "interval_count": to_int(spec, "interval_count", minimum=1, default=1),
                         "meter": None, "trial_period_days": None,
                         "usage_type": to_str(spec, "usage_type") or "licensed"}
        price = self._new_object(request, "prices", {
            "active": to_bool(params, "active", True), "billing_scheme": "per_unit", "currency": currency,
            "custom_unit_amount": None, "lookup_key": to_str(params, "lookup_key"),
            "nickname": to_str(params, "nickname"), "product": product_id, "recurring": recurring,
            "tax_behavior": to_str(params, "tax_behavior") or "unspecified", "tiers_mode": None,
            "transform_quantity": None, "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount, "unit_amount_decimal": str(unit_amount),
            "metadata": merge_metadata({}, params.get("metadata"))})
        if price_id:
            price["id"] = price_id
        self._save("prices", price)
        self._emit(request, "price.created", price)
        return price

    @endpoint("POST", "/prices")
    def create_price(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.PRICE_FIELDS)
        return self._render(self._create_price(request, params), params)

    @endpoint("GET", "/prices/{price_id}")
    def retrieve_price(self, request: Request, price_id: str) -> Response:
        return self._render(self._load("prices", price_id), self._params(request))

    @endpoint("POST", "/prices/{price_id}")
    def update_price(self, request: Request, price_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"active", "nickname", "metadata", "lookup_key", "tax_behavior",
                               "transfer_lookup_key"})
        price = self._load("prices", price_id)
        before = public(dict(price))
        if "active" in params:
            price["active"] = to_bool(params, "active", True)
        for name in ("nickname", "lookup_key", "tax_behavior"):
            if name in params:
                price[name] = to_str(params, name)
        price["metadata"] = merge_metadata(price.get("metadata"), params.get("metadata"))
        self._save("prices", price)
        self._emit(request, "price.updated", price, {k: v for k, v in before.items() if price.get(k) != v})
        return self._render(price, params)

    @endpoint("GET", "/prices")
    def list_prices(self, request: Request) -> Response:
        params = self._params(request)
        product = to_str(params, "product")
        active = to_bool(params, "active") if "active" in params else None
        kind = to_str(params, "type", choices=("one_time", "recurring"))
        currency = (to_str(params, "currency") or "").lower() or None
        lookup_keys = as_list(params.get("lookup_keys"), "lookup_keys")
        return self._list(request, "prices", params,
                          lambda p: (product is None or p["product"] == product)
                          and (active is None or p["active"] == active) and (kind is None or p["type"] == kind)
                          and (currency is None or p["currency"] == currency)
                          and (not lookup_keys or p.get("lookup_key") in lookup_keys),
                          filters=("product", "active", "type", "currency", "lookup_keys", "recurring"))
