"""``LocalRuntime``: the embedded plugin runtime (DESIGN.md, "Plugin runtime").

Each plugin version runs in warm worker processes (``chalicelib.runtime.worker``),
reused like Lambda containers: one request per worker at a time, at most
``max_workers_per_function`` per (plugin, version), reaped after
``idle_seconds`` without work. A worker is a sandbox:

* its own session/process group (a timeout kills the whole group);
* a clean environment: no AWS credentials, no ``MF_*`` platform settings, no
  DynamoDB endpoint (only what ``_worker_env`` lists, plus ``extra_env``);
* ``RLIMIT_AS`` from the manifest's ``memory_limit_mb`` (see
  ``address_space_limit_bytes``) and no core dumps;
* when the process may (root or CAP_SYS_ADMIN on Linux), a fresh network
  namespace: no interface but a downed loopback, so a plugin cannot open any
  socket, not even to DynamoDB Local on 127.0.0.1;
* no storage of its own: the plugin's ``StateStore`` is an IPC proxy and this
  process runs each call on the real ``state_store`` after checking that the
  partition is the one of the invocation in flight, computed here from the event
  this process sent (``storage_scope``), never from anything the worker says.

Failures never escape as anything but ``PluginFailure`` subclasses, and a worker
that failed in any way is killed and never reused: timeout -> ``PluginTimedOut``;
MemoryError, or a SIGKILL from outside near the memory limit ->
``PluginOutOfMemory``; exit/crash, garbage on the channel, a result without an
integer ``status`` or over Lambda's 6 MB -> ``PluginFailure``; no code, cannot
start, no free worker before the deadline -> ``PluginUnavailable``. The channel
protocol is in ``chalicelib.runtime.worker``.

Not isolated: the filesystem and the user id. Workers run as the gateway's own
user, so as root a plugin could still read the gateway's files or
``/proc/<pid>/environ``. Real plugins in AWS run in their own Lambda; this
runtime is for the local stack and tests.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

import mocklib_plugin_sdk
from mocklib_plugin_sdk.errors import PluginError
from mocklib_plugin_sdk.sandbox import libc_namespaces as _libc_namespaces
from mocklib_plugin_sdk.sandbox import may_unshare as _may_unshare
from mocklib_plugin_sdk.sandbox import sandbox_preexec as _sandbox
from mocklib_plugin_sdk.state import ItemExistsError, StateStore

from chalicelib.runtime.port import (PluginFailure, PluginFunction, PluginOutOfMemory, PluginRuntime,
                                     PluginTimedOut, PluginUnavailable)
from chalicelib.runtime.worker import (EXIT_OUT_OF_MEMORY, FRAME_HEADER, MAX_FRAME_BYTES, MAX_RESULT_FRAME_BYTES,
                                       QUERY_PAGE_MAX_BYTES, FrameError, decode_frame_body, encode_frame,
                                       item_from_wire, item_to_wire)

log = logging.getLogger(__name__)

WORKER_MODULE = "chalicelib.runtime.worker"
MIB = 1024 * 1024

# Measured here (Python 3.11.7, glibc, MALLOC_ARENA_MAX=2): a worker that has
# imported mocklib_plugin_sdk (powertools, pynamodb, botocore) and loaded a
# plugin has a VSZ of ~45 MB (RSS ~40 MB); the bare interpreter is ~14 MB.
INTERPRETER_BASELINE_MB = 48
# Below this an address-space limit leaves the plugin too little to even load
# (baseline plus room for a request); the manifest schema's minimum is 128.
MIN_STARTABLE_MB = 96
# A worker SIGKILLed by someone else (the kernel's OOM killer, a cgroup) counts
# as out of memory when its peak RSS reached this share of its memory limit.
# DynamoDB's item limit; the SDK's own cap (350 KB) is stricter, this holds
# even for a plugin that talks to its IPC store directly.
MAX_ITEM_DOC_BYTES = 400_000


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


def storage_scope(function: PluginFunction, event: Any) -> str | None:
    """The only partition key the invocation of ``event`` may touch, or None
    (health probes and malformed events get no storage at all)."""
    if not isinstance(event, dict) or event.get("type") not in ("request", "lifecycle"):
        return None
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    user_id = context.get("user_id")
    if not isinstance(user_id, str) or not user_id:
        return None
    mode = "sandbox" if bool(context.get("sandbox", False)) else "live"
    return f"{function.plugin}#{mode}#{user_id}"


def _deny(kind: str, message: str) -> dict[str, Any]:
    return {"op": "storage_result", "ok": False, "kind": kind, "message": message}


def execute_storage(request: Mapping[str, Any], scope: str | None, store: StateStore) -> dict[str, Any]:
    """Run one storage frame from a worker on the real store, if its partition
    is ``scope``. Returns the reply frame; never raises."""
    call = request.get("call")
    try:
        item = item_from_wire(request.get("item")) if call == "put" else None
        if item is not None and len(item.doc.encode("utf-8")) > MAX_ITEM_DOC_BYTES:
            raise ValueError(f"documents are limited to {MAX_ITEM_DOC_BYTES} bytes")
        pk = item.pk if item is not None else request.get("pk")
        if call not in ("get", "put", "delete", "query") or not isinstance(pk, str):
            return _deny("invalid", f"unknown storage call {call!r}")
        if scope is None or pk != scope:
            return _deny("permission", "storage is limited to the calling user's partition of this plugin")
        value: Any = None
        if call == "get":
            found = store.get(pk, _text(request, "sk"))
            value = item_to_wire(found) if found is not None else None
        elif call == "put":
            assert item is not None
            store.put(item, if_absent=bool(request.get("if_absent")))
        elif call == "delete":
            value = bool(store.delete(pk, _text(request, "sk")))
        else:
            value = _query_page(store, pk, request)
        return {"op": "storage_result", "ok": True, "value": value}
    except ItemExistsError as exc:
        return _deny("exists", exc.message)
    except (ValueError, TypeError) as exc:
        return _deny("invalid", f"malformed storage call: {exc}")
    except PluginError as exc:  # StorageError from the real store
        return _deny("error", exc.message)
    except Exception:  # noqa: BLE001 - a store bug becomes the plugin's StorageError, not a gateway crash
        log.exception("storage call %s failed", call)
        return _deny("error", "storage call failed")


def _text(request: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = request.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _query_page(store: StateStore, pk: str, request: Mapping[str, Any]) -> dict[str, Any]:
    page_size = request.get("page_size", 100)
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValueError("page_size must be an integer")
    page_size = max(1, min(page_size, 100))
    iterator = store.query(pk, _text(request, "sk_prefix"),
                           start_after_sk=_text(request, "start_after_sk", optional=True),
                           descending=bool(request.get("descending")), page_size=page_size)
    items: list[dict[str, Any]] = []
    size = 0
    for found in islice(iterator, page_size + 1):
        if len(items) == page_size or size > QUERY_PAGE_MAX_BYTES:
            return {"items": items, "done": False}
        items.append(item_to_wire(found))
        size += len(found.doc)
    return {"items": items, "done": True}


# -- one worker process -----------------------------------------------------------------


class _Timeout(Exception):
    pass


class _Eof(Exception):
    pass


class _Malformed(Exception):
    pass


class _OutOfMemory(Exception):
    pass


class _Oversized(Exception):
    pass


@dataclass(frozen=True)
class _Exit:
    returncode: int
    exited_by_itself: bool  # False: still running after the grace period, so we killed it


class _Worker:
    """The parent's end of one worker: framed, deadline-bound I/O and the process."""

    def __init__(self, proc: subprocess.Popen[bytes], function: PluginFunction) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.pid = proc.pid
        self.function = function
        self.last_used = time.monotonic()
        self.spawn_seconds = 0.0
        self.kill_reason: str | None = None
        self._out = proc.stdin.fileno()
        self._in = proc.stdout.fileno()
        os.set_blocking(self._out, False)
        os.set_blocking(self._in, False)
        self._buffer = bytearray()
        self._lock = threading.Lock()  # guards signalling against reaping (pid reuse)
        self._reaped = False

    # -- frames ---------------------------------------------------------------------

    def send(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._out, view):]
            except BlockingIOError:
                self._wait(self._out, select.POLLOUT, deadline)
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise _Eof() from exc

    def recv(self, deadline: float) -> dict[str, Any]:
        while True:
            if len(self._buffer) >= FRAME_HEADER.size:
                (size,) = FRAME_HEADER.unpack_from(self._buffer)
                if size > MAX_FRAME_BYTES:
                    raise _Malformed(f"frame of {size} bytes")
                end = FRAME_HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[FRAME_HEADER.size:end])
                    del self._buffer[:end]
                    try:
                        return decode_frame_body(body)
                    except FrameError as exc:
                        raise _Malformed(str(exc)) from exc
            self._wait(self._in, select.POLLIN, deadline)
            try:
                chunk = os.read(self._in, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise _Eof()
            self._buffer += chunk

    @staticmethod
    def _wait(fd: int, events: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, events)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            if poller.poll(max(1, int(remaining * 1000) + 1)):
                return

    def call(self, data: bytes, scope: str | None, store: StateStore, timeout_seconds: float) -> dict[str, Any]:
        """Send one encoded invoke frame; serve its storage calls; return its result."""
        deadline = time.monotonic() + timeout_seconds
        self.send(data, deadline)
        while True:
            message = self.recv(deadline)
            op = message["op"]
            if op == "result":
                result = message.get("result")
                status = result.get("status") if isinstance(result, dict) else None
                if isinstance(status, bool) or not isinstance(status, int):
                    raise _Malformed("result without an integer status")
                return result  # type: ignore[return-value]
            if op == "storage":
                self.send(encode_frame(execute_storage(message, scope, store)), deadline)
            elif op == "oom":
                raise _OutOfMemory()
            elif op == "oversized":
                raise _Oversized(message.get("bytes"))
            else:
                raise _Malformed(f"unexpected {op!r} frame")

    # -- process ----------------------------------------------------------------------

    def alive(self) -> bool:
        with self._lock:
            if self._reaped:
                return False
            try:
                return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
            except ChildProcessError:
                return False

    def kill(self, reason: str) -> None:
        """SIGKILL the worker's process group without reaping it (safe from any
        thread; the thread that owns the worker reaps it with ``stop``)."""
        with self._lock:
            if self._reaped:
                return
            self.kill_reason = self.kill_reason or reason
            _killpg(self.pid)

    def stop(self, *, grace_seconds: float = 0.0) -> _Exit:
        """Kill the process group (after ``grace_seconds`` for a worker that is
        already exiting), reap the worker, close the pipes. Idempotent."""
        exited = self._exited_within(grace_seconds) if grace_seconds else False
        with self._lock:
            if not self._reaped:
                # killpg before reaping: while the leader is an unreaped zombie,
                # its pid (= the group id) cannot be reused by anyone else.
                _killpg(self.pid)
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:  # reaped elsewhere; nothing left to learn
                    if self.proc.returncode is None:
                        self.proc.returncode = -signal.SIGKILL
                self._reaped = True
                for stream in (self.proc.stdin, self.proc.stdout):
                    try:
                        stream.close()  # type: ignore[union-attr]
                    except OSError:
                        pass
        return _Exit(returncode=self.proc.returncode, exited_by_itself=exited)

    def _exited_within(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while True:
            try:
                if os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.005)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- pool -------------------------------------------------------------------------------


class _Retired(Exception):
    pass


class _Pool:
    """Workers of one (plugin, version). ``cond`` guards every field."""

    def __init__(self, function: PluginFunction) -> None:
        self.function = function
        self.cond = threading.Condition()
        self.idle: list[_Worker] = []  # LIFO: the warmest first, so extras go idle and get reaped
        self.busy: set[_Worker] = set()
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
    * ``network_isolation`` (True): a network namespace per worker when permitted.
    * ``extra_env``: added to the workers' clean environment, e.g.
      ``{"MF_PLUGIN_DETERMINISTIC": "1"}`` (protocol section 9).
    * ``worker_stderr``: where plugin logs go (``None`` inherits this process's).

    Timing: a caller waits for a free worker up to the function's
    ``timeout_seconds`` (then ``PluginUnavailable`` "no capacity"); the
    invocation itself then gets the full ``timeout_seconds`` from the moment
    the event is sent before its worker is killed (``PluginTimedOut``).
    """

    def __init__(self, state_store: StateStore, *, max_workers_per_function: int = 4,
                 idle_seconds: float = 300.0, spawn_timeout_seconds: float = 10.0,
                 network_isolation: bool = True, extra_env: Mapping[str, str] | None = None,
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
        # None: not tried yet; then True/False once a worker started with/without it.
        self._netns: bool | None = None if network_isolation and _may_unshare() else False
        self._namespaces = _libc_namespaces() if self._netns is None else None
        if self._netns is None and self._namespaces is None:
            self._netns = False
        if network_isolation and self._netns is False:
            self._warn_no_netns("this process may not unshare(CLONE_NEWNET) (needs Linux and CAP_SYS_ADMIN)")

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
    def network_isolated(self) -> bool | None:
        """True once workers run in their own network namespace; False if they
        cannot; None before the first worker started."""
        return self._netns

    def stats(self) -> dict[str, Any]:
        with self._lock:
            pools = list(self._pools.items())
        functions = {}
        for (plugin, version), pool in pools:
            with pool.cond:
                functions[f"{plugin}@{version}"] = {
                    "idle_pids": [w.pid for w in pool.idle], "busy_pids": [w.pid for w in pool.busy],
                    "starting": pool.starting}
        return {"functions": functions, "spawn_seconds": list(self._spawn_times),
                "network_isolated": self._netns}

    def reap_idle(self, *, older_than_seconds: float | None = None) -> int:
        """Stop workers idle for longer than ``idle_seconds``; returns how many."""
        limit = self._idle_seconds if older_than_seconds is None else older_than_seconds
        now = time.monotonic()
        with self._lock:
            pools = list(self._pools.values())
        expired: list[_Worker] = []
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

    def _acquire(self, pool: _Pool, deadline: float) -> _Worker:
        dead: list[_Worker] = []
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

    def _release(self, pool: _Pool, worker: _Worker, healthy: bool) -> None:
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

    def _call(self, worker: _Worker, data: bytes, scope: str | None) -> dict[str, Any]:
        function = worker.function
        name = f"plugin {function.plugin} {function.version}"
        try:
            return worker.call(data, scope, self._store, function.timeout_seconds)
        except _Timeout:
            worker.kill("timeout")
            worker.stop()
            raise PluginTimedOut(f"{name} did not answer within {function.timeout_seconds} s") from None
        except _OutOfMemory:
            worker.stop(grace_seconds=1.0)
            raise PluginOutOfMemory(f"{name} ran out of memory ({function.memory_limit_mb} MB)") from None
        except _Oversized as exc:
            worker.stop()
            raise PluginFailure(f"{name} returned a result of {exc} bytes, over the "
                                f"{MAX_RESULT_FRAME_BYTES // MIB} MB limit") from None
        except _Malformed as exc:
            log.warning("%s (worker %s) broke the channel: %s", name, worker.pid, exc)
            worker.stop()
            raise PluginFailure(f"{name} returned a malformed result") from None
        except _Eof:
            raise self._exit_failure(worker, worker.stop(grace_seconds=1.0), name) from None

    def _exit_failure(self, worker: _Worker, exit: _Exit, name: str) -> PluginFailure:
        if worker.kill_reason == "the local runtime shut down":
            return PluginUnavailable(f"{name}: {worker.kill_reason}")
        if exit.returncode == EXIT_OUT_OF_MEMORY:
            return PluginOutOfMemory(f"{name} ran out of memory ({worker.function.memory_limit_mb} MB)")
        if not exit.exited_by_itself:
            return PluginFailure(f"{name} closed its channel without answering")
        if exit.returncode == -signal.SIGKILL:
            # Not our kill. Its peak memory cannot tell an OOM kill apart: Linux carries
            # ru_maxrss across exec, so a worker forked from a big parent looks big.
            # Running out of the manifest's memory shows as MemoryError (RLIMIT_AS) instead.
            return PluginFailure(f"{name} was killed (SIGKILL)")
        log.warning("%s worker %s exited with %s", name, worker.pid, exit.returncode)
        return PluginFailure(f"{name} crashed (worker exit status {exit.returncode})")

    # -- spawning ----------------------------------------------------------------------------

    def _spawn(self, function: PluginFunction) -> _Worker:
        name = f"plugin {function.plugin} {function.version}"
        source = function.source_dir
        if not source or not (Path(source) / "manifest.json").is_file():
            raise PluginUnavailable(f"{name} has no local code (source_dir {source!r})")
        # -P: the working directory (the plugin folder) must not shadow the
        # worker's own modules; the worker adds the folder after it starts.
        argv = [sys.executable, "-P", "-m", WORKER_MODULE, "--source-dir", str(Path(source).resolve()),
                "--handler", function.handler]
        started = time.monotonic()
        proc = self._popen(argv, source, address_space_limit_bytes(function.memory_limit_mb), name)
        worker = _Worker(proc, function)
        try:
            message = worker.recv(started + self._spawn_timeout)
        except _Timeout:
            worker.stop()
            raise PluginUnavailable(f"{name} did not start within {self._spawn_timeout:g} s") from None
        except _Malformed:
            worker.stop()
            raise PluginUnavailable(f"{name} did not start: its worker broke the channel") from None
        except _Eof:
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

    def _popen(self, argv: list[str], cwd: str, limit: int, name: str) -> subprocess.Popen[bytes]:
        use_netns = self._netns is not False
        while True:
            try:
                proc = subprocess.Popen(
                    argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                    env=self._worker_env(), cwd=cwd, close_fds=True, start_new_session=True,
                    preexec_fn=_sandbox(limit, self._namespaces if use_netns else None))
            except subprocess.SubprocessError as exc:
                # preexec_fn failed; the only steps that may legitimately fail are the namespaces.
                if not use_netns:
                    raise PluginUnavailable(f"cannot start a worker for {name}: {exc}") from exc
                self._netns = False
                self._warn_no_netns("unshare(CLONE_NEWNET | CLONE_NEWNS) or mounting /dev/shm is not permitted here")
                use_netns = False
                continue
            except OSError as exc:
                raise PluginUnavailable(f"cannot start a worker for {name}: {exc.strerror}") from exc
            if use_netns:
                self._netns = True
            return proc

    def _worker_env(self) -> dict[str, str]:
        """Everything a worker gets from the environment. Nothing is inherited:
        not the gateway's AWS credentials, MF_* settings or DynamoDB endpoint."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "PYTHONPATH": os.pathsep.join(_worker_python_path()),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",  # plugin folders stay as published
            "MALLOC_ARENA_MAX": "2",  # each extra glibc arena reserves 64 MB of the RLIMIT_AS budget
            "POWERTOOLS_METRICS_DISABLED": "true",  # stdout is the channel: no EMF lines
            # Belt and braces for botocore, should a plugin import it: no shared
            # credential files, no instance metadata.
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
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

    _warned = False
    _warn_lock = threading.Lock()

    @classmethod
    def _warn_no_netns(cls, why: str) -> None:
        with cls._warn_lock:
            if cls._warned:
                return
            cls._warned = True
        log.warning("plugin workers run WITHOUT network isolation: %s", why)


# -- process sandbox helpers -------------------------------------------------------------------


def _worker_python_path() -> list[str]:
    """The repository root (for ``-m chalicelib.runtime.worker``) and, when it is
    not an installed site package, the plugin SDK's folder."""
    paths = [str(Path(__file__).resolve().parents[2])]
    sdk_parent = str(Path(mocklib_plugin_sdk.__file__).resolve().parents[1])
    site_dirs = {str(Path(p).resolve()) for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    if sdk_parent not in site_dirs and sdk_parent not in paths:
        paths.append(sdk_parent)
    return paths


__all__ = ["LocalRuntime", "address_space_limit_bytes", "execute_storage", "storage_scope"]
