"""Run untrusted code (a plugin's worker, a submission's tests) where it can do little harm.

Used by the marketplace's local plugin runtime and by the publishing checks. The sandbox is
Debian's bubblewrap (``bwrap``), because it is small, packaged, audited and does exactly the
namespace plumbing needed, with no daemon and no image:

* an unprivileged uid (65534) in its own user, mount, pid, ipc, uts, cgroup and network
  namespaces: no capabilities, no way back into the caller's namespaces and no user namespace
  of its own to gain any, only its own processes to see or signal, no network (a loopback
  nobody listens on);
* a filesystem holding only the interpreter, the code it runs (both read-only), a small
  private ``/tmp`` and ``/dev/shm`` (tmpfs of a fixed size) and what the caller binds
  writable; the root, ``/dev`` and every bind are read-only otherwise, so nothing of the
  caller's state (secrets, DynamoDB's files, other plugins) exists inside;
* a clean environment; it dies with its parent, and everything in it dies with it (pid
  namespace), so no daemon outlives its worker;
* resource limits: the address space (``RLIMIT_AS``), the size of a file
  (``RLIMIT_FSIZE``), core dumps off, and the number of processes: a pids cgroup per sandbox
  where this process may create one (root), else ``RLIMIT_NPROC`` (a non-root user; the
  kernel does not enforce it on root, whose uid the sandbox maps to).

:func:`unavailable_reason` says why a machine cannot give that guarantee (no bwrap, no way to
bound processes); callers then refuse third-party code instead of running it unsandboxed.
"""
from __future__ import annotations

import itertools
import os
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_UID = 65534  # nobody, inside the sandbox
MIB = 1024 * 1024
# Shared libraries the interpreter loads; nothing executable of the system comes along.
SYSTEM_PATHS = ("/usr/lib", "/usr/lib64", "/lib64", "/etc/ld.so.cache")
PIDS_CGROUP_V1 = Path("/sys/fs/cgroup/pids")
CGROUP_PREFIX = "mf-sandbox-"


@dataclass(frozen=True)
class Limits:
    address_space: int  # bytes of RLIMIT_AS
    processes: int = 32  # processes and threads at once
    file_bytes: int = 64 * MIB  # the largest file it may write
    tmp_bytes: int = 16 * MIB  # its /tmp
    shm_bytes: int = 1 * MIB  # its /dev/shm: enough for multiprocessing's semaphores


@dataclass(frozen=True)
class Sandbox:
    """One sandboxed command's world: host paths bound at their own path, read-only or not."""

    limits: Limits
    readonly: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str = "/"

    def argv(self, command: Sequence[str]) -> list[str]:
        # --disable-userns: no user namespace of its own inside, where it would hold capabilities
        # (and could, say, mount a tmpfs no memory limit counts).
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox",
                "--proc", "/proc", "--dev", "/dev", "--size", str(self.limits.shm_bytes), "--tmpfs", "/dev/shm",
                "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp", "--symlink", "usr/lib", "/lib"]
        # After /tmp: a bind below it (a checks run's folder) must not be hidden by the tmpfs.
        writable = _existing(self.writable)
        for path in _existing((*interpreter_paths(), *self.readonly)):
            args += ["--ro-bind", path, path]
        for path in writable:
            args += ["--bind", path, path]
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", self.cwd, "--clearenv"]
        for name, value in sorted(self.env.items()):
            args += ["--setenv", name, value]
        return [*args, "--", *command]


def _existing(paths: Sequence[str]) -> list[str]:
    """Each path once, parents before children, only those that exist."""
    seen: list[str] = []
    for path in sorted(set(paths), key=lambda p: (p.count("/"), p)):
        if os.path.exists(path):
            seen.append(path)
    return seen


