"""``LocalRuntime``: the embedded plugin runtime.

Each plugin version runs in warm worker processes (``chalicelib.runtime.worker``), reused like
Lambda containers: one request per worker at a time, at most ``max_workers_per_function`` per
(plugin, version), reaped after ``idle_seconds`` without work.

Plugin code is hostile: every worker runs in a sandbox (``mocklib_plugin_sdk.sandbox``,
bubblewrap): an unprivileged uid in namespaces of its own (no network, only its own
processes), a filesystem holding only the interpreter, the worker module and its plugin's code
(read-only) and a small private ``/tmp`` and ``/dev/shm``, a clean environment (only what
``_worker_env`` lists, plus ``extra_env``), the manifest's memory as ``RLIMIT_AS`` (see
``address_space_limit_bytes``), a bounded number of processes and file size, and nothing left
running once the worker is gone. Where the machine has no sandbox, only code under
``trusted_roots`` (the platform's own reference plugins) runs, without it and with a loud
warning; anything else is ``PluginUnavailable`` (``sandbox_unavailable``).

A worker has no storage of its own: its calls are served here (``chalicelib.runtime.storage``),
on the partition of the invocation in flight only.

Failures never escape as anything but ``PluginFailure`` subclasses, and a worker that failed in
any way is killed and never reused: timeout -> ``PluginTimedOut``; MemoryError ->
``PluginOutOfMemory``; exit/crash, garbage on the channel, a result without an integer
``status`` or over Lambda's 6 MB -> ``PluginFailure``; no code, cannot start, no sandbox for
untrusted code, no free worker before the deadline -> ``PluginUnavailable``. The channel
protocol is in ``chalicelib.runtime.worker``.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from mocklib_plugin_sdk.sandbox import (Limits, Sandbox, SandboxUnavailable, clean_env, sdk_python_path, spawn,
                                        unavailable_reason)
from mocklib_plugin_sdk.state import StateStore

from chalicelib.runtime import worker as worker_module
from chalicelib.runtime.channel import Eof, Exit, LogForwarder, Malformed, OutOfMemory, Oversized, Timeout, Worker
from chalicelib.runtime.port import (PluginFailure, PluginFunction, PluginOutOfMemory, PluginRuntime,
                                     PluginTimedOut, PluginUnavailable)
from chalicelib.runtime.storage import storage_scope
from chalicelib.runtime.worker import EXIT_OUT_OF_MEMORY, MAX_RESULT_FRAME_BYTES, FrameError, encode_frame

log = logging.getLogger(__name__)

WORKER_SCRIPT = str(Path(worker_module.__file__).resolve())  # run as a file: nothing else of the repository is bound
MIB = 1024 * 1024
WORKER_PROCESSES = 32  # processes and threads of one worker's sandbox
WORKER_TMP_BYTES = 16 * MIB

# Measured here (Python 3.11.7, glibc, MALLOC_ARENA_MAX=2): a worker that has
# imported mocklib_plugin_sdk (powertools, pynamodb, botocore) and loaded a
# plugin has a VSZ of ~45 MB (RSS ~40 MB); the bare interpreter is ~14 MB.
INTERPRETER_BASELINE_MB = 48
# Below this an address-space limit leaves the plugin too little to even load
# (baseline plus room for a request); the manifest schema's minimum is 128.
MIN_STARTABLE_MB = 96


def address_space_limit_bytes(memory_limit_mb: int, *, baseline_mb: int = INTERPRETER_BASELINE_MB) -> int:
    """The ``RLIMIT_AS`` of a worker for a manifest's ``memory_limit_mb``.

    Rule: ``memory_limit_mb`` MiB as is when it is at least ``MIN_STARTABLE_MB``
    (96); below that, ``memory_limit_mb + baseline_mb`` (48) MiB so the
    interpreter can start at all. Like Lambda, whose memory setting includes
    the runtime, the limit covers the interpreter too: with the minimum of
    128 MB (measured VSZ after imports ~45 MB) a plugin has ~80 MB of its own.

    RLIMIT_AS caps address space, not resident memory, so it is stricter than
    Lambda: each extra thread reserves an 8 MB stack and a second malloc arena
    (hence ``MALLOC_ARENA_MAX=2``) reserves 64 MB of address space.
    """
    if memory_limit_mb >= MIN_STARTABLE_MB:
        return memory_limit_mb * MIB
    return (memory_limit_mb + baseline_mb) * MIB


# -- pool -------------------------------------------------------------------------------


class _Retired(Exception):
    pass


class _Pool:
    """Workers of one (plugin, version). ``cond`` guards every field."""

    def __init__(self, function: PluginFunction) -> None:
        self.function = function
        self.cond = threading.Condition()
        self.idle: list[Worker] = []  # LIFO: the warmest first, so extras go idle and get reaped
        self.busy: set[Worker] = set()
        self.starting = 0
        self.retired = False


class LocalRuntime(PluginRuntime):
    """Runs plugin functions in local worker processes (see the module docstring).

    * ``state_store``: the real plugin-state store the workers' storage calls
      run on (``DynamoDBStateStore`` in the dev stack, ``InMemoryStateStore``
      in unit tests). Thread-safe stores only: calls arrive from many threads.
    * ``max_workers_per_function`` (4), ``idle_seconds`` (300): pool size per
      (plugin, version) and how long a worker may sit idle.
    * ``spawn_timeout_seconds`` (10): a cold start's own budget, like Lambda's
      init phase; it does not eat into the invocation's timeout.
    * ``trusted_roots``: code under these folders (the platform's reference plugins) may run
      without a sandbox where the machine has none; nothing else may.
    * ``extra_env``: added to the workers' clean environment, e.g.
      ``{"MF_PLUGIN_DETERMINISTIC": "1"}`` (protocol section 9).
    * ``worker_stderr``: where plugin logs go (``None``: this process's stderr), labelled with
      the plugin, at most 1 MiB per worker.

    Timing: a caller waits for a free worker up to the function's
    ``timeout_seconds`` (then ``PluginUnavailable`` "no capacity"); the
    invocation itself then gets the full ``timeout_seconds`` from the moment
    the event is sent before its worker is killed (``PluginTimedOut``).
    """

    def __init__(self, state_store: StateStore, *, max_workers_per_function: int = 4,
                 idle_seconds: float = 300.0, spawn_timeout_seconds: float = 10.0,
                 trusted_roots: Sequence[str | Path] = (), extra_env: Mapping[str, str] | None = None,
                 worker_stderr: int | IO[Any] | None = None) -> None:
        if max_workers_per_function < 1:
            raise ValueError("max_workers_per_function must be at least 1")
        self._store = state_store
        self._max_workers = max_workers_per_function
        self._idle_seconds = idle_seconds
        self._spawn_timeout = spawn_timeout_seconds
        self._extra_env = dict(extra_env or {})
        self._stderr = worker_stderr
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._spawn_times: deque[float] = deque(maxlen=1000)
        self._trusted_roots = tuple(Path(root).resolve() for root in trusted_roots)
        self.sandbox_problem = unavailable_reason()
        if self.sandbox_problem is not None:
            log.warning("NO SANDBOX for plugin workers (%s): only the platform's own plugins under %s will run, "
                        "unsandboxed", self.sandbox_problem, ", ".join(map(str, self._trusted_roots)) or "(none)")

    # -- the port -------------------------------------------------------------------------

    def invoke(self, function: PluginFunction, event: dict[str, Any]) -> dict[str, Any]:
        try:
            data = encode_frame({"op": "invoke", "event": event})
        except FrameError as exc:
            raise PluginFailure(f"the event for plugin {function.plugin} is too large") from exc
        deadline = time.monotonic() + function.timeout_seconds
        while True:
            pool = self._pool_for(function)
            try:
                worker = self._acquire(pool, deadline)
                break
            except _Retired:
                continue
        healthy = False
        try:
            result = self._call(worker, data, storage_scope(function, event))
            healthy = True
            return result
        finally:
            self._release(pool, worker, healthy)

    def warm(self, function: PluginFunction, count: int = 1) -> None:
        """Start up to ``count`` idle workers now, so the first calls skip the cold start."""
        pool = self._pool_for(function)
        for _ in range(count):
            with pool.cond:
                if pool.retired or len(pool.idle) + len(pool.busy) + pool.starting >= self._max_workers:
                    return
                pool.starting += 1
            try:
                worker = self._spawn(function)
            finally:
                with pool.cond:
                    pool.starting -= 1
            self._release(pool, worker, True)

    def close(self) -> None:
        """Kill every worker. Calls in flight fail with ``PluginUnavailable``."""
        self._closed = True
        self._stop.set()
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            with pool.cond:
                pool.retired = True
                idle, pool.idle = pool.idle, []
                busy = list(pool.busy)
                pool.cond.notify_all()
            for worker in busy:
                worker.kill("the local runtime shut down")  # its caller reaps it
            for worker in idle:
                worker.stop()
        if self._reaper is not None and self._reaper is not threading.current_thread():
            self._reaper.join(timeout=5)

    # -- introspection (dev stack, tests, bench) -----------------------------------------------

    @property
    def sandboxed(self) -> bool:
        """Whether workers run in the sandbox (False: this machine has none; see ``sandbox_problem``)."""
        return self.sandbox_problem is None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            pools = list(self._pools.items())
        functions = {}
        for (plugin, version), pool in pools:
            with pool.cond:
                functions[f"{plugin}@{version}"] = {
                    "idle_pids": [w.pid for w in pool.idle], "busy_pids": [w.pid for w in pool.busy],
                    "starting": pool.starting}
        return {"functions": functions, "spawn_seconds": list(self._spawn_times), "sandboxed": self.sandboxed}

    def reap_idle(self, *, older_than_seconds: float | None = None) -> int:
        """Stop workers idle for longer than ``idle_seconds``; returns how many."""
        limit = self._idle_seconds if older_than_seconds is None else older_than_seconds
        now = time.monotonic()
        with self._lock:
            pools = list(self._pools.values())
        expired: list[Worker] = []
        for pool in pools:
            with pool.cond:
                keep = [w for w in pool.idle if now - w.last_used < limit]
                expired += [w for w in pool.idle if now - w.last_used >= limit]
                pool.idle = keep
                pool.cond.notify_all()  # the freed slots may be someone's capacity
        for worker in expired:
            worker.stop()
        return len(expired)

    # -- pool ----------------------------------------------------------------------------

    def _pool_for(self, function: PluginFunction) -> _Pool:
        if self._closed:
            raise PluginUnavailable("the local plugin runtime is shut down")
        key = (function.plugin, function.version)
        retired = None
        with self._lock:
            pool = self._pools.get(key)
            if pool is None or pool.function != function:
                # Same version, different code location or limits (a republish
                # in dev): new workers; the old ones finish and are dropped.
                retired, pool = pool, _Pool(function)
                self._pools[key] = pool
        if retired is not None:
            with retired.cond:
                retired.retired = True
                idle, retired.idle = retired.idle, []
                retired.cond.notify_all()
            for worker in idle:
                worker.stop()
        return pool

    def _acquire(self, pool: _Pool, deadline: float) -> Worker:
        dead: list[Worker] = []
        try:
            with pool.cond:
                while True:
                    if pool.retired:
                        if self._closed:
                            raise PluginUnavailable("the local plugin runtime is shut down")
                        raise _Retired()
                    while pool.idle:
                        worker = pool.idle.pop()
                        if worker.alive():
                            pool.busy.add(worker)
                            return worker
                        dead.append(worker)
                    if len(pool.busy) + pool.starting < self._max_workers:
                        pool.starting += 1
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PluginUnavailable(
                            f"no capacity: all {self._max_workers} workers of plugin "
                            f"{pool.function.plugin} {pool.function.version} are busy")
                    pool.cond.wait(remaining)
        finally:
            for worker in dead:
                worker.stop()
        # Spawn outside every lock: a slow cold start must not block other callers.
        try:
            worker = self._spawn(pool.function)
        except BaseException:
            with pool.cond:
                pool.starting -= 1
                pool.cond.notify()
            raise
        with pool.cond:
            pool.starting -= 1
            if not pool.retired:
                pool.busy.add(worker)
                return worker
            pool.cond.notify()
        worker.stop()
        if self._closed:
            raise PluginUnavailable("the local plugin runtime is shut down")
        raise _Retired()

    def _release(self, pool: _Pool, worker: Worker, healthy: bool) -> None:
        with pool.cond:
            pool.busy.discard(worker)
            keep = healthy and not pool.retired and not self._closed and worker.kill_reason is None
            if keep:
                worker.last_used = time.monotonic()
                pool.idle.append(worker)
            pool.cond.notify()
        if not keep:
            worker.stop()

    # -- one invocation --------------------------------------------------------------------

    def _call(self, worker: Worker, data: bytes, scope: str | None) -> dict[str, Any]:
        function = worker.function
        name = f"plugin {function.plugin} {function.version}"
        try:
            return worker.call(data, scope, self._store, function.timeout_seconds)
        except Timeout:
            worker.kill("timeout")
            worker.stop()
            raise PluginTimedOut(f"{name} did not answer within {function.timeout_seconds} s") from None
        except OutOfMemory:
            worker.stop(grace_seconds=1.0)
            raise PluginOutOfMemory(f"{name} ran out of memory ({function.memory_limit_mb} MB)") from None
        except Oversized as exc:
            worker.stop()
            raise PluginFailure(f"{name} returned a result of {exc} bytes, over the "
                                f"{MAX_RESULT_FRAME_BYTES // MIB} MB limit") from None
        except Malformed as exc:
            log.warning("%s (worker %s) broke the channel: %s", name, worker.pid, exc)
            worker.stop()
            raise PluginFailure(f"{name} returned a malformed result") from None
        except Eof:
            raise self._exit_failure(worker, worker.stop(grace_seconds=1.0), name) from None

    def _exit_failure(self, worker: Worker, exit: Exit, name: str) -> PluginFailure:
        if worker.kill_reason == "the local runtime shut down":
            return PluginUnavailable(f"{name}: {worker.kill_reason}")
        if exit.returncode == EXIT_OUT_OF_MEMORY:
            return PluginOutOfMemory(f"{name} ran out of memory ({worker.function.memory_limit_mb} MB)")
        if not exit.exited_by_itself:
            return PluginFailure(f"{name} closed its channel without answering")
        if exit.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):  # bwrap exits 128+n for a child's signal n
            # Not our kill. Its peak memory cannot tell an OOM kill apart: Linux carries
            # ru_maxrss across exec, so a worker forked from a big parent looks big.
            # Running out of the manifest's memory shows as MemoryError (RLIMIT_AS) instead.
            return PluginFailure(f"{name} was killed (SIGKILL)")
        log.warning("%s worker %s exited with %s", name, worker.pid, exit.returncode)
        return PluginFailure(f"{name} crashed (worker exit status {exit.returncode})")

    # -- spawning ----------------------------------------------------------------------------

    def _spawn(self, function: PluginFunction) -> Worker:
        name = f"plugin {function.plugin} {function.version}"
        source = function.source_dir
        if not source or not (Path(source) / "manifest.json").is_file():
            raise PluginUnavailable(f"{name} has no local code (source_dir {source!r})")
        # -P: the working directory (the plugin folder) must not shadow the
        # worker's own modules; the worker adds the folder after it starts.
        argv = [sys.executable, "-P", WORKER_SCRIPT, "--source-dir", str(Path(source).resolve()),
                "--handler", function.handler]
        started = time.monotonic()
        sandbox = Sandbox(Limits(address_space=address_space_limit_bytes(function.memory_limit_mb),
                                 processes=WORKER_PROCESSES, tmp_bytes=WORKER_TMP_BYTES),
                          readonly=(str(Path(source).resolve()), WORKER_SCRIPT), env=self._worker_env(),
                          cwd=str(Path(source).resolve()))
        try:
            child = spawn(sandbox, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          required=not self._trusted(Path(source)))
        except SandboxUnavailable as exc:
            raise PluginUnavailable(f"{name} is not one of the platform's own plugins and this machine has no "
                                    f"sandbox to run it in ({self.sandbox_problem})", code="sandbox_unavailable") from exc
        except OSError as exc:
            raise PluginUnavailable(f"cannot start a worker for {name}: {exc.strerror or exc}") from exc
        assert child.proc.stderr is not None
        LogForwarder(child.proc.stderr, f"{function.plugin} {function.version}", self._stderr)
        worker = Worker(child.proc, function, on_reaped=child.release)
        try:
            message = worker.recv(started + self._spawn_timeout)
        except Timeout:
            worker.stop()
            raise PluginUnavailable(f"{name} did not start within {self._spawn_timeout:g} s") from None
        except Malformed:
            worker.stop()
            raise PluginUnavailable(f"{name} did not start: its worker broke the channel") from None
        except Eof:
            exit = worker.stop(grace_seconds=1.0)
            if exit.returncode == EXIT_OUT_OF_MEMORY:
                raise PluginOutOfMemory(f"{name} ran out of memory while starting") from None
            raise PluginUnavailable(f"{name} did not start (worker exit status {exit.returncode})") from None
        op = message["op"]
        if op == "ready" and message.get("plugin") == function.plugin:
            worker.spawn_seconds = time.monotonic() - started
            self._spawn_times.append(worker.spawn_seconds)
            self._ensure_reaper()
            return worker
        if op == "ready":
            worker.stop()
            log.warning("%s: the code at %s is plugin %r", name, source, message.get("plugin"))
            raise PluginUnavailable(f"the local code of {name} is plugin {message.get('plugin')!r}")
        exit = worker.stop(grace_seconds=1.0)
        if op == "oom" or exit.returncode == EXIT_OUT_OF_MEMORY:
            raise PluginOutOfMemory(f"{name} ran out of memory while starting")
        if op == "load_error":
            log.warning("%s could not be loaded from %s: %s", name, source, message.get("message"))
            raise PluginUnavailable(f"the code of {name} could not be loaded")
        raise PluginUnavailable(f"{name} did not start: unexpected {op!r} frame")

    def _trusted(self, source: Path) -> bool:
        resolved = source.resolve()
        return any(resolved.is_relative_to(root) for root in self._trusted_roots)

    def _worker_env(self) -> dict[str, str]:
        """Everything a worker gets from the environment. Nothing is inherited: not the
        gateway's AWS credentials, MF_* settings or DynamoDB endpoint."""
        env = clean_env(home="/tmp", python_path=sdk_python_path(),
                        extra={"POWERTOOLS_METRICS_DISABLED": "true"})  # stdout is the channel: no EMF lines
        env.update(self._extra_env)
        return env

    def _ensure_reaper(self) -> None:
        if self._reaper is not None or self._closed:
            return
        with self._lock:
            if self._reaper is None:
                interval = max(0.05, min(self._idle_seconds / 2, 30.0))
                self._reaper = threading.Thread(target=self._reap_loop, args=(interval,),
                                                name="local-runtime-reaper", daemon=True)
                self._reaper.start()

    def _reap_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reap_idle()
            except Exception:  # noqa: BLE001 - the reaper must outlive one bad pass
                log.exception("reaping idle plugin workers failed")


__all__ = ["LocalRuntime", "address_space_limit_bytes"]
