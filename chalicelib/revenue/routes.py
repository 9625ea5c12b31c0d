"""The ledger for admins: trace an account or a journal, run the invariant check."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.core.clock import iso
from chalicelib.core.errors import InvalidInputError, NotFoundError
from chalicelib.http import Api, ApiRequest
from chalicelib.revenue.ledger import group_of
from chalicelib.wiring import container

bp = Blueprint(__name__)
api = Api(bp, tag="ledger")
MAX_ENTRIES = 1_000


@api.route("/admin/ledger/accounts/{account}", auth="admin", raises=(InvalidInputError,),
           summary="A ledger account (e.g. dev:<id>:payable): its balance and its entries, oldest first")
def account(req: ApiRequest, account: str) -> dict[str, Any]:
    try:
        group = group_of(account)
    except ValueError:
        raise InvalidInputError(f"{account!r} is not a ledger account (user:<id>:unbilled, dev:<id>:payable, "
                                "accrued:<plugin>, platform:fees, stripe:cash, ...)", code="invalid_account") from None
    revenue = container().revenue
    entries = revenue.entries(account)
    return {"account": account, "group": group, "balance_micros": revenue.balance(account),
            "entries": [{"journal_id": e.journal_id, "kind": e.kind, "amount_micros": e.amount_micros,
                         "posted_at": iso(e.posted_at)} for e in entries[-MAX_ENTRIES:]],
            "truncated": len(entries) > MAX_ENTRIES}


@api.route("/admin/ledger/journals/{journal_id}", auth="admin", raises=(NotFoundError,),
           summary="A ledger journal: what caused it (refs) and its postings, which sum to zero")
def journal(req: ApiRequest, journal_id: str) -> dict[str, Any]:
    found = container().revenue.journal(journal_id)
    if found is None:
        raise NotFoundError(f"no journal {journal_id!r}", code="journal_not_found")
    return {"journal_id": found.id, "kind": found.kind, "refs": found.refs, "memo": found.memo,
            "postings": [{"account": p.account, "amount_micros": p.amount_micros} for p in found.postings]}


@api.route("/admin/ledger/check", auth="admin",
           summary="Prove the ledger's invariants now (the daily ledger_check job); says which one failed")
def check(req: ApiRequest) -> dict[str, Any]:
    from chalicelib import jobs

    return jobs.ledger_check(container())
