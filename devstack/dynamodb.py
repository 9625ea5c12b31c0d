"""AWS DynamoDB Local as a child process (Java 17; fetched by scripts/bootstrap.sh).

Binding: DynamoDB Local has no host/bind option (``-help`` lists only -port, -inMemory,
-dbPath, -sharedDb, -cors, -delayTransientStatuses, -disableTelemetry, ...); its
DynamoDBProxyServer builds a Jetty ``Server(port)``, which listens on all interfaces.
So we start it through ``devstack/java/LoopbackDynamoDBLocal.java`` (compiled by the
bootstrap into ``.tools/dynamodb/loopback/``), which sets the Jetty connector's host to
127.0.0.1 before starting the very same server. Without a JDK to compile it, we fall back
to ``-jar DynamoDBLocal.jar`` (all interfaces) and say so; clients always use 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from devstack import REPO_ROOT

DEFAULT_HOME = REPO_ROOT / ".tools" / "dynamodb"
HOST = "127.0.0.1"
# C1 only + serial GC: about half the CPU to start and to serve a dev/test load (measured:
# ~2.5 s instead of ~5 s of CPU to start and create tables), which matters on 2 cores
# with several servers starting at once under pytest-xdist.
JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xms64m")
LAUNCHER = "LoopbackDynamoDBLocal"


def free_port(host: str = HOST) -> int:
    """A TCP port that was free a moment ago (the OS picks it; races are unlikely)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = HOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def dynamodb_home() -> Path:
    return Path(os.environ.get("MF_DYNAMODB_LOCAL_HOME") or DEFAULT_HOME)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the JVM gets SIGTERM if the thread that started it dies (even by SIGKILL),
    so a killed dev stack or test run never leaves an orphan Java process behind. Its
    files are its user's alone (umask 077): the data file holds every table."""
    os.umask(0o077)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class DynamoDBLocal:
    """``with DynamoDBLocal(port) as ddb: ...`` or ``ddb.start() ... ddb.stop()``.

    ``db_path=None`` runs in memory; a directory keeps the data across restarts
    (``-sharedDb`` so every region/credential sees the same tables).
    """

    def __init__(self, port: int | None = None, db_path: Path | str | None = None, *,
                 home: Path | None = None, startup_timeout: float = 60.0,
                 log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.db_path = Path(db_path) if db_path is not None else None
        self.home = Path(home) if home else dynamodb_home()
        self.startup_timeout = startup_timeout
        self._log_path = Path(log_path) if log_path else None
        self._own_log = False
        self._log_file = None
        self._process: subprocess.Popen[bytes] | None = None
        self.loopback_only: bool | None = None  # known once command() ran

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise RuntimeError("java not found: run `make bootstrap` (installs openjdk-17-jre-headless)")
        jar = self.home / "DynamoDBLocal.jar"
        if not jar.is_file():
            raise RuntimeError(f"{jar} is missing: run `make bootstrap` to fetch DynamoDB Local")
        cmd = [java, *JVM_OPTIONS, f"-Djava.library.path={self.home / 'DynamoDBLocal_lib'}"]
        launcher = self.home / "loopback"
        if (launcher / f"{LAUNCHER}.class").is_file():
            cmd += [f"-Ddynamodb.host={HOST}", "-cp", f"{jar}{os.pathsep}{launcher}", LAUNCHER]
            self.loopback_only = True
        else:
            cmd += ["-jar", str(jar)]  # listens on every interface
            self.loopback_only = False
        cmd += ["-sharedDb", "-disableTelemetry", "-port", str(self.port)]
        if self.db_path is None:
            cmd.append("-inMemory")
        else:
            cmd += ["-dbPath", str(self.db_path)]
        return cmd

    def start(self) -> DynamoDBLocal:
        if self._process is not None:
            return self
        if port_is_open(self.port):
            raise RuntimeError(f"port {self.port} is already in use; pick another --dynamodb-port")
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
            for path in (self.db_path, *self.db_path.iterdir()):  # also a data dir made before it was private
                os.chmod(path, 0o700 if path.is_dir() else 0o600)
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="dynamodb-local-", suffix=".log")
            os.close(fd)
            self._log_path, self._own_log = Path(name), True
        else:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self._log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            self.command(), cwd=self.home, stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local exited with code {self._process.returncode}:\n"
                                   f"{self.log_tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"DynamoDB Local did not answer on {self.endpoint} within "
                                   f"{self.startup_timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _answers(self) -> bool:
        """Any HTTP answer (DynamoDB Local says 400 to a bare GET) means it is serving."""
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=1.0):
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path, self._own_log = None, False

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
