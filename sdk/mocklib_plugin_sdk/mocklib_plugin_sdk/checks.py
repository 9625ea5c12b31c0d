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

Beside this module: ``checks_manifest`` (the manifest rules), ``checks_network`` (the
static scan and that guard), ``checks_contract`` (the probe the child runs).
"""
from __future__ import annotations

import json
import sys
import tempfile
import xml.etree.ElementTree as ElementTree  # nosec B405 - our own pytest's report, size-capped
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import packaging
from .checks_contract import _probe_main, fill_path
from .checks_manifest import MANIFEST_FILE, manifest_problems
from .checks_network import _python_sources, _read_attempts, network_findings, network_guard_source
from .conformance.measure import format_fidelity
from .conformance.run import PLUGIN_ARG, checks_fidelity
from .sandbox import MIB, Limits, Sandbox, SandboxResult, clean_env, run_sandboxed, sdk_python_path

MIN_SCORE = 80
LOG_LIMIT_BYTES = 64 * 1024
GIB = 1024 * 1024 * 1024
TESTS_ADDRESS_SPACE = 2 * GIB
CONTRACT_ADDRESS_SPACE = 2 * GIB
BANDIT_TIMEOUT_S = 120
MAX_JUNIT_BYTES = 8 * 1024 * 1024

MEMORY_MB = (128, 3008)
TIMEOUT_S = (1, 29)
README_MIN_CHARS = 300
SECURITY_PENALTY = {"MEDIUM": 5, "LOW": 1}


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
            argv = [sys.executable, "-P", "-m", "mocklib_plugin_sdk.checks_contract", "--contract-probe",
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


__all__ = ["CHECKS", "CHECK_IDS", "MIN_SCORE", "CheckResult", "CheckSpec", "Report", "fill_path", "format_report",
           "manifest_problems", "network_findings", "network_guard_source", "run_checks", "selected_checks",
           "truncate_log"]

if __name__ == "__main__":  # the probe's entry point before it moved to checks_contract
    sys.exit(_probe_main(sys.argv[1:]))
