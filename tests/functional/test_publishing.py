"""The publishing pipeline through the API (moto): submit a package -> checks -> review -> live.

Most tests replace the checks with a recorded verdict to test the pipeline itself; the checks
are tested in tests/unit/plugin_sdk, and the first test here runs them for real.
"""
from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mocklib_plugin_sdk.packaging import build_package
from mocklib_plugin_sdk.scaffold import init_project

from tests.support import expect_error, get, make_admin, post, sign_up


@dataclass
class Verdict:
    """What ``mocklib_plugin_sdk.checks.run_checks`` answers, recorded."""

    passed: bool = True
    score: int = 100
    reasons: list[str] = field(default_factory=list)
    seen: list[Path] = field(default_factory=list)

    def __call__(self, project: Path) -> Verdict:
        assert (project / "chalicelib" / "manifest.json").is_file()
        self.seen.append(project)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"checks": [{"id": "tests", "name": "Tests", "passed": self.passed, "blocking": True,
                            "points": 20 if self.passed else 0, "max_points": 20, "summary": "", "findings": []}],
                "score": self.score, "min_score": 80, "passed": self.passed, "reasons": self.reasons,
                "log": "collected 4 items\n4 passed"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / "acme-notes", "acme-notes", author="Acme")


@pytest.fixture
def verdict(container: Any) -> Verdict:
    recorded = Verdict()
    container.publishing.checker = recorded
    return recorded


@pytest.fixture
def dev(client: Any) -> str:
    return sign_up(client, "developer")["access_token"]


@pytest.fixture
def admin(container: Any) -> str:
    return make_admin(container)


def manifest_of(project: Path) -> dict[str, Any]:
    return json.loads((project / "chalicelib" / "manifest.json").read_text())


def write_manifest(project: Path, doc: dict[str, Any]) -> None:
    (project / "chalicelib" / "manifest.json").write_text(json.dumps(doc, indent=2))


def submit(client: Any, token: str, project: Path) -> Any:
    return post(client, "/developer/submissions",
                {"package": base64.b64encode(build_package(project)).decode()}, token)


def test_a_scaffolded_plugin_goes_live_through_real_checks_review_and_deployment(client, container, project, dev,
                                                                                admin, tmp_path):
    response = submit(client, dev, project)
    assert response.status_code == 202, response.body
    submission = response.json_body["submission"]
    assert submission["status"] == "in_review", submission
    assert submission["score"] == 100 and submission["min_score"] == 80
    assert {c["id"] for c in submission["checks"]} >= {"manifest", "tests", "contract", "security", "network",
                                                       "resources", "docs"}
    assert all(c["passed"] for c in submission["checks"])
    assert [h["status"] for h in submission["history"]] == ["queued", "checking", "in_review"]
    detail = get(client, f"/developer/submissions/{submission['submission_id']}", dev).json_body["submission"]
    assert "passed" in detail["log"]

    queue = get(client, "/admin/reviews", admin).json_body["versions"]
    assert [(v["plugin"], v["submission"]["score"]) for v in queue] == [("acme-notes", 100)]
    approved = post(client, "/admin/plugins/acme-notes/versions/1.0.0/approve", {"notes": "clean and tested"}, admin)
    assert approved.status_code == 200, approved.body

    assert approved.json_body["status"] == "published" and approved.json_body["submission"]["status"] == "live"

    # The local deployer finishes at once, through the same states as a stack in AWS.
    mine = get(client, "/developer/submissions?plugin=acme-notes", dev).json_body["submissions"]
    assert mine[0]["status"] == "live" and mine[0]["review_notes"] == "clean and tested"
    assert [h["status"] for h in mine[0]["history"]][-3:] == ["approved", "deploying", "live"]
    assert get(client, "/marketplace/plugins/acme-notes").status_code == 200
    topics = [n["topic"] for n in get(client, "/notifications", dev).json_body["notifications"]]
    assert {"submission.in_review", "submission.approved", "submission.live"} <= set(topics)

    # The approved package is what runs: a user installs it and calls it through the gateway.
    user = sign_up(client)["access_token"]
    installed = post(client, "/plugins/install", {"plugin": "acme-notes",
                                                  "accept_permissions": manifest_of(project)["permissions"]}, user)
    assert installed.status_code == 201, installed.body
    key = post(client, "/keys", {"name": "k", "mode": "test"}, user).json_body["api_key"]
    created = post(client, "/plugins/acme-notes/v1/items", {"name": "first"}, key)
    assert created.status_code == 201, created.body
    assert container.deployer is not None
    assert (Path(container.deployer.root) / "acme-notes" / "1.0.0" / "chalicelib" / "plugin.py").is_file()


