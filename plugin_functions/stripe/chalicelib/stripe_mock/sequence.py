"""Creation order without a shared counter.

Lists are newest first by ``created`` (seconds, and a test clock's time for its objects), ties
broken by creation order. That order used to come from a per-user counter in storage, which
cost every create a read (and two workers could hand out the same number). ``creation_seq``
needs no storage: a millisecond wall-clock tick, kept strictly increasing in this process
(several objects a millisecond, or a clock stepped back), with random low bits so workers
creating in the same millisecond do not collide. Workers may disagree on order within about a
millisecond; lists break any tie by id, so pages stay stable whatever the values are.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

TICKS_PER_MS = 256  # objects one process can create in a millisecond before ticks run ahead of the clock
RANDOM_BITS = 12

_lock = threading.Lock()
_last_tick = 0


def creation_seq() -> int:
    """A number larger than any this process returned before, and than any made a millisecond
    earlier elsewhere. Fits in 63 bits until the year 2248; values counted by the old per-user
    counter (1, 2, ...) sort before all of them, as those objects are older."""
    global _last_tick
    with _lock:
        _last_tick = max(time.time_ns() // 1_000_000 * TICKS_PER_MS, _last_tick + 1)
        tick = _last_tick
    return (tick << RANDOM_BITS) | secrets.randbits(RANDOM_BITS)


def list_order(doc: Mapping[str, Any]) -> tuple[int, int, str]:
    """Where ``doc`` sorts in a list (lists read it descending): ``created``, then creation
    order, then the id, so no two objects tie and a cursor names one place."""
    return int(doc.get("created", 0)), int(doc.get("_seq", 0)), str(doc.get("id", ""))
