"""``init_project`` writes a plugin that passes every publishing check with 100 points;
``run_checks`` refuses broken variants of it with reasons a developer can act on.

Each check run executes the project's tests and a contract probe in sandboxed
subprocesses (about 3 s), so variants run only the checks they are about
unless the point is the overall verdict.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mocklib_plugin_sdk.__main__ import main
from mocklib_plugin_sdk.checks import (CHECK_IDS, MIN_SCORE, Report, fill_path, network_findings, run_checks,
                                       truncate_log)
from mocklib_plugin_sdk.scaffold import init_project

NAME = "weather-api"


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_project(tmp_path_factory.mktemp("scaffold") / NAME, NAME, author="Ada", display_name="Weather API")


@pytest.fixture(scope="module")
def fresh_report(scaffold: Path) -> Report:
    return run_checks(scaffold)


@pytest.fixture
def variant(scaffold: Path, tmp_path: Path) -> Callable[..., Path]:
    """A copy of the scaffold, changed by ``edit(project)``."""

    def make(edit: Callable[[Path], None]) -> Path:
        project = shutil.copytree(scaffold, tmp_path / NAME)
        edit(project)
        return project

    return make


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _edit_manifest(project: Path, change: Callable[[dict], None]) -> None:
    path = project / "chalicelib" / "manifest.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def _check(report: Report, check_id: str):
    return next(check for check in report.checks if check.id == check_id)


# -- the scaffold ---------------------------------------------------------------------------------------


def test_a_fresh_scaffold_passes_every_check_with_score_100(fresh_report: Report) -> None:
    assert [c.id for c in fresh_report.checks] == list(CHECK_IDS)
    assert [(c.id, c.passed, c.points) for c in fresh_report.checks if not c.passed or c.points < c.max_points] == []
    assert (fresh_report.score, fresh_report.passed, fresh_report.reasons) == (100, True, [])
    assert "4 passed" in fresh_report.log
    assert _check(fresh_report, "contract").summary == "4 endpoint(s) routed and answered below 500"
    json.dumps(fresh_report.to_dict())  # the publishing pipeline stores it as JSON


def test_the_scaffold_is_a_complete_chalice_plugin_project(scaffold: Path) -> None:
    manifest = json.loads((scaffold / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["name"], manifest["display_name"], manifest["version"], manifest["license"]) == (
        NAME, "Weather API", "1.0.0", "MIT")
    assert manifest["author"] == {"name": "Ada"}
    assert manifest["pricing"] == {"tier": "standard", "free_tier_calls": 1000}
    assert manifest["runtime"] == {"language": "python", "version": "3.11", "memory_limit_mb": 128,
                                   "timeout_seconds": 10, "handler": "plugin:WeatherApiPlugin"}
    assert [(e["method"], e["path"]) for e in manifest["api"]["endpoints"]] == [
        ("POST", "/items"), ("GET", "/items"), ("GET", "/items/{item_id}"), ("DELETE", "/items/{item_id}")]
    config = json.loads((scaffold / ".chalice" / "config.json").read_text(encoding="utf-8"))
    assert config["app_name"] == "mf-plugin-weather-api-v1"
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["lambda_functions"]["handler"] == {"lambda_memory_size": 128,
                                                                          "lambda_timeout": 10}
    assert 'pytest_plugins = ["mocklib_plugin_sdk.testing"]' in (scaffold / "tests" / "conftest.py").read_text()
    assert (scaffold / "tests" / "test_weather_api.py").is_file()
    assert 'name="handler"' in (scaffold / "app.py").read_text()
    assert (scaffold / "requirements.txt").read_text() == "mocklib-plugin-sdk\n"
    assert "vendor/" in (scaffold / ".gitignore").read_text()


@pytest.mark.parametrize("name", ["Weather", "weather_api", "ab", "-weather", "weather-", "a" * 41, "wé"])
def test_init_refuses_names_the_marketplace_would_refuse(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plugin name"):
        init_project(tmp_path / "p", name)
    assert not (tmp_path / "p").exists()


def test_init_refuses_languages_the_runtime_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only Python 3.11 plugins run on the marketplace runtime"):
        init_project(tmp_path / "p", "weather", language="node")


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")

    with pytest.raises(ValueError, match="not empty"):
        init_project(tmp_path, "weather")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_init_accepts_an_existing_empty_folder(tmp_path: Path) -> None:
    assert init_project(tmp_path, "3d-print") == tmp_path
    manifest = json.loads((tmp_path / "chalicelib" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["runtime"]["handler"] == "plugin:Plugin3dPrintPlugin"  # a class name must not start with 3


# -- refusals -----------------------------------------------------------------------------------------


def test_a_failing_test_refuses_the_plugin_and_names_the_test(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _append(p / "tests" / "test_weather_api.py",
                                        "\n\ndef test_wrong_status(call):\n"
                                        "    assert call('GET', '/items').status == 418\n"))

    report = run_checks(project, only=["tests"])

    assert not report.passed
    tests = _check(report, "tests")
    assert (tests.passed, tests.points) == (False, 0)
    assert report.reasons[0] == "tests: 1 of 5 tests failed (test_wrong_status)"
    assert [f["id"] for f in tests.findings if "id" in f] == ["tests.test_weather_api::test_wrong_status"]
    assert "assert 200 == 418" in report.log


def test_a_plugin_without_tests_is_refused(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: (p / "tests" / "test_weather_api.py").unlink())

    report = run_checks(project, only=["tests"])

    assert report.reasons[0] == "tests: tests/ has no test_*.py files"


def test_tests_that_hang_are_killed_at_the_timeout(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _append(p / "tests" / "test_weather_api.py",
                                        "\n\ndef test_hangs():\n    import time\n    time.sleep(60)\n"))

    report = run_checks(project, only=["tests"], test_timeout_s=3)

    assert report.reasons[0] == "tests: the tests did not finish within 3 s"


def test_a_high_severity_finding_blocks_even_without_network_code(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _append(p / "chalicelib" / "plugin.py",
                                        "\n\ndef etag(data: bytes) -> str:\n"
                                        "    import hashlib\n"
                                        "    return hashlib.md5(data).hexdigest()\n"))

    report = run_checks(project)

    assert not report.passed
    security = _check(report, "security")
    assert (security.passed, security.points) == (False, 0)
    assert [(f["test_id"], f["severity"], f["file"]) for f in security.findings] == [
        ("B324", "HIGH", "chalicelib/plugin.py")]
    assert report.reasons == [
        f"security: 1 high-severity finding: B324 Use of weak MD5 hash for security. Consider "
        f"usedforsecurity=False at chalicelib/plugin.py:{security.findings[0]['line']}"]
    assert _check(report, "network").passed
    assert report.score == 80  # the points are gone, but the block is what refuses it


def test_a_shell_command_is_a_security_and_a_network_failure(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _append(p / "chalicelib" / "plugin.py",
                                        "\n\nimport subprocess\n\n\ndef run(cmd: str) -> int:\n"
                                        "    return subprocess.call(cmd, shell=True)\n"))

    report = run_checks(project, only=["security", "network"])

    assert not report.passed
    assert [f["test_id"] for f in _check(report, "security").findings] == ["B602", "B404"]
    assert report.reasons[0].startswith("security: 1 high-severity finding: B602 subprocess call with "
                                        "shell=True identified, security issue at chalicelib/plugin.py:")
    network = _check(report, "network")
    assert not network.passed
    assert [(f["kind"], f["name"]) for f in network.findings] == [("import", "subprocess")]
    assert report.reasons[1].startswith("network: chalicelib/plugin.py:")
    assert report.reasons[1].endswith(" imports subprocess")


def test_an_invalid_manifest_is_refused_with_every_problem(variant: Callable[..., Path]) -> None:
    def break_manifest(document: dict) -> None:
        document.update(version="1.0", license="GPL-3.0")
        document["runtime"]["handler"] = "missing:Plugin"
        del document["description"]

    project = variant(lambda p: _edit_manifest(p, break_manifest))

    report = run_checks(project, only=["manifest", "contract"])

    assert not report.passed
    manifest = _check(report, "manifest")
    assert {f["field"] for f in manifest.findings} == {"description", "version", "license", "runtime.handler"}
    assert report.reasons[0] == (
        "manifest: required field(s) missing: description; manifest version '1.0' is not semver; "
        "license 'GPL-3.0' is not one of MIT, Apache-2.0, Proprietary; "
        "runtime.handler names chalicelib/missing.py, which does not exist")
    assert report.reasons[1] == "contract: could not run because the manifest is invalid"


def test_a_manifest_that_is_not_json_is_refused(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: (p / "chalicelib" / "manifest.json").write_text("{", encoding="utf-8"))

    report = run_checks(project, only=["manifest"])

    assert report.reasons[0].startswith("manifest: chalicelib/manifest.json is not valid JSON")


def test_endpoints_the_plugin_does_not_route_or_crashes_on_break_the_contract(
        variant: Callable[..., Path]) -> None:
    def edit(project: Path) -> None:
        _edit_manifest(project, lambda d: d["api"]["endpoints"].extend([
            {"method": "GET", "path": "/forecast/{city}", "description": "Not implemented"},
            {"method": "PUT", "path": "/boom", "description": "Crashes"}]))
        _append(project / "chalicelib" / "plugin.py",
                "\n    @endpoint(\"PUT\", \"/boom\")\n"
                "    def boom(self, request: Request) -> Response:\n"
                "        raise RuntimeError(request.json())\n")
        _append(project / "README.md", "\n`/forecast/{city}` and `/boom`\n")

    report = run_checks(variant(edit), only=["contract"])

    contract = _check(report, "contract")
    assert not contract.passed
    assert [(f["method"], f["requested"]) for f in contract.findings] == [("GET", "/forecast/test"), ("PUT", "/boom")]
    assert report.reasons[0] == (
        "contract: GET /forecast/{city}: no such route: the plugin has no @endpoint for it; "
        "PUT /boom: status 500 (plugin_exception: {})")


def test_a_socket_opened_during_the_tests_is_blocked_and_reported(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _append(p / "tests" / "test_weather_api.py",
                                        "\n\ndef test_phones_home():\n"
                                        "    import socket\n"
                                        "    try:\n"
                                        "        socket.create_connection(('203.0.113.7', 443), timeout=1)\n"
                                        "    except OSError:\n"
                                        "        pass  # a plugin that swallows the error is still caught\n"))

    report = run_checks(project, only=["tests", "network"])

    assert _check(report, "tests").passed
    network = _check(report, "network")
    assert not network.passed
    assert [(f["during"], f["call"], f["target"]) for f in network.findings] == [
        ("tests", "create_connection", "203.0.113.7:443")]
    assert report.reasons[0] == (f"network: during the tests, create_connection 203.0.113.7:443 was attempted at "
                                 f"{network.findings[0]['where']}")
    assert network.findings[0]["where"].startswith("tests/test_weather_api.py:")


def test_a_low_score_refuses_a_plugin_whose_blocking_checks_all_pass(variant: Callable[..., Path]) -> None:
    def edit(project: Path) -> None:
        (project / "README.md").unlink()
        _append(project / "chalicelib" / "plugin.py",
                "\n\nimport pickle\n\n\ndef restore(blob: bytes, expression: str) -> object:\n"
                "    return pickle.loads(blob), eval(expression)\n")

    report = run_checks(variant(edit))

    assert all(check.passed for check in report.checks if check.blocking)
    assert (_check(report, "security").points, _check(report, "docs").points) == (9, 6)
    assert (report.score, report.passed) == (75, False)
    assert report.reasons[0].startswith("security: 2 medium- and 1 low-severity finding(s) cost 11 points: B301 ")
    assert report.reasons[1] == ("docs: no README.md, at least 300 characters wanted (-8); README.md does not "
                                 "mention /items, /items/{item_id} (-6)")
    assert report.reasons[2] == f"score 75 is below the minimum of {MIN_SCORE}"


def test_runtime_limits_outside_lambdas_are_refused(variant: Callable[..., Path]) -> None:
    project = variant(lambda p: _edit_manifest(p, lambda d: d["runtime"].update(memory_limit_mb=4096,
                                                                               timeout_seconds=30)))

    report = run_checks(project, only=["manifest", "resources"])

    assert _check(report, "manifest").passed
    assert report.reasons[0] == ("resources: runtime.memory_limit_mb is 4096; it must be 128..3008 MB; "
                                 "runtime.timeout_seconds is 30; it must be 1..29 s")


# -- pieces ---------------------------------------------------------------------------------------------


def test_the_static_network_scan_finds_every_way_in(tmp_path: Path) -> None:
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("import socket\n", encoding="utf-8")  # tests may
    (tmp_path / "chalicelib" / "plugin.py").write_text(
        "import json\n"
        "import urllib.request\n"
        "from http import client\n"
        "import os as o\n"
        "from os import popen\n"
        "from . import socket\n"
        "o.system('x')\n"
        "o.execvp('x', [])\n"
        "__import__('requests')\n"
        "o.path.join('a')\n"
        "import urllib.parse\n"  # parsing and naming things opens nothing
        "from urllib import parse\n"
        "from http import HTTPStatus\n"
        "from http.cookies import SimpleCookie\n", encoding="utf-8")

    found = [(f["kind"], f["name"], f["line"]) for f in network_findings(tmp_path)]

    assert sorted(found, key=lambda f: f[2]) == [
        ("import", "urllib.request", 2), ("import", "http.client", 3), ("import", "os.popen", 5),
        ("call", "os.system", 7), ("call", "os.execvp", 8), ("import", "requests", 9)]


@pytest.mark.parametrize(("declared", "concrete"), [
    ("/items", "/items"), ("/items/{item_id}", "/items/test"), ("/v1/:id/x", "/v1/test/x"), ("/f/{path+}", "/f/test"),
])
def test_contract_paths_fill_every_parameter(declared: str, concrete: str) -> None:
    assert fill_path(declared) == concrete


def test_logs_keep_the_head_and_the_tail_within_64_kb() -> None:
    text = "start\n" + "x" * 100_000 + "\nsummary: 3 failed"

    cut = truncate_log(text)

    assert len(cut.encode()) <= 64 * 1024
    assert cut.startswith("start\n") and cut.endswith("summary: 3 failed")
    assert "bytes cut" in cut
    assert truncate_log("short") == "short"


def test_unknown_check_ids_are_refused(scaffold: Path) -> None:
    with pytest.raises(ValueError, match="unknown check id"):
        run_checks(scaffold, only=["manifest", "lint"])


def test_the_check_command_prints_json_and_exits_by_verdict(scaffold: Path, variant: Callable[..., Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(scaffold), "--json", "--only", "manifest,docs"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["score"], printed["passed"], [c["id"] for c in printed["checks"]]) == (
        100, True, ["manifest", "docs"])

    broken = variant(lambda p: (p / "README.md").unlink())
    assert main(["check", str(broken), "--only", "docs"]) == 1
    out = capsys.readouterr().out
    assert "docs       WARN   6/20" in out and "REFUSED" in out

    assert main(["check", str(scaffold), "--only", "tests,lint"]) == 2
    assert main(["check", str(scaffold / "nope")]) == 2
