"""The automated checks a plugin project must pass to be published, and its quality score.

``run_checks(project_dir)`` runs every check and returns a ``Report``; the
marketplace runs the same function on every uploaded package, and developers
run it first with ``python -m mocklib_plugin_sdk check DIR``.

A project is **accepted** when every blocking check passes **and** the score
(the sum of the points below, out of 100) is at least ``MIN_SCORE`` (80).

| id | blocking | points |
|---|---|---|
| ``manifest`` | yes | 10: ``chalicelib/manifest.json`` is valid (required fields, name ``^[a-z0-9-]+$`` of 3-40 characters, semver version, licence MIT / Apache-2.0 / Proprietary, ``runtime.handler`` names an existing module, at least one endpoint) |
| ``tests`` | yes | 20: ``tests/`` holds at least one test and ``python -m pytest`` passes, sandboxed |
| ``contract`` | yes | 10: one protocol request per declared endpoint through the SDK's ``PluginHost``, sandboxed: every endpoint is routed by the plugin and answers a valid result with a status below 500 |
| ``security`` | on any HIGH finding | 20, minus 5 per MEDIUM and 1 per LOW bandit finding (never below 0); 0 with a HIGH finding |
| ``network`` | yes | 10: no network modules (socket, http, requests, boto3, subprocess, ...) or ``os.system``-like calls in the plugin code, and no connection attempted while the tests and the contract run |
| ``resources`` | yes | 10: ``runtime.memory_limit_mb`` in 128..3008, ``runtime.timeout_seconds`` in 1..29, the package within the packaging limits |
| ``docs`` | no | 20: README.md of at least 300 characters (8), a description for every endpoint (6), every endpoint path mentioned in the README (6) |

A blocking check scores all its points or none. With ``only=`` a subset runs and
the score is scaled to 100 over the points that subset can earn.

Everything that executes plugin code (the tests, the contract probe) runs in a
child process with a clean environment (no AWS_* or MF_* variables, HOME in a
temporary folder), the project as working directory, a timeout that kills its
process group, ``RLIMIT_AS``, no core dumps, a fresh network namespace where
this process may create one, and a ``sitecustomize`` that records and refuses
every connection and name lookup.
"""
from __future__ import annotations

import ast
import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ElementTree  # nosec B405 - our own pytest's report, size-capped
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from . import packaging
from .errors import ConfigurationError, MethodNotAllowedError, NotFoundError
from .manifest import PluginManifest
from .conformance.measure import format_fidelity
from .conformance.run import PLUGIN_ARG, checks_fidelity
from .routing import METHODS, RoutePattern
from .sandbox import MIB, Limits, Sandbox, SandboxResult, clean_env, run_sandboxed, sdk_python_path

MIN_SCORE = 80
LOG_LIMIT_BYTES = 64 * 1024
GIB = 1024 * 1024 * 1024
TESTS_ADDRESS_SPACE = 2 * GIB
CONTRACT_ADDRESS_SPACE = 2 * GIB
BANDIT_TIMEOUT_S = 120
MAX_JUNIT_BYTES = 8 * 1024 * 1024

MANIFEST_FILE = "chalicelib/manifest.json"
REQUIRED_FIELDS = ("name", "display_name", "version", "author", "description", "category", "license",
                   "pricing", "api", "runtime")
NAME_CHARS = re.compile(r"^[a-z0-9-]+$")
NAME_LENGTH = (3, 40)
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
LICENSES = ("MIT", "Apache-2.0", "Proprietary")
HANDLER = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MEMORY_MB = (128, 3008)
TIMEOUT_S = (1, 29)
README_MIN_CHARS = 300
BODY_METHODS = ("POST", "PUT", "PATCH")
SECURITY_PENALTY = {"MEDIUM": 5, "LOW": 1}

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


@dataclass(frozen=True)
class CheckSpec:
    id: str
    name: str
    blocking: bool
    max_points: int


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("manifest", "Manifest", True, 10),
    CheckSpec("tests", "Tests", True, 20),
    CheckSpec("contract", "Protocol contract", True, 10),
    CheckSpec("security", "Security scan (bandit)", True, 20),
    CheckSpec("network", "No network access", True, 10),
    CheckSpec("resources", "Resources", True, 10),
    CheckSpec("docs", "Documentation", False, 20),
)
CHECK_IDS = tuple(spec.id for spec in CHECKS)


