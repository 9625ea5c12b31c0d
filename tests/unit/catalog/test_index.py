"""The search index is pure: fed from a fake listing source, no DynamoDB."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from chalicelib.catalog.index import CatalogIndex
from chalicelib.catalog.model import Plugin

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def plugin(name: str, **overrides) -> Plugin:
    base = dict(
        name=name, author_id="usr_dev", author_name="Dev", display_name=name.title(),
        description=f"{name} mock", category="payments", tags=("mock",), icon=None, status="active",
        status_reason=None, tier="standard", per_call_price_micros=1000, free_tier_calls=1000,
        revenue_share_bps=7000, latest_version="1.0.0", latest_by_major={"1": "1.0.0"}, max_version="1.0.0",
        install_count=0, rating_sum=0, rating_count=0, verified="listed", created_at=T0, published_at=T0,
        updated_at=T0)
    base.update(overrides)
    return Plugin(**base)


class FakeSource:
    def __init__(self, *plugins: Plugin) -> None:
        self.plugins = list(plugins)
        self.asked_since: list[int] = []

    def listing_changes(self, since_ms: int):
        self.asked_since.append(since_ms)
        return list(self.plugins)


def names(result) -> list[str]:
    return [p.name for p in result.plugins]


def test_prefix_terms_match_words_of_name_description_and_tags():
    index = CatalogIndex(FakeSource(plugin("stripe", description="Payments and billing"),
                                    plugin("twilio", description="SMS", tags=("sms", "voice"))))
    assert names(index.search(q="bill")) == ["stripe"]
    assert names(index.search(q="voi")) == ["twilio"]
    assert names(index.search(q="sms voi")) == ["twilio"]
    assert index.search(q="nothing-like-this").total == 0


def test_filters_combine_and_sorts_order_results():
    index = CatalogIndex(FakeSource(
        plugin("a", install_count=5, per_call_price_micros=5000, tier="premium"),
        plugin("b", install_count=9, category="devops", tags=("mock", "git")),
        plugin("c", install_count=1, rating_sum=9, rating_count=2, published_at=T0 + timedelta(days=3))))
    assert names(index.search(sort="popular")) == ["b", "a", "c"]
    assert names(index.search(sort="price")) == ["b", "c", "a"]
    assert names(index.search(sort="rating")) == ["c", "a", "b"]
    assert names(index.search(sort="newest"))[0] == "c"
    assert names(index.search(category="devops")) == ["b"]
    assert names(index.search(tags=["mock", "git"])) == ["b"]
    assert names(index.search(tier="premium")) == ["a"]


def test_pagination_reports_the_total_and_slices_in_order():
    index = CatalogIndex(FakeSource(*[plugin(f"p{i:02d}", install_count=i) for i in range(25)]))
    page = index.search(sort="popular", offset=20, limit=10)
    assert page.total == 25
    assert names(page) == ["p04", "p03", "p02", "p01", "p00"]


def test_unlisted_plugins_leave_the_index_when_they_change():
    source = FakeSource(plugin("a"), plugin("b"))
    index = CatalogIndex(source, refresh_seconds=0, background=False)
    assert index.search().total == 2
    source.plugins = [plugin("a", status="suspended")]
    assert names(index.search()) == ["b"]
    assert names(index.search(q="a")) == []


def test_refreshes_ask_only_for_changes_since_the_last_look_with_an_overlap():
    source = FakeSource(plugin("a"))
    index = CatalogIndex(source, refresh_seconds=0, overlap_ms=5000, background=False)
    before_ms = time.time_ns() // 1_000_000
    index.search()
    index.search()
    assert source.asked_since[0] == 0
    assert before_ms - 5000 <= source.asked_since[1] <= time.time_ns() // 1_000_000 - 5000


def test_background_refreshes_never_hold_up_a_search():
    class SlowSource(FakeSource):
        def listing_changes(self, since_ms: int):
            if self.asked_since:  # every refresh after the cold load takes a while
                time.sleep(0.3)
            return super().listing_changes(since_ms)

    source = SlowSource(plugin("a"))
    index = CatalogIndex(source, refresh_seconds=0)
    assert names(index.search()) == ["a"]
    source.plugins = [plugin("b")]
    began = time.monotonic()
    assert names(index.search()) == ["a"]  # served from the snapshot while the refresh runs
    assert time.monotonic() - began < 0.1
    index._worker.join()
    assert names(index.search()) == ["a", "b"]


def test_a_writer_sees_its_own_change_at_once():
    source = FakeSource(plugin("a"))
    index = CatalogIndex(source, refresh_seconds=3600)
    index.search()
    source.plugins = [plugin("b")]
    index.invalidate()
    assert names(index.search()) == ["a", "b"]


def test_a_changed_counter_reorders_without_duplicating_the_plugin():
    source = FakeSource(plugin("a", install_count=1), plugin("b", install_count=2))
    index = CatalogIndex(source, refresh_seconds=0, background=False)
    assert names(index.search()) == ["b", "a"]
    source.plugins = [replace(plugin("a"), install_count=3)]
    assert names(index.search()) == ["a", "b"]
    assert index.search(q="a").total == 1


def test_suggestions_and_category_counts():
    index = CatalogIndex(FakeSource(plugin("stripe", install_count=3), plugin("stride", category="devops")))
    assert [p.name for p in index.suggest("str")] == ["stripe", "stride"]
    assert index.categories() == {"devops": 1, "payments": 1}


def test_patching_a_snapshot_gives_the_same_answers_as_building_it_afresh():
    import random

    rng = random.Random(3)
    catalog = {f"p{i}": plugin(f"p{i}", install_count=rng.randrange(50), tags=(rng.choice("abc"),))
               for i in range(60)}
    source = FakeSource(*catalog.values())
    patched = CatalogIndex(source, refresh_seconds=0, background=False)
    patched.search()
    for _ in range(20):
        changes = []
        for name in rng.sample(sorted(catalog), 5):
            catalog[name] = replace(catalog[name], install_count=rng.randrange(50),
                                    status=rng.choice(["active", "active", "suspended"]),
                                    description=rng.choice(["alpha beta", "gamma", "beta delta"]))
            changes.append(catalog[name])
        source.plugins = changes
        fresh = CatalogIndex(FakeSource(*catalog.values()), background=False)
        for query in ({}, {"q": "beta"}, {"tags": ["a"], "sort": "price"}, {"q": "p1", "sort": "name"}):
            assert names(patched.search(**query, limit=100)) == names(fresh.search(**query, limit=100))
