"""GET /health throughput of the API on chalice's local server, keep-alive clients.

Runs the dev server in-process (devstack.server.ApiServer) on DynamoDB Local, twice: with
chalice's default handler (Nagle on: each response waits for the client's delayed ACK) and
with ``disable_nagle_algorithm = True`` (what the dev stack uses). The clients run in a
separate process so they do not share the server's GIL. Loopback only, bounded by
--duration and --max-requests per mode.

    .venv/bin/python bench/api_throughput.py [--clients 8] [--duration 5] [--no-write]

Writes the "## API throughput (local server)" section of docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import http.client
import multiprocessing
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import local_backend, percentile, write_section  # noqa: E402

TARGET_RPS = 1000


# --- client side (runs in a spawned process) --------------------------------------------
def _client_thread(port: int, start_at: float, stop_at: float, budget: int,
                   latencies: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.time() < start_at:
        time.sleep(0.001)
    count = 0
    while count < budget:
        began = time.perf_counter()
        if time.time() >= stop_at:
            break
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors[0] += 1
            latencies.append(time.perf_counter() - began)
        except (OSError, http.client.HTTPException):
            errors[0] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        count += 1
    conn.close()


def run_clients(port: int, threads: int, start_at: float, stop_at: float,
                budget_per_thread: int) -> tuple[list[float], int]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [[0] for _ in range(threads)]
    workers = [threading.Thread(target=_client_thread,
                                args=(port, start_at, stop_at, budget_per_thread, latencies[i], errors[i]))
               for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [x for chunk in latencies for x in chunk], sum(e[0] for e in errors)


# --- measurement ---------------------------------------------------------------------
@dataclass
class Result:
    label: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def measure(pool: ProcessPoolExecutor, label: str, port: int, *, clients: int, processes: int,
            duration: float, max_requests: int) -> Result:
    per_process = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    budget = max(1, max_requests // clients)
    start_at = time.time() + 1.0  # let every client connect and line up
    stop_at = start_at + duration
    futures = [pool.submit(run_clients, port, n, start_at, stop_at, budget) for n in per_process if n]
    latencies: list[float] = []
    errors = 0
    for future in futures:
        part, part_errors = future.result(timeout=duration + 60)
        latencies += part
        errors += part_errors
    elapsed = min(duration, max(time.time() - start_at, 1e-9))
    return Result(label, len(latencies), errors, elapsed,
                  percentile(latencies, 50) * 1000 if latencies else float("nan"),
                  percentile(latencies, 99) * 1000 if latencies else float("nan"))


def write_results(results: list[Result], args: argparse.Namespace) -> None:
    baseline, fixed = results
    ratio = fixed.rps / baseline.rps if baseline.rps else float("inf")
    rows = "\n".join(f"| {r.label} | {r.requests} | {r.errors} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
                     for r in results)
    body = f"""Command: `.venv/bin/python bench/api_throughput.py --clients {args.clients} --duration {args.duration:g}`

`GET /health` on the dev server (`devstack.server.ApiServer`: chalice's local server,
in-process, DynamoDB Local running) with {args.clients} keep-alive clients (`http.client`, threads in
{args.processes} separate process(es), so they do not share the server's GIL), {args.duration:g} s per mode,
loopback only.

| mode | requests | errors | req/s | p50 ms | p99 ms |
|---|---|---|---|---|---|
{rows}

- Disabling Nagle's algorithm (`ChaliceRequestHandler.disable_nagle_algorithm = True`, what
  the dev stack sets) is **{ratio:,.1f}x** chalice's default in the same run; with Nagle on, a
  keep-alive client waits ~40 ms for the delayed ACK on every response (~23 req/s per client).
- Target with the fix: >= {TARGET_RPS:,} req/s: **{'met' if fixed.rps >= TARGET_RPS else 'NOT met'}**.
"""
    write_section("API throughput (local server)", body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="keep-alive connections (max 64)")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per mode (max 60)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per mode")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    args = parser.parse_args(argv)
    args.clients = max(1, min(args.clients, 64))
    args.processes = max(1, min(args.processes, args.clients))
    args.duration = max(0.5, min(args.duration, 60.0))

    from app import app
    from devstack.server import ApiServer

    results: list[Result] = []
    with local_backend():
        with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            for label, nagle_off in (("chalice default (Nagle on)", False),
                                     ("disable_nagle_algorithm = True", True)):
                with ApiServer(app, port=0, disable_nagle=nagle_off, access_log=False) as server:
                    assert http_ok(server.port), "server did not answer /health"
                    result = measure(pool, label, server.port, clients=args.clients,
                                     processes=args.processes, duration=args.duration,
                                     max_requests=args.max_requests)
                results.append(result)
                print(f"{label:<32} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                      f"p99 {result.p99_ms:7.2f} ms  ({result.requests} requests, {result.errors} errors)",
                      flush=True)
    ratio = results[1].rps / results[0].rps if results[0].rps else float("inf")
    print(f"ratio fixed/default: {ratio:,.1f}x; target >= {TARGET_RPS} req/s with the fix: "
          f"{'met' if results[1].rps >= TARGET_RPS else 'NOT met'}")
    if not args.no_write:
        write_results(results, args)
    return 0


def http_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main())