@dataclass(frozen=True)
class CheckResult:
    id: str
    name: str
    passed: bool
    blocking: bool
    points: int
    max_points: int
    summary: str
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Report:
    checks: list[CheckResult]
    score: int
    min_score: int
    passed: bool
    reasons: list[str]
    log: str
    # Coverage and conformance against the vendor's spec the project ships (not scored; None:
    # no spec/): mocklib_plugin_sdk.conformance.run.checks_fidelity.
    fidelity: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [check.to_dict() for check in self.checks], "score": self.score,
                "min_score": self.min_score, "passed": self.passed, "reasons": list(self.reasons),
                "log": self.log, "fidelity": self.fidelity}


@dataclass(frozen=True)
class _Outcome:
    """What a check concluded: the points and reasons are derived from it."""

    passed: bool
    summary: str
    points: int | None = None  # None: all points if passed, none if not
    findings: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # one sentence when the check failed or lost points


@dataclass(frozen=True)
class _Run:
    """One sandboxed execution of plugin code, with what it tried on the network."""

    result: SandboxResult | None
    network_attempts: list[dict[str, Any]]
    error: str | None = None


# -- the session: shared state of one run_checks call ----------------------------------------------


class _Session:
    def __init__(self, project: Path, workdir: Path, test_timeout_s: int, sandbox_required: bool) -> None:
        self.project = project
        self.workdir = workdir
        self.test_timeout_s = test_timeout_s
        self.sandbox_required = sandbox_required
        self.home = workdir / "home"
        self.home.mkdir()
        self.logs: dict[str, str] = {}
        self._tests: _Run | None = None
        self._contract: _Run | None = None
        self._junit = workdir / "junit.xml"
        self.manifest: dict[str, Any] | None = None
        self.manifest_error: str | None = None
        try:
            document = json.loads((project / MANIFEST_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.manifest_error = f"{MANIFEST_FILE} is missing"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.manifest_error = f"{MANIFEST_FILE} is not valid JSON ({exc})"
        else:
            if isinstance(document, dict):
                self.manifest = document
            else:
                self.manifest_error = f"{MANIFEST_FILE} must hold a JSON object"

    # The tests and the contract probe run at most once per session: the
    # network check reads what they attempted, the resources check their RSS.

    def tests_run(self) -> _Run:
        if self._tests is None:
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={self._junit}", *self._pytest_config_args(), *self._conformance_args(), "tests"]
            self._tests = self._sandboxed("tests", argv, TESTS_ADDRESS_SPACE)
            if self._tests.result is not None:
                self.logs["pytest"] = self._tests.result.stdout + self._tests.result.stderr
        return self._tests

    def _conformance_args(self) -> list[str]:
        """Record every answer of the tests for the fidelity figure, when the project ships a spec."""
        if not (self.project / "spec" / "spec.json").is_file():
            return []
        return ["-p", PLUGIN_ARG, f"--conformance-records={self.answers}"]

    @property
    def answers(self) -> Path:
        return self.workdir / "answers.jsonl"

    def fidelity(self) -> dict[str, Any] | None:
        """Coverage and conformance against the project's spec/ (None: it ships none); not scored."""
        return checks_fidelity(self.project, self.answers if self._tests is not None else None)

    def contract_run(self) -> _Run:
        if self._contract is None:
            out = self.workdir / "contract.json"
            argv = [sys.executable, "-P", "-m", "mocklib_plugin_sdk.checks", "--contract-probe",
                    str(self.project), str(out)]
            run = self._sandboxed("contract", argv, CONTRACT_ADDRESS_SPACE)
            if run.result is not None and (run.result.returncode != 0 or run.result.stderr.strip()):
                self.logs["contract"] = run.result.stdout + run.result.stderr
            self._contract = run
        return self._contract

    def contract_answers(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.workdir / "contract.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def junit(self) -> ElementTree.Element | None:
        try:
            if self._junit.stat().st_size > MAX_JUNIT_BYTES:
                return None
            return ElementTree.parse(self._junit).getroot()  # nosec B314 - written by pytest, size-capped
        except (OSError, ElementTree.ParseError):
            return None

    def _pytest_config_args(self) -> list[str]:
        """The project's own pytest configuration, never one from a folder above it."""
        args = ["--rootdir", str(self.project), "--confcutdir", str(self.project)]
        own = self.project / "pytest.ini"
        pyproject = self.project / "pyproject.toml"
        if own.is_file():
            return [*args, "-c", str(own)]
        if pyproject.is_file() and "[tool.pytest.ini_options]" in pyproject.read_text(errors="replace"):
            return [*args, "-c", str(pyproject)]
        empty = self.workdir / "pytest.ini"
        empty.write_text("[pytest]\n", encoding="utf-8")
        return [*args, "-c", str(empty)]

    def sandbox(self, env: dict[str, str], address_space: int) -> Sandbox:
        """The project read-only, this run's folder (home, reports) writable, nothing else."""
        return Sandbox(Limits(address_space=address_space, processes=64, tmp_bytes=64 * MIB),
                       readonly=(str(self.project),), writable=(str(self.workdir),), env=env, cwd=str(self.project))

    def _sandboxed(self, label: str, argv: list[str], address_space: int) -> _Run:
        guard_dir = self.workdir / f"guard-{label}"
        guard_dir.mkdir()
        attempts_file = self.workdir / f"network-{label}.jsonl"
        (guard_dir / "sitecustomize.py").write_text(
            network_guard_source(attempts_file, self.project), encoding="utf-8")
        env = clean_env(home=str(self.home), python_path=[str(guard_dir), *sdk_python_path()])
        try:
            result = run_sandboxed(argv, sandbox=self.sandbox(env, address_space), timeout_s=self.test_timeout_s,
                                   required=self.sandbox_required)
        except OSError as exc:
            return _Run(None, [], f"could not start: {exc}")
        return _Run(result, _read_attempts(attempts_file, label))


def _read_attempts(path: Path, label: str) -> list[dict[str, Any]]:
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


# -- the checks ---------------------------------------------------------------------------------------


def _check_manifest(session: _Session) -> _Outcome:
    if session.manifest is None:
        message = session.manifest_error or f"{MANIFEST_FILE} is unusable"
        return _Outcome(False, message, findings=[{"field": "", "message": message}],
                        reason=f"manifest: {message}")
    problems = manifest_problems(session.manifest, session.project)
    if problems:
        text = "; ".join(p["message"] for p in problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        return _Outcome(False, f"{len(problems)} problem(s) in {MANIFEST_FILE}", findings=problems,
                        reason=f"manifest: {text}")
    endpoints = len(session.manifest["api"]["endpoints"])
    return _Outcome(True, f"{session.manifest['name']} {session.manifest['version']}, {endpoints} endpoint(s)")


def manifest_problems(document: dict[str, Any], project: Path) -> list[dict[str, str]]:
    """What is wrong with a manifest, as ``{"field", "message"}``; empty when it is valid."""
    problems: list[dict[str, str]] = []

    def problem(field_name: str, message: str) -> None:
        problems.append({"field": field_name, "message": message})

    missing = [name for name in REQUIRED_FIELDS if name not in document]
    if missing:
        problem(missing[0], f"required field(s) missing: {', '.join(missing)}")
    sdk_refused = ""
    try:
        # What the SDK itself refuses at runtime (name pattern, version, declared services).
        PluginManifest.from_document(document)
    except ConfigurationError as exc:
        sdk_refused = next((f for f in ("name", "version") if exc.message.startswith(f"manifest {f} ")),
                           "dependencies")
        problem(sdk_refused, exc.message)
    name = document.get("name")
    if sdk_refused != "name" and isinstance(name, str) and not (NAME_CHARS.match(name) and NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]):
        problem("name", f"name {name!r} must match ^[a-z0-9-]+$ and be {NAME_LENGTH[0]}-{NAME_LENGTH[1]} "
                        "characters long")
    version = document.get("version")
    if sdk_refused != "version" and "version" in document and not (isinstance(version, str) and SEMVER.match(version)):
        problem("version", f"version {version!r} is not semver (MAJOR.MINOR.PATCH)")
    if "license" in document and document.get("license") not in LICENSES:
        problem("license", f"license {document.get('license')!r} is not one of {', '.join(LICENSES)}")
    for text_field in ("display_name", "description"):
        if text_field in document and not (isinstance(document[text_field], str) and document[text_field].strip()):
            problem(text_field, f"{text_field} must be a non-empty string")
    author = document.get("author")
    if "author" in document and not (isinstance(author, dict) and isinstance(author.get("name"), str)
                                     and author["name"].strip()):
        problem("author", "author must be an object with a non-empty name")
    runtime = document.get("runtime")
    if "runtime" in document and not isinstance(runtime, dict):
        problem("runtime", "runtime must be an object")
    elif isinstance(runtime, dict):
        if runtime.get("language", "python") != "python":
            problem("runtime.language", "runtime.language must be \"python\"")
        handler = runtime.get("handler")
        if not isinstance(handler, str) or not HANDLER.match(handler):
            problem("runtime.handler", f"runtime.handler {handler!r} must look like \"module:Class\"")
        else:
            module = handler.partition(":")[0].replace(".", "/")
            source = project / "chalicelib"
            if not ((source / f"{module}.py").is_file() or (source / module / "__init__.py").is_file()):
                problem("runtime.handler", f"runtime.handler names chalicelib/{module}.py, which does not exist")
    api = document.get("api")
    endpoints = api.get("endpoints") if isinstance(api, dict) else None
    if "api" in document and (not isinstance(endpoints, list) or not endpoints):
        problem("api.endpoints", "api.endpoints must list at least one endpoint")
    elif isinstance(endpoints, list):
        for index, item in enumerate(endpoints):
            where = f"api.endpoints[{index}]"
            if not isinstance(item, dict):
                problem(where, f"{where} must be an object")
                continue
            if str(item.get("method", "")).upper() not in METHODS:
                problem(where, f"{where}.method {item.get('method')!r} is not one of {', '.join(METHODS)}")
            path = item.get("path")
            try:
                RoutePattern.compile(path if isinstance(path, str) else "")
            except ValueError as exc:
                problem(where, f"{where}.path: {exc}")
    return problems


def _check_tests(session: _Session) -> _Outcome:
    tests_dir = session.project / "tests"
    test_files = sorted(tests_dir.rglob("test_*.py")) + sorted(tests_dir.rglob("*_test.py")) \
        if tests_dir.is_dir() else []
    if not test_files:
        return _Outcome(False, "no test files", reason="tests: tests/ has no test_*.py files")
    run = session.tests_run()
    if run.result is None:
        return _Outcome(False, f"pytest {run.error}", reason=f"tests: pytest {run.error}")
    result = run.result
    if result.timed_out:
        message = f"the tests did not finish within {session.test_timeout_s} s"
        return _Outcome(False, message, reason=f"tests: {message}")
    root = session.junit()
    if root is None:
        if "No module named pytest" in result.stderr:
            message = "pytest is not installed (pip install 'mocklib-plugin-sdk[checks]')"
        else:
            message = f"pytest exited with status {result.returncode} without a report"
        return _Outcome(False, message, reason=f"tests: {message}")
    total, failed, skipped = _junit_counts(root)
    findings = failed
    peak = {"peak_rss_mb": round(result.peak_rss_kb / 1024, 1)}
    if total - skipped < 1 or result.returncode == 5:
        return _Outcome(False, "no tests ran", findings=[peak], reason="tests: no tests were collected in tests/")
    if failed or result.returncode != 0:
        names = ", ".join(f["name"] for f in failed[:5]) + (", ..." if len(failed) > 5 else "")
        if not failed:
            message = f"pytest exited with status {result.returncode}"
        else:
            message = f"{len(failed)} of {total} tests failed ({names})"
        return _Outcome(False, message, findings=[*findings, peak], reason=f"tests: {message}")
    ran = total - skipped
    return _Outcome(True, f"{ran} test(s) passed" + (f", {skipped} skipped" if skipped else ""),
                    findings=[peak])


def _junit_counts(root: ElementTree.Element) -> tuple[int, list[dict[str, Any]], int]:
    total = skipped = 0
    failed: list[dict[str, Any]] = []
    for case in root.iter("testcase"):
        total += 1
        outcome = None
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = child
            elif child.tag == "skipped":
                skipped += 1
        if outcome is not None:
            name = case.get("name", "?")
            classname = case.get("classname", "")
            failed.append({"name": name, "id": f"{classname}::{name}" if classname else name,
                           "outcome": "failed" if outcome.tag == "failure" else "error",
                           "message": (outcome.get("message") or "")[:500]})
    return total, failed, skipped


def fill_path(path: str) -> str:
    """A concrete path for a declared one: every parameter becomes ``test``."""
    pattern = RoutePattern.compile(path)
    parts = ["test" if segment.param is not None else (segment.literal or "") for segment in pattern.segments]
    return "/" + "/".join(parts)


def _check_contract(session: _Session) -> _Outcome:
    if session.manifest is None or manifest_problems(session.manifest, session.project):
        return _Outcome(False, "not run: the manifest is invalid",
                        reason="contract: could not run because the manifest is invalid")
    run = session.contract_run()
    if run.result is None:
        return _Outcome(False, f"probe {run.error}", reason=f"contract: the probe {run.error}")
    if run.result.timed_out:
        message = f"the plugin did not answer every endpoint within {session.test_timeout_s} s"
        return _Outcome(False, message, reason=f"contract: {message}")
    answers = session.contract_answers()
    if answers is None:
        message = f"the probe exited with status {run.result.returncode} without answers"
        return _Outcome(False, message, reason=f"contract: {message} (see the log)")
    if answers.get("load_error"):
        message = f"the plugin could not be loaded: {str(answers['load_error'])[:300]}"
        return _Outcome(False, message, reason=f"contract: {message}")
    findings = [a for a in answers.get("endpoints", []) if isinstance(a, dict) and not a.get("ok")]
    count = len(answers.get("endpoints", []))
    if findings:
        described = "; ".join(f"{f.get('method')} {f.get('path')}: {f.get('problem')}" for f in findings[:5])
        return _Outcome(False, f"{len(findings)} of {count} endpoint(s) broke the contract", findings=findings,
                        reason=f"contract: {described}")
    return _Outcome(True, f"{count} endpoint(s) routed and answered below 500")


def _contract_probe(project: Path) -> dict[str, Any]:
    """Runs inside the sandbox: one request per declared endpoint through ``PluginHost``."""
    from .host import PluginHost
    from .loader import load_plugin_dir
    from .protocol import decode_result, make_request_event
    from .settings import SdkSettings
    from .state import InMemoryStateStore

    if str(project) not in sys.path:
        sys.path.append(str(project))  # ``from chalicelib.x import y`` as on Lambda, without shadowing
    try:
        plugin_class, manifest = load_plugin_dir(project / "chalicelib")
        host = PluginHost(plugin_class, manifest, settings=SdkSettings(), store=InMemoryStateStore())
        router = plugin_class.router()
    except BaseException as exc:  # noqa: BLE001 - anything a plugin import does is a load error
        return {"load_error": f"{type(exc).__name__}: {exc}"}
    answers = []
    for index, declared in enumerate(manifest.document["api"]["endpoints"]):
        method, path = str(declared["method"]).upper(), str(declared["path"])
        concrete = fill_path(path)
        answer: dict[str, Any] = {"method": method, "path": path, "requested": concrete, "ok": False}
        answers.append(answer)
        try:
            router.resolve(method, concrete)
        except (NotFoundError, MethodNotAllowedError):
            answer["problem"] = "no such route: the plugin has no @endpoint for it"
            continue
        body = b"{}" if method in BODY_METHODS else b""
        headers = {"Content-Type": "application/json"} if body else {}
        event = make_request_event(method, concrete, plugin=manifest.name, user_id="usr_contract",
                                   version=manifest.version, headers=headers, body=body,
                                   request_id=f"req_contract_{index}")
        try:
            raw = host.invoke(event)
            json.dumps(raw)  # a result crosses a process boundary as JSON
            result = decode_result(raw)
        except Exception as exc:  # noqa: BLE001 - an invalid result is a finding, not a crash
            answer["problem"] = f"invalid protocol result: {type(exc).__name__}: {exc}"[:300]
            continue
        answer["status"] = result.status
        if not 100 <= result.status < 500:
            error = result.error or {}
            answer["problem"] = f"status {result.status}" + (
                f" ({error.get('code')}: {str(error.get('message', ''))[:200]})" if error else "")
            continue
        answer["ok"] = True
    host.close()
    return {"endpoints": answers}


def _python_sources(project: Path) -> list[PurePosixPath]:
    """The plugin's own Python files: what gets packaged, without tests/."""
    try:
        files = packaging.package_files(project)
    except packaging.PackageError:
        files = sorted((PurePosixPath(p.relative_to(project).as_posix()) for p in project.rglob("*.py")
                        if not p.is_symlink() and packaging.included_path(p.relative_to(project))), key=str)
    return [f for f in files if f.suffix == ".py" and f.parts[0] != "tests"]


def _check_security(session: _Session) -> _Outcome:
    sources = _python_sources(session.project)
    if not sources:
        return _Outcome(True, "no Python files to scan")
    argv = [sys.executable, "-m", "bandit", "-f", "json", "-q", "--ignore-nosec", *map(str, sources)]
    env = clean_env(home=str(session.home))
    try:
        result = run_sandboxed(argv, sandbox=session.sandbox(env, TESTS_ADDRESS_SPACE), timeout_s=BANDIT_TIMEOUT_S,
                               required=session.sandbox_required, max_output_bytes=16 * 1024 * 1024)
    except OSError as exc:
        return _Outcome(False, f"bandit could not start: {exc}", reason=f"security: bandit could not start: {exc}")
    try:
        data = json.loads(result.stdout[result.stdout.index("{"):]) if "{" in result.stdout else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        if "No module named bandit" in result.stderr:
            message = "bandit is not installed (pip install 'mocklib-plugin-sdk[checks]')"
        elif result.timed_out:
            message = f"bandit did not finish within {BANDIT_TIMEOUT_S} s"
        else:
            message = f"bandit failed (exit status {result.returncode})"
        session.logs["bandit"] = result.stdout[-4000:] + result.stderr
        return _Outcome(False, message, reason=f"security: {message}")
    findings = [{"test_id": issue.get("test_id"), "severity": str(issue.get("issue_severity", "")).upper(),
                 "confidence": issue.get("issue_confidence"),
                 "file": _relative(str(issue.get("filename", ""))), "line": issue.get("line_number"),
                 "text": str(issue.get("issue_text", "")).strip()}
                for issue in data.get("results", [])]
    findings.sort(key=lambda f: ({"HIGH": 0, "MEDIUM": 1, "LOW": 2}.get(f["severity"], 3), f["file"],
                                 f["line"] or 0))
    session.logs["bandit"] = "\n".join(
        f"{f['severity']:<6} {f['test_id']} {f['file']}:{f['line']} {f['text']}" for f in findings) or "no findings"
    if result.stderr.strip():
        session.logs["bandit"] += "\n" + result.stderr
    for error in data.get("errors", []):
        session.logs["bandit"] += f"\nerror: {error.get('filename')}: {error.get('reason')}"
    by_severity = {level: [f for f in findings if f["severity"] == level] for level in ("HIGH", "MEDIUM", "LOW")}
    high, medium, low = by_severity["HIGH"], by_severity["MEDIUM"], by_severity["LOW"]
    counts = f"{len(high)} high, {len(medium)} medium, {len(low)} low"
    if high:
        listed = "; ".join(_describe_issue(f) for f in high[:3]) + ("; ..." if len(high) > 3 else "")
        return _Outcome(False, counts, points=0, findings=findings,
                        reason=f"security: {_plural(len(high), 'high-severity finding')}: {listed}")
    points = max(0, 20 - SECURITY_PENALTY["MEDIUM"] * len(medium) - SECURITY_PENALTY["LOW"] * len(low))
    reason = None
    if points < 20:
        lost = [*medium, *low]
        listed = "; ".join(_describe_issue(f) for f in lost[:3]) + ("; ..." if len(lost) > 3 else "")
        reason = (f"security: {len(medium)} medium- and {len(low)} low-severity finding(s) cost "
                  f"{20 - points} points: {listed}")
    return _Outcome(True, counts, points=points, findings=findings, reason=reason)


def _describe_issue(finding: dict[str, Any]) -> str:
    return f"{finding['test_id']} {finding['text'].rstrip('.')} at {finding['file']}:{finding['line']}"


def _relative(filename: str) -> str:
    return filename[2:] if filename.startswith("./") else filename


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


def _check_network(session: _Session) -> _Outcome:
    findings = network_findings(session.project)
    dynamic: list[dict[str, Any]] = []
    if (session.project / "tests").is_dir():
        dynamic += session.tests_run().network_attempts
    if session.manifest is not None and not manifest_problems(session.manifest, session.project):
        dynamic += session.contract_run().network_attempts
    for attempt in dynamic:
        attempt["detail"] = (f"during the {attempt['during']}, {attempt['call']} {attempt['target']} "
                             f"was attempted at {attempt['where']}")
    everything = findings + dynamic
    if everything:
        listed = "; ".join(f["detail"] for f in everything[:3]) + (
            f" (and {len(everything) - 3} more)" if len(everything) > 3 else "")
        return _Outcome(False, f"{len(findings)} static and {len(dynamic)} runtime finding(s)",
                        findings=everything, reason=f"network: {listed}")
    return _Outcome(True, "no network access in the code, the tests or the contract run")


def _check_resources(session: _Session) -> _Outcome:
    findings: list[dict[str, Any]] = []
    runtime = (session.manifest or {}).get("runtime")
    runtime = runtime if isinstance(runtime, dict) else {}
    for key, (low, high), unit in (("memory_limit_mb", MEMORY_MB, "MB"), ("timeout_seconds", TIMEOUT_S, "s")):
        value = runtime.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            findings.append({"field": f"runtime.{key}",
                             "detail": f"runtime.{key} is {value!r}; it must be {low}..{high} {unit}"})
    size = ""
    try:
        package = packaging.build_package(session.project)
        size = f"package {len(package) / 1024:.0f} KiB"
    except packaging.PackageError as exc:
        findings.append({"field": "package", "detail": exc.message})
    except OSError as exc:
        findings.append({"field": "package", "detail": f"the project could not be packaged: {exc}"})
    info: list[dict[str, Any]] = []
    tests = session._tests
    if tests is not None and tests.result is not None:
        info.append({"peak_rss_mb": round(tests.result.peak_rss_kb / 1024, 1), "informational": True})
    if findings:
        return _Outcome(False, f"{len(findings)} problem(s)", findings=findings + info,
                        reason="resources: " + "; ".join(f["detail"] for f in findings))
    summary = f"{runtime['memory_limit_mb']} MB, {runtime['timeout_seconds']} s, {size}"
    if info:
        summary += f", tests peaked at {info[0]['peak_rss_mb']} MB RSS"
    return _Outcome(True, summary, findings=info)


def _check_docs(session: _Session) -> _Outcome:
    readme = next((p for p in sorted(session.project.glob("*")) if p.name.lower() == "readme.md" and p.is_file()),
                  None)
    text = readme.read_text(encoding="utf-8", errors="replace") if readme is not None else ""
    api = (session.manifest or {}).get("api")
    endpoints = [e for e in (api.get("endpoints") if isinstance(api, dict) else None) or [] if isinstance(e, dict)]
    points = 0
    lost: list[str] = []
    findings: list[dict[str, Any]] = []
    if len(text.strip()) >= README_MIN_CHARS:
        points += 8
    else:
        detail = "no README.md" if readme is None else f"README.md has {len(text.strip())} characters"
        findings.append({"item": "readme", "detail": f"{detail} (at least {README_MIN_CHARS} wanted)"})
        lost.append(f"{detail}, at least {README_MIN_CHARS} characters wanted (-8)")
    undescribed = [f"{e.get('method')} {e.get('path')}" for e in endpoints
                   if not (isinstance(e.get("description"), str) and e["description"].strip())]
    if endpoints and not undescribed:
        points += 6
    else:
        findings += [{"item": "description", "endpoint": name, "detail": f"{name} has no description"}
                     for name in undescribed]
        lost.append(f"{len(undescribed)} endpoint(s) without a description (-6)" if undescribed
                    else "no endpoints to describe (-6)")
    unmentioned = sorted({str(e.get("path")) for e in endpoints if str(e.get("path")) not in text})
    if endpoints and not unmentioned:
        points += 6
    else:
        findings += [{"item": "readme_path", "path": path, "detail": f"README.md does not mention {path}"}
                     for path in unmentioned]
        lost.append(f"README.md does not mention {', '.join(unmentioned[:5])} (-6)" if unmentioned
                    else "no endpoints to document (-6)")
    reason = f"docs: {'; '.join(lost)}" if lost else None
    return _Outcome(points == 20, f"{points}/20 points", points=points, findings=findings, reason=reason)


_CHECK_FUNCTIONS: dict[str, Callable[[_Session], _Outcome]] = {
    "manifest": _check_manifest,
    "tests": _check_tests,
    "contract": _check_contract,
    "security": _check_security,
    "network": _check_network,
    "resources": _check_resources,
    "docs": _check_docs,
}


# -- the report ----------------------------------------------------------------------------------------


def selected_checks(only: Iterable[str] | None) -> list[CheckSpec]:
    """The checks ``only`` names (all when None), in their fixed order; ValueError for unknown ids."""
    if only is None:
        return list(CHECKS)
    wanted = {item.strip() for item in only if item.strip()}
    unknown = sorted(wanted - set(CHECK_IDS))
    if unknown or not wanted:
        raise ValueError(f"unknown check id(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CHECK_IDS)}")
    return [spec for spec in CHECKS if spec.id in wanted]


def run_checks(project_dir: Path, *, only: Iterable[str] | None = None, test_timeout_s: int = 180,
               sandbox_required: bool = True) -> Report:
    """Run the publishing checks on a plugin project folder (see the module docstring). The
    project's code runs in a sandbox (``mocklib_plugin_sdk.sandbox``); where this machine has
    none, ``sandbox_required=False`` (a developer checking their own code) runs it without."""
    specs = selected_checks(only)
    project = Path(project_dir).resolve()
    if not project.is_dir():
        raise ValueError(f"{project_dir} is not a folder")
    results: list[CheckResult] = []
    reasons: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mf-plugin-checks-") as workdir:
        session = _Session(project, Path(workdir), test_timeout_s, sandbox_required)
        for spec in specs:
            outcome = _CHECK_FUNCTIONS[spec.id](session)
            points = outcome.points if outcome.points is not None else (spec.max_points if outcome.passed else 0)
            results.append(CheckResult(id=spec.id, name=spec.name, passed=outcome.passed, blocking=spec.blocking,
                                       points=points, max_points=spec.max_points, summary=outcome.summary,
                                       findings=outcome.findings))
            if outcome.reason:
                reasons.append(outcome.reason)
        fidelity = session.fidelity()
        log = _combined_log(session.logs)
    available = sum(r.max_points for r in results)
    earned = sum(r.points for r in results)
    score = 100 if available == 0 else (earned * 100 + available // 2) // available
    if score < MIN_SCORE:
        reasons.append(f"score {score} is below the minimum of {MIN_SCORE}")
    passed = all(r.passed for r in results if r.blocking) and score >= MIN_SCORE
    return Report(checks=results, score=score, min_score=MIN_SCORE, passed=passed, reasons=reasons, log=log,
                  fidelity=fidelity)


def _combined_log(logs: dict[str, str]) -> str:
    text = "\n".join(f"==== {name} ====\n{body.rstrip()}\n" for name, body in logs.items() if body.strip())
    return truncate_log(text)


def truncate_log(text: str, limit: int = LOG_LIMIT_BYTES) -> str:
    """At most ``limit`` UTF-8 bytes: the head and, mostly, the tail (pytest's summary)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"\n[... {len(data) - limit} bytes cut ...]\n".encode()
    head = (limit - len(marker)) // 4
    tail = limit - len(marker) - head
    return (data[:head] + marker + data[-tail:]).decode("utf-8", errors="ignore")


def format_report(report: Report) -> str:
    """The report as text for a terminal."""
    lines = []
    for check in report.checks:
        status = "PASS" if check.passed else ("FAIL" if check.blocking else "WARN")
        lines.append(f"{check.id:<10} {status}  {check.points:>2}/{check.max_points:<2}  {check.summary}")
    verdict = "ACCEPTED" if report.passed else "REFUSED"
    lines.append(f"score {report.score}/100 (minimum {report.min_score}): {verdict}")
    if report.fidelity is not None and "error" in report.fidelity:
        lines.append(f"fidelity: {report.fidelity['error']}")
    elif report.fidelity is not None:
        lines.append("fidelity (not scored):\n" + format_fidelity(report.fidelity))
    if report.reasons:
        lines.append("reasons:")
        lines.extend(f"  - {reason}" for reason in report.reasons)
    return "\n".join(lines)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _probe_main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "--contract-probe":
        print("usage: python -m mocklib_plugin_sdk.checks --contract-probe PROJECT_DIR OUT_JSON", file=sys.stderr)
        return 2
    answers = _contract_probe(Path(argv[1]))
    Path(argv[2]).write_text(json.dumps(answers), encoding="utf-8")
    return 0


__all__ = ["CHECKS", "CHECK_IDS", "MIN_SCORE", "CheckResult", "CheckSpec", "Report", "fill_path", "format_report",
           "manifest_problems", "network_findings", "network_guard_source", "run_checks", "selected_checks",
           "truncate_log"]

if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
