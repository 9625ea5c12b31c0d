"""Marketplace search over 10,000 plugins: server time per request.

Loads N active plugins into DynamoDB Local, then answers GET /marketplace/plugins through
``app(event, context)`` with API-Gateway-shaped events (server time: routing, auth-free
view, index search, JSON), for a mix of queries. Two scenarios: a quiet catalog, and one
where install counts change all the time (each change makes the index pull a delta and
re-sort). Baseline in the same run: the same query answered by a DynamoDB Scan with a
filter, which is what the index exists to avoid.

    .venv/bin/python bench/search.py [--plugins 10000] [--requests 2000] [--no-write]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import local_backend, percentile, write_section  # noqa: E402
from devstack.apigw import LambdaContext, rest_event  # noqa: E402

TARGET_P99_MS = 20.0
QUERIES = [
    "/marketplace/plugins",
    "/marketplace/plugins?q=pay",
    "/marketplace/plugins?q=webhook%20sms&sort=rating",
    "/marketplace/plugins?category=payments&sort=price",
    "/marketplace/plugins?tags=mock,fast&sort=newest",
    "/marketplace/plugins?tier=premium&page=5&limit=100",
    "/marketplace/plugins?q=st&category=devops&limit=50",
]
WORDS = ("payments billing sms voice email metrics logs git issues storage cache queue search auth "
         "webhook invoice refund ledger token deploy trace alert feature flag events stream").split()
CATEGORIES = ("payments", "communication", "monitoring", "analytics", "storage", "databases",
              "authentication", "devops")


def load_catalog(count: int) -> None:
    from chalicelib.catalog.records import PluginRecord
    from chalicelib.catalog.repository import now_ms

    rng = random.Random(7)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with PluginRecord.batch_write() as batch:
        for i in range(count):
            name = f"plugin-{i:05d}"
            tier = rng.choice(("standard", "premium", "free"))
            published = t0 + timedelta(minutes=i)
            batch.save(PluginRecord(
                *PluginRecord.key(name), name=name, author_id=f"usr_dev{i % 200}", author_name=f"Dev {i % 200}",
                display_name=f"{rng.choice(WORDS).title()} {name}",
                description=" ".join(rng.choice(WORDS) for _ in range(25)),
                category=rng.choice(CATEGORIES), tags=sorted(set(rng.sample(WORDS + ["mock", "fast"], 4))),
                status="active", tier=tier, per_call_price_micros={"standard": 1000, "premium": 5000, "free": 0}[tier],
                free_tier_calls=1000, revenue_share_bps=7000, latest_version="1.0.0",
                latest_by_major={"1": "1.0.0"}, max_version="1.0.0", install_count=rng.randrange(10_000),
                rating_sum=rng.randrange(500), rating_count=rng.randrange(1, 120), verified="listed",
                created_at=published, published_at=published, updated_at=published,
                listing_ts=now_ms()))


def timed_requests(app, n: int, churn: bool) -> list[float]:
    from chalicelib.catalog.records import PluginRecord
    from chalicelib.catalog.repository import now_ms

    rng = random.Random(11)
    samples = []
    for i in range(n):
        if churn and i % 20 == 0:  # an install elsewhere: a counter moves, the index must notice
            name = f"plugin-{rng.randrange(1000):05d}"
            PluginRecord(*PluginRecord.key(name)).update(
                actions=[PluginRecord.install_count.add(1), PluginRecord.listing_ts.set(now_ms())])
        url = QUERIES[i % len(QUERIES)]
        event = rest_event("GET", url, "/marketplace/plugins")
        began = time.perf_counter()
        response = app(event, LambdaContext())
        samples.append((time.perf_counter() - began) * 1000)
        assert response["statusCode"] == 200, response
    return samples


def scan_baseline(runs: int) -> list[float]:
    """What a table-scanning search costs: a filtered Scan of the whole catalog."""
    from chalicelib.catalog.records import PluginRecord

    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        rows = [r for r in PluginRecord.scan(PluginRecord.category == "payments")]
        rows.sort(key=lambda r: r.per_call_price_micros)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--plugins", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    with local_backend():
        began = time.perf_counter()
        load_catalog(args.plugins)
        print(f"loaded {args.plugins} plugins in {time.perf_counter() - began:.1f}s")

        from app import app

        began = time.perf_counter()
        app(rest_event("GET", "/marketplace/plugins", "/marketplace/plugins"), LambdaContext())
        cold_ms = (time.perf_counter() - began) * 1000
        # Warm-up past the index's 5 s overlap window, so the bulk load above is history.
        warm_until = time.monotonic() + 6
        while time.monotonic() < warm_until:
            timed_requests(app, 50, churn=False)
        quiet = timed_requests(app, args.requests, churn=False)
        churn = timed_requests(app, args.requests, churn=True)
        scan = scan_baseline(5)

    rows = []
    for label, samples in (("quiet catalog", quiet), ("installs changing (1 write / 20 searches)", churn)):
        rows.append(f"| {label} | {len(samples)} | {percentile(samples, 50):.2f} | "
                    f"{percentile(samples, 99):.2f} | {max(samples):.2f} |")
    scan_p50 = percentile(scan, 50)
    quiet_p50 = percentile(quiet, 50)
    body = f"""Command: `.venv/bin/python bench/search.py --plugins {args.plugins} --requests {args.requests}`

Server time of `GET /marketplace/plugins` through `app(event, context)` (API Gateway event,
Chalice routing, index search, JSON) with {args.plugins:,} active plugins in DynamoDB Local,
cycling through {len(QUERIES)} query shapes (full text prefix terms, category, tags, tier,
every sort, deep pages, limit 100). Target: p99 <= {TARGET_P99_MS:.0f} ms.

| scenario | requests | p50 ms | p99 ms | max ms |
|---|---|---|---|---|
{chr(10).join(rows)}

- First search of a cold container (loads the whole listing from the `listing` GSI of
  DynamoDB Local, ~10 MB): {cold_ms:.0f} ms; measurements start after a 6 s warm-up.
- Baseline, same run: one filtered `Scan` of the catalog (category + sort by price) takes
  p50 {scan_p50:.0f} ms, **{scan_p50 / quiet_p50:.0f}x** the indexed search p50.
- The index never scans per request: it pulls only plugins whose `listing_ts` changed since
  its last look (at most once a second), with a 5 s overlap for GSI propagation.
"""
    print(body)
    ok = percentile(quiet, 99) <= TARGET_P99_MS and percentile(churn, 99) <= TARGET_P99_MS
    print("target met" if ok else "TARGET MISSED")
    if not args.no_write:
        write_section("Catalog search (10,000 plugins)", body)


if __name__ == "__main__":
    main()
