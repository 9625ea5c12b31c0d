"""Developer payout accounts: Stripe Connect onboarding, tax forms, payout rail, referral."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.auth.principal import Principal
from chalicelib.core.clock import Clock, iso
from chalicelib.core.periods import period_of
from chalicelib.core.dynamo import condition_failed
from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from chalicelib.payments.port import PaymentsPort
from chalicelib.payouts.records import AccountRecord
from chalicelib.payouts.repository import PayoutRepository
from chalicelib.payouts.service import referral_ends
from chalicelib.revenue.ledger import Referral

TAX_FORMS = ("W-9", "W-8BEN")
_RAIL_DETAILS = {
    "stripe": {},
    "paypal": {"email": re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")},
    "wire": {"account_name": re.compile(r"^.{2,100}$"), "bank_name": re.compile(r"^.{2,100}$"),
             "account_number": re.compile(r"^[A-Z0-9 ]{6,34}$"), "swift": re.compile(r"^[A-Z0-9]{8}([A-Z0-9]{3})?$")},
    "usdc": {"address": re.compile(r"^0x[0-9a-fA-F]{40}$"), "network": re.compile(r"^(ethereum|polygon)$")},
}

ONBOARDING = {"type": "object", "additionalProperties": False, "required": ["return_url", "refresh_url"],
              "properties": {"return_url": {"type": "string", "pattern": "^https?://", "maxLength": 500},
                             "refresh_url": {"type": "string", "pattern": "^https?://", "maxLength": 500},
                             "country": {"type": "string", "pattern": "^[A-Z]{2}$"}}}
TAX_FORM = {"type": "object", "additionalProperties": False, "required": ["form", "legal_name", "country", "tax_id"],
            "properties": {"form": {"enum": list(TAX_FORMS)},
                           "legal_name": {"type": "string", "minLength": 2, "maxLength": 120},
                           "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                           "tax_id": {"type": "string", "pattern": r"^[0-9A-Za-z-]{4,20}$"}}}
PAYOUT_METHOD = {"type": "object", "additionalProperties": False, "required": ["rail"],
                 "properties": {"rail": {"enum": list(_RAIL_DETAILS)},
                                "details": {"type": "object", "additionalProperties": {"type": "string",
                                                                                       "maxLength": 200}}}}
REFERRAL = {"type": "object", "additionalProperties": False, "required": ["code"],
            "properties": {"code": {"type": "string", "minLength": 3, "maxLength": 64}}}


class AccountService:
    def __init__(self, repository: PayoutRepository, payments: PaymentsPort, email_of: Any, role_of: Any,
                 clock: Clock, earned_of: Callable[[str], int] = lambda developer: 0) -> None:
        self._earned_of = earned_of
        self._repo = repository
        self._payments = payments
        self._email_of = email_of
        self._role_of = role_of
        self._clock = clock

    def _account(self, developer: str) -> AccountRecord:
        account = self._repo.account(developer)
        if account is None:
            account = AccountRecord(*AccountRecord.key(developer), developer_id=developer,
                                    email=self._email_of(developer), created_at=self._clock.now())
            account.save(condition=AccountRecord.pk.does_not_exist())
        return account

    def view(self, principal: Principal, *, refresh: bool = True) -> dict[str, Any]:
        account = self._account(principal.user_id)
        if refresh and account.stripe_account_id and not account.payouts_enabled:
            status = self._payments.account_status(account.stripe_account_id)
            if status.payouts_enabled:
                account.update(actions=[AccountRecord.payouts_enabled.set(True)])
        missing = []
        if not account.tax_form:
            missing.append("tax_form")
        if (account.rail or "stripe") == "stripe" and not account.payouts_enabled:
            missing.append("stripe_onboarding")
        if (account.rail or "stripe") != "stripe" and not account.rail_details:
            missing.append("payout_details")
        return {"developer_id": account.developer_id, "rail": account.rail or "stripe",
                "rail_details": account.rail_details or {}, "stripe_account_id": account.stripe_account_id,
                "payouts_enabled": bool(account.payouts_enabled),
                "tax_form": {"form": account.tax_form, "legal_name": account.tax_name,
                             "country": account.country, "tax_id_last4": account.tax_id_last4,
                             "submitted_at": iso(account.tax_submitted_at) if account.tax_submitted_at else None},
                "referral_code": account.developer_id, "referred_by": account.referred_by,
                "ready_for_payouts": not missing, "missing": missing}

    def onboard(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        account = self._account(principal.user_id)
        if not account.stripe_account_id:
            account_id = self._payments.create_connect_account(
                developer_id=principal.user_id, email=account.email, country=body.get("country", "US"),
                idempotency_key=f"connect-{principal.user_id}")
            account.update(actions=[AccountRecord.stripe_account_id.set(account_id)])
        url = self._payments.create_account_link(account_id=account.stripe_account_id or "",
                                                 refresh_url=body["refresh_url"], return_url=body["return_url"])
        return {"stripe_account_id": account.stripe_account_id, "onboarding_url": url}

    def submit_tax_form(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        us = body["country"] == "US"
        if (body["form"] == "W-9") != us:
            raise InvalidInputError("US persons file a W-9; everyone else a W-8BEN", code="wrong_tax_form",
                                    details=[{"path": "form", "message": "W-9 for US, W-8BEN otherwise"}])
        account = self._account(principal.user_id)
        account.update(actions=[AccountRecord.tax_form.set(body["form"]), AccountRecord.tax_name.set(body["legal_name"]),
                                AccountRecord.country.set(body["country"]),
                                AccountRecord.tax_id_last4.set(body["tax_id"][-4:]),
                                AccountRecord.tax_submitted_at.set(self._clock.now())])
        return self.view(principal, refresh=False)

    def set_payout_method(self, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
        rail, details = body["rail"], body.get("details", {})
        rules = _RAIL_DETAILS[rail]
        problems = [{"path": f"details/{name}", "message": "missing or malformed"}
                    for name, pattern in rules.items() if not pattern.match(str(details.get(name, "")))]
        problems += [{"path": f"details/{name}", "message": "not a field of this rail"}
                     for name in details if name not in rules]
        if problems:
            raise InvalidInputError(f"invalid {rail} payout details", code="validation_failed", details=problems)
        account = self._account(principal.user_id)
        account.update(actions=[AccountRecord.rail.set(rail),
                                AccountRecord.rail_details.set(details) if details else AccountRecord.rail_details.remove()])
        return self.view(principal, refresh=False)

    def set_referrer(self, principal: Principal, code: str) -> dict[str, Any]:
        if code == principal.user_id:
            raise InvalidInputError("you cannot refer yourself", code="invalid_referral")
        if self._role_of(code) not in ("developer", "admin"):
            raise NotFoundError("no developer with this referral code", code="referral_not_found")
        if self._earned_of(principal.user_id):
            raise PermissionDeniedError("referrals apply before your first earnings", code="referral_too_late")
        account = self._account(principal.user_id)
        try:
            account.update(actions=[AccountRecord.referred_by.set(code),
                                    AccountRecord.referred_at.set(self._clock.now())],
                           condition=AccountRecord.referred_by.does_not_exist())
        except UpdateError as exc:
            if condition_failed(exc):
                raise ConflictError("your referrer is already set", code="referral_already_set") from None
            raise
        return self.view(principal, refresh=False)

    def on_account_updated(self, stripe_account: dict[str, Any]) -> None:
        """``account.updated`` from Stripe: remember whether payouts can go to it."""
        developer = (stripe_account.get("metadata") or {}).get("developer_id")
        account = self._repo.account(developer) if developer else None
        if account is not None and account.stripe_account_id == stripe_account.get("id"):
            # events may arrive out of order: ask Stripe for the account as it is now
            status = self._payments.account_status(account.stripe_account_id)
            account.update(actions=[AccountRecord.payouts_enabled.set(status.payouts_enabled)])

    def referral_of(self, developer: str) -> Referral | None:
        """The developer who referred ``developer``, while the referral pays (six months): collected
        revenue then earns both of them 5 % on top, funded by the platform."""
        account = self._repo.account(developer)
        if account is None or not account.referred_by or not account.referred_at:
            return None
        if period_of(self._clock.now()) >= referral_ends(account.referred_at.date()):
            return None
        return Referral(account.referred_by)
