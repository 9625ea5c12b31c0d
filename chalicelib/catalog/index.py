"""In-memory marketplace search index, kept fresh from the ``listing`` GSI.

Why not query DynamoDB per search: full-text, multi-filter, multi-sort search over the
whole catalog would need a Scan per request. Instead every container keeps the listed
plugins in memory and pulls only what changed since its last look (every plugin write
stamps ``listing_ts``). Deltas are re-read with an overlap window, which covers GSI
propagation delay and clock skew between writers; re-applying a plugin is idempotent.
"""
from __future__ import annotations

import bisect
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.catalog.model import Plugin

SORTS: dict[str, Callable[[Plugin], tuple]] = {
    "popular": lambda p: (-p.install_count, p.name),
    "rating": lambda p: (-p.rating_avg_x100, -p.rating_count, p.name),
    "newest": lambda p: (-(p.published_at.timestamp() if p.published_at else 0), p.name),
    "price": lambda p: (p.per_call_price_micros, p.name),
    "name": lambda p: (p.name,),
}
_WORD = re.compile(r"[a-z0-9]+")


class ListingSource(Protocol):
    def listing_changes(self, since_ms: int) -> Iterable[Plugin]: ...


def tokens_of(plugin: Plugin) -> frozenset[str]:
    text = " ".join((plugin.name, plugin.display_name, plugin.description, plugin.category,
                     plugin.author_name, *plugin.tags)).lower()
    return frozenset(_WORD.findall(text))


@dataclass(frozen=True)
class SearchResult:
    plugins: list[Plugin]
    total: int


class CatalogIndex:
    def __init__(self, source: ListingSource, *, refresh_seconds: float = 1.0,
                 overlap_ms: int = 5_000) -> None:
        self._source = source
        self._refresh_seconds = refresh_seconds
        self._overlap_ms = overlap_ms
        self._lock = threading.RLock()
        self._since_ms: int | None = None
        self._checked_at = float("-inf")
        self._plugins: dict[str, Plugin] = {}
        self._tokens: dict[str, frozenset[str]] = {}
        self._postings: dict[str, set[str]] = {}
        self._sorted_tokens: list[str] = []
        self._orders: dict[str, list[str]] = {}
        self._dirty = True

    # --- freshness -------------------------------------------------------
    def invalidate(self) -> None:
        """Look for changes on the next search (after this container wrote something)."""
        self._checked_at = float("-inf")

    def ensure_fresh(self) -> None:
        if time.monotonic() - self._checked_at < self._refresh_seconds:
            return
        with self._lock:
            if time.monotonic() - self._checked_at < self._refresh_seconds:
                return
            started_ms = time.time_ns() // 1_000_000
            since = 0 if self._since_ms is None else self._since_ms - self._overlap_ms
            for plugin in self._source.listing_changes(since):
                self._apply(plugin)
            self._since_ms = started_ms
            self._checked_at = time.monotonic()

    def _apply(self, plugin: Plugin) -> None:
        current = self._plugins.get(plugin.name)
        if current == plugin or (current is None and not plugin.listed):
            return
        self._dirty = True
        old_tokens = self._tokens.pop(plugin.name, frozenset())
        for token in old_tokens:
            names = self._postings.get(token)
            if names is not None:
                names.discard(plugin.name)
                if not names:
                    del self._postings[token]
        if not plugin.listed:
            self._plugins.pop(plugin.name, None)
            return
        self._plugins[plugin.name] = plugin
        tokens = tokens_of(plugin)
        self._tokens[plugin.name] = tokens
        for token in tokens:
            self._postings.setdefault(token, set()).add(plugin.name)

    def _rebuild_orders(self) -> None:
        if not self._dirty:
            return
        self._sorted_tokens = sorted(self._postings)
        plugins = list(self._plugins.values())
        self._orders = {sort: [p.name for p in sorted(plugins, key=key)] for sort, key in SORTS.items()}
        self._dirty = False

    # --- queries ---------------------------------------------------------
    def _matching(self, term: str) -> set[str]:
        """Names with a token starting with ``term`` (prefix search: 'pay' finds 'payments')."""
        start = bisect.bisect_left(self._sorted_tokens, term)
        found: set[str] = set()
        for token in self._sorted_tokens[start:]:
            if not token.startswith(term):
                break
            found |= self._postings[token]
        return found

    def search(self, *, q: str | None = None, category: str | None = None,
               tags: Iterable[str] = (), tier: str | None = None, sort: str = "popular",
               offset: int = 0, limit: int = 20) -> SearchResult:
        self.ensure_fresh()
        with self._lock:
            self._rebuild_orders()
            candidates: set[str] | None = None
            for term in _WORD.findall((q or "").lower()):
                matched = self._matching(term)
                candidates = matched if candidates is None else candidates & matched
            plugins = self._plugins
            ordered = self._orders[sort]
            if candidates is not None:
                ordered = [n for n in ordered if n in candidates]
            wanted_tags = set(tags)
            if category or tier or wanted_tags:
                ordered = [n for n in ordered
                           if (not category or plugins[n].category == category)
                           and (not tier or plugins[n].tier == tier)
                           and wanted_tags.issubset(plugins[n].tags)]
            page = [plugins[n] for n in ordered[offset:offset + limit]]
            return SearchResult(plugins=page, total=len(ordered))

    def suggest(self, prefix: str, limit: int = 8) -> list[Plugin]:
        """Most popular plugins whose words start with the last word typed."""
        terms = _WORD.findall(prefix.lower())
        if not terms:
            return []
        return self.search(q=" ".join(terms), limit=limit).plugins

    def categories(self) -> dict[str, int]:
        self.ensure_fresh()
        with self._lock:
            counts: dict[str, int] = {}
            for plugin in self._plugins.values():
                counts[plugin.category] = counts.get(plugin.category, 0) + 1
            return dict(sorted(counts.items()))
