"""Stripe's test cards, test payment methods and test tokens."""
from __future__ import annotations

from typing import Any

# Test card numbers -> behaviour (Stripe's testing docs). "decline" gives a 402 card_error when the
# card is charged ("code" overrides card_declined), "three_d_secure" a PaymentIntent in requires_action,
# "bypass_pending" funds that skip the pending balance, "attach_ok" a card that attaches and sets up
# fine and declines only when charged.
TEST_CARDS: dict[str, dict[str, Any]] = {
    "4242424242424242": {"brand": "visa", "funding": "credit"},
    "4000056655665556": {"brand": "visa", "funding": "debit"},
    "4000000000000077": {"brand": "visa", "funding": "credit", "bypass_pending": True},
    "4000003720000278": {"brand": "visa", "funding": "credit", "bypass_pending": True, "country": "GB"},
    "5555555555554444": {"brand": "mastercard", "funding": "credit"},
    "2223003122003222": {"brand": "mastercard", "funding": "credit"},
    "5200828282828210": {"brand": "mastercard", "funding": "debit"},
    "5105105105105100": {"brand": "mastercard", "funding": "prepaid"},
    "378282246310005": {"brand": "amex", "funding": "credit"},
    "371449635398431": {"brand": "amex", "funding": "credit"},
    "6011111111111117": {"brand": "discover", "funding": "credit"},
    "3056930009020004": {"brand": "diners", "funding": "credit"},
    "3566002020360505": {"brand": "jcb", "funding": "credit", "country": "JP"},
    "6200000000000005": {"brand": "unionpay", "funding": "credit", "country": "CN"},
    "4000000760000002": {"brand": "visa", "funding": "credit", "country": "BR"},
    "4000001240000000": {"brand": "visa", "funding": "credit", "country": "CA"},
    "4000008260000000": {"brand": "visa", "funding": "credit", "country": "GB"},
    "4000002500000003": {"brand": "visa", "funding": "credit", "country": "FR"},
    "4000002760000016": {"brand": "visa", "funding": "credit", "country": "DE"},
    "4000000000000101": {"brand": "visa", "funding": "credit", "cvc_check": "fail"},
    "4000000000000028": {"brand": "visa", "funding": "credit", "address_check": "fail"},
    "4000000000009235": {"brand": "visa", "funding": "credit", "risk_level": "elevated"},
    "4000000000000259": {"brand": "visa", "funding": "credit"},
    "4000000000000002": {"brand": "visa", "funding": "credit", "decline": "generic_decline"},
    "4000000000009995": {"brand": "visa", "funding": "credit", "decline": "insufficient_funds"},
    "4000000000009987": {"brand": "visa", "funding": "credit", "decline": "lost_card"},
    "4000000000009979": {"brand": "visa", "funding": "credit", "decline": "stolen_card"},
    "4000000000000069": {"brand": "visa", "funding": "credit", "decline": "expired_card", "code": "expired_card"},
    "4000000000000127": {"brand": "visa", "funding": "credit", "decline": "incorrect_cvc", "code": "incorrect_cvc"},
    "4000000000000119": {"brand": "visa", "funding": "credit", "decline": "processing_error",
                         "code": "processing_error"},
    "4000000000006975": {"brand": "visa", "funding": "credit", "decline": "card_velocity_exceeded"},
    "4100000000000019": {"brand": "visa", "funding": "credit", "decline": "fraudulent", "risk_level": "highest"},
    "4000000000004954": {"brand": "visa", "funding": "credit", "decline": "fraudulent", "risk_level": "highest"},
    "4000000000000341": {"brand": "visa", "funding": "credit", "decline": "generic_decline", "attach_ok": True},
    "4000002500003155": {"brand": "visa", "funding": "credit", "three_d_secure": True},
    "4000002760003184": {"brand": "visa", "funding": "credit", "three_d_secure": True},
    "4000000000003220": {"brand": "visa", "funding": "credit", "three_d_secure": True},
    "4000000000003063": {"brand": "visa", "funding": "credit", "three_d_secure": True},
}
# The suffix of every ``pm_card_<x>`` test PaymentMethod and ``tok_<x>`` test token: one table, so
# both families always name the same cards.
TEST_CARD_ALIASES: dict[str, str] = {
    "visa": "4242424242424242", "visa_debit": "4000056655665556", "mastercard": "5555555555554444",
    "mastercard_debit": "5200828282828210", "mastercard_prepaid": "5105105105105100", "amex": "378282246310005",
    "amex_threeDSecureNotSupported": "378282246310005", "discover": "6011111111111117",
    "diners": "3056930009020004", "jcb": "3566002020360505", "unionpay": "6200000000000005",
    "us": "4242424242424242", "br": "4000000760000002", "ca": "4000001240000000", "gb": "4000008260000000",
    "fr": "4000002500000003", "de": "4000002760000016", "jp": "3566002020360505",
    "bypassPending": "4000000000000077", "bypassPendingInternational": "4000003720000278",
    "cvcCheckFail": "4000000000000101", "avsFail": "4000000000000028", "avsLine1Fail": "4000000000000028",
    "avsZipFail": "4000000000000028", "riskLevelElevated": "4000000000009235",
    "riskLevelHighest": "4000000000004954", "radarBlock": "4100000000000019",
    "createDispute": "4000000000000259", "chargeCustomerFail": "4000000000000341",
    "chargeDeclined": "4000000000000002", "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987", "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069", "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119", "chargeDeclinedVelocityLimitExceeded": "4000000000006975",
    "chargeDeclinedFraudulent": "4100000000000019",
    "authenticationRequired": "4000002760003184", "authenticationRequiredOnSetup": "4000002500003155",
    "threeDSecure2Required": "4000002500003155", "threeDSecureRequired": "4000000000003063",
    "threeDSecureOptional": "4000000000003055",
}
TEST_PAYMENT_METHODS = {f"pm_card_{name}": number for name, number in TEST_CARD_ALIASES.items()}
TEST_TOKENS = {f"tok_{name}": number for name, number in TEST_CARD_ALIASES.items()}
BRAND_NAMES = {"visa": "Visa", "mastercard": "MasterCard", "amex": "American Express", "discover": "Discover",
               "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay", "unknown": "Unknown"}
DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "card_velocity_exceeded": "Your card was declined for making repeated attempts too frequently or exceeding "
                              "its amount limit.",
}


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith("6011") or number.startswith("65"):
        return "discover"
    if number[:2] in {"30", "36", "38"}:
        return "diners"
    if number.startswith("35"):
        return "jcb"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"
