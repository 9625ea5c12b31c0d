"""The ``network`` check's two halves: a static scan of the plugin's own code for network
modules and process calls, and the ``sitecustomize`` guard that records and refuses every
connection and name lookup while the tests and the contract probe run.

``mocklib_plugin_sdk.checks`` installs the guard in each sandboxed run, reads back what it
recorded (``_read_attempts``) and turns both into the check's findings.
"""
from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from . import packaging

# Top-level modules (and dotted prefixes) a plugin may not import: plugins reach
# the outside world only through the SDK (webhooks, storage), never directly.
NETWORK_MODULES = frozenset({
    "socket", "ssl", "http", "urllib", "urllib3", "requests", "httpx", "aiohttp", "ftplib", "smtplib",
    "telnetlib", "xmlrpc", "websocket", "websockets", "boto3", "botocore", "subprocess", "multiprocessing",
})
# Parts of those packages that only parse or name things (``urllib.parse.quote``, ``http.HTTPStatus``),
# except the submodules below them that do open connections.
PURE_MODULES = ("urllib.parse", "http")
NETWORK_SUBMODULES = ("http.client", "http.server", "http.cookiejar")
OS_CALLS = re.compile(r"^(system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?)$")


def _read_attempts(path: Path, label: str) -> list[dict[str, Any]]:
    """What the guard recorded during one run, as findings; bounded, since plugin code could write the file."""
    attempts = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines[:1000]:
        try:
            attempt = json.loads(line)
        except ValueError:
            attempt = {"kind": "unknown", "target": line[:200]}
        if isinstance(attempt, dict):
            attempts.append({"kind": "attempt", "during": label, "call": str(attempt.get("kind", ""))[:40],
                             "target": str(attempt.get("target", ""))[:200],
                             "where": str(attempt.get("where", "?"))[:300]})
    return attempts


def network_guard_source(attempts_file: Path, project: Path) -> str:
    """A ``sitecustomize`` module that records and refuses network access (Internet
    sockets and name lookups) of the process it is imported into."""
    return f'''"""Installed by mocklib_plugin_sdk.checks: plugins have no network access."""
import errno as _errno
import json as _json
import os as _os
import socket as _socket
import traceback as _traceback

_ATTEMPTS = {str(attempts_file)!r}
_ROOT = {str(project) + os.sep!r}
_INET = (_socket.AF_INET, _socket.AF_INET6)


def _where():
    for frame in reversed(_traceback.extract_stack()[:-3]):
        if frame.filename.startswith(_ROOT):
            return "%s:%s" % (frame.filename[len(_ROOT):], frame.lineno)
    return "?"


def _show(target):
    if isinstance(target, tuple) and len(target) >= 2:
        return "%s:%s" % (target[0], target[1])
    return repr(target) if isinstance(target, (bytes, bytearray)) else str(target)


def _refuse(kind, target):
    shown = _show(target)[:200]
    try:
        with open(_ATTEMPTS, "a", encoding="utf-8") as log:
            log.write(_json.dumps({{"kind": kind, "target": shown, "where": _where()}}) + "\\n")
    except OSError:
        pass
    raise OSError(_errno.ENETUNREACH, "network access is blocked for plugins (%s %s)" % (kind, shown))


def _guard_socket(name):
    original = getattr(_socket.socket, name)

    def guarded(self, address, *args):
        if self.family in _INET:
            _refuse(name, address if name.startswith("connect") else (args[-1] if args else address))
        return original(self, address, *args)

    setattr(_socket.socket, name, guarded)


def _guard_lookup(name):
    def guarded(host, *args, **kwargs):
        _refuse(name, host)

    setattr(_socket, name, guarded)


for _name in ("connect", "connect_ex", "sendto"):
    _guard_socket(_name)
for _name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "create_connection"):
    _guard_lookup(_name)
'''


def _python_sources(project: Path) -> list[PurePosixPath]:
    """The plugin's own Python files: what gets packaged, without tests/ (also what bandit scans)."""
    try:
        files = packaging.package_files(project)
    except packaging.PackageError:
        files = sorted((PurePosixPath(p.relative_to(project).as_posix()) for p in project.rglob("*.py")
                        if not p.is_symlink() and packaging.included_path(p.relative_to(project))), key=str)
    return [f for f in files if f.suffix == ".py" and f.parts[0] != "tests"]


def network_findings(project: Path) -> list[dict[str, Any]]:
    """Static scan of the plugin code (not its tests): network modules and process calls."""
    findings: list[dict[str, Any]] = []
    for relative in _python_sources(project):
        where = str(relative)
        try:
            tree = ast.parse((project / relative).read_bytes(), filename=where)
        except (SyntaxError, ValueError) as exc:
            findings.append({"kind": "unparsable", "file": where, "line": getattr(exc, "lineno", None) or 0,
                             "detail": f"cannot be scanned: {exc}"})
            continue
        findings.extend(_scan_tree(tree, where))
    return findings


def _banned(module: str) -> bool:
    def within(prefixes: tuple[str, ...]) -> bool:
        return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)

    if within(NETWORK_SUBMODULES):
        return True
    return not within(PURE_MODULES) and module.split(".")[0] in NETWORK_MODULES


def _scan_tree(tree: ast.AST, where: str) -> Iterator[dict[str, Any]]:
    os_names = {"os", "posix"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in os_names:
                    os_names.add((alias.asname or alias.name).split(".")[0])
                if _banned(alias.name):
                    yield _finding("import", alias.name, where, node)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            banned = [f"{node.module}.{alias.name}" for alias in node.names if _banned(f"{node.module}.{alias.name}")]
            if banned:
                yield _finding("import", banned[0] if node.module.split(".")[0] in NETWORK_MODULES else node.module,
                               where, node)
            elif node.module in ("os", "posix"):
                for alias in node.names:
                    if OS_CALLS.match(alias.name):
                        yield _finding("import", f"{node.module}.{alias.name}", where, node)
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in os_names and OS_CALLS.match(func.attr)):
                yield _finding("call", f"os.{func.attr}", where, node)
            elif (_call_name(func) in ("__import__", "importlib.import_module", "import_module")
                  and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str) and _banned(node.args[0].value)):
                yield _finding("import", node.args[0].value, where, node)


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def _finding(kind: str, name: str, where: str, node: ast.AST) -> dict[str, Any]:
    line = getattr(node, "lineno", 0)
    verb = "imports" if kind == "import" else "calls"
    return {"kind": kind, "name": name, "file": where, "line": line, "detail": f"{where}:{line} {verb} {name}"}
