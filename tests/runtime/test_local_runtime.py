"""LocalRuntime against real worker processes running the fault-test plugins
in tests/runtime/plugins/: each failure maps to the right error, never harms
the next call, and storage stays inside the caller's partition."""
from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mocklib_plugin_sdk import InMemoryStateStore

from chalicelib.runtime.local import LocalRuntime
from chalicelib.runtime.port import (PluginFailure, PluginOutOfMemory, PluginTimedOut, PluginUnavailable)
from tests.runtime.support import body, descendants, function, process_gone, request, worker_pids

HEALTHY = function("healthy")
MIB = 1024 * 1024


def body_bytes(result: dict[str, object]) -> bytes:
    return base64.b64decode(result["body_b64"])  # type: ignore[arg-type]


def healthy_worker(runtime: LocalRuntime, **kwargs: object) -> str:
    result = runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/echo", **kwargs))  # type: ignore[arg-type]
    assert result["status"] == 200
    return str(body(result)["worker"])


# -- the happy path -----------------------------------------------------------------------


def test_healthy_plugin_answers_from_a_separate_process(runtime: LocalRuntime) -> None:
    result = runtime.invoke(HEALTHY, request(HEALTHY, "POST", "/echo", body={"hello": "world"}, sandbox=True))

    assert result["status"] == 200
    answer = body(result)
    assert worker_pids(runtime, HEALTHY) and os.getpid() not in worker_pids(runtime, HEALTHY)
    assert answer["body"] == '{"hello": "world"}'
    assert answer["user_id"] == "usr_1" and answer["sandbox"] is True


def test_warm_worker_is_reused_between_calls(runtime: LocalRuntime) -> None:
    assert healthy_worker(runtime) == healthy_worker(runtime) == healthy_worker(runtime)


def test_plugin_prints_do_not_corrupt_the_channel(runtime: LocalRuntime) -> None:
    result = runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/process"))

    assert result["status"] == 200
    assert healthy_worker(runtime) == body(result)["worker"]


