"""Conditional writes of the payouts context: each money movement once, with its ledger entry."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core.dynamo import condition_failed, failed_conditions, find, run_transaction
from chalicelib.payouts.plan import MICROS_PER_CENT, Credit, Settlement
from chalicelib.payouts.records import (BALANCES, OPEN, AccountRecord, BalanceRecord, CarryRecord, LedgerRecord,
                                        PayoutRecord, PayoutsTable, SettlementRecord)


def _once(build: Any) -> bool:
    """Run a transaction whose conditions make it apply at most once; False if it already had."""
    try:
        run_transaction(PayoutsTable, build)
        return True
    except TransactWriteError as exc:
        if any(failed_conditions(exc)):
            return False
        raise


def _credit_balance(tx: TransactWrite, developer: str, amount_micros: int, counter: Any) -> None:
    tx.update(BalanceRecord(*BalanceRecord.key(developer)),
              actions=[BalanceRecord.kind.set(BalanceRecord),  # update-created items need their kind too
                       BalanceRecord.developer_id.set(developer), BalanceRecord.listing.set(BALANCES),
                       BalanceRecord.balance_micros.add(amount_micros), counter.add(amount_micros)])


class PayoutRepository:
    # --- reads ---------------------------------------------------------------------------------
    @staticmethod
    def account(developer: str) -> AccountRecord | None:
        return find(AccountRecord, AccountRecord.key(developer))

    @staticmethod
    def balance(developer: str) -> BalanceRecord:
        return (find(BalanceRecord, BalanceRecord.key(developer))
                or BalanceRecord(*BalanceRecord.key(developer), developer_id=developer))

    @staticmethod
    def balances() -> Iterator[BalanceRecord]:
        for rec in PayoutsTable.listing_index.query(BALANCES):
            if isinstance(rec, BalanceRecord):
                yield rec

    @staticmethod
    def open_payouts() -> Iterator[PayoutRecord]:
        for rec in PayoutsTable.listing_index.query(OPEN):
            if isinstance(rec, PayoutRecord):
                yield PayoutRecord.get(rec.pk, rec.sk, consistent_read=True)

    @staticmethod
    def settled(plugin: str, period: str) -> int:
        record = find(SettlementRecord, SettlementRecord.key(plugin, period))
        return int(record.settled_micros) if record else 0

    @staticmethod
    def carry(plugin: str) -> int:
        record = find(CarryRecord, CarryRecord.key(plugin))
        return int(record.carry) if record else 0

    @staticmethod
    def has_entry(developer: str, ref: str) -> bool:
        return find(LedgerRecord, LedgerRecord.key(developer, ref), consistent=False) is not None

    @staticmethod
    def payout(developer: str, period: str) -> PayoutRecord | None:
        return find(PayoutRecord, PayoutRecord.key(developer, period))

    @staticmethod
    def payouts_of(developer: str) -> list[PayoutRecord]:
        return list(PayoutRecord.query(f"DEV#{developer}", PayoutRecord.sk.startswith("PO#"), scan_index_forward=False))

    @staticmethod
    def payouts_in(period: str) -> list[PayoutRecord]:
        return [r for r in PayoutsTable.period_index.query(period) if isinstance(r, PayoutRecord)]

    # --- money movements -------------------------------------------------------------------------
    @staticmethod
    def settle(s: Settlement, now: datetime) -> bool:
        before = s.settled_to - s.revenue_micros

        def build(tx: TransactWrite) -> None:
            tx.update(SettlementRecord(*SettlementRecord.key(s.plugin, s.period)),
                      actions=[SettlementRecord.kind.set(SettlementRecord), SettlementRecord.plugin.set(s.plugin), SettlementRecord.settled_micros.set(s.settled_to),
                               SettlementRecord.developer_micros.add(s.developer_micros),
                               SettlementRecord.platform_micros.add(s.platform_micros)],
                      condition=(SettlementRecord.settled_micros.does_not_exist() if before == 0
                                 else SettlementRecord.settled_micros == before))
            tx.update(CarryRecord(*CarryRecord.key(s.plugin)),
                      actions=[CarryRecord.kind.set(CarryRecord), CarryRecord.plugin.set(s.plugin), CarryRecord.carry.set(s.carry_out)],
                      condition=(CarryRecord.carry.does_not_exist() | (CarryRecord.carry == s.carry_in)))
            _credit_balance(tx, s.developer, s.developer_micros, BalanceRecord.earned_micros)
            tx.save(LedgerRecord(*LedgerRecord.key(s.developer, f"E#{s.period}#{s.plugin}#{s.settled_to}"),
                                 developer_id=s.developer, entry="earning", amount_micros=s.developer_micros,
                                 period=s.period, plugin=s.plugin, created_at=now,
                                 note=f"{s.revenue_micros} revenue, {s.platform_micros} platform"),
                    condition=LedgerRecord.pk.does_not_exist())

        return _once(build)

    @staticmethod
    def credit(c: Credit, period: str, now: datetime) -> bool:
        def build(tx: TransactWrite) -> None:
            tx.save(LedgerRecord(*LedgerRecord.key(c.developer, f"C#{c.kind}#{c.ref}"), developer_id=c.developer,
                                 entry=c.kind, amount_micros=c.amount_micros, period=period, note=c.ref,
                                 created_at=now),
                    condition=LedgerRecord.pk.does_not_exist())
            _credit_balance(tx, c.developer, c.amount_micros, BalanceRecord.bonus_micros)

        return _once(build)

    @staticmethod
    def reserve(record: PayoutRecord, version: int) -> bool:
        """Create a money-moving payout and set its amount aside, unless one exists for the period."""
        amount = int(record.amount_cents) * MICROS_PER_CENT

        def build(tx: TransactWrite) -> None:
            tx.save(record, condition=PayoutRecord.pk.does_not_exist()
                    | PayoutRecord.status.is_in("held", "below_minimum"))
            tx.update(BalanceRecord(*BalanceRecord.key(record.developer_id)),
                      actions=[BalanceRecord.reserved_micros.add(amount), BalanceRecord.version.set(version + 1)],
                      condition=(BalanceRecord.version == version) if version else
                      (BalanceRecord.version.does_not_exist() | (BalanceRecord.version == 0)))

        return _once(build)

    @staticmethod
    def note(record: PayoutRecord) -> None:
        """A payout that moves no money (held, below the minimum): replaceable by a later run."""
        try:
            record.save(condition=PayoutRecord.pk.does_not_exist() | PayoutRecord.status.is_in("held", "below_minimum"))
        except PutError as exc:
            if not condition_failed(exc):
                raise  # otherwise a money-moving payout is already there: keep it

    @staticmethod
    def complete(record: PayoutRecord, now: datetime, *, transfer_id: str | None = None,
                 reference: str | None = None, paid_by: str | None = None) -> bool:
        amount = int(record.amount_cents) * MICROS_PER_CENT

        def build(tx: TransactWrite) -> None:
            actions: list[Any] = [PayoutRecord.status.set("paid"), PayoutRecord.listing.remove(), PayoutRecord.paid_at.set(now),
                       PayoutRecord.last_error.remove()]
            if transfer_id:
                actions.append(PayoutRecord.transfer_id.set(transfer_id))
            if reference:
                actions.append(PayoutRecord.reference.set(reference))
            if paid_by:
                actions.append(PayoutRecord.paid_by.set(paid_by))
            tx.update(PayoutRecord(record.pk, record.sk), actions=actions,
                      condition=PayoutRecord.status.is_in("pending", "manual"))
            tx.update(BalanceRecord(*BalanceRecord.key(record.developer_id)),
                      actions=[BalanceRecord.balance_micros.add(-amount), BalanceRecord.reserved_micros.add(-amount),
                               BalanceRecord.paid_cents.add(int(record.amount_cents))])
            tx.save(LedgerRecord(*LedgerRecord.key(record.developer_id, f"P#{record.period}"),
                                 developer_id=record.developer_id, entry="payout", amount_micros=-amount,
                                 period=record.period, note=transfer_id or reference, created_at=now),
                    condition=LedgerRecord.pk.does_not_exist())

        return _once(build)

    @staticmethod
    def failed(record: PayoutRecord, error: str) -> None:
        record.update(actions=[PayoutRecord.attempts.add(1), PayoutRecord.last_error.set(error[:500])])
