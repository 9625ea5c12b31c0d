from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.core.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from chalicelib.core.periods import period_start
from chalicelib.http import Api, ApiRequest
from chalicelib.payments.port import PaymentsError
from chalicelib.payouts.accounts import ONBOARDING, PAYOUT_METHOD, REFERRAL, TAX_FORM
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="payouts")

RUN = {"type": "object", "additionalProperties": False, "required": ["period"],
       "properties": {"period": {"type": "string", "pattern": r"^\d{4}-\d{2}-(01|15)$"},
                      "dry_run": {"type": "boolean"}}}
MARK_PAID = {"type": "object", "additionalProperties": False, "required": ["reference"],
             "properties": {"reference": {"type": "string", "minLength": 3, "maxLength": 200}}}
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(01|15)")


def _year(req: ApiRequest) -> int:
    raw = req.query.get("year") or str(container().clock.now().year - 1)
    if not re.fullmatch(r"20\d\d", raw):
        raise InvalidInputError("year must look like 2026", code="validation_failed",
                                details=[{"path": "year", "message": "expected YYYY"}])
    return int(raw)


def _period(raw: str) -> str:
    try:
        if _PERIOD.fullmatch(raw):
            period_start(raw)  # a real date: not year 0
            return raw
    except ValueError:
        pass
    raise InvalidInputError("a payout period is YYYY-MM-01 or YYYY-MM-15", code="validation_failed",
                            details=[{"path": "period", "message": "expected YYYY-MM-01 or YYYY-MM-15"}])


@api.route("/developer/account", auth="developer", raises=(PaymentsError,),
           summary="Your payout account: Stripe Connect status, tax form, rail, referral code, what is missing")
def account(req: ApiRequest) -> dict[str, Any]:
    return container().accounts.view(req.caller)


@api.route("/developer/onboarding", methods=("POST",), auth="developer", body=ONBOARDING, raises=(PaymentsError,),
           summary="Create your Stripe Connect account (once) and a fresh onboarding link")
def onboarding(req: ApiRequest) -> dict[str, Any]:
    return container().accounts.onboard(req.caller, req.json(ONBOARDING))


@api.route("/developer/tax-form", methods=("PUT",), auth="developer", body=TAX_FORM, raises=(InvalidInputError,),
           summary="Submit a W-9 (US) or W-8BEN (international); only the last 4 of the tax id are kept")
def tax_form(req: ApiRequest) -> dict[str, Any]:
    return container().accounts.submit_tax_form(req.caller, req.json(TAX_FORM))


@api.route("/developer/payout-method", methods=("PUT",), auth="developer", body=PAYOUT_METHOD,
           raises=(InvalidInputError,),
           summary="Choose the payout rail: stripe (default), paypal, wire (from $5,000) or usdc")
def payout_method(req: ApiRequest) -> dict[str, Any]:
    return container().accounts.set_payout_method(req.caller, req.json(PAYOUT_METHOD))


@api.route("/developer/referral", methods=("POST",), auth="developer", body=REFERRAL,
           raises=(InvalidInputError, NotFoundError, PermissionDeniedError, ConflictError),
           summary="Name the developer who referred you (once, before your first earnings)")
def referral(req: ApiRequest) -> dict[str, Any]:
    return container().accounts.set_referrer(req.caller, req.json(REFERRAL)["code"])


@api.route("/developer/earnings", auth="developer",
           summary="Dashboard: this period's calls and revenue, projected payout, trend, lifetime, payouts")
def earnings(req: ApiRequest) -> dict[str, Any]:
    return container().earnings.dashboard(req.caller.user_id)


@api.route("/developer/tax/1099", auth="developer", query=("year",), raises=(InvalidInputError,),
           summary="Your yearly 1099 summary (US developers with a W-9)")
def form_1099(req: ApiRequest) -> dict[str, Any]:
    return container().earnings.form_1099(req.caller.user_id, _year(req))


@api.route("/admin/payouts", auth="admin", query=("period",), raises=(InvalidInputError,),
           summary="Every payout of a period")
def list_payouts(req: ApiRequest) -> dict[str, Any]:
    return container().payouts.list_period(_period(req.query.get("period", "")))


@api.route("/admin/payouts/run", methods=("POST",), auth="admin", body=RUN, raises=(InvalidInputError, ConflictError),
           summary="Plan (dry_run) or run the payouts of a closed period; safe to repeat")
def run_payouts(req: ApiRequest) -> dict[str, Any]:
    body = req.json(RUN)
    return container().payouts.run(_period(body["period"]), dry_run=body.get("dry_run", False))


@api.route("/admin/payouts/{developer_id}/{period}/paid", methods=("POST",), auth="admin", body=MARK_PAID,
           raises=(InvalidInputError, NotFoundError, ConflictError),
           summary="Record a manual payout (PayPal, wire, USDC) as settled, with its reference")
def mark_paid(req: ApiRequest, developer_id: str, period: str) -> dict[str, Any]:
    return container().payouts.mark_paid(req.caller.user_id, developer_id, _period(period),
                                         req.json(MARK_PAID)["reference"])


@api.route("/admin/tax/1099", auth="admin", query=("year",), raises=(InvalidInputError,),
           summary="The 1099 summaries of all US developers")
def all_1099(req: ApiRequest) -> dict[str, Any]:
    return container().earnings.all_1099(_year(req))
