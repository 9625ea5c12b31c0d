"""The fields every object of a kind carries, in one table.

Stripe answers every field of an object, null or empty when unused; clients and typed SDKs rely
on that. Two sources decide what "every field" is: the vendor spec the plugin is measured
against (API 2023-08-16, ``spec/stripe_spec3.subset.json.gz``: its required fields) and Stripe's
current example objects (``spec/stripe_fixtures3.subset.json.gz``, today's API: the fields added
since). The modules that build objects set what they know; :func:`shaped` fills the rest with the
value Stripe answers for an object that does not use the feature.

A default is a value (deep-copied) or a function of the object built so far (for fields that only
restate others, such as a line's ``subtotal``).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Default = Any  # a JSON value, or Callable[[Mapping[str, Any]], Any]

_AUTOMATIC_TAX = {"disabled_reason": None, "enabled": False, "liability": None, "provider": None, "status": None}
_REQUIREMENTS: dict[str, Any] = {
    "alternatives": [], "current_deadline": None, "currently_due": [], "disabled_reason": None,
    "errors": [], "eventually_due": [], "past_due": [], "pending_verification": []}


def _id_of(value: Any) -> Any:
    return value.get("id") if isinstance(value, Mapping) else value


def _coupon_source(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"coupon": _id_of(obj.get("coupon")), "type": "coupon"}


def _price_pricing(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    price = obj.get("price")
    if not isinstance(price, Mapping):
        return None
    return {"price_details": {"price": price.get("id"), "product": price.get("product")}, "type": "price_details",
            "unit_amount_decimal": price.get("unit_amount_decimal")}


def _line_parent(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """Today's lines say where they come from in ``parent`` (the older flat fields stay too)."""
    proration = bool(obj.get("proration"))
    if obj.get("type") == "subscription" or obj.get("subscription_item"):
        return {"invoice_item_details": None, "subscription_item_details": {
            "invoice_item": None, "proration": proration, "proration_details": {"credited_items": None},
            "subscription": obj.get("subscription"), "subscription_item": obj.get("subscription_item")},
            "type": "subscription_item_details"}
    if obj.get("invoice_item"):
        return {"invoice_item_details": {
            "invoice_item": obj.get("invoice_item"), "proration": proration,
            "proration_details": {"credited_items": None}, "subscription": obj.get("subscription")},
            "subscription_item_details": None, "type": "invoice_item_details"}
    return None


