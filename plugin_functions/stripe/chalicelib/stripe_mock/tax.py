"""Tax rates and customer tax ids (recorded only: no tax is computed on invoices)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import invalid
from .params import check_unknown, merge_metadata, to_bool, to_str

TAX_RATE_FIELDS = {"display_name", "inclusive", "percentage", "active", "country", "description", "jurisdiction",
                   "metadata", "state", "tax_type"}
TAX_ID_TYPES = {"eu_vat": "EU VAT", "gb_vat": "GB VAT", "us_ein": "US EIN", "au_abn": "AU ABN", "ca_bn": "CA BN",
                "ch_vat": "CH VAT", "in_gst": "IN GST", "jp_cn": "JP CN", "no_vat": "NO VAT", "nz_gst": "NZ GST"}


class TaxMixin(StripeBase):
    # --- tax rates -----------------------------------------------------------------------------------------------
    @endpoint("POST", "/tax_rates")
    def create_tax_rate(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, TAX_RATE_FIELDS)
        display_name = to_str(params, "display_name", required=True)
        if "inclusive" not in params:
            raise invalid("Missing required param: inclusive.", "inclusive", "parameter_missing")
        try:
            percentage = float(str(params.get("percentage")))
        except ValueError:
            raise invalid("Missing required param: percentage.", "percentage", "parameter_missing") from None
        rate = self._new_object(request, "tax_rates", {
            "active": to_bool(params, "active", default=True), "country": to_str(params, "country"),
            "description": to_str(params, "description"), "display_name": display_name,
            "effective_percentage": None, "inclusive": to_bool(params, "inclusive"),
            "jurisdiction": to_str(params, "jurisdiction"), "percentage": percentage, "state": to_str(params, "state"),
            "tax_type": to_str(params, "tax_type")})
        rate["metadata"] = merge_metadata({}, params.get("metadata"))
        self._save("tax_rates", rate)
        self._emit(request, "tax_rate.created", rate)
        return self._render(rate, params)

    @endpoint("GET", "/tax_rates/{rate_id}")
    def retrieve_tax_rate(self, request: Request, rate_id: str) -> Response:
        return self._render(self._load("tax_rates", rate_id, "tax_rate"), self._params(request))

    @endpoint("POST", "/tax_rates/{rate_id}")
    def update_tax_rate(self, request: Request, rate_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, TAX_RATE_FIELDS - {"inclusive", "percentage"})
        rate = self._load("tax_rates", rate_id, "tax_rate")
        for name in ("display_name", "description", "jurisdiction", "country", "state", "tax_type"):
            if name in params:
                rate[name] = to_str(params, name)
        if "active" in params:
            rate["active"] = to_bool(params, "active")
        rate["metadata"] = merge_metadata(rate.get("metadata"), params.get("metadata"))
        self._save("tax_rates", rate)
        self._emit(request, "tax_rate.updated", rate)
        return self._render(rate, params)

    @endpoint("GET", "/tax_rates")
    def list_tax_rates(self, request: Request) -> Response:
        params = self._params(request)
        active = to_bool(params, "active") if "active" in params else None
        inclusive = to_bool(params, "inclusive") if "inclusive" in params else None
        return self._list(request, "tax_rates", params,
                          lambda r: (active is None or r["active"] == active)
                          and (inclusive is None or r["inclusive"] == inclusive), filters=("active", "inclusive"))

    # --- customer tax ids ----------------------------------------------------------------------------------------
    def _new_tax_id(self, request: Request, customer_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        kind = to_str(params, "type", required=True) or ""
        if kind not in TAX_ID_TYPES:
            raise invalid(f"Invalid value for type: {kind}. Supported by this mock: {', '.join(TAX_ID_TYPES)}.",
                          "type", "parameter_invalid_string")
        value = to_str(params, "value", required=True) or ""
        tax_id = self._new_object(request, "tax_ids", {
            "country": kind[:2].upper(), "customer": customer_id, "type": kind, "value": value,
            "verification": {"status": "verified" if kind.endswith("vat") else "unavailable",
                             "verified_address": None, "verified_name": None}})
        tax_id.pop("metadata", None)
        self._save("tax_ids", tax_id)
        self._emit(request, "customer.tax_id.created", tax_id)
        return tax_id

    @endpoint("POST", "/customers/{customer_id}/tax_ids")
    def create_customer_tax_id(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"type", "value"})
        self._load("customers", customer_id, "customer")
        return self._render(self._new_tax_id(request, customer_id, params), params)

    @endpoint("GET", "/customers/{customer_id}/tax_ids")
    def list_customer_tax_ids(self, request: Request, customer_id: str) -> Response:
        params = self._params(request)
        self._load("customers", customer_id, "customer")
        return self._list(request, "tax_ids", params, lambda t: t.get("customer") == customer_id,
                          url=f"/v1/customers/{customer_id}/tax_ids")

    @endpoint("GET", "/customers/{customer_id}/tax_ids/{tax_id}")
    def retrieve_customer_tax_id(self, request: Request, customer_id: str, tax_id: str) -> Response:
        found = self._load("tax_ids", tax_id, "id")
        if found.get("customer") != customer_id:
            raise invalid(f"No such tax ID: '{tax_id}'", "id", "resource_missing")
        return self._render(found, self._params(request))

    @endpoint("DELETE", "/customers/{customer_id}/tax_ids/{tax_id}")
    def delete_customer_tax_id(self, request: Request, customer_id: str, tax_id: str) -> Response:
        found = self._load("tax_ids", tax_id, "id")
        if found.get("customer") != customer_id:
            raise invalid(f"No such tax ID: '{tax_id}'", "id", "resource_missing")
        self._save("tax_ids", {**found, "deleted": True})
        self._emit(request, "customer.tax_id.deleted", found)
        return Response.json({"id": tax_id, "object": "tax_id", "deleted": True})
