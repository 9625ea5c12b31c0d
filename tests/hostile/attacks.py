"""The hostile-plugin catalogue: one attack per entry, written once and run both as a plugin's
endpoint (through the gateway and the local runtime) and as a submission's test (through the
publishing checks). Each attack is the body of ``attack(t, plugin)``: ``t`` holds the targets
the test set up (a listening port standing for DynamoDB Local, the gateway's pid, secret files,
a path outside the sandbox to write to), ``plugin`` is the SDK plugin in a runtime (None in
the checks). It returns what it observed, or dies trying.
"""
from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Attack:
    name: str
    title: str
    code: str  # the body of def attack(t, plugin)
    status: int  # what the gateway answers: the plugin's own 500 with its observations, or 502/503/504
    contained: Callable[[dict[str, Any]], bool] = lambda observed: True  # judged on the observations (500s)
    prelude: str = ""  # module-level code of the plugin (crash at import)
    expected: str = ""  # for the report
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def plugin(self) -> str:
        return "hx-" + self.name.replace("_", "-")

    def function_source(self) -> str:
        return "def attack(t, plugin):\n" + textwrap.indent(textwrap.dedent(self.code).strip(), "    ") + "\n"


def _failed(*keys: str) -> Callable[[dict[str, Any]], bool]:
    """Contained when every named observation is an error's name (the attempt failed)."""
    return lambda observed: all(isinstance(observed.get(k), str) and observed[k][:1].isupper() for k in keys)


