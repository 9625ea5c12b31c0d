"""Helpers for the runtime tests: the fault-test plugins as PluginFunctions, events, bodies."""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk import make_request_event

from chalicelib.runtime.port import PluginFunction

PLUGINS = Path(__file__).resolve().parent / "plugins"


def function(folder: str, **overrides: Any) -> PluginFunction:
    """The PluginFunction the gateway would build for ``plugins/<folder>``."""
    manifest = json.loads((PLUGINS / folder / "manifest.json").read_text())
    runtime = manifest["runtime"]
    fields: dict[str, Any] = dict(
        plugin=manifest["name"], version=manifest["version"], major=int(manifest["version"].split(".")[0]),
        memory_limit_mb=runtime["memory_limit_mb"], timeout_seconds=runtime["timeout_seconds"],
        function_name=f"mf-test-{manifest['name']}", source_dir=str(PLUGINS / folder), handler=runtime["handler"])
    fields.update(overrides)
    return PluginFunction(**fields)


def request(fn: PluginFunction, method: str, path: str, *, user_id: str = "usr_1", sandbox: bool = False,
            query: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    return make_request_event(method, path, plugin=fn.plugin, version=fn.version, user_id=user_id,
                              sandbox=sandbox, query={k: [v] for k, v in (query or {}).items()}, body=raw,
                              request_id=f"req_{time.monotonic_ns()}",
                              deadline_ms=int(time.time() * 1000) + fn.timeout_seconds * 1000)


def body(result: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(result["body_b64"]))


def process_gone(pid: int, within_seconds: float = 3.0) -> bool:
    """True once ``pid`` no longer runs (gone, or a zombie nobody reaped yet)."""
    end = time.monotonic() + within_seconds
    while True:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not process_gone(pid, within_seconds=0)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` on this host (a sandbox's, seen from outside its pid namespace)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def worker_pids(runtime: Any, function: PluginFunction) -> list[int]:
    """Host pids of the function's warm workers (each a sandbox's bwrap)."""
    pool = runtime.stats()["functions"].get(f"{function.plugin}@{function.version}", {})
    return [*pool.get("idle_pids", []), *pool.get("busy_pids", [])]
