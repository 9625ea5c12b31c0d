"""In-memory marketplace search index, kept fresh from the ``listing`` GSI.

Why not query DynamoDB per search: full-text, multi-filter, multi-sort search over the
whole catalog would need a Scan per request. Instead every container keeps the listed
plugins in memory and pulls only what changed since its last look (every plugin write
stamps ``listing_ts``). Deltas are re-read with an overlap window, which covers GSI
propagation delay and clock skew between writers; re-applying a plugin is idempotent.

Searches read an immutable snapshot and never wait for DynamoDB, except the very first
one in a container (cold load) and the first after this container wrote to the catalog
(so a writer sees its own change). Other refreshes run on a background thread and swap
in a new snapshot when done.
"""
from __future__ import annotations

import bisect
import gc
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.catalog.model import Plugin

logger = logging.getLogger(__name__)

SORTS: dict[str, Callable[[Plugin], tuple]] = {
    "popular": lambda p: (-p.install_count, p.name),
    "trending": lambda p: (-p.calls_7d, -p.install_count, p.name),
    "rating": lambda p: (-p.rating_avg_x100, -p.rating_count, p.name),
    "newest": lambda p: (-(p.published_at.timestamp() if p.published_at else 0), p.name),
    "price": lambda p: (p.per_call_price_micros, p.name),
    "name": lambda p: (p.name,),
}
_WORD = re.compile(r"[a-z0-9]+")
_SORT_SMALL_SETS = 500  # below this, sorting the matches beats filtering the full order
_EMPTY: frozenset[str] = frozenset()


class ListingSource(Protocol):
    def listing_changes(self, since_ms: int) -> Iterable[Plugin]: ...


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def terms_of(plugin: Plugin) -> frozenset[str]:
    return frozenset(words(" ".join((plugin.name, plugin.display_name, plugin.description,
                                     plugin.category, plugin.author_name, *plugin.tags))))


def facets_of(plugin: Plugin) -> frozenset[str]:
    return frozenset((f"category:{plugin.category}", f"tier:{plugin.tier}",
                      *(f"tag:{t}" for t in plugin.tags)))


@dataclass(frozen=True)
class _Snapshot:
    plugins: dict[str, Plugin]
    keys: dict[str, frozenset[str]]  # plugin name -> its terms and facets
    postings: dict[str, frozenset[str]]  # term or facet -> plugin names
    sorted_terms: list[str]
    orders: dict[str, list[str]]  # per sort: names in order ...
    order_keys: dict[str, list[tuple]]  # ... and their sort keys, for bisecting

    @classmethod
    def empty(cls) -> _Snapshot:
        return cls({}, {}, {}, [], {s: [] for s in SORTS}, {s: [] for s in SORTS})

    def with_changes(self, changes: Iterable[Plugin]) -> _Snapshot | None:
        """A new snapshot with ``changes`` applied, or None when nothing differs. Copies
        are shallow and orders are patched in place by bisection, so a refresh costs
        O(catalog) memory copies plus O(changes) work, never a full re-index."""
        plugins, keys, postings = dict(self.plugins), dict(self.keys), dict(self.postings)
        orders = {s: list(v) for s, v in self.orders.items()}
        order_keys = {s: list(v) for s, v in self.order_keys.items()}
        touched: dict[str, set[str]] = {}

        def posting(key: str) -> set[str]:
            if key not in touched:
                touched[key] = set(postings.get(key, _EMPTY))
            return touched[key]

        changed = False
        for plugin in changes:
            current = plugins.get(plugin.name)
            if current == plugin or (current is None and not plugin.listed):
                continue
            changed = True
            if current is not None:
                del plugins[plugin.name]
                for key in keys.pop(plugin.name):
                    posting(key).discard(plugin.name)
                for sort, rank in SORTS.items():
                    at = bisect.bisect_left(order_keys[sort], rank(current))
                    del order_keys[sort][at], orders[sort][at]
            if plugin.listed:
                plugins[plugin.name] = plugin
                keys[plugin.name] = terms_of(plugin) | facets_of(plugin)
                for key in keys[plugin.name]:
                    posting(key).add(plugin.name)
                for sort, rank in SORTS.items():
                    key_ = rank(plugin)
                    at = bisect.bisect_left(order_keys[sort], key_)
                    order_keys[sort].insert(at, key_)
                    orders[sort].insert(at, plugin.name)
        if not changed:
            return None
        new_terms = False
        for key, names in touched.items():
            if names:
                new_terms |= key not in postings
                postings[key] = frozenset(names)
            else:
                new_terms = True
                postings.pop(key, None)
        sorted_terms = sorted(k for k in postings if ":" not in k) if new_terms else self.sorted_terms
        return _Snapshot(plugins, keys, postings, sorted_terms, orders, order_keys)


