"""Connect: accounts, account links, transfers and reversals."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from mocklib_plugin_sdk import Request, Response, endpoint

from .base import StripeBase
from .errors import StripeError, invalid, missing
from .params import check_unknown, merge_metadata, money, to_bool, to_int, to_str
from .resources import public
from .sequence import list_order


class ConnectMixin(StripeBase):
    # --- Connect: accounts and account links -------------------------------------------------------------
    ACCOUNT_FIELDS = {"type", "email", "country", "capabilities", "metadata", "business_type", "business_profile",
                      "company", "individual", "tos_acceptance", "default_currency", "settings",
                      "external_account", "controller"}
    COUNTRY_CURRENCY = {"US": "usd", "GB": "gbp", "CA": "cad", "AU": "aud", "JP": "jpy", "CH": "chf", "IN": "inr"}
    ONBOARDING_FIELDS = ["business_profile.url", "business_type", "external_account", "tos_acceptance.date",
                         "tos_acceptance.ip"]

    def _account_fields(self, params: Mapping[str, Any], account: dict[str, Any]) -> None:
        if "email" in params:
            account["email"] = to_str(params, "email")
        if "business_type" in params:
            account["business_type"] = to_str(params, "business_type",
                                              choices=("individual", "company", "non_profit", "government_entity"))
        if "default_currency" in params:
            account["default_currency"] = (to_str(params, "default_currency") or "").lower() or None
        for name in ("business_profile", "tos_acceptance", "company", "individual", "settings"):
            if name in params:
                value = params[name] or {}
                if not isinstance(value, dict):
                    raise invalid("Invalid object", name)
                account[name] = _merged(account.get(name) or {}, value)
        tos = account.get("tos_acceptance") or {}
        if tos.get("date") not in (None, ""):
            # form-encoded, the date arrives as text; Stripe answers a unix timestamp (integer)
            account["tos_acceptance"] = {**tos, "date": to_int(tos, "date", minimum=0)}
        if "external_account" in params:
            account["_external_account"] = bool(params["external_account"])
        capabilities = params.get("capabilities")
        if capabilities:
            if not isinstance(capabilities, dict):
                raise invalid("Invalid object", "capabilities")
            caps = dict(account.get("capabilities") or {})
            for name, spec in capabilities.items():
                requested = to_bool(spec, "requested") if isinstance(spec, dict) else False
                if requested:
                    caps.setdefault(name, "inactive")
                else:
                    caps.pop(name, None)
            account["capabilities"] = caps
        account["metadata"] = merge_metadata(account.get("metadata"), params.get("metadata"))

    def _refresh_account(self, account: dict[str, Any]) -> None:
        """Custom accounts are enabled as soon as the onboarding fields are all present; express and
        standard accounts only through ``POST /v1/test_helpers/accounts/{id}/onboard`` (mock-only)."""
        due = self._account_due(account)
        if account["type"] == "custom" and not due:
            account["_onboarded"] = True
        onboarded = bool(account.get("_onboarded"))
        account["details_submitted"] = onboarded
        account["charges_enabled"] = onboarded
        account["payouts_enabled"] = onboarded
        account["capabilities"] = {name: "active" if onboarded else "inactive"
                                   for name in (account.get("capabilities") or {})}
        currently_due = [] if onboarded else due
        account["requirements"] = {"alternatives": [], "current_deadline": None, "currently_due": currently_due,
                                   "disabled_reason": None if onboarded else "requirements.past_due",
                                   "errors": [], "eventually_due": currently_due, "past_due": currently_due,
                                   "pending_verification": []}

    def _account_due(self, account: Mapping[str, Any]) -> list[str]:
        due = []
        for field in self.ONBOARDING_FIELDS:
            if field == "external_account":
                present = account.get("_external_account")
            else:
                head, _, rest = field.partition(".")
                value = account.get(head)
                present = (value or {}).get(rest) if rest else value
            if not present:
                due.append(field)
        return due

    @endpoint("POST", "/accounts")
    def create_account(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, self.ACCOUNT_FIELDS)
        kind = to_str(params, "type", choices=("express", "standard", "custom"))
        if kind is None:
            if params.get("controller"):
                kind = "standard"
            else:
                raise invalid("Missing required param: type.", "type", "parameter_missing")
        country = (to_str(params, "country") or "US").upper()
        account = self._new_object(request, "accounts", {
            "business_profile": {"mcc": None, "name": None, "url": None, "support_email": None},
            "business_type": None, "capabilities": {}, "charges_enabled": False, "country": country,
            "default_currency": self.COUNTRY_CURRENCY.get(country, "usd"), "details_submitted": False,
            "email": None, "external_accounts": {"object": "list", "data": [], "has_more": False, "total_count": 0},
            "payouts_enabled": False, "tos_acceptance": {"date": None, "ip": None, "user_agent": None},
            "type": kind, "controller": {"type": "application", "is_controller": True},
        })
        account["external_accounts"]["url"] = f"/v1/accounts/{account['id']}/external_accounts"
        account.pop("livemode", None)  # Stripe's Account has no livemode
        self._account_fields(params, account)
        self._refresh_account(account)
        self._save("accounts", account)
        self._emit(request, "account.updated", account)
        return self._render(account, params)

    @endpoint("GET", "/accounts/{account_id}")
    def retrieve_account(self, request: Request, account_id: str) -> Response:
        return self._render(self._load("accounts", account_id, "account"), self._params(request))

    @endpoint("POST", "/accounts/{account_id}")
    def update_account(self, request: Request, account_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, self.ACCOUNT_FIELDS - {"type", "country", "controller"})
        account = self._load("accounts", account_id, "account")
        before = public(account)
        self._account_fields(params, account)
        self._refresh_account(account)
        self._save("accounts", account)
        changed = {k: before.get(k) for k in public(account) if before.get(k) != account.get(k)}
        self._emit(request, "account.updated", account, changed)
        return self._render(account, params)

    @endpoint("DELETE", "/accounts/{account_id}")
    def delete_account(self, request: Request, account_id: str) -> Response:
        account = self._load("accounts", account_id, "account")
        self._save("accounts", {"id": account_id, "object": "account", "deleted": True,
                                "_seq": account["_seq"], "created": account["created"]})
        return Response.json({"id": account_id, "object": "account", "deleted": True})

    @endpoint("GET", "/accounts")
    def list_accounts(self, request: Request) -> Response:
        return self._list(request, "accounts", self._params(request))

    @endpoint("POST", "/account_links")
    def create_account_link(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"account", "refresh_url", "return_url", "type", "collect", "collection_options"})
        account_id = to_str(params, "account", required=True)
        kind = to_str(params, "type", required=True, choices=("account_onboarding", "account_update"))
        for name in ("refresh_url", "return_url"):  # validated only: onboarding is the test helper below
            to_str(params, name, required=kind == "account_onboarding")
        self._load("accounts", account_id, "account")
        created = self._timestamp()
        token = self.sdk.random_string(12, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return Response.json({"object": "account_link", "created": created, "expires_at": created + 300,
                              "url": f"https://connect.stripe.com/setup/e/{account_id}/{token}"})

    @endpoint("POST", "/test_helpers/accounts/{account_id}/onboard")
    def onboard_account(self, request: Request, account_id: str) -> Response:
        """Mock-only: stands in for the user finishing the hosted onboarding behind an account link."""
        params = self._params(request)
        check_unknown(params, set())
        account = self._load("accounts", account_id, "account")
        before = public(account)
        account["_onboarded"] = True
        account["tos_acceptance"] = {**(account.get("tos_acceptance") or {}),
                                     "date": (account.get("tos_acceptance") or {}).get("date") or self._timestamp()}
        self._refresh_account(account)
        self._save("accounts", account)
        changed = {k: before.get(k) for k in public(account) if before.get(k) != account.get(k)}
        self._emit(request, "account.updated", account, changed)
        return self._render(account, params)

    # --- Connect: transfers and reversals ---------------------------------------------------------------
    def _available(self, currency: str) -> int:
        return self._balance_totals().get(currency, {}).get("available", 0)

    def _transfer_reversals_list(self, transfer: Mapping[str, Any]) -> dict[str, Any]:
        reversals = sorted(self.sdk.storage.query("transfer_reversals", {"transfer": transfer["id"]}, limit=None),
                           key=list_order, reverse=True)
        return {"object": "list", "data": [public(r) for r in reversals[:10]], "has_more": len(reversals) > 10,
                "total_count": len(reversals), "url": f"/v1/transfers/{transfer['id']}/reversals"}

    @endpoint("POST", "/transfers")
    def create_transfer(self, request: Request) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "currency", "destination", "transfer_group", "metadata", "description",
                               "source_transaction", "source_type"})
        amount = cast(int, to_int(params, "amount", required=True, minimum=1))  # required: never None
        currency = (to_str(params, "currency", required=True) or "").lower()
        destination = cast(str, to_str(params, "destination", required=True))
        account = self.sdk.storage.get("accounts", destination)
        if account is None or account.get("deleted"):
            raise StripeError(404, f"No such destination: '{destination}'", code="resource_missing",
                              param="destination")
        available = self._available(currency)
        if amount > available:
            raise invalid("You have insufficient available funds in your Stripe account. Try adding funds directly "
                          "to your available balance by creating Charges using the 4000000000000077 test card. See: "
                          "https://stripe.com/docs/testing#available-balance", None, "balance_insufficient")
        transfer = self._new_object(request, "transfers", {
            "amount": amount, "amount_reversed": 0, "balance_transaction": None, "currency": currency,
            "description": to_str(params, "description"), "destination": destination,
            "destination_payment": self.sdk.generate_id("py_"), "reversed": False,
            "source_transaction": to_str(params, "source_transaction"),
            "source_type": to_str(params, "source_type") or "card",
            "transfer_group": to_str(params, "transfer_group"),
            "metadata": merge_metadata({}, params.get("metadata")),
        })
        transfer["reversals"] = self._transfer_reversals_list(transfer)
        transfer["balance_transaction"] = self._balance_transaction(request, transfer["id"], -amount, currency,
                                                                    "transfer")
        self._save("transfers", transfer)
        self._emit(request, "transfer.created", transfer)
        return self._render(transfer, params)

    @endpoint("GET", "/transfers/{transfer_id}")
    def retrieve_transfer(self, request: Request, transfer_id: str) -> Response:
        return self._render(self._load("transfers", transfer_id, "transfer"), self._params(request))

    @endpoint("POST", "/transfers/{transfer_id}")
    def update_transfer(self, request: Request, transfer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata", "description"})
        transfer = self._load("transfers", transfer_id, "transfer")
        before = public(transfer)
        if "description" in params:
            transfer["description"] = to_str(params, "description")
        transfer["metadata"] = merge_metadata(transfer.get("metadata"), params.get("metadata"))
        self._save("transfers", transfer)
        changed = {k: before.get(k) for k in ("metadata", "description") if before.get(k) != transfer.get(k)}
        self._emit(request, "transfer.updated", transfer, changed)
        return self._render(transfer, params)

    @endpoint("GET", "/transfers")
    def list_transfers(self, request: Request) -> Response:
        params = self._params(request)
        destination, group = to_str(params, "destination"), to_str(params, "transfer_group")
        return self._list(request, "transfers", params,
                          lambda t: (destination is None or t["destination"] == destination)
                          and (group is None or t.get("transfer_group") == group),
                          filters=("destination", "transfer_group"))

    @endpoint("POST", "/transfers/{transfer_id}/reversals")
    def create_transfer_reversal(self, request: Request, transfer_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"amount", "description", "metadata", "refund_application_fee"})
        transfer = self._load("transfers", transfer_id, "id")
        remaining = transfer["amount"] - transfer["amount_reversed"]
        if remaining <= 0:
            raise invalid(f"Transfer {transfer_id} has already been fully reversed.", "amount")
        amount = cast(int, to_int(params, "amount", minimum=1, default=remaining))
        if amount > remaining:
            raise invalid(f"Reversal amount ({money(amount, transfer['currency'])}) is greater than "
                          f"unreversed amount on transfer ({money(remaining, transfer['currency'])})",
                          "amount", "amount_too_large")
        reversal = self._new_object(request, "transfer_reversals", {
            "amount": amount, "balance_transaction": None, "currency": transfer["currency"],
            "destination_payment_refund": self.sdk.generate_id("pyr_"), "source_refund": None,
            "transfer": transfer_id, "metadata": merge_metadata({}, params.get("metadata")),
        })
        reversal.pop("livemode", None)
        reversal["balance_transaction"] = self._balance_transaction(request, reversal["id"], amount,
                                                                    transfer["currency"], "transfer_refund")
        self._save("transfer_reversals", reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] >= transfer["amount"]
        transfer["reversals"] = self._transfer_reversals_list(transfer)
        self._save("transfers", transfer)
        self._emit(request, "transfer.reversed", transfer, {"amount_reversed": transfer["amount_reversed"] - amount})
        return self._render(reversal, params)

    @endpoint("GET", "/transfers/{transfer_id}/reversals")
    def list_transfer_reversals(self, request: Request, transfer_id: str) -> Response:
        self._load("transfers", transfer_id, "id")
        return self._list(request, "transfer_reversals", self._params(request),
                          lambda r: r["transfer"] == transfer_id, url=f"/v1/transfers/{transfer_id}/reversals")

    @endpoint("GET", "/transfers/{transfer_id}/reversals/{reversal_id}")
    def retrieve_transfer_reversal(self, request: Request, transfer_id: str, reversal_id: str) -> Response:
        reversal = self._load("transfer_reversals", reversal_id, "id")
        if reversal["transfer"] != transfer_id:
            raise missing("transfer_reversals", reversal_id)
        return self._render(reversal, self._params(request))

    @endpoint("POST", "/transfers/{transfer_id}/reversals/{reversal_id}")
    def update_transfer_reversal(self, request: Request, transfer_id: str, reversal_id: str) -> Response:
        params = self._params(request)
        check_unknown(params, {"metadata"})
        reversal = self._load("transfer_reversals", reversal_id, "id")
        if reversal["transfer"] != transfer_id:
            raise missing("transfer_reversals", reversal_id)
        reversal["metadata"] = merge_metadata(reversal.get("metadata"), params.get("metadata"))
        self._save("transfer_reversals", reversal)
        return self._render(reversal, params)


def _merged(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``update`` over ``current``, nested objects merged too: ``settings[payouts][schedule][interval]``
    changes that one field and keeps the rest of ``settings``."""
    merged = dict(current)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
