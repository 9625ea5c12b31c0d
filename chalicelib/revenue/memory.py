"""The ledger port in memory (tests, the hypothesis state machine); the contract test in
tests/integration/test_ledger_repository.py holds it to the DynamoDB adapter."""
from __future__ import annotations

import threading
from datetime import datetime

from chalicelib.revenue.ledger import Journal, group_of
from chalicelib.revenue.repository import Entry, LedgerRepository


class InMemoryLedgerRepository(LedgerRepository):
    def __init__(self) -> None:
        self._journals: dict[str, Journal] = {}
        self._balances: dict[str, int] = {}
        self._entries: dict[str, list[Entry]] = {}
        self._lock = threading.Lock()

    def post(self, journal: Journal, at: datetime) -> Journal:
        with self._lock:
            stored = self._journals.get(journal.id)
            if stored is not None:
                return stored
            self._journals[journal.id] = journal
            for p in journal.postings:
                self._balances[p.account] = self._balances.get(p.account, 0) + p.amount_micros
                self._entries.setdefault(p.account, []).append(
                    Entry(p.account, journal.id, journal.kind, p.amount_micros, at))
            return journal

    def get(self, journal_id: str) -> Journal | None:
        return self._journals.get(journal_id)

    def balance(self, account: str) -> int:
        return self._balances.get(account, 0)

    def balances(self, group: str) -> dict[str, int]:
        with self._lock:
            return {a: v for a, v in self._balances.items() if group_of(a) == group}

    def entries(self, account: str) -> list[Entry]:
        return sorted(self._entries.get(account, []), key=lambda e: (e.posted_at, e.journal_id))

    def journals(self) -> list[Journal]:
        """Every journal (the fake only: tests check that each one balances)."""
        return list(self._journals.values())