def test_real_checks_refuse_a_failing_test_and_a_high_severity_finding_with_both_reasons(client, dev, project):
    test_file = next((project / "tests").glob("test_*.py"))
    test_file.write_text(test_file.read_text() + "\n\ndef test_broken(call):\n    assert call('GET', '/items').status == 418\n")
    plugin = project / "chalicelib" / "plugin.py"
    plugin.write_text(plugin.read_text() + "\n\ndef etag(data):\n    import hashlib\n    return hashlib.md5(data).hexdigest()\n")

    submission = submit(client, dev, project).json_body["submission"]

    assert submission["status"] == "checks_failed"
    failed = {c["id"] for c in submission["checks"] if not c["passed"]}
    assert failed == {"tests", "security"}
    assert any("test_broken" in reason for reason in submission["reasons"]), submission["reasons"]
    assert any("B324" in reason for reason in submission["reasons"]), submission["reasons"]
    assert get(client, "/developer/plugins/acme-notes", dev).status_code == 404


def test_a_package_failing_its_checks_is_refused_with_the_reasons(client, container, project, dev, verdict):
    verdict.passed, verdict.score = False, 60
    verdict.reasons = ["tests: 1 of 4 tests failed (test_items)", "score 60 is below the minimum of 80"]
    submission = submit(client, dev, project).json_body["submission"]
    assert submission["status"] == "checks_failed"
    assert submission["reasons"] == verdict.reasons and submission["score"] == 60
    assert get(client, "/developer/plugins/acme-notes", dev).status_code == 404  # nothing entered the catalog
    notices = get(client, "/notifications", dev).json_body["notifications"]
    assert notices[0]["topic"] == "submission.checks_failed" and "test_items" in notices[0]["message"]
    # Fixed and sent again, the same version is accepted.
    verdict.passed, verdict.score, verdict.reasons = True, 95, []
    assert submit(client, dev, project).json_body["submission"]["status"] == "in_review"


@pytest.mark.parametrize("package, status, code", [
    ("not base64!", 400, "invalid_package"),
    (base64.b64encode(b"not a zip").decode(), 400, "invalid_package"),
])
def test_what_is_not_a_package_is_refused(client, dev, verdict, package, status, code):
    expect_error(post(client, "/developer/submissions", {"package": package}, dev), status, code)
    assert verdict.seen == []


