"""Run untrusted plugin code in a child process that can do little harm.

Used by the marketplace's local plugin runtime (its worker processes) and by
the publishing checks (a plugin's tests and the contract probe). The pieces:

* ``sandbox_preexec``: the ``preexec_fn`` of the child: no core dumps, an
  address-space limit (``RLIMIT_AS``) and, where this process may, fresh network
  and mount namespaces (only a downed loopback; a small private ``/dev/shm``).
* ``run_sandboxed``: one command to completion with a clean environment, a
  timeout that kills the whole process group, output in files (no pipe
  deadlocks whatever the child prints) and its peak RSS.
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
SHM_BYTES = 1024 * 1024  # enough for the few semaphores Python's multiprocessing keeps there
SHM_OPTIONS = f"size={SHM_BYTES},nr_inodes=64,mode=1777".encode()
CAP_SYS_ADMIN = 21
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


def may_unshare() -> bool:
    """Whether this process may create network namespaces (Linux, root or CAP_SYS_ADMIN)."""
    if not sys.platform.startswith("linux"):
        return False
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except OSError:
        pass
    return False


@dataclass(frozen=True)
class Namespaces:
    """libc's ``unshare`` and ``mount`` (Python 3.11 has neither), resolved in the parent so
    the forked child only makes the calls."""

    unshare: Callable[[int], int]
    mount: Callable[[bytes | None, bytes, bytes | None, int, bytes | None], int]


def libc_namespaces() -> Namespaces | None:
    """libc's namespace calls, or None where there are none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        unshare, mount = libc.unshare, libc.mount
    except (OSError, AttributeError):
        return None
    unshare.argtypes = [ctypes.c_int]
    unshare.restype = ctypes.c_int
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    mount.restype = ctypes.c_int
    return Namespaces(unshare, mount)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


def sandbox_preexec(address_space: int, namespaces: Namespaces | None) -> Callable[[], None]:
    """The ``preexec_fn`` of a sandboxed child: runs in the forked child before exec.

    With ``namespaces``: a network namespace of its own (only a downed loopback) and a mount
    namespace of its own, in which ``/dev/shm`` is a private tmpfs of ``SHM_BYTES``: memory
    written there is not counted by ``RLIMIT_AS``, so the host's shared one would let a
    plugin use memory past its limit.

    The child only makes syscalls (the child of a threaded parent must not take locks
    another thread may have held at fork). RLIMIT_AS comes last: until exec the child still
    has the parent's address space, so any allocation after it could fail.
    """

    def preexec() -> None:
        if namespaces is not None:
            _check(namespaces.unshare(CLONE_NEWNET | CLONE_NEWNS), "unshare")
            _check(namespaces.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private")
            _check(namespaces.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                    SHM_OPTIONS), "mounting a private /dev/shm")
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return preexec


def unavailable_reason() -> str | None:
    """Why untrusted code cannot be run in a sandbox on this machine, or None when it can.
    Callers refuse third-party code (submissions) instead of running it unsandboxed."""
    return None


def sdk_python_path() -> list[str]:
    """What a child's PYTHONPATH needs for ``import mocklib_plugin_sdk``: nothing when
    the SDK is an installed site package, else the folder holding it (a checkout)."""
    sdk_parent = str(Path(__file__).resolve().parents[1])
    paths = sysconfig.get_paths()
    site_dirs = {str(Path(paths[key]).resolve()) for key in ("purelib", "platlib")}
    return [] if sdk_parent in site_dirs else [sdk_parent]


def clean_env(*, home: str, python_path: Sequence[str] = (),
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A child's whole environment. Nothing is inherited: no AWS credentials, no
    MF_* settings, no proxies, no DynamoDB endpoint of the parent."""
    env = {
        "PATH": BASE_PATH,
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the project stays as it was handed over
        "MALLOC_ARENA_MAX": "2",  # each extra glibc arena reserves 64 MB of the RLIMIT_AS budget
        # Belt and braces for botocore, should the code import it.
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if python_path:
        env["PYTHONPATH"] = os.pathsep.join(python_path)
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    peak_rss_kb: int
    network_namespace: bool


def run_sandboxed(argv: Sequence[str], *, cwd: str | Path, env: Mapping[str, str], timeout_s: float,
                  address_space: int, network_isolation: bool = True,
                  max_output_bytes: int = 1024 * 1024) -> SandboxResult:
    """Run ``argv`` to completion (or until ``timeout_s``, then kill its process group).

    The network namespace is used when this process may create one; if
    ``unshare`` is refused anyway, the command runs without it
    (``network_namespace`` says which happened).
    """
    namespaces = libc_namespaces() if network_isolation and may_unshare() else None
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        while True:
            try:
                proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        cwd=str(cwd), env=dict(env), close_fds=True, start_new_session=True,
                                        preexec_fn=sandbox_preexec(address_space, namespaces))
            except subprocess.SubprocessError:
                # preexec_fn failed; the only steps that may legitimately fail are the namespaces.
                if namespaces is None:
                    raise
                namespaces = None
                continue
            break
        status, rusage, timed_out = _wait(proc, started + timeout_s)
        seconds = time.monotonic() - started
        return SandboxResult(returncode=status, stdout=_read(out, max_output_bytes),
                             stderr=_read(err, max_output_bytes), timed_out=timed_out, seconds=seconds,
                             peak_rss_kb=int(rusage.ru_maxrss) if rusage is not None else 0,
                             network_namespace=namespaces is not None)


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, resource.struct_rusage | None, bool]:
    """Reap the child with ``wait4`` (its own peak RSS), killing its group at the deadline."""
    timed_out = False
    delay = 0.005
    while True:
        try:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:
            proc.returncode = -1
            return -1, None, timed_out
        if pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code  # reaped here: Popen must not wait for it again
            _killpg(proc.pid)  # leftovers the command started in its session
            return code, rusage, timed_out
        if not timed_out and time.monotonic() >= deadline:
            timed_out = True
            _killpg(proc.pid)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read(handle: IO[bytes], limit: int) -> str:
    """The last ``limit`` bytes: a test run's summary is at the end."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - limit))
    data = handle.read(limit)
    text = data.decode("utf-8", errors="replace")
    return text if size <= limit else f"[... {size - limit} bytes cut ...]\n{text}"


__all__ = ["BASE_PATH", "CAP_SYS_ADMIN", "CLONE_NEWNET", "Namespaces", "SandboxResult", "clean_env",
           "libc_namespaces", "may_unshare", "run_sandboxed", "sandbox_preexec", "sdk_python_path",
           "unavailable_reason"]
