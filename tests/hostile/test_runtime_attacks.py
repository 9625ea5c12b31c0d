"""Every attack as a plugin, called through the gateway with a live key: contained, answered with
a clear code, never billed, and the gateway serving another plugin all along."""
from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
import requests

from tests.hostile.attacks import ATTACKS, Attack
from tests.hostile.conftest import Canaries, Market, write_report
from tests.runtime.support import descendants, process_gone


def function_of(market: Market, attack: Attack) -> Any:
    version = market.container.catalog.get_version(attack.plugin, "1.0.0")
    return market.container.entitlements.functions.locate(version)


def sandbox_pids(market: Market, attack: Attack) -> set[int]:
    stats = market.runtime.stats()["functions"].get(f"{attack.plugin}@1.0.0", {})
    bwraps = [*stats.get("idle_pids", []), *stats.get("busy_pids", [])]
    return {pid for bwrap in bwraps for pid in (bwrap, *descendants(bwrap))}


class Meanwhile:
    """Calls the echo plugin over and over while an attack runs; every call must succeed."""

    def __init__(self, market: Market, attack: Attack) -> None:
        self.market, self.attack = market, attack
        self.statuses: list[int] = []
        self.peak_processes = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {self.market.key}"
            while not self._done.is_set():
                self.statuses.append(http.get(f"{self.market.url}/plugins/echo/v1/echo", timeout=20).status_code)
                self.peak_processes = max(self.peak_processes, len(sandbox_pids(self.market, self.attack)))
                time.sleep(0.05)

    def __enter__(self) -> Meanwhile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=30)


def billable(market: Market, plugin: str) -> int:
    usage = market.client.http.get("/usage", headers={"Authorization": f"Bearer {market.token}"}).json_body
    return next((p["live"]["billable"] for p in usage["plugins"] if p["plugin"] == plugin), 0)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_hostile_plugin_is_contained(market: Market, canaries: Canaries, attack: Attack) -> None:
    targets = canaries.targets(user_id=market.user_id, own_prefix=f"{attack.plugin}#live#")
    with Meanwhile(market, attack) as meanwhile:
        answer = requests.post(f"{market.url}/plugins/{attack.plugin}/v1/attack", json=targets, timeout=60,
                               headers={"Authorization": f"Bearer {market.key}"})
        time.sleep(0.2)  # a moment of the aftermath for the echo calls
    body = answer.json()
    error = body.get("error", {})
    observed = error.get("observed") if isinstance(error, dict) else None
    code = body.get("code") or error.get("code")
    leftovers = sandbox_pids(market, attack)
    market.runtime.reap_idle(older_than_seconds=0)  # the worker goes; everything of its sandbox with it

    assert answer.status_code == attack.status, answer.text[:500]
    if attack.status == 500:
        assert code == "attack_contained" and attack.contained(observed), observed
    assert canaries.secret not in answer.text
    assert canaries.listener.connections == 0
    assert not canaries.write_target.exists()
    assert meanwhile.statuses and set(meanwhile.statuses) == {200}, meanwhile.statuses
    assert meanwhile.peak_processes <= 40  # a pids cgroup of 32, bwrap and its init
    assert billable(market, attack.plugin) == 0
    assert all(process_gone(pid) for pid in leftovers)
    assert os.environ["MF_HOSTILE_CANARY"] == canaries.secret  # the gateway runs on, as it was
    logged = [line for line in market.log.read_bytes().splitlines() if line.startswith(f"[{attack.plugin} ".encode())]
    assert sum(len(line) for line in logged) < 1.2 * 1024 * 1024  # at most its budget in the platform's log
    if attack.name == "huge_output":
        assert b"more bytes of log output dropped" in logged[-1]
    write_report("runtime", attack.name, {
        "attack": attack.title, "expected": f"{attack.status}: {attack.expected}",
        "observed": {"status": answer.status_code, "code": code, "observed": _short(observed),
                     "peak_processes": meanwhile.peak_processes, "echo_calls_meanwhile": len(meanwhile.statuses),
                     "billable": 0}})


def _short(observed: Any) -> Any:
    if isinstance(observed, dict):
        return {k: (v if len(str(v)) < 80 else str(v)[:77] + "...") for k, v in observed.items()}
    return observed
