"""Rated charges on their way to invoices: into the ledger, then taken by the month close.

Each live (user, plugin, month) keeps three amounts that only grow: what the aggregation has
rated (``charged``), how far the ledger's rating chain has come (``rated_micros``) and how much
invoices have taken (``invoiced_micros``). A month is *due* (a sparse index) while they differ.
Invoicing moves ``invoiced_micros`` on the condition that it is still where the invoice's plan
found it, so a month is never billed twice, and a late fold (calls that reach a closed month
after its invoice) makes it due again: the next invoice bills the difference as its own line.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from chalicelib.core.dynamo import condition_failed, find
from chalicelib.core.errors import ConflictError
from chalicelib.metering.records import DUE, UserMonthRecord

LIVE = "live"
Rater = Callable[[str, str, str, int, int], int]  # (plugin, user, month, known, rated) -> where the chain ends


@dataclass(frozen=True)
class DueCharge:
    """What a live (user, plugin, month) has rated and invoices have not taken yet."""

    user_id: str
    plugin: str
    month: str
    charged_micros: int
    rated_micros: int  # in the ledger
    invoiced_micros: int

    @property
    def due_micros(self) -> int:
        """What the next invoice may take: rated into the ledger, not yet invoiced."""
        return self.rated_micros - self.invoiced_micros


def _due(rec: UserMonthRecord) -> DueCharge:
    return DueCharge(rec.user_id, rec.plugin, rec.month, rec.charged_micros, int(rec.rated_micros or 0),
                     int(rec.invoiced_micros or 0))


class MeteredCharges:
    def __init__(self, rate: Rater) -> None:
        self._rate = rate

    def sync_month(self, plugin: str, user: str, month: str) -> DueCharge | None:
        """The month's charges into the ledger, up to what is rated now."""
        rec = find(UserMonthRecord, UserMonthRecord.key(plugin, user, LIVE, month))
        if rec is None:
            return None
        known = int(rec.rated_micros or 0)
        if known < rec.charged_micros:
            end = self._rate(plugin, user, month, known, rec.charged_micros)
            try:  # only ever forward: a racer that got further stays where it is
                rec.update(actions=[UserMonthRecord.rated_micros.set(end)],
                           condition=UserMonthRecord.rated_micros.does_not_exist() | (UserMonthRecord.rated_micros < end))
            except UpdateError as exc:
                if not condition_failed(exc):
                    raise
                rec.refresh(consistent_read=True)
        return _due(rec)

    def due(self, through_month: str, user: str | None = None, *, sync: bool = True) -> list[DueCharge]:
        """Every due live month up to ``through_month`` (of one user), synced into the ledger first
        (``sync=False``: nothing written, as it would be after the sync, for a dry run)."""
        found = []
        condition = UserMonthRecord.due_key.startswith(f"{user}#") if user else None
        for key in UserMonthRecord.due_index.query(DUE, condition):
            if not isinstance(key, UserMonthRecord) or key.month > through_month:
                continue
            if sync:
                synced = self.sync_month(key.plugin, key.user_id, key.month)
            else:
                rec = find(UserMonthRecord, UserMonthRecord.key(key.plugin, key.user_id, LIVE, key.month))
                synced = _due(rec) if rec is not None else None
                if synced is not None:
                    synced = DueCharge(synced.user_id, synced.plugin, synced.month, synced.charged_micros,
                                       synced.charged_micros, synced.invoiced_micros)
            if synced is not None and synced.due_micros > 0:
                found.append(synced)
        return sorted(found, key=lambda d: (d.user_id, d.plugin, d.month))

    def take(self, plugin: str, user: str, month: str, from_micros: int, to_micros: int) -> None:
        """An invoice takes the month's charges from ``from`` to ``to`` (idempotent: done when it
        finds them taken already; a :class:`ConflictError` if another invoice took them)."""
        rec = UserMonthRecord(*UserMonthRecord.key(plugin, user, LIVE, month))
        try:
            rec.update(actions=[UserMonthRecord.invoiced_micros.set(to_micros)],
                       condition=(UserMonthRecord.invoiced_micros.does_not_exist() if from_micros == 0
                                  else UserMonthRecord.invoiced_micros == from_micros))
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
            current = find(UserMonthRecord, rec.key(plugin, user, LIVE, month))
            if current is None or int(current.invoiced_micros or 0) < to_micros:
                raise ConflictError(f"the charges of {user} on {plugin} in {month} moved under the invoice",
                                    code="charges_moved") from None
        self._settle(plugin, user, month)

    def _settle(self, plugin: str, user: str, month: str) -> None:
        """No longer due once all its charges are rated and invoiced (on its version: a fold since keeps it)."""
        rec = find(UserMonthRecord, UserMonthRecord.key(plugin, user, LIVE, month))
        if rec is None or rec.due is None or not (
                rec.charged_micros == int(rec.rated_micros or 0) == int(rec.invoiced_micros or 0)):
            return
        try:
            rec.update(actions=[UserMonthRecord.due.remove(), UserMonthRecord.due_key.remove()],
                       condition=UserMonthRecord.version == int(rec.version))
        except UpdateError as exc:
            if not condition_failed(exc):
                raise
