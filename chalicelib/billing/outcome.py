"""What handling a Stripe event does: billing's items (in the event's transaction) and the rest."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pynamodb.transactions import TransactWrite

Effect = Callable[[TransactWrite], None]  # one part of an event's transaction
Action = Callable[[], None]


@dataclass
class Outcome:
    effects: list[Effect] = field(default_factory=list)  # billing's items, with the event's marker
    always: list[Action] = field(default_factory=list)  # idempotent (ledger, Stripe with keys): every delivery
    once: list[Action] = field(default_factory=list)  # the first delivery only (licences, caches)
