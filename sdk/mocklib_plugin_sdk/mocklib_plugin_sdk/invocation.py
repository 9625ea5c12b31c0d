"""The state of one running invocation, reachable from anywhere in the plugin.

It lives in a ContextVar rather than on the plugin object because one plugin
instance serves many users (warm Lambda, threaded serve mode) and storage,
the outbox and the deterministic clock must follow the *current* caller.
"""
from __future__ import annotations

import contextvars
import hashlib
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, Protocol

from .errors import NoActiveInvocationError


class Entropy(Protocol):
    def choose(self, alphabet: str, length: int) -> str: ...

    def now(self) -> datetime: ...


class SystemEntropy:
    """Real randomness (``secrets``) and the wall clock."""

    def choose(self, alphabet: str, length: int) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(length))

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class DeterministicEntropy:
    """Seeded RNG plus a clock that starts at ``epoch`` and ticks 1 s per read.

    A lock keeps sequences reproducible even if one user's calls overlap.
    """

    def __init__(self, seed_material: str, epoch: datetime) -> None:
        digest = hashlib.sha256(seed_material.encode("utf-8")).digest()
        self._rng = random.Random(int.from_bytes(digest, "big"))
        self._epoch = epoch
        self._ticks = 0
        self._lock = threading.Lock()

    def choose(self, alphabet: str, length: int) -> str:
        with self._lock:
            return "".join(self._rng.choice(alphabet) for _ in range(length))

    def now(self) -> datetime:
        with self._lock:
            value = self._epoch + timedelta(seconds=self._ticks)
            self._ticks += 1
            return value


_deterministic_scopes: dict[tuple[str, str, str, str, datetime], DeterministicEntropy] = {}
_scopes_lock = threading.Lock()


def deterministic_entropy(seed: str, plugin: str, mode: str, user_id: str, epoch: datetime) -> DeterministicEntropy:
    """One sequence per (plugin, mode, user), so users' interleaving never matters."""
    key = (seed, plugin, mode, user_id, epoch)
    with _scopes_lock:
        entropy = _deterministic_scopes.get(key)
        if entropy is None:
            entropy = DeterministicEntropy(f"{seed}|{plugin}|{mode}|{user_id}", epoch)
            _deterministic_scopes[key] = entropy
        return entropy


def reset_deterministic_state() -> None:
    """Forget every deterministic sequence, as a fresh process would."""
    with _scopes_lock:
        _deterministic_scopes.clear()


@dataclass(frozen=True)
class LicenceInfo:
    tier: str
    features: frozenset[str]

    @classmethod
    def from_event(cls, value: Any) -> LicenceInfo | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ValueError("licence must be an object or null")
        return cls(tier=str(value.get("tier", "")), features=frozenset(str(f) for f in value.get("features") or []))


@dataclass
class Invocation:
    plugin: str
    version: str
    user_id: str
    sandbox: bool
    request_id: str = ""
    authenticated: bool = True
    config: Mapping[str, Any] = field(default_factory=dict)
    licence: LicenceInfo | None = None
    deadline_ms: int | None = None
    entropy: Entropy = field(default_factory=SystemEntropy)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "sandbox" if self.sandbox else "live"

    def remaining_ms(self) -> int | None:
        if self.deadline_ms is None:
            return None
        return max(0, self.deadline_ms - int(time.time() * 1000))


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("mf_plugin_invocation", default=None)


def current_invocation() -> Invocation | None:
    return _current.get()


def require_invocation(what: str) -> Invocation:
    invocation = _current.get()
    if invocation is None:
        raise NoActiveInvocationError(
            f"{what} is scoped to the calling user; use it inside a request or lifecycle handler, "
            "not in initialize() or at import time")
    return invocation


def activate(invocation: Invocation) -> contextvars.Token[Invocation | None]:
    return _current.set(invocation)


def deactivate(token: contextvars.Token[Invocation | None]) -> None:
    _current.reset(token)