def _invoiceitem_parent(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    if not obj.get("subscription"):
        return None
    return {"subscription_details": {"subscription": obj["subscription"],
                                     "subscription_item": obj.get("subscription_item")},
            "type": "subscription_details"}


def _invoice_parent(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    if not obj.get("subscription"):
        return None
    return {"quote_details": None, "subscription_details": {"metadata": {}, "subscription": obj["subscription"]},
            "type": "subscription_details"}


# object name (the ``object`` field) -> field -> default
DEFAULTS: dict[str, dict[str, Default]] = {
    "account": {
        "future_requirements": _REQUIREMENTS,
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {"decline_on": {"avs_failure": False, "cvc_failure": False},
                              "statement_descriptor_prefix": None, "statement_descriptor_prefix_kana": None,
                              "statement_descriptor_prefix_kanji": None},
            "dashboard": {"display_name": None, "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {"statement_descriptor": None, "statement_descriptor_kana": None,
                         "statement_descriptor_kanji": None, "statement_descriptor_prefix_kana": None,
                         "statement_descriptor_prefix_kanji": None},
            "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 2, "interval": "daily"},
                        "statement_descriptor": None},
            "sepa_debit_payments": {}},
    },
    "balance_transaction": {"balance_type": "payments"},
    "card": {"regulated_status": None},
    "checkout.session": {
        "adaptive_pricing": {"enabled": False}, "automatic_tax": _AUTOMATIC_TAX, "collected_information": None,
        "consent": None, "consent_collection": None, "currency_conversion": None, "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer_account": None, "discounts": [], "integration_identifier": None, "invoice_creation": None,
        "managed_payments": None, "origin_context": None, "payment_method_configuration_details": None,
        "payment_method_options": {}, "permissions": None, "phone_number_collection": {"enabled": False},
        "recovered_from": None, "saved_payment_method_options": None, "shipping_address_collection": None,
        "shipping_cost": None, "shipping_details": None, "shipping_options": [], "submit_type": None,
        "wallet_options": None},
    "discount": {"customer_account": None, "source": _coupon_source, "subscription_item": None},
    "dispute": {"enhanced_eligibility_types": []},
    "invoice": {
        "account_tax_ids": None, "amount_overpaid": 0, "amount_shipping": 0, "application": None,
        "automatic_tax": _AUTOMATIC_TAX, "automatically_finalizes_at": None, "custom_fields": None,
        "customer_account": None, "customer_address": None, "customer_name": None,
        "customer_phone": None, "customer_shipping": None, "customer_tax_exempt": "none", "customer_tax_ids": [],
        "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
        "discounts": [], "due_date": None, "effective_at": None, "ending_balance": None, "footer": None,
        "from_invoice": None, "hosted_invoice_url": None, "invoice_pdf": None, "issuer": {"type": "self"},
        "last_finalization_error": None, "latest_revision": None, "number": None, "on_behalf_of": None,
        "parent": _invoice_parent, "paid_out_of_band": False,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "receipt_number": None,
        "rendering": {"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None,
                      "template_version": None},
        "shipping_cost": None, "shipping_details": None, "starting_balance": 0, "statement_descriptor": None,
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "test_clock": None, "total_discount_amounts": [], "total_pretax_credit_amounts": [],
        # ``total_tax_amounts`` (API 2023-08-16) became ``total_taxes``; both are answered
        "total_tax_amounts": [], "total_taxes": [], "webhooks_delivered_at": None},
    "invoiceitem": {
        "customer_account": None, "discounts": [], "net_amount": lambda o: o.get("amount"),
        "parent": _invoiceitem_parent, "pricing": _price_pricing,
        "quantity_decimal": lambda o: str(o.get("quantity", 1)), "tax_rates": [], "test_clock": None},
    "item": {"adjustable_quantity": None, "metadata": {}},
    "line_item": {
        "discount_amounts": [], "discountable": True, "discounts": [], "invoice": None,
        "parent": _line_parent, "pretax_credit_amounts": [], "pricing": _price_pricing,
        # ``proration`` and ``tax_amounts`` (API 2023-08-16) moved under ``parent`` / ``taxes``
        "proration": False,
        "quantity_decimal": lambda o: None if o.get("quantity") is None else str(o["quantity"]),
        "subtotal": lambda o: o.get("amount"), "tax_amounts": [], "tax_rates": [], "taxes": []},
    "payment_intent": {"customer_account": None, "excluded_payment_method_types": None,
                       "managed_payments": None, "payment_method_configuration_details": None},
    "payment_method": {"customer_account": None},
    "payout": {"application_fee": None, "application_fee_amount": None, "payout_method": None,
               # a payout made through the API (not an automatic one) has nothing to reconcile
               "reconciliation_status": "not_applicable", "trace_id": None},
    "product": {"features": [], "marketing_features": []},
    "promotion_code": {"customer_account": None, "promotion": _coupon_source},
    "refund": {"customer": None, "customer_account": None, "payment_method": None},
    "setup_intent": {"excluded_payment_method_types": None, "payment_method_configuration_details": None},
    "source": {"allow_redisplay": None},
    "subscription": {
        "billing_cycle_anchor_config": None, "billing_mode": {"flexible": None, "type": "classic"},
        "billing_schedules": [], "customer_account": None, "default_source": None, "default_tax_rates": [],
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}}, "managed_payments": None,
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "schedule": None, "transfer_data": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}},
    "subscription_item": {"billing_thresholds": None},
    "tax_id": {"customer_account": None,
               "owner": lambda o: {"customer": o.get("customer"), "customer_account": None, "type": "customer"}
               if o.get("customer") else {"type": "self"}},
    "tax_rate": {"flat_amount": None, "jurisdiction_level": None, "rate_type": "percentage"},
}


def shaped(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with every field its kind carries (those it has are kept as they are)."""
    defaults = DEFAULTS.get(str(obj.get("object")))
    if defaults is None or obj.get("deleted"):
        return obj
    for name, default in defaults.items():
        if name not in obj:
            obj[name] = default(obj) if callable(default) else copy.deepcopy(default)
    return obj


def field_names(object_name: str) -> frozenset[str]:
    """The fields :func:`shaped` adds to an object of this kind (for tests)."""
    return frozenset(DEFAULTS.get(object_name, {}))