ATTACKS = [
    Attack("socket_connect", "connect through `_socket` to a platform service on 127.0.0.1 (DynamoDB Local, the API)",
           """
           import _socket
           s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
           s.settimeout(2)
           try:
               s.connect(("127.0.0.1", t["port"]))
               return {"connect": "connected"}
           except OSError as exc:
               return {"connect": type(exc).__name__}
           """, 500, _failed("connect"), expected="refused: a network namespace of its own"),
    Attack("ctypes_syscall", "raw syscalls through `ctypes`: socket + connect, setns into another network "
                             "namespace, a user namespace of its own (capabilities to mount a tmpfs)",
           """
           import ctypes, os, struct
           libc = ctypes.CDLL(None, use_errno=True)
           fd = libc.socket(2, 1, 0)
           address = struct.pack("<H", 2) + struct.pack(">H", t["port"]) + bytes([127, 0, 0, 1]) + bytes(8)
           out = {"connect": "connected" if libc.connect(fd, address, 16) == 0 else os.strerror(ctypes.get_errno())}
           ns = os.open("/proc/1/ns/net", os.O_RDONLY)
           out["setns"] = "joined" if libc.setns(ns, 0x40000000) == 0 else os.strerror(ctypes.get_errno())
           out["unshare_user"] = "created" if libc.unshare(0x10000000) == 0 else os.strerror(ctypes.get_errno())
           return out
           """, 500, _failed("connect", "setns", "unshare_user"),
           expected="every call fails: no network, no capability, no user namespace"),
    Attack("subprocess_shell", "start a shell with `subprocess` and `os.system`",
           """
           import os, subprocess
           try:
               run = subprocess.run(["/bin/sh", "-c", "id; cat /etc/shadow"], capture_output=True, timeout=5)
               out = {"run": f"exit {run.returncode}: {run.stdout[:200]!r}"}
           except OSError as exc:
               out = {"run": type(exc).__name__}
           status = os.system("id")
           out["system"] = "ran" if status == 0 else f"Exit status {status}"
           return out
           """, 500, _failed("run", "system"), expected="no shell exists in the sandbox"),
    Attack("dynamic_import", "`__import__(\"so\" + \"cket\")` past the static scan, then connect",
           """
           module = __import__("so" + "cket")
           try:
               module.create_connection(("127.0.0.1", t["port"]), timeout=2)
               return {"connect": "connected"}
           except OSError as exc:
               return {"connect": type(exc).__name__}
           """, 500, _failed("connect"), expected="refused at run time, whatever the scan saw"),
    Attack("parent_environ", "read `/proc/<ppid>/environ`, PID 1's and the gateway's environment",
           """
           import os
           found = {}
           for pid in {os.getppid(), 1, t["gateway_pid"]}:
               try:
                   found[str(pid)] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
               except OSError as exc:
                   found[str(pid)] = type(exc).__name__
           return {"environ": found, "own": dict(os.environ), "gateway": found.get(str(t["gateway_pid"]))}
           """, 500, _failed("gateway"), expected="its own pid namespace: the gateway is not there; no secret "
                                                   "in any environment it can read"),
    Attack("dev_secrets", "read the dev stack's secrets (`dev-secrets.json`, `dev.json`: signing keys, admin token)",
           """
           import os
           out = {}
           for name, path in (("secrets", t["secrets_file"]), ("state_dir", t["state_dir"])):
               try:
                   out[name] = os.listdir(path) if os.path.isdir(path) else open(path).read()
               except OSError as exc:
                   out[name] = type(exc).__name__
           return out
           """, 500, _failed("secrets", "state_dir"), expected="the state dir does not exist in the sandbox"),
    Attack("dynamodb_files", "read DynamoDB Local's data file (every table, other users' plugin state)",
           """
           try:
               return {"db": open(t["db_file"], "rb").read(200).decode(errors="replace")}
           except OSError as exc:
               return {"db": type(exc).__name__}
           """, 500, _failed("db"), expected="not in the sandbox"),
    Attack("etc_shadow", "read `/etc/shadow` and `/root`",
           """
           import os
           out = {}
           for name, path in (("shadow", "/etc/shadow"), ("root", "/root/.bash_history")):
               try:
                   out[name] = open(path).read()[:200]
               except OSError as exc:
                   out[name] = type(exc).__name__
           return out
           """, 500, _failed("shadow", "root"), expected="not in the sandbox"),
    Attack("write_outside", "write outside its temp dir: the host, its own code, the root, the interpreter",
           """
           import os, sys
           out = {}
           for name, path in (("host", t["write_target"]), ("own_code", os.path.abspath(__file__) + ".planted"),
                              ("root", "/planted"), ("interpreter", os.path.join(sys.prefix, "planted"))):
               try:
                   with open(path, "w") as handle:
                       handle.write("planted")
                   out[name] = "written"
               except OSError as exc:
                   out[name] = type(exc).__name__
           return out
           """, 500, _failed("host", "own_code", "root", "interpreter"), expected="read-only or absent"),
    Attack("tmp_fill", "fill the disk through its temp dir (1 GiB to /tmp)",
           """
           written = 0
           try:
               with open("/tmp/fill", "wb") as handle:
                   for _ in range(1024):
                       handle.write(b"x" * (1 << 20))
                       handle.flush()
                       written += 1
               return {"written_mb": written, "fill": "filled"}
           except OSError as exc:
               return {"written_mb": written, "fill": type(exc).__name__}
           """, 500, lambda o: o.get("written_mb", 0) <= 64 and o.get("fill") == "OSError",
           expected="a size-limited private tmpfs: No space left on device"),
    Attack("shm_memory", "memory past its limit through `/dev/shm` (256 MiB)",
           """
           written = 0
           try:
               with open("/dev/shm/hog", "wb") as handle:
                   for _ in range(32):
                       handle.write(b"x" * (8 << 20))
                       handle.flush()
                       written += 8
               return {"written_mb": written, "shm": "filled"}
           except OSError as exc:
               return {"written_mb": written, "shm": type(exc).__name__}
           """, 500, lambda o: o.get("written_mb", 0) <= 1 and o.get("shm") == "OSError",
           expected="a 1 MiB private tmpfs"),
    Attack("signal_gateway", "SIGKILL the gateway by pid",
           """
           import os, signal
           try:
               os.kill(t["gateway_pid"], signal.SIGKILL)
               return {"kill": "signalled"}
           except OSError as exc:
               return {"kill": type(exc).__name__}
           """, 500, _failed("kill"), expected="no such process in its pid namespace"),
    Attack("kill_everything", "`kill(-1, SIGKILL)`: every process it may signal",
           """
           import os, signal
           try:
               os.kill(-1, signal.SIGKILL)
               return {"kill_all": "sent"}
           except OSError as exc:
               return {"kill_all": type(exc).__name__}
           """, 500, _failed("kill_all"), expected="no process it may signal (only its sandbox's init, which "
                                                    "kill(-1) spares): ESRCH; the gateway and other plugins run on"),
    Attack("daemon", "a double-forked daemon that outlives its worker",
           """
           import os, time
           pid = os.fork()
           if pid == 0:
               os.setsid()
               if os.fork() == 0:
                   time.sleep(3600)
               os._exit(0)
           os.waitpid(pid, 0)
           return {"daemon": "started"}
           """, 500, expected="killed with its sandbox (pid namespace) when the worker goes"),
    Attack("storage_other", "read and write another plugin's and another user's storage (forged partition keys)",
           """
           if plugin is None:  # the checks: straight at DynamoDB Local's port
               import socket
               try:
                   socket.create_connection(("127.0.0.1", t["port"]), timeout=2)
                   return {"other_plugin": "connected", "other_user": "connected"}
               except OSError as exc:
                   return {"other_plugin": type(exc).__name__, "other_user": type(exc).__name__}
           from datetime import datetime, timezone
           from mocklib_plugin_sdk.errors import StorageError
           from mocklib_plugin_sdk.state import StoredItem
           store = plugin.sdk._state_store()
           out = {}
           for name, pk in (("other_plugin", "echo#live#" + t["user_id"]), ("other_user", t["own_prefix"] + "usr_other")):
               try:
                   store.get(pk, "items#x")
                   store.put(StoredItem(pk, "items#planted", "{}", datetime.now(timezone.utc)))
                   out[name] = "read and written"
               except StorageError as exc:
                   out[name] = "StorageError " + exc.code
           return out
           """, 500, _failed("other_plugin", "other_user"), expected="storage_permission_denied: only the "
                                                                     "calling user's partition of its own plugin"),
    Attack("fork_bomb", "a fork bomb",
           """
           import os
           while True:
               try:
                   os.fork()
               except OSError:
                   pass
           """, 504, expected="at most its pids cgroup's processes; killed at its timeout: 504 plugin_timeout"),
    Attack("memory_bomb", "allocate without end",
           """
           hoard = []
           while True:
               hoard.append(b"x" * (8 << 20))
           """, 502, expected="RLIMIT_AS: 502 plugin_out_of_memory"),
    Attack("endless_loop", "loop forever",
           """
           while True:
               pass
           """, 504, expected="killed at its timeout: 504 plugin_timeout"),
    Attack("huge_output", "a 10 MB answer and a 64 MB log flood",
           """
           import sys
           for _ in range(64):
               sys.stderr.write("A" * (1 << 20))
           sys.stderr.flush()
           print("B" * (10 << 20))
           return {"answer": "X" * (10 << 20)}
           """, 502, expected="over Lambda's 6 MB: 502 plugin_error; the log capped at 1 MiB per worker"),
    Attack("malformed_protocol", "find the runtime's channel among its file descriptors and write garbage to it",
           """
           import fcntl, os, stat
           wrote = []
           for name in os.listdir("/proc/self/fd"):
               fd = int(name)
               try:
                   if fd > 2 and stat.S_ISFIFO(os.fstat(fd).st_mode) and \\
                           fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
                       os.write(fd, b"\\x00\\x00\\x00\\x05garbage that is no frame")
                       wrote.append(fd)
               except OSError:
                   pass
           return {"wrote": wrote}
           """, 502, expected="502 plugin_error (malformed result); the worker is replaced"),
    Attack("crash_at_import", "raise while its module is imported", "return {}", 503,
           prelude='raise RuntimeError("hostile plugin crashes at import")',
           expected="503 plugin_unavailable (its code could not be loaded)"),
    Attack("exfiltrate_secrets", "print every secret it can find (environment, /proc, the state dir, the "
                                 "repository's dev files) into its answer or the checks log",
           """
           import glob, os
           loot = {"env": dict(os.environ)}
           for path in ["/proc/1/environ", "/proc/self/environ", t["secrets_file"], t["dev_json"],
                        *glob.glob("/proc/*/environ")]:
               try:
                   loot[path] = open(path, "rb").read().decode(errors="replace")
               except OSError as exc:
                   loot[path] = type(exc).__name__
           print("LOOT", loot)
           return {"loot": loot, "secrets": loot.get(t["secrets_file"])}
           """, 500, _failed("secrets"), expected="nothing secret exists in the sandbox to print"),
]

