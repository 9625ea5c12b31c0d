"""Conditional writes of the payouts context: a payout reserved once, claimed by one run at a time."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.core.dynamo import condition_failed, failed_conditions, find, run_transaction
from chalicelib.payouts.records import OPEN, AccountRecord, InflightRecord, PayoutRecord, PayoutsTable


class PayoutRepository:
    # --- reads ---------------------------------------------------------------------------------
    @staticmethod
    def account(developer: str) -> AccountRecord | None:
        return find(AccountRecord, AccountRecord.key(developer))

    @staticmethod
    def open_payouts() -> Iterator[PayoutRecord]:
        for rec in PayoutsTable.listing_index.query(OPEN):
            if isinstance(rec, PayoutRecord):
                found = find(PayoutRecord, (rec.pk, rec.sk))
                if found is not None and found.listing == OPEN:
                    yield found

    @staticmethod
    def inflight(developer: str) -> InflightRecord | None:
        return find(InflightRecord, InflightRecord.key(developer))

    @staticmethod
    def payout(developer: str, period: str) -> PayoutRecord | None:
        return find(PayoutRecord, PayoutRecord.key(developer, period))

    @staticmethod
    def payouts_of(developer: str) -> list[PayoutRecord]:
        return list(PayoutRecord.query(f"DEV#{developer}", PayoutRecord.sk.startswith("PO#"), scan_index_forward=False,
                                       consistent_read=True))

    @staticmethod
    def payouts_in(period: str) -> list[PayoutRecord]:
        return [r for r in PayoutsTable.period_index.query(period) if isinstance(r, PayoutRecord)]

    def paid_cents(self, developer: str) -> int:
        """Everything paid to a developer, ever (what the ledger's payouts must add up to)."""
        return sum(int(p.amount_cents) for p in self.payouts_of(developer) if p.status == "paid")

    # --- money movements -------------------------------------------------------------------------
    @staticmethod
    def reserve(record: PayoutRecord) -> bool:
        """Create a money-moving payout, unless one exists for the period or another is in flight."""

        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=PayoutRecord.pk.does_not_exist()
                    | PayoutRecord.status.is_in("held", "below_minimum"))
            # one payout in flight per developer: what it pays is set aside until it is paid
            tx.save(InflightRecord(*InflightRecord.key(record.developer_id), period=record.period),
                    condition=InflightRecord.pk.does_not_exist())

        return _transact_unless_refused(build)

    @staticmethod
    def note(record: PayoutRecord) -> None:
        """A payout that moves no money (held, below the minimum): replaceable by a later run."""
        try:
            record.save(condition=PayoutRecord.pk.does_not_exist() | PayoutRecord.status.is_in("held", "below_minimum"))
        except PutError as exc:
            if not condition_failed(exc):
                raise  # otherwise a money-moving payout is already there: keep it

    @staticmethod
    def claim(record: PayoutRecord, now: datetime, lease: timedelta) -> PayoutRecord | None:
        """This run makes the payout's next transfer attempt: the attempt number is counted before
        the call (its idempotency key), and no other run may try until the lease ends."""
        attempts = int(record.attempts or 0)
        try:
            record.update(actions=[PayoutRecord.attempts.set(attempts + 1), PayoutRecord.claimed_until.set(now + lease)],
                          condition=(PayoutRecord.attempts == attempts if attempts else
                                     (PayoutRecord.attempts.does_not_exist() | (PayoutRecord.attempts == 0)))
                          & (PayoutRecord.claimed_until.does_not_exist() | (PayoutRecord.claimed_until < now))
                          & (PayoutRecord.status == "pending"))
        except UpdateError as exc:
            if condition_failed(exc):
                return None
            raise
        return record

    @staticmethod
    def failed(record: PayoutRecord, error: str) -> None:
        record.update(actions=[PayoutRecord.last_error.set(error[:500]), PayoutRecord.claimed_until.remove()])

    @staticmethod
    def complete(record: PayoutRecord, now: datetime, *, transfer_id: str | None = None,
                 reference: str | None = None, paid_by: str | None = None) -> bool:
        def build(tx: TransactWrite) -> None:
            actions: list[Any] = [PayoutRecord.status.set("paid"), PayoutRecord.listing.remove(),
                                  PayoutRecord.paid_at.set(now), PayoutRecord.last_error.remove(),
                                  PayoutRecord.claimed_until.remove()]
            if transfer_id:
                actions.append(PayoutRecord.transfer_id.set(transfer_id))
            if reference:
                actions.append(PayoutRecord.reference.set(reference))
            if paid_by:
                actions.append(PayoutRecord.paid_by.set(paid_by))
            tx.update(PayoutRecord(record.pk, record.sk), actions=actions,
                      condition=PayoutRecord.status.is_in("pending", "manual"))
            tx.delete(InflightRecord(*InflightRecord.key(record.developer_id)),
                      condition=InflightRecord.pk.does_not_exist() | (InflightRecord.period == record.period))

        return _transact_unless_refused(build)


def _transact_unless_refused(build: Callable[[TransactWrite], None]) -> bool:
    """Run ``build``'s transaction; False when one of its conditions refused it."""
    try:
        run_transaction(PayoutsTable, build)
        return True
    except TransactWriteError as exc:
        if any(failed_conditions(exc)):
            return False
        raise