def test_a_zip_without_a_manifest_or_with_an_invalid_one_is_refused_before_any_check(client, dev, verdict, project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.md", "hello")
    body = expect_error(post(client, "/developer/submissions",
                             {"package": base64.b64encode(buffer.getvalue()).decode()}, dev), 400, "invalid_package")
    assert "manifest" in body["message"]
    doc = manifest_of(project)
    doc["license"] = "WTFPL"
    write_manifest(project, doc)
    body = expect_error(submit(client, dev, project), 400, "invalid_manifest")
    assert any(p["path"] == "license" for p in body["details"])
    assert verdict.seen == []


def test_only_developers_submit_and_only_to_their_own_plugins(client, dev, admin, verdict, project):
    expect_error(submit(client, sign_up(client)["access_token"], project), 403, "insufficient_role")
    assert submit(client, dev, project).json_body["submission"]["status"] == "in_review"
    other = sign_up(client, "developer")["access_token"]
    expect_error(submit(client, other, project), 403, "not_plugin_owner")
    submission_id = get(client, "/developer/submissions", dev).json_body["submissions"][0]["submission_id"]
    expect_error(get(client, f"/developer/submissions/{submission_id}", other), 404, "submission_not_found")


def test_versions_increase_and_a_breaking_change_needs_a_new_major(client, dev, admin, verdict, project):
    submit(client, dev, project)
    assert post(client, "/admin/plugins/acme-notes/versions/1.0.0/approve", None, admin).status_code == 200
    expect_error(submit(client, dev, project), 409, "version_not_submittable")  # 1.0.0 is published

    doc = manifest_of(project)
    doc["version"] = "1.1.0"
    doc["api"]["endpoints"] = [e for e in doc["api"]["endpoints"] if e["method"] != "DELETE"]
    write_manifest(project, doc)
    body = expect_error(submit(client, dev, project), 409, "breaking_change_requires_major")
    assert body["details"]["changes"] == ["endpoint DELETE /items/{item_id} removed"]
    assert "2.0.0" in body["message"]

    doc["version"], doc["api"]["base_path"] = "2.0.0", "/plugins/acme-notes/v2"
    write_manifest(project, doc)
    assert submit(client, dev, project).json_body["submission"]["status"] == "in_review"
    doc["version"], doc["api"]["base_path"] = "0.9.0", "/plugins/acme-notes/v0"
    write_manifest(project, doc)
    expect_error(submit(client, dev, project), 409, "version_not_increasing")


def test_a_rejection_reaches_the_developer_and_a_fixed_package_can_be_resubmitted(client, dev, admin, verdict,
                                                                                   project):
    submit(client, dev, project)
    rejected = post(client, "/admin/plugins/acme-notes/versions/1.0.0/reject",
                    {"reason": "the README does not say what the items are for"}, admin)
    assert rejected.status_code == 200, rejected.body
    submission = get(client, "/developer/submissions", dev).json_body["submissions"][0]
    assert submission["status"] == "rejected"
    assert submission["review_notes"] == "the README does not say what the items are for"
    notices = get(client, "/notifications", dev).json_body["notifications"]
    assert notices[0]["topic"] == "submission.rejected" and "README" in notices[0]["message"]
    assert submit(client, dev, project).json_body["submission"]["status"] == "in_review"


def test_every_admin_action_is_in_the_audit_log_with_who_what_and_why(client, container, dev, admin, verdict,
                                                                      project):
    submit(client, dev, project)
    post(client, "/admin/plugins/acme-notes/versions/1.0.0/approve", {"notes": "looks good"}, admin)
    post(client, "/admin/plugins/acme-notes/suspend", {"reason": "abuse report #12"}, admin)
    post(client, "/admin/plugins/acme-notes/suspend", {"reason": "twice"}, admin)  # refused: already suspended
    entries = get(client, "/admin/audit", admin).json_body["entries"]
    assert [(e["action"], e["status"], e["reason"]) for e in entries] == [
        ("POST /admin/plugins/{name}/suspend", 409, "twice"),
        ("POST /admin/plugins/{name}/suspend", 200, "abuse report #12"),
        ("POST /admin/plugins/{name}/versions/{version}/approve", 200, "looks good"),
    ]
    assert entries[1]["target"] == "name=acme-notes"
    assert entries[1]["actor"] == container.auth.authenticate(admin).user_id
    assert entries[0]["at"] >= entries[1]["at"] >= entries[2]["at"]
    expect_error(get(client, "/admin/audit", dev), 403, "insufficient_role")
    expect_error(get(client, "/admin/audit?month=2026-13", admin), 400, "invalid_month")


def test_a_manifest_can_be_validated_without_submitting(client, dev, project):
    doc = manifest_of(project)
    assert post(client, "/developer/validate-manifest", doc, dev).json_body == {"valid": True, "problems": []}
    doc["version"] = "one"
    answer = post(client, "/developer/validate-manifest", doc, dev).json_body
    assert answer["valid"] is False and any(p["path"] == "version" for p in answer["problems"])


@pytest.mark.parametrize("ref", ["#/nowhere", "http://169.254.169.254/latest/meta-data/"])
def test_a_config_schema_with_a_ref_outside_itself_is_a_problem_of_the_manifest(client, dev, project, ref):
    doc = manifest_of(project)
    doc["config"] = {"schema": {"type": "object", "properties": {"mode": {"$ref": ref}}}, "default": {"mode": "x"}}
    answer = post(client, "/developer/validate-manifest", doc, dev)
    assert answer.status_code == 200, answer.body
    assert answer.json_body["valid"] is False
    assert [p["path"] for p in answer.json_body["problems"]] == ["config/schema"]


def test_where_no_sandbox_exists_a_submission_is_refused_before_anything_is_stored(client, container, dev, project,
                                                                                   verdict):
    container.publishing.sandbox_check = lambda: "bubblewrap (bwrap) is not installed"

    body = expect_error(submit(client, dev, project), 503, "sandbox_unavailable")

    assert "bwrap" in body["message"]
    assert get(client, "/developer/submissions", dev).json_body["submissions"] == []
    assert verdict.seen == []


def test_a_package_bringing_its_own_packages_is_refused_they_would_not_be_installed(client, dev, project, verdict):
    (project / "requirements.txt").write_text("mocklib-plugin-sdk\npynamodb==6.1.0\nrequests>=2\n-e git+https://x\n")

    body = expect_error(submit(client, dev, project), 400, "unsupported_requirements")

    assert body["details"]["requirements"] == ["requests", "-e git+https://x"]
    assert verdict.seen == []