def interpreter_paths() -> tuple[str, ...]:
    """What a Python process needs to start and import the plugin SDK: the interpreter's own
    prefix and this environment's (a virtualenv), the SDK when it is not an installed site
    package (a checkout), and the system's shared libraries."""
    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix, *sdk_python_path()}
    return (*sorted(paths), *SYSTEM_PATHS)


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
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the code stays as it was handed over
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


# -- bounding the number of processes -----------------------------------------------------------


class _PidsCgroups:
    """One pids cgroup (v1) per sandbox, named after this process so a crashed caller's
    leftovers can be told apart and removed."""

    _counter = itertools.count(1)

    def __init__(self, root: Path) -> None:
        self.root = root
        self._remove_stale()

    def create(self, limit: int) -> Path:
        group = self.root / f"{CGROUP_PREFIX}{os.getpid()}-{next(self._counter)}"
        group.mkdir()
        (group / "pids.max").write_text(str(limit))
        return group

    @staticmethod
    def remove(group: Path) -> None:
        for _ in range(50):  # the pid namespace's last processes may still be on their way out
            try:
                group.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)

    def _remove_stale(self) -> None:
        for group in self.root.glob(f"{CGROUP_PREFIX}*"):
            owner = group.name[len(CGROUP_PREFIX):].split("-")[0]
            if owner.isdigit() and not _alive(int(owner)):
                try:
                    group.rmdir()
                except OSError:
                    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@lru_cache(maxsize=1)
def _cgroups() -> _PidsCgroups | None:
    if os.geteuid() != 0 or not (PIDS_CGROUP_V1 / "cgroup.procs").exists():
        return None
    try:
        cgroups = _PidsCgroups(PIDS_CGROUP_V1)
        cgroups.remove(cgroups.create(1))  # may this process create one?
    except OSError:
        return None
    return cgroups


def process_limit() -> str | None:
    """How the number of processes is bounded here: "cgroup", "rlimit", or None (it cannot be)."""
    if _cgroups() is not None:
        return "cgroup"
    return "rlimit" if os.geteuid() != 0 else None


# -- starting a sandboxed process ------------------------------------------------------------------


def _preexec(limits: Limits, cgroup_procs: str | None, *, nproc: bool = True) -> Callable[[], None]:
    """The child's last steps before exec. Only syscalls: the child of a threaded parent must
    not take locks another thread may have held at fork. RLIMIT_AS last: until exec the child
    still has the parent's address space."""

    def preexec() -> None:
        if cgroup_procs is not None:
            fd = os.open(cgroup_procs, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        elif nproc:
            # Not enforced for root (the uid the sandbox maps to when root starts it): then the
            # cgroup above is required (unavailable_reason).
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))

    return preexec


class SandboxedProcess:
    """A process started in a :class:`Sandbox`: ``proc`` is bwrap, the leader of a session
    of its own; killing its process group kills bwrap, and with it everything in the sandbox
    (``--die-with-parent`` and the pid namespace). Call :meth:`release` once it is reaped."""

    def __init__(self, proc: subprocess.Popen[bytes], cgroup: Path | None) -> None:
        self.proc = proc
        self._cgroup = cgroup
        self._released = threading.Lock()

    def release(self) -> None:
        if self._cgroup is not None and self._released.acquire(blocking=False):
            _PidsCgroups.remove(self._cgroup)


class SandboxUnavailable(OSError):
    """This machine cannot sandbox (see :func:`unavailable_reason`) and the caller requires it."""


def spawn(sandbox: Sandbox, command: Sequence[str], *, stdin: Any = subprocess.DEVNULL, stdout: Any = None,
          stderr: Any = None, required: bool = True) -> SandboxedProcess:
    """Start ``command`` in ``sandbox`` (raises OSError when it cannot start). Where no sandbox
    can be had, ``required=False`` (a developer's own code on their own machine) runs it with
    the limits, the clean environment and the working directory only; else SandboxUnavailable."""
    reason = unavailable_reason()
    if reason is not None:
        if required:
            raise SandboxUnavailable(f"no sandbox on this machine: {reason}")
        proc = subprocess.Popen(list(command), stdin=stdin, stdout=stdout, stderr=stderr, env=dict(sandbox.env),
                                cwd=sandbox.cwd, close_fds=True, start_new_session=True,
                                preexec_fn=_preexec(sandbox.limits, None, nproc=False))
        return SandboxedProcess(proc, None)
    return _spawn(sandbox, command, stdin=stdin, stdout=stdout, stderr=stderr)


