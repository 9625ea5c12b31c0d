"""The revenue table's port: one contract, run against the in-memory fake, the DynamoDB adapter on
moto and the DynamoDB adapter on DynamoDB Local, so the fake cannot drift."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.revenue import ledger
from chalicelib.revenue.memory import InMemoryLedgerRepository
from chalicelib.revenue.repository import DynamoLedgerRepository

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "moto", "dynamodb-local"])
def repository(request):
    if request.param == "memory":
        return InMemoryLedgerRepository()
    request.getfixturevalue("container" if request.param == "moto" else "local_container")
    return DynamoLedgerRepository()


def test_a_posted_journal_moves_each_account_once_and_reads_back_as_posted(repository):
    paid = ledger.plan_payment("pi_1", "usr_1", "stripe", "dev_1", 9_900, 7_000, ledger.Referral("dev_2"), "subscription")
    assert repository.post(paid, NOW) == paid
    assert repository.get("payment:pi_1") == paid
    assert repository.get("payment:pi_2") is None
    assert repository.balance("stripe:cash") == 99_000_000
    assert repository.balance("dev:dev_1:payable") == -(69_300_000 + 4_950_000)
    assert repository.balance("dev:dev_2:payable") == -4_950_000
    assert repository.balance("platform:incentives") == 9_900_000
    assert repository.balance("user:nobody:unbilled") == 0
    (entry,) = repository.entries("dev:dev_2:payable")
    assert (entry.journal_id, entry.kind, entry.amount_micros, entry.posted_at) == ("payment:pi_1", "plan_payment",
                                                                                      -4_950_000, NOW)


def test_posting_a_journal_again_changes_nothing_and_returns_the_first(repository):
    first = ledger.rating("stripe", "usr_1", "2026-11", 0, 5_000)
    assert repository.post(first, NOW) == first
    assert repository.post(first, NOW + timedelta(hours=1)) == first  # a replay
    racer = ledger.rating("stripe", "usr_1", "2026-11", 0, 9_000)  # the same id, another amount: the first stands
    assert repository.post(racer, NOW) == first
    assert repository.balance("user:usr_1:unbilled") == 5_000 and len(repository.entries("accrued:stripe")) == 1


def test_balances_are_listed_per_group_and_entries_come_oldest_first(repository):
    for n in range(3):
        repository.post(ledger.payout("dev_1", f"2026-1{n}-01", 100 + n, None), NOW + timedelta(days=n))
    repository.post(ledger.bonus("dev_2", "milestone", "a:users-100", 7), NOW)
    assert repository.balances("dev-payable") == {"dev:dev_1:payable": 303 * 10_000, "dev:dev_2:payable": -7}
    assert repository.balances("stripe") == {"stripe:cash": -303 * 10_000}
    assert [e.journal_id for e in repository.entries("dev:dev_1:payable")] == [
        "payout:dev_1:2026-10-01", "payout:dev_1:2026-11-01", "payout:dev_1:2026-12-01"]
    assert sum(sum(repository.balances(g).values()) for g in ledger.GROUPS) == 0


def test_racing_posts_of_one_journal_apply_it_once(repository):
    journal = ledger.dispute_fee("dp_1", 1_500)
    results = []
    threads = [threading.Thread(target=lambda: results.append(repository.post(journal, NOW))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [journal] * 6
    assert repository.balance("platform:fees") == 15_000_000 and len(repository.entries("stripe:cash")) == 1