ATTACKS_BY_NAME = {attack.name: attack for attack in ATTACKS}

PLUGIN_SOURCE = '''from __future__ import annotations

from mocklib_plugin_sdk import Plugin, Request, Response, endpoint

{prelude}


{function}

class Attacker(Plugin):
    @endpoint("POST", "/attack")
    def run(self, request: Request) -> Response:
        observed = attack(request.json(), self)
        return Response.json({{"error": {{"code": "attack_contained", "message": "{name}", "observed": observed}}}},
                             status=500)
'''

TEST_SOURCE = '''import json

{prelude}

TARGETS = json.loads({targets!r})


{function}

def test_the_attack():
    # Failing carries what it observed into the checks log, as a hostile submission would try to.
    raise AssertionError("OBSERVED " + json.dumps(attack(TARGETS, None), default=str)[:4000])
'''


def manifest(attack: Attack) -> dict[str, Any]:
    return {
        "name": attack.plugin, "display_name": f"Hostile: {attack.name}", "version": "1.0.0",
        "author": {"name": "Hostile Tests"}, "description": f"Attack: {attack.title}",
        "category": "devops", "tags": ["test"], "license": "MIT",
        "pricing": {"tier": "standard", "free_tier_calls": 0},
        "api": {"base_path": f"/plugins/{attack.plugin}/v1", "endpoints": [{"method": "POST", "path": "/attack"}]},
        "runtime": {"language": "python", "version": "3.11", "memory_limit_mb": 128, "timeout_seconds": 2,
                    "handler": "plugin:Attacker"},
        "dependencies": {"mockfactory_apis": ["storage"]}, "permissions": ["storage:read", "storage:write"],
    }


def write_plugin(attack: Attack, root: Path) -> Path:
    """``root/<plugin>/chalicelib/`` as the local runtime runs it."""
    folder = root / attack.plugin / "chalicelib"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest(attack)))
    (folder / "plugin.py").write_text(PLUGIN_SOURCE.format(prelude=attack.prelude, function=attack.function_source(),
                                                           name=attack.name))
    return folder


def write_test(attack: Attack, project: Path, targets: dict[str, Any]) -> None:
    """The attack as a submission's own test."""
    (project / "tests" / "test_attack.py").write_text(TEST_SOURCE.format(
        prelude=attack.prelude, targets=json.dumps(targets), function=attack.function_source()))
