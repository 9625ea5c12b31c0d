"""Customers and the customer's payment methods."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .cards import TEST_PAYMENT_METHODS
from .errors import invalid, missing
from .params import as_list, check_unknown, merge_metadata, to_int, to_str
from .resources import public


class CustomersMixin(StripeBase):
    # --- customers -----------------------------------------------------------------------------------
    CUSTOMER_FIELDS = {"email", "name", "description", "phone", "metadata", "address", "shipping",
                       "invoice_settings", "preferred_locales", "payment_method", "balance", "tax_exempt",
                       "invoice_prefix", "next_invoice_sequence", "source", "test_clock", "coupon",
                       "promotion_code", "tax_id_data", "tax"}

    def _customer_fields(self, params: Mapping[str, Any], customer: dict[str, Any]) -> None:
        for name in ("email", "name", "description", "phone"):
            if name in params:
                customer[name] = to_str(params, name)
        for name in ("address", "shipping"):
            if name in params:
                customer[name] = params[name] or None
        if "preferred_locales" in params:
            locales = params["preferred_locales"]
            customer["preferred_locales"] = locales if isinstance(locales, list) else []
        if "tax_exempt" in params:
            customer["tax_exempt"] = to_str(params, "tax_exempt", choices=("none", "exempt", "reverse"))
        if "balance" in params:
            customer["balance"] = to_int(params, "balance")
        if "invoice_settings" in params:
            settings = params["invoice_settings"] or {}
            if not isinstance(settings, dict):
                raise invalid("Invalid object", "invoice_settings")
            merged = dict(customer["invoice_settings"])
            if "default_payment_method" in settings:
                pm_id = settings["default_payment_method"] or None
                if pm_id is not None:
                    pm = self._load("payment_methods", pm_id, "invoice_settings[default_payment_method]")
                    if pm.get("customer") != customer["id"]:
                        raise invalid(f"The customer does not have a payment method with the ID {pm_id}. The "
                                      "payment method must be attached to the customer.",
                                      "invoice_settings[default_payment_method]", "resource_missing")
                merged["default_payment_method"] = pm_id
            for name in ("footer", "custom_fields", "rendering_options"):
                if name in settings:
                    merged[name] = settings[name] or None
            customer["invoice_settings"] = merged
        customer["metadata"] = merge_metadata(customer.get("metadata"), params.get("metadata"))

    def _customer_extras(self, request: Request, customer: dict[str, Any], params: Mapping[str, Any]) -> None:
        """Coupons, promotion codes and tax ids given on create / update (owned by their modules)."""
        if params.get("coupon") or params.get("promotion_code"):
            customer["discount"] = self._new_discount(request, params, customer=customer["id"])
            self._save("customers", customer)
        tax_ids = params.get("tax_id_data")
        for entry in as_list(tax_ids, "tax_id_data") if tax_ids else []:
            if not isinstance(entry, dict):
                raise invalid("Invalid array", "tax_id_data")
            self._new_tax_id(request, customer["id"], entry)

    @endpoint("POST", "/customers")
    def create_customer(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.CUSTOMER_FIELDS)
        customer = self._new_object(request, "customers", {
            "address": None, "balance": 0, "currency": None, "default_source": None, "delinquent": False,
            "description": None, "discount": None, "email": None,
            "invoice_prefix": self.sdk.random_string(8, "ABCDEF0123456789"),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "name": None, "next_invoice_sequence": 1, "phone": None, "preferred_locales": [],
            "shipping": None, "tax_exempt": "none", "test_clock": self._customer_clock(params),
        })
        pm_id = to_str(params, "payment_method")
        attached = None
        if pm_id:
            attached = self._resolve_payment_method(request, pm_id, "payment_method")
            attached["customer"] = customer["id"]
            self._save("payment_methods", attached)
        invoice_settings = params.get("invoice_settings")
        if isinstance(invoice_settings, dict) and invoice_settings.get("default_payment_method"):
            default = str(invoice_settings["default_payment_method"])
            if attached is not None and default == pm_id:
                # `pm_card_visa` twice names the one card just attached, not a second fresh one
                invoice_settings = {**invoice_settings, "default_payment_method": attached["id"]}
            elif default in TEST_PAYMENT_METHODS:
                extra = self._resolve_payment_method(request, default, "invoice_settings[default_payment_method]")
                extra["customer"] = customer["id"]
                self._save("payment_methods", extra)
                invoice_settings = {**invoice_settings, "default_payment_method": extra["id"]}
        params = {k: v for k, v in params.items() if k != "invoice_settings"}
        self._customer_fields(params, customer)
        self._save("customers", customer)
        if invoice_settings:
            self._customer_fields({"invoice_settings": invoice_settings}, customer)
            self._save("customers", customer)
        source_id = to_str(params, "source")
        if source_id:
            self._attach_card(request, customer, source_id, "source")
            customer = self._load("customers", customer["id"])
        self._customer_extras(request, customer, params)
        self._emit(request, "customer.created", customer)
        return self._render(customer, params)

    @endpoint("GET", "/customers/{customer_id}")
    def retrieve_customer(self, request: Request, customer_id: str) -> Response:
        customer = self.sdk.storage.get("customers", customer_id)
        if customer is None:
            raise missing("customers", customer_id)
        if customer.get("deleted"):
            return Response.json({"id": customer_id, "object": "customer", "deleted": True})
        return self._render(customer, self._params(request))

    @endpoint("POST", "/customers/{customer_id}")
    def update_customer(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, self.CUSTOMER_FIELDS - {"payment_method", "tax_id_data"} | {"default_source"})
        customer = self._load("customers", customer_id)
        before = public(customer)
        self._customer_fields(params, customer)
        self._save("customers", customer)
        source_id = to_str(params, "source")
        if source_id:
            card = self._attach_card(request, customer, source_id, "source")
            customer = self._load("customers", customer_id)
            customer["default_source"] = card["id"]
        if to_str(params, "default_source"):
            card = self._resolve_source(request, str(params["default_source"]), "default_source", customer)
            customer["default_source"] = card["id"]
        self._customer_extras(request, customer, params)
        self._save("customers", customer)
        changed = {k: before.get(k) for k in public(customer) if before.get(k) != customer.get(k)}
        self._emit(request, "customer.updated", customer, changed)
        return self._render(customer, params)

    @endpoint("DELETE", "/customers/{customer_id}")
    def delete_customer(self, request: Request, customer_id: str) -> Response:
        customer = self._load("customers", customer_id)
        for pm in self.sdk.storage.query("payment_methods", {"customer": customer_id}, limit=None):
            pm["customer"] = None
            self._save("payment_methods", pm)
        self._emit(request, "customer.deleted", customer)
        self._save("customers", {"id": customer_id, "object": "customer", "deleted": True,
                                 "_seq": customer["_seq"], "created": customer["created"]})
        return Response.json({"id": customer_id, "object": "customer", "deleted": True})

    @endpoint("GET", "/customers")
    def list_customers(self, request: Request) -> Response:
        params = self._params(request)
        email = to_str(params, "email")
        clock = to_str(params, "test_clock")  # without it, Stripe leaves out the customers of test clocks
        return self._list(request, "customers", params,
                          lambda c: (email is None or c.get("email") == email) and c.get("test_clock") == clock,
                          filters=("email", "test_clock"))

    @endpoint("GET", "/customers/search")
    def search_customers(self, request: Request) -> Response:
        return self._search(request, "customers")

    @endpoint("GET", "/customers/{customer_id}/payment_methods")
    def list_customer_payment_methods(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        self._load("customers", customer_id, "customer")
        kind = to_str(params, "type")
        return self._list(request, "payment_methods", params,
                          lambda pm: pm.get("customer") == customer_id and (kind is None or pm["type"] == kind),
                          url=f"/v1/customers/{customer_id}/payment_methods",
                          filters=("type", "allow_redisplay"))

    @endpoint("GET", "/customers/{customer_id}/payment_methods/{pm_id}")
    def retrieve_customer_payment_method(self, request: Request, customer_id: str, pm_id: str) -> Response:
        self._load("customers", customer_id, "customer")
        pm = self._load("payment_methods", pm_id, "payment_method")
        if pm.get("customer") != customer_id:
            raise missing("payment_methods", pm_id, "payment_method")
        return self._render(pm, self._params(request))
