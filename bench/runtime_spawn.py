"""Cost of the local plugin runtime: worker cold start (in its sandbox), warm invoke latency,
worker memory, and concurrent throughput over warm workers; and the sandbox's own cost: the
same interpreter start inside bubblewrap and outside it, measured in the same run.

Uses the healthy fault-test plugin (tests/runtime/plugins/healthy) with an
in-memory state store, so only the runtime itself is measured.

    .venv/bin/python bench/runtime_spawn.py [--spawns 10] [--calls 2000] [--threads 4]

Prints a Markdown table (nothing is written to disk).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sdk" / "mocklib_plugin_sdk"))

from mocklib_plugin_sdk import InMemoryStateStore  # noqa: E402
from mocklib_plugin_sdk.sandbox import Limits, Sandbox, clean_env, sdk_python_path, spawn  # noqa: E402

from chalicelib.runtime.local import LocalRuntime  # noqa: E402
from tests.runtime.support import descendants, function, request, worker_pids  # noqa: E402

FN = function("healthy")


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def spawn_times(count: int) -> list[float]:
    runtime = LocalRuntime(InMemoryStateStore())
    try:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            runtime.invoke(FN, request(FN, "GET", "/echo"))  # cold: spawn + first call
            times.append(time.perf_counter() - started)
            runtime.reap_idle(older_than_seconds=0)
        return times
    finally:
        runtime.close()


def interpreter_starts(count: int, sandboxed: bool) -> list[float]:
    """``import mocklib_plugin_sdk.host`` in a fresh interpreter, in the sandbox or not."""
    command = [sys.executable, "-c", "import mocklib_plugin_sdk.host"]
    sandbox = Sandbox(Limits(address_space=512 * 1024 * 1024), env=clean_env(home="/tmp", python_path=sdk_python_path()))
    times = []
    for _ in range(count):
        started = time.perf_counter()
        if sandboxed:
            child = spawn(sandbox, command)
            child.proc.wait()
            child.release()
        else:
            subprocess.run(command, env=sandbox.env, check=True)
        times.append(time.perf_counter() - started)
    return times


def worker_process(bwrap_pid: int) -> int:
    """The worker's own host pid: the python process below the sandbox's bwrap."""
    return max(descendants(bwrap_pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spawns", type=int, default=10)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    cold = spawn_times(args.spawns)
    inside, outside = interpreter_starts(args.spawns, True), interpreter_starts(args.spawns, False)

    runtime = LocalRuntime(InMemoryStateStore())
    try:
        runtime.invoke(FN, request(FN, "GET", "/echo"))
        pid = worker_process(worker_pids(runtime, FN)[0])
        vsz, rss = vm_kb(pid, "VmSize"), vm_kb(pid, "VmRSS")
        latencies = []
        event = request(FN, "GET", "/echo")
        for _ in range(args.calls):
            started = time.perf_counter()
            runtime.invoke(FN, event)
            latencies.append(time.perf_counter() - started)
        runtime.warm(FN, count=args.threads)
        per_thread = args.calls // args.threads
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda _: [runtime.invoke(FN, event) for _ in range(per_thread)], range(args.threads)))
        throughput = per_thread * args.threads / (time.perf_counter() - started)
    finally:
        runtime.close()

    ms = 1000.0
    print("| measure | value |")
    print("|---|---|")
    print(f"| worker cold start + first call, in its sandbox (median / max of {args.spawns}) "
          f"| {statistics.median(cold) * ms:.0f} / {max(cold) * ms:.0f} ms |")
    print(f"| interpreter + SDK import: in the sandbox / outside it (medians) "
          f"| {statistics.median(inside) * ms:.0f} / {statistics.median(outside) * ms:.0f} ms "
          f"(x{statistics.median(inside) / statistics.median(outside):.2f}) |")
    print(f"| warm invoke, sequential (p50 / p99 of {args.calls}) "
          f"| {percentile(latencies, 0.5) * ms:.2f} / {percentile(latencies, 0.99) * ms:.2f} ms |")
    print(f"| warm invokes/s, {args.threads} threads over {args.threads} workers | {throughput:.0f} |")
    print(f"| worker VSZ / RSS after imports + one call | {vsz / 1024:.1f} / {rss / 1024:.1f} MB |")


if __name__ == "__main__":
    main()
