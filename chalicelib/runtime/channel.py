"""The runtime's end of one worker process: framed, deadline-bound I/O on its pipes (the
wire format is in ``chalicelib.runtime.worker``), its storage calls served, and the process
killed and reaped without ever signalling a reused pid."""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from mocklib_plugin_sdk.sandbox import kill_group
from mocklib_plugin_sdk.state import StateStore

from chalicelib.runtime.port import PluginFunction
from chalicelib.runtime.storage import execute_storage
from chalicelib.runtime.worker import FRAME_HEADER, MAX_FRAME_BYTES, FrameError, decode_frame_body, encode_frame


class Timeout(Exception):
    """The deadline passed."""


class Eof(Exception):
    """The worker closed its channel (exited, crashed, was killed)."""


class Malformed(Exception):
    """The worker sent something that is not a frame of the protocol."""


class OutOfMemory(Exception):
    """The worker reported a MemoryError and exits."""


class Oversized(Exception):
    """The worker's result is over Lambda's 6 MB."""


@dataclass(frozen=True)
class Exit:
    returncode: int
    exited_by_itself: bool  # False: still running after the grace period, so we killed it


class Worker:
    """The parent's end of one worker: framed, deadline-bound I/O and the process.

    ``proc`` leads a session of its own (in a sandbox: bwrap, which takes everything in the
    sandbox with it when it dies); ``on_reaped`` runs once it is reaped (the sandbox's cgroup)."""

    def __init__(self, proc: subprocess.Popen[bytes], function: PluginFunction,
                 on_reaped: Callable[[], None] = lambda: None) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.proc = proc
        self.pid = proc.pid
        self._on_reaped = on_reaped
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
                raise Eof() from exc

    def recv(self, deadline: float) -> dict[str, Any]:
        while True:
            if len(self._buffer) >= FRAME_HEADER.size:
                (size,) = FRAME_HEADER.unpack_from(self._buffer)
                if size > MAX_FRAME_BYTES:
                    raise Malformed(f"frame of {size} bytes")
                end = FRAME_HEADER.size + size
                if len(self._buffer) >= end:
                    body = bytes(self._buffer[FRAME_HEADER.size:end])
                    del self._buffer[:end]
                    try:
                        return decode_frame_body(body)
                    except FrameError as exc:
                        raise Malformed(str(exc)) from exc
            self._wait(self._in, select.POLLIN, deadline)
            try:
                chunk = os.read(self._in, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise Eof()
            self._buffer += chunk

    @staticmethod
    def _wait(fd: int, events: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(fd, events)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout()
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
                    raise Malformed("result without an integer status")
                return result  # type: ignore[return-value]
            if op == "storage":
                self.send(encode_frame(execute_storage(message, scope, store)), deadline)
            elif op == "oom":
                raise OutOfMemory()
            elif op == "oversized":
                raise Oversized(message.get("bytes"))
            else:
                raise Malformed(f"unexpected {op!r} frame")

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
            kill_group(self.pid)

    def stop(self, *, grace_seconds: float = 0.0) -> Exit:
        """Kill the process group (after ``grace_seconds`` for a worker that is
        already exiting), reap the worker, close the pipes. Idempotent."""
        exited = self._exited_within(grace_seconds) if grace_seconds else False
        with self._lock:
            if not self._reaped:
                # killpg before reaping: while the leader is an unreaped zombie,
                # its pid (= the group id) cannot be reused by anyone else.
                kill_group(self.pid)
                try:
                    _, status = os.waitpid(self.pid, 0)
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                except ChildProcessError:  # reaped elsewhere; nothing left to learn
                    if self.proc.returncode is None:
                        self.proc.returncode = -signal.SIGKILL
                self._reaped = True
                self._on_reaped()
                for stream in (self.proc.stdin, self.proc.stdout):
                    try:
                        stream.close()  # type: ignore[union-attr]
                    except OSError:
                        pass
        return Exit(returncode=self.proc.returncode, exited_by_itself=exited)

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


class LogForwarder:
    """Drains a worker's stderr (its logs) into the runtime's, each line labelled with the
    plugin, at most ``budget`` bytes per worker: a plugin flooding its log can neither block on
    a full pipe nor fill the platform's disk."""

    def __init__(self, source: IO[bytes], label: str, sink: int | IO[Any] | None, budget: int = 1024 * 1024) -> None:
        self._source = source
        self._prefix = f"[{label}] ".encode()
        self._sink = sink
        self._budget = budget
        threading.Thread(target=self._run, name=f"logs {label}", daemon=True).start()

    def _write(self, data: bytes) -> None:
        sink = self._sink if self._sink is not None else sys.stderr
        if isinstance(sink, int):
            os.write(sink, data)
            return
        binary: Any = getattr(sink, "buffer", sink)  # a text stream's bytes underneath, or a binary file itself
        try:
            binary.write(data)
        except TypeError:  # a text stream with no bytes underneath (a test's capture)
            sink.write(data.decode("utf-8", errors="replace"))
        sink.flush()

    def _run(self) -> None:
        written = dropped = 0
        try:
            while line := self._source.readline(64 * 1024):
                if written + len(line) > self._budget:
                    dropped += len(line)
                    continue
                written += len(line)
                self._write(self._prefix + line + (b"" if line.endswith(b"\n") else b"\n"))
            if dropped:
                self._write(self._prefix + f"[{dropped} more bytes of log output dropped: over "
                                           f"{self._budget} bytes]\n".encode())
        except (OSError, ValueError):  # the sink closed under us: the runtime is shutting down
            pass
        finally:
            self._source.close()