def _spawn(sandbox: Sandbox, command: Sequence[str], *, stdin: Any, stdout: Any, stderr: Any) -> SandboxedProcess:
    cgroups = _cgroups()
    cgroup = cgroups.create(sandbox.limits.processes) if cgroups is not None else None
    try:
        proc = subprocess.Popen(sandbox.argv(command), stdin=stdin, stdout=stdout, stderr=stderr,
                                env={"PATH": BASE_PATH}, close_fds=True, start_new_session=True,
                                preexec_fn=_preexec(sandbox.limits,
                                                    str(cgroup / "cgroup.procs") if cgroup else None))
    except BaseException:
        if cgroup is not None:
            _PidsCgroups.remove(cgroup)
        raise
    return SandboxedProcess(proc, cgroup)


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why untrusted code cannot be run in a sandbox on this machine, or None when it can.
    Callers refuse third-party code (submissions) instead of running it unsandboxed."""
    if not sys.platform.startswith("linux"):
        return "the sandbox needs Linux namespaces"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap (make bootstrap does)"
    if process_limit() is None:
        return "running as root without a pids cgroup to create: nothing would bound a fork bomb"
    probe = Sandbox(Limits(address_space=512 * MIB), env=clean_env(home="/tmp"))
    try:
        child = _spawn(probe, [sys.executable, "-c", "import os; assert os.getuid() == 65534"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = child.proc.communicate(timeout=30)
        child.release()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start a sandbox: {exc}"
    if child.proc.returncode != 0:
        return f"bubblewrap could not start a sandbox: {err.decode(errors='replace').strip()[-300:]}"
    return None


# -- one command to completion (the publishing checks) -------------------------------------------


@dataclass(frozen=True)
class SandboxResult:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    peak_rss_kb: int


def run_sandboxed(argv: Sequence[str], *, sandbox: Sandbox, timeout_s: float, required: bool = True,
                  max_output_bytes: int = 1024 * 1024) -> SandboxResult:
    """Run ``argv`` in ``sandbox`` to completion (or until ``timeout_s``, then kill it), its
    output in files (no pipe deadlocks whatever it prints). Raises OSError if it cannot start
    (``required``: see :func:`spawn`)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = spawn(sandbox, argv, stdout=out, stderr=err, required=required)
        try:
            status, rusage, timed_out = _wait(child.proc, started + timeout_s)
        finally:
            child.release()
        return SandboxResult(returncode=status, stdout=_read(out, max_output_bytes),
                             stderr=_read(err, max_output_bytes), timed_out=timed_out,
                             seconds=time.monotonic() - started,
                             peak_rss_kb=int(rusage.ru_maxrss) if rusage is not None else 0)


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int, resource.struct_rusage | None, bool]:
    """Reap the child with ``wait4`` (peak RSS of the largest process), killing it at the deadline."""
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
            kill_group(proc.pid)  # unsandboxed leftovers in its session (a sandbox's die with it)
            return code, rusage, timed_out
        if not timed_out and time.monotonic() >= deadline:
            timed_out = True
            kill_group(proc.pid)
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def kill_group(pgid: int) -> None:
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


__all__ = ["BASE_PATH", "Limits", "Sandbox", "SandboxResult", "SandboxUnavailable", "SandboxedProcess", "clean_env",
           "interpreter_paths", "kill_group", "process_limit", "run_sandboxed", "sdk_python_path", "spawn",
           "unavailable_reason"]
