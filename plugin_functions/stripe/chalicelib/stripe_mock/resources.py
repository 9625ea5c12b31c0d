"""Resource table, API version and the helpers every object goes through."""
from __future__ import annotations

from typing import Any

API_VERSION = "2025-09-30.clover"
IDEMPOTENCY_TTL_S = 24 * 3600
IN_FLIGHT_TTL_S = 60
INTERNAL_PREFIX = "_"  # stored-only fields (sequence numbers); never sent to clients


# collection -> (id prefix, object name, list url, human name for "No such ..." messages)
RESOURCES: dict[str, tuple[str, str, str, str]] = {
    "customers": ("cus_", "customer", "/v1/customers", "customer"),
    "payment_methods": ("pm_", "payment_method", "/v1/payment_methods", "PaymentMethod"),
    "payment_intents": ("pi_", "payment_intent", "/v1/payment_intents", "payment_intent"),
    "charges": ("ch_", "charge", "/v1/charges", "charge"),
    "refunds": ("re_", "refund", "/v1/refunds", "refund"),
    "events": ("evt_", "event", "/v1/events", "event"),
    "setup_intents": ("seti_", "setup_intent", "/v1/setup_intents", "setup_intent"),
    "balance_transactions": ("txn_", "balance_transaction", "/v1/balance_transactions", "balance transaction"),
    "accounts": ("acct_", "account", "/v1/accounts", "account"),
    "transfers": ("tr_", "transfer", "/v1/transfers", "transfer"),
    "transfer_reversals": ("trr_", "transfer_reversal", "/v1/transfers", "transfer reversal"),
    "webhook_endpoints": ("we_", "webhook_endpoint", "/v1/webhook_endpoints", "webhook endpoint"),
    "products": ("prod_", "product", "/v1/products", "product"),
    "prices": ("price_", "price", "/v1/prices", "price"),
    "subscriptions": ("sub_", "subscription", "/v1/subscriptions", "subscription"),
    "subscription_items": ("si_", "subscription_item", "/v1/subscription_items", "subscription item"),
    "invoices": ("in_", "invoice", "/v1/invoices", "invoice"),
    "invoice_line_items": ("il_", "line_item", "/v1/invoices", "invoice line item"),
    "checkout_sessions": ("cs_", "checkout.session", "/v1/checkout/sessions", "checkout.session"),
    "invoiceitems": ("ii_", "invoiceitem", "/v1/invoiceitems", "invoiceitem"),
    "disputes": ("dp_", "dispute", "/v1/disputes", "dispute"),
    "tokens": ("tok_", "token", "/v1/tokens", "token"),
    "cards": ("card_", "card", "/v1/customers", "source"),
    "sources": ("src_", "source", "/v1/sources", "source"),
    "coupons": ("", "coupon", "/v1/coupons", "coupon"),
    "promotion_codes": ("promo_", "promotion_code", "/v1/promotion_codes", "promotion code"),
    "discounts": ("di_", "discount", "/v1/discounts", "discount"),
    "tax_rates": ("txr_", "tax_rate", "/v1/tax_rates", "tax rate"),
    "tax_ids": ("txi_", "tax_id", "/v1/customers", "tax id"),
    "plans": ("", "plan", "/v1/plans", "plan"),
    "payouts": ("po_", "payout", "/v1/payouts", "payout"),
    "test_clocks": ("clock_", "test_helpers.test_clock", "/v1/test_helpers/test_clocks", "test clock"),
}
PREFIX_TO_COLLECTION = {prefix: name for name, (prefix, *_rest) in RESOURCES.items() if prefix}

ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
CANCELABLE = {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture",
              "processing"}

DISPUTE_FEE = 1500  # Stripe's dispute fee in cents (USD)


def datetime_text(ts: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%d %b %Y")


def public(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith(INTERNAL_PREFIX)}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj
