"""The checks in AWS, on moto: the ``submission_checks`` function gets two signed URLs and nothing
else, reports through S3, and the scheduled job turns what it wrote (hostile data) into a verdict.

``InvokeHere`` stands in for Lambda's asynchronous invoke: it runs the app's own function
handler in this process with the event the API sent (moto cannot run a function).
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from mocklib_plugin_sdk.checks import CHECKS
from mocklib_plugin_sdk.packaging import build_package
from mocklib_plugin_sdk.scaffold import init_project

from tests.functional.aws_platform import BUCKET, MovableClock, aws_container
from tests.support import expect_error, get, make_admin, post, sign_up

NAME = "acme-notes"


class InvokeHere:
    """Lambda's ``invoke`` of the checks function: runs it here (``run=True``) or only records it."""

    def __init__(self, *, run: bool) -> None:
        self.run = run
        self.events: list[dict[str, Any]] = []

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803
        assert InvocationType == "Event"
        event = json.loads(Payload)
        self.events.append(event)
        if self.run:
            from app import submission_checks

            submission_checks(event, None)
        return {"StatusCode": 202}


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def aws(runtime: Any, clock: MovableClock) -> Iterator[Any]:
    with aws_container(runtime, clock, MF_CHECKS_DISPATCH="lambda") as built:
        yield built


def function(aws: Any, *, run: bool) -> InvokeHere:
    from chalicelib.publishing.remote_checks import LambdaChecks

    lam = InvokeHere(run=run)
    aws.publishing.remote = LambdaChecks(lam, "mockfactory-marketplace-test-submission_checks", aws.artifact_store)
    return lam


@pytest.fixture
def client(aws: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def dev(client: Any) -> str:
    return sign_up(client, "developer")["access_token"]


def submit(client: Any, dev: str, tmp_path: Path) -> dict[str, Any]:
    project = init_project(tmp_path / NAME, NAME, author="Acme")
    response = post(client, "/developer/submissions", {"package": base64.b64encode(build_package(project)).decode()},
                    dev)
    assert response.status_code == 202, response.body
    return response.json_body["submission"]


def test_the_checks_function_gets_only_signed_urls_and_the_job_collects_its_report(aws, client, dev, tmp_path):
    lam = function(aws, run=True)

    submission = submit(client, dev, tmp_path)

    assert submission["status"] == "checking"  # the function cannot write the table: the job will
    (event,) = lam.events
    assert set(event) == {"submission_id", "sha256", "only", "package_url", "results_url"}
    package, results = urlsplit(event["package_url"]), urlsplit(event["results_url"])
    assert package.path.endswith(f"/packages/{NAME}/1.0.0/{submission['submission_id']}.zip")
    assert results.path.endswith(f"/packages/results/{submission['submission_id']}.json")
    assert "X-Amz-Signature=" in package.query and "X-Amz-Signature=" in results.query
    assert event["sha256"] == submission["package"]["sha256"]
    written = json.loads(boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=BUCKET, Key=f"packages/results/{submission['submission_id']}.json")["Body"].read())
    assert written["report"]["passed"] is True

    assert aws.publishing.run_pipeline()["checks"] == {"collected": 1, "waiting": 0, "failed": 0, "errors": 0}

    done = get(client, f"/developer/submissions/{submission['submission_id']}", dev).json_body["submission"]
    assert done["status"] == "in_review" and done["score"] == 100
    assert [h["status"] for h in done["history"]] == ["queued", "checking", "in_review"]
    assert "passed" in done["log"]
    queue = get(client, "/admin/reviews", make_admin(aws)).json_body["versions"]
    assert [v["plugin"] for v in queue] == [NAME]
    assert aws.publishing.run_pipeline()["checks"]["collected"] == 0  # nothing left to collect


def _report(**changes: Any) -> dict[str, Any]:
    checks = [{"id": spec.id, "name": spec.name, "passed": True, "blocking": spec.blocking,
               "points": spec.max_points, "max_points": spec.max_points, "summary": "ok", "findings": []}
              for spec in CHECKS]
    return {"checks": checks, "score": 100, "min_score": 80, "passed": True, "reasons": [], "log": "", **changes}


def _forged_tests_failure() -> dict[str, Any]:
    report = _report()
    tests = next(c for c in report["checks"] if c["id"] == "tests")
    tests.update(passed=False)  # yet all its points, and the report still says passed with 100
    return report


@pytest.mark.parametrize("forge, reason", [
    (lambda s: b"{not json", "malformed"),
    (lambda s: json.dumps({"submission_id": s["submission_id"], "sha256": "0" * 64,
                           "report": _report()}).encode(), "another submission or another package"),
    (lambda s: json.dumps({"submission_id": s["submission_id"], "sha256": s["package"]["sha256"],
                           "report": _report(checks=_report()["checks"][:3])}).encode(), "each check exactly once"),
    (lambda s: json.dumps({"submission_id": s["submission_id"], "sha256": s["package"]["sha256"],
                           "report": _report(log="x" * 300_000)}).encode(), "too large"),
    (lambda s: json.dumps({"submission_id": s["submission_id"], "sha256": s["package"]["sha256"],
                           "report": _forged_tests_failure()}).encode(), "checks failed"),
    (lambda s: json.dumps({"submission_id": s["submission_id"], "sha256": s["package"]["sha256"],
                           "error": "the checks could not run: boom"}).encode(), "could not run: boom"),
], ids=["not-json", "another-package", "missing-checks", "oversized", "forged-verdict", "function-error"])
def test_what_the_checks_function_wrote_is_validated_and_never_trusted(aws, client, dev, tmp_path, forge, reason):
    function(aws, run=False)
    submission = submit(client, dev, tmp_path)
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=BUCKET, Key=f"packages/results/{submission['submission_id']}.json", Body=forge(submission))

    assert aws.publishing.run_pipeline()["checks"]["errors"] == 0

    done = get(client, f"/developer/submissions/{submission['submission_id']}", dev).json_body["submission"]
    assert done["status"] == "checks_failed"
    assert reason in done["history"][-1]["note"], done["history"][-1]
    expect_error(get(client, f"/developer/plugins/{NAME}", dev), 404, "plugin_not_found")


def test_checks_that_never_report_end_the_submission_after_their_deadline(aws, client, dev, tmp_path, clock):
    function(aws, run=False)
    submission = submit(client, dev, tmp_path)

    assert aws.publishing.run_pipeline()["checks"]["waiting"] == 1
    clock.advance(minutes=31)
    assert aws.publishing.run_pipeline()["checks"]["failed"] == 1

    done = get(client, f"/developer/submissions/{submission['submission_id']}", dev).json_body["submission"]
    assert done["status"] == "checks_failed" and "did not report within 30 minutes" in done["history"][-1]["note"]
