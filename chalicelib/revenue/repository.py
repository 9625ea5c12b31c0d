"""The ledger's storage behind a port: post a journal once, read balances and entries.

``DynamoLedgerRepository`` is the adapter on the ``revenue`` table; ``memory.InMemoryLedgerRepository``
is the fake. One contract test (tests/integration/test_ledger_repository.py) runs against the fake,
moto and DynamoDB Local, so the fake cannot drift.

Posting is ONE DynamoDB transaction: the journal head (on the condition that no journal has its id:
a replay is a no-op), an entry per account, and an ``ADD`` to each account's balance. Its
``ClientRequestToken`` is derived from the journal itself, so a retry of a request whose answer was
lost within DynamoDB's 10 minutes is recognised as the same one.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core.clock import iso
from chalicelib.core.dynamo import failed_conditions, find, run_transaction
from chalicelib.revenue.ledger import Journal, Posting, group_of
from chalicelib.revenue.records import BalanceRecord, EntryRecord, JournalRecord, RevenueTable


@dataclass(frozen=True)
class Entry:
    account: str
    journal_id: str
    kind: str
    amount_micros: int
    posted_at: datetime


class LedgerRepository(ABC):
    @abstractmethod
    def post(self, journal: Journal, at: datetime) -> Journal:
        """Post ``journal`` unless a journal with its id exists; the journal stored under that id
        (this one, or the one posted before it)."""

    @abstractmethod
    def get(self, journal_id: str) -> Journal | None: ...

    @abstractmethod
    def balance(self, account: str) -> int:
        """Debits minus credits (0 for an account never used)."""

    @abstractmethod
    def balances(self, group: str) -> dict[str, int]:
        """Every account of a group (``ledger.GROUPS``) with its balance."""

    @abstractmethod
    def entries(self, account: str) -> list[Entry]:
        """An account's entries, oldest first."""


def request_token(journal: Journal) -> str:
    content = json.dumps([journal.id, journal.kind, journal.refs_json,
                          [[p.account, p.amount_micros] for p in journal.postings]])
    return hashlib.sha256(content.encode()).hexdigest()[:36]


def _journal(rec: JournalRecord) -> Journal:
    return Journal(id=rec.pk[2:], kind=rec.journal_kind,
                   postings=tuple(Posting(str(a), int(v)) for a, v in (rec.postings or [])),
                   refs_json=rec.refs, memo=rec.memo or "")


class DynamoLedgerRepository(LedgerRepository):
    def get(self, journal_id: str) -> Journal | None:
        rec = find(JournalRecord, JournalRecord.key(journal_id))
        return _journal(rec) if rec is not None else None

    def post(self, journal: Journal, at: datetime) -> Journal:
        existing = self.get(journal.id)  # a replay costs a read, not a failed transaction
        if existing is not None:
            return existing
        stamp = iso(at)

        def build(tx: TransactWrite) -> None:
            tx.save(JournalRecord(*JournalRecord.key(journal.id), journal_kind=journal.kind,
                                  postings=[[p.account, p.amount_micros] for p in journal.postings],
                                  refs=journal.refs_json, memo=journal.memo or None, posted_at=at),
                    condition=JournalRecord.pk.does_not_exist())  # the head: once per id, ever
            for p in journal.postings:
                # entries and balances need no condition of their own: they land only with the head
                tx.save(EntryRecord(*EntryRecord.key(p.account, stamp, journal.id), account=p.account,
                                    journal_id=journal.id, journal_kind=journal.kind, amount_micros=p.amount_micros,
                                    posted_at=at))
                tx.update(BalanceRecord(*BalanceRecord.key(p.account)),
                          actions=[BalanceRecord.kind.set(BalanceRecord),  # update-created items need their kind
                                   BalanceRecord.account.set(p.account), BalanceRecord.group.set(group_of(p.account)),
                                   BalanceRecord.balance_micros.add(p.amount_micros), BalanceRecord.entries.add(1)])

        try:
            run_transaction(RevenueTable, build, client_request_token=request_token(journal))
        except TransactWriteError as exc:
            mismatch = getattr(exc, "cause_response_code", None) == "IdempotentParameterMismatchException"
            if mismatch or failed_conditions(exc)[:1] == [True]:
                stored = self.get(journal.id)  # posted meanwhile (a racer, or our own lost answer)
                if stored is not None:
                    return stored
            raise
        return journal

    def balance(self, account: str) -> int:
        rec = find(BalanceRecord, BalanceRecord.key(account))
        return int(rec.balance_micros or 0) if rec is not None else 0

    def balances(self, group: str) -> dict[str, int]:
        return {rec.account: int(rec.balance_micros or 0) for rec in RevenueTable.by_group.query(group)
                if isinstance(rec, BalanceRecord)}

    def entries(self, account: str) -> list[Entry]:
        return [Entry(rec.account, rec.journal_id, rec.journal_kind, int(rec.amount_micros), rec.posted_at)
                for rec in EntryRecord.query(f"A#{account}", EntryRecord.sk.startswith("E#"), consistent_read=True)]