@dataclass(frozen=True)
class SearchResult:
    plugins: list[Plugin]
    total: int


class CatalogIndex:
    def __init__(self, source: ListingSource, *, refresh_seconds: float = 1.0,
                 overlap_ms: int = 5_000, background: bool = True) -> None:
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._overlap_ms = overlap_ms
        self._background = background
        self._snapshot = _Snapshot.empty()
        self._refresh_lock = threading.Lock()
        self._loaded = False
        self._stale = True  # this container wrote: refresh before the next answer
        self._since_ms = 0
        self._checked_at = float("-inf")
        self._worker: threading.Thread | None = None

    # --- freshness -------------------------------------------------------
    def invalidate(self) -> None:
        self._stale = True

    def _refresh(self) -> None:
        with self._refresh_lock:
            self._stale = False
            started = time.monotonic()
            started_ms = time.time_ns() // 1_000_000
            since = max(0, self._since_ms - self._overlap_ms) if self._loaded else 0
            changes = list(self._source.listing_changes(since))
            self._since_ms = started_ms
            updated = self._snapshot.with_changes(changes)
            if updated is not None:
                self._snapshot = updated
            if not self._loaded:
                # The cold load creates most objects this container will keep. Moving them
                # out of the collector's generations stops every later full collection from
                # walking them (tens of ms with 10,000 plugins; it was the p99 tail).
                gc.freeze()
            self._loaded = True
            self._checked_at = started

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception:  # noqa: BLE001 - keep serving the last snapshot; retry next interval
            logger.exception("catalog index refresh failed")
            self._checked_at = time.monotonic()

    def ensure_fresh(self) -> None:
        due = time.monotonic() - self._checked_at >= self._refresh_seconds
        if not self._loaded or self._stale or (due and not self._background):
            self._refresh()
        elif due and (self._worker is None or not self._worker.is_alive()):
            self._checked_at = time.monotonic()  # one refresh in flight at a time
            self._worker = threading.Thread(target=self._refresh_in_background, daemon=True,
                                            name="catalog-index-refresh")
            self._worker.start()

    # --- queries ---------------------------------------------------------
    @staticmethod
    def _prefix_matches(snap: _Snapshot, term: str) -> frozenset[str] | set[str]:
        """Plugins with a word starting with ``term`` (prefix search: 'pay' finds 'payments')."""
        start = bisect.bisect_left(snap.sorted_terms, term)
        end = bisect.bisect_left(snap.sorted_terms, term + "\x7f", lo=start)
        if end - start == 1:
            return snap.postings[snap.sorted_terms[start]]
        found: set[str] = set()
        for token in snap.sorted_terms[start:end]:
            found |= snap.postings[token]
        return found

    def search(self, *, q: str | None = None, category: str | None = None,
               tags: Iterable[str] = (), tier: str | None = None, sort: str = "popular",
               offset: int = 0, limit: int = 20) -> SearchResult:
        self.ensure_fresh()
        snap = self._snapshot
        candidates: frozenset[str] | set[str] | None = None
        facets = [f"category:{category}"] if category else []
        facets += [f"tier:{tier}"] if tier else []
        facets += [f"tag:{t}" for t in tags]
        matches: list[frozenset[str] | set[str]] = [snap.postings.get(f, _EMPTY) for f in facets]
        matches += [self._prefix_matches(snap, term) for term in words(q or "")]
        for found in sorted(matches, key=len):
            candidates = found if candidates is None else candidates & found
        if candidates is None:
            ordered = snap.orders[sort]
        elif len(candidates) <= _SORT_SMALL_SETS:
            rank = SORTS[sort]
            ordered = sorted(candidates, key=lambda name: rank(snap.plugins[name]))
        else:
            ordered = [n for n in snap.orders[sort] if n in candidates]
        return SearchResult(plugins=[snap.plugins[n] for n in ordered[offset:offset + limit]],
                            total=len(ordered))

    def suggest(self, prefix: str, limit: int = 8) -> list[Plugin]:
        """Most popular plugins matching every word typed (the last one as a prefix)."""
        return self.search(q=prefix, limit=limit).plugins if words(prefix) else []

    def categories(self) -> dict[str, int]:
        self.ensure_fresh()
        postings = self._snapshot.postings
        return {key.split(":", 1)[1]: len(names) for key, names in sorted(postings.items())
                if key.startswith("category:")}