def test_worker_is_sandboxed_in_session_memory_limit_and_environment(runtime: LocalRuntime) -> None:
    os.environ["MF_TEST_SECRET"] = "must-not-leak"  # the test conftest also sets AWS_* credentials
    try:
        runtime.reap_idle(older_than_seconds=0)  # a fresh worker spawned with this environment
        info = body(runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/process")))
    finally:
        del os.environ["MF_TEST_SECRET"]

    assert info["sid"] == info["pgid"]  # a session of its own, inside the sandbox's own pid namespace
    assert info["rlimit_as"] == 128 * 1024 * 1024
    env = info["env"]
    assert not [name for name in env if name.startswith("MF_")]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert name not in env
    assert env["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert env["MALLOC_ARENA_MAX"] == "2"
    # The worker module runs as a file: nothing of the gateway's code is even on its path.
    assert info["gateway_modules"] == []
    assert info["uid"] == 65534


# -- failures -------------------------------------------------------------------------------


def test_crash_is_a_plugin_failure_and_the_next_call_gets_a_fresh_worker(runtime: LocalRuntime) -> None:
    crash = function("crash")
    first = body(runtime.invoke(crash, request(crash, "GET", "/ok")))["worker"]
    [host_pid] = worker_pids(runtime, crash)

    with pytest.raises(PluginFailure) as caught:
        runtime.invoke(crash, request(crash, "GET", "/exit"))

    assert type(caught.value) is PluginFailure
    assert caught.value.code == "plugin_error"
    assert "crashed" in caught.value.message and "status 1" in caught.value.message
    assert process_gone(host_pid)
    assert body(runtime.invoke(crash, request(crash, "GET", "/ok")))["worker"] != first
    assert runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/echo"))["status"] == 200


def test_sigkill_with_little_memory_in_use_is_a_plugin_failure(runtime: LocalRuntime) -> None:
    crash = function("crash")
    with pytest.raises(PluginFailure) as caught:
        runtime.invoke(crash, request(crash, "GET", "/sigkill"))

    assert type(caught.value) is PluginFailure
    assert "killed" in caught.value.message


def test_timeout_kills_the_worker_and_its_children(runtime: LocalRuntime, store: InMemoryStateStore) -> None:
    sleeper = function("sleeper")
    sandbox: set[int] = set()

    def watch() -> None:  # the sandbox's processes, seen from the host, once the child runs
        while store.get("rt-sleeper#live#usr_sleepy", "pids#last") is None:
            time.sleep(0.02)
        for pid in worker_pids(runtime, sleeper):
            sandbox.update({pid, *descendants(pid)})

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    with pytest.raises(PluginTimedOut) as caught:
        runtime.invoke(sleeper, request(sleeper, "GET", "/sleep", user_id="usr_sleepy"))
    elapsed = time.monotonic() - started
    watcher.join(timeout=5)

    assert caught.value.code == "plugin_timeout"
    assert 1.0 <= elapsed < 4.0  # timeout_seconds is 1 (plus a cold start)
    assert len(sandbox) >= 3  # bwrap, the worker, its child (and bwrap's init)
    assert all(process_gone(pid) for pid in sandbox)  # nothing of the sandbox outlives it
    assert runtime.invoke(sleeper, request(sleeper, "GET", "/ok"))["status"] == 200


def test_allocating_past_the_limit_is_out_of_memory(runtime: LocalRuntime) -> None:
    hog = function("hog")
    first = body(runtime.invoke(hog, request(hog, "GET", "/ok")))["worker"]
    [host_pid] = worker_pids(runtime, hog)

    with pytest.raises(PluginOutOfMemory) as caught:
        runtime.invoke(hog, request(hog, "GET", "/hog"))

    assert "128 MB" in caught.value.message
    assert process_gone(host_pid)
    assert body(runtime.invoke(hog, request(hog, "GET", "/ok")))["worker"] != first


def test_memory_on_dev_shm_is_not_a_way_past_the_limit(runtime: LocalRuntime) -> None:
    hog = function("hog")
    answer = body(runtime.invoke(hog, request(hog, "GET", "/shm")))
    assert runtime.sandboxed, runtime.sandbox_problem
    assert answer["written_mb"] <= 1 and answer["error"] == "No space left on device", answer
    assert not Path("/dev/shm/hog").exists()  # a private tmpfs: nothing landed in the host's


@pytest.mark.parametrize("path", ["/garbage", "/no-status"])
def test_writing_to_the_channel_is_a_malformed_result(runtime: LocalRuntime, path: str) -> None:
    garbage = function("garbage")
    assert body(runtime.invoke(garbage, request(garbage, "GET", "/ok")))["channels"]  # it can find the fd

    with pytest.raises(PluginFailure) as caught:
        runtime.invoke(garbage, request(garbage, "GET", path))

    assert type(caught.value) is PluginFailure
    assert "malformed result" in caught.value.message
    assert runtime.invoke(garbage, request(garbage, "GET", "/ok"))["status"] == 200


def test_plugin_has_no_network(runtime: LocalRuntime) -> None:
    network = function("network")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # reachable from here

        result = runtime.invoke(network, request(network, "GET", "/connect", query={"port": str(port)}))
    finally:
        server.close()

    assert runtime.sandboxed, runtime.sandbox_problem
    # A network of its own: its loopback has nothing listening, the host's is out of reach.
    assert body(result) == {"connected": False, "error": "ConnectionRefusedError", "errno": 111}


def test_results_over_lambdas_6_mb_are_refused_like_in_aws(runtime: LocalRuntime) -> None:
    assert len(body_bytes(runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/big", query={"mb": "4"})))) == 4 * MIB

    with pytest.raises(PluginFailure) as caught:
        runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/big", query={"mb": "5"}))  # 6.7 MB in base64

    assert type(caught.value) is PluginFailure
    assert "over the 6 MB limit" in caught.value.message


def test_missing_code_is_unavailable(runtime: LocalRuntime) -> None:
    with pytest.raises(PluginUnavailable):
        runtime.invoke(function("healthy", plugin="rt-nowhere", source_dir="/nonexistent"),
                       request(HEALTHY, "GET", "/echo"))


def test_code_that_does_not_load_is_unavailable(runtime: LocalRuntime) -> None:
    broken = function("crash", handler="plugin:NoSuchClass")
    with pytest.raises(PluginUnavailable) as caught:
        runtime.invoke(broken, request(broken, "GET", "/ok"))
    assert caught.value.message == "the code of plugin rt-crash 1.0.0 could not be loaded"


def test_code_of_another_plugin_is_unavailable(runtime: LocalRuntime) -> None:
    impostor = function("crash", plugin="rt-impostor")
    with pytest.raises(PluginUnavailable) as caught:
        runtime.invoke(impostor, request(impostor, "GET", "/ok"))
    assert "rt-crash" in caught.value.message


# -- pool -------------------------------------------------------------------------------------


def test_concurrent_calls_are_served_by_several_warm_workers(runtime: LocalRuntime) -> None:
    def call(_: int) -> str:
        return healthy_worker(runtime, query={"sleep": "0.05"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        workers = list(pool.map(call, range(48)))

    counts = Counter(workers)
    assert 1 < len(counts) <= 4  # max_workers_per_function
    assert sum(counts.values()) == 48 and max(counts.values()) > 1  # warm workers are reused
    assert len(runtime.stats()["functions"]["rt-healthy@1.0.0"]["idle_pids"]) >= len(counts)  # all still warm


def test_callers_beyond_capacity_wait_then_get_no_capacity() -> None:
    # One worker, three callers of 1.3 s each, 2 s deadline: the second waits
    # for the first; the third is still waiting when its deadline passes
    # (0.7 s of slack either way, for loaded CI machines).
    slow = function("healthy", timeout_seconds=2)
    runtime = LocalRuntime(InMemoryStateStore(), max_workers_per_function=1)
    try:
        runtime.warm(slow)
        outcomes: list[object] = []

        def call() -> None:
            try:
                runtime.invoke(slow, request(slow, "GET", "/echo", query={"sleep": "1.3"}))
                outcomes.append("ok")
            except PluginUnavailable as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        runtime.close()

    assert outcomes.count("ok") == 2
    [refused] = [o for o in outcomes if o != "ok"]
    assert isinstance(refused, PluginUnavailable) and "no capacity" in refused.message


def test_idle_workers_are_reaped_and_close_kills_everything() -> None:
    runtime = LocalRuntime(InMemoryStateStore(), idle_seconds=0.5)
    try:
        runtime.warm(HEALTHY)
        [idle_pid] = runtime.stats()["functions"]["rt-healthy@1.0.0"]["idle_pids"]
        assert process_gone(idle_pid, within_seconds=4.0)  # the reaper thread
        assert runtime.stats()["functions"]["rt-healthy@1.0.0"]["idle_pids"] == []

        healthy_worker(runtime)
        [warm_pid] = worker_pids(runtime, HEALTHY)
        runtime.close()
        assert process_gone(warm_pid)
        with pytest.raises(PluginUnavailable):
            runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/echo"))
    finally:
        runtime.close()


# -- storage: the worker's only way out, checked against the invocation in flight ----------


def test_plugin_storage_goes_through_the_runtime_to_the_real_store(runtime: LocalRuntime,
                                                                   store: InMemoryStateStore) -> None:
    runtime.invoke(HEALTHY, request(HEALTHY, "PUT", "/items/a", user_id="usr_store", body={"n": 1}))
    runtime.invoke(HEALTHY, request(HEALTHY, "PUT", "/items/b", user_id="usr_store", body={"n": 2}))

    item = store.get("rt-healthy#live#usr_store", "items#a")
    assert item is not None and item.doc == '{"n":1}'
    listed = runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/items", user_id="usr_store"))
    assert body(listed) == [["a", {"n": 1}], ["b", {"n": 2}]]


def test_users_and_modes_do_not_see_each_others_items(runtime: LocalRuntime) -> None:
    runtime.invoke(HEALTHY, request(HEALTHY, "PUT", "/items/k", user_id="usr_a", body={"owner": "a-live"}))

    def read(user_id: str, sandbox: bool) -> int:
        return runtime.invoke(HEALTHY, request(HEALTHY, "GET", "/items/k", user_id=user_id,
                                               sandbox=sandbox))["status"]

    assert read("usr_a", False) == 200
    assert read("usr_b", False) == 404
    assert read("usr_a", True) == 404


def test_plugin_cannot_reach_another_plugins_partition(runtime: LocalRuntime, store: InMemoryStateStore) -> None:
    runtime.invoke(HEALTHY, request(HEALTHY, "PUT", "/items/secret", user_id="usr_v", body={"pin": 1234}))
    snoop = function("snoop")

    stolen = body(runtime.invoke(snoop, request(snoop, "GET", "/raw", user_id="usr_v",
                                                query={"pk": "rt-healthy#live#usr_v", "sk": "items#secret"})))
    planted = body(runtime.invoke(snoop, request(snoop, "PUT", "/raw", user_id="usr_v", body={"x": 1},
                                                 query={"pk": "rt-healthy#live#usr_v", "sk": "items#evil"})))

    assert stolen["error"] == planted["error"] == "storage_permission_denied"
    assert store.get("rt-healthy#live#usr_v", "items#evil") is None


def test_plugin_cannot_reach_another_users_or_modes_partition(runtime: LocalRuntime) -> None:
    snoop = function("snoop")
    runtime.invoke(snoop, request(snoop, "PUT", "/mine/n", user_id="usr_2", body={"owner": 2}))

    def raw_query(pk: str, **kwargs: object) -> dict[str, object]:
        return body(runtime.invoke(snoop, request(snoop, "GET", "/raw-query", query={"pk": pk},
                                                  **kwargs)))  # type: ignore[arg-type]

    assert raw_query("rt-snoop#live#usr_2", user_id="usr_2") == {"sks": ["notes#n"]}
    assert raw_query("rt-snoop#live#usr_2", user_id="usr_1")["error"] == "storage_permission_denied"
    assert raw_query("rt-snoop#live#usr_2", user_id="usr_2", sandbox=True)["error"] == "storage_permission_denied"
    assert raw_query("rt-snoop#sandbox#usr_2", user_id="usr_2", sandbox=True) == {"sks": []}
