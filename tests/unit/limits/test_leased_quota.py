"""A monthly volume admitted from leases: never past the limit, one write per batch."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from chalicelib.limits.quotas import LeasedQuota


class CounterStore:
    """The month's shared counter as DynamoDB's conditional ADD would keep it."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str, str], int] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def lease(self, user_id: str, plugin: str, month: str, wanted: int, limit: int) -> int:
        with self._lock:
            self.writes += 1
            key = (user_id, plugin, month)
            granted = max(0, min(wanted, limit - self.used.get(key, 0)))
            self.used[key] = self.used.get(key, 0) + granted
            return granted


def test_a_small_limit_is_exact_across_containers() -> None:
    store = CounterStore()
    containers = [LeasedQuota(store), LeasedQuota(store)]  # type: ignore[arg-type]

    admitted = [containers[n % 2].admit("usr_1", "sandbox#echo", "2026-12", 5) for n in range(8)]

    assert admitted == [True] * 5 + [False] * 3


def test_a_large_limit_costs_one_write_per_batch_and_is_never_passed() -> None:
    store = CounterStore()
    containers = [LeasedQuota(store) for _ in range(4)]  # type: ignore[arg-type]

    def client(n: int) -> int:
        return sum(containers[n % 4].admit("usr_1", "sandbox#stripe", "2026-12", 10_000) for _ in range(3_000))

    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = sum(pool.map(client, range(8)))

    assert 10_000 - 4 * 10 <= admitted <= 10_000  # unused leases only under-admit, a batch per container
    assert store.writes < 10_000 // 10 + 50


def test_months_and_users_have_their_own_leases() -> None:
    store = CounterStore()
    quota = LeasedQuota(store)  # type: ignore[arg-type]

    assert quota.admit("usr_1", "sandbox#echo", "2026-12", 1)
    assert not quota.admit("usr_1", "sandbox#echo", "2026-12", 1)
    assert quota.admit("usr_1", "sandbox#echo", "2027-01", 1)
    assert quota.admit("usr_2", "sandbox#echo", "2026-12", 1)
