"""The checks in AWS: the API hands a submission to the ``submission_checks`` function and later
collects what it reported. The function holds no permission of its own (``infra/template.py``
``checks_policy``: its log group and its network interfaces): it gets a URL that can read exactly
that submission's package and one that can write exactly its results
(``results/<submission>.json`` in the artifacts bucket), both signed by the API and short-lived.

What comes back is hostile data: the submitter's code ran in that function and could have
written anything to the results URL. :func:`parse_results` reads it bounded, checks its shape,
that it names this submission and this package, and recomputes the verdict from the checks
themselves; the human review stays the gate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mocklib_plugin_sdk.checks import CHECKS, MIN_SCORE
from mocklib_plugin_sdk.conformance.measure import clean_report

from chalicelib.core.errors import DomainError
from chalicelib.core.jsonutil import parse_json, validate
from chalicelib.publishing.artifacts import S3Store

RESULTS_KEY = "results/{submission_id}.json"
MAX_RESULTS_BYTES = 256 * 1024
MAX_LOG_CHARS = 64 * 1024
URL_SECONDS = 3600  # the function runs at most 15 minutes after an at-most-10-minute queue (EventInvokeConfig)
_CHECK_POINTS = {spec.id: spec.max_points for spec in CHECKS}
_TEXT = {"type": "string", "maxLength": 2000}
_FINDING = {"type": "object", "maxProperties": 20, "additionalProperties": {
    "type": ["string", "number", "boolean", "null"], "maxLength": 2000}}
RESULTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["submission_id", "sha256"],
    "additionalProperties": False,
    "properties": {
        "submission_id": {"type": "string", "maxLength": 100},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "error": _TEXT,  # the function could not run the checks
        "report": {
            "type": "object",
            "required": ["checks", "score", "reasons", "log"],
            "additionalProperties": False,
            "properties": {
                "checks": {"type": "array", "maxItems": len(CHECKS), "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["id", "name", "passed", "blocking", "points", "max_points", "summary", "findings"],
                    "properties": {
                        "id": {"enum": sorted(_CHECK_POINTS)}, "name": {"type": "string", "maxLength": 100},
                        "passed": {"type": "boolean"}, "blocking": {"type": "boolean"},
                        "points": {"type": "integer", "minimum": 0, "maximum": 100},
                        "max_points": {"type": "integer", "minimum": 0, "maximum": 100},
                        "summary": _TEXT, "findings": {"type": "array", "maxItems": 50, "items": _FINDING},
                    }}},
                "score": {"type": "integer", "minimum": 0, "maximum": 100},
                "min_score": {"type": "integer"},
                "passed": {"type": "boolean"},
                "reasons": {"type": "array", "maxItems": 50, "items": _TEXT},
                "log": {"type": "string", "maxLength": MAX_LOG_CHARS},
                # coverage and conformance against the package's spec/ (not scored): reduced to its
                # known, bounded fields by clean_report; the checks' verdict never depends on it
                "fidelity": {"type": ["object", "null"]},
            },
        },
    },
}


class ResultsRejected(Exception):
    """What the checks function wrote cannot be used; ``str(exc)`` says why."""


@dataclass(frozen=True)
class CheckResults:
    """A verdict the API computed itself from reported checks."""

    report: dict[str, Any]  # checks, score, min_score, passed, reasons
    log: str
    passed: bool
    score: int


def parse_results(raw: bytes, *, submission_id: str, sha256: str, only: list[str] | None = None) -> CheckResults:
    """``only``: the checks that were asked for (None: all of them)."""
    try:
        document = parse_json(raw, max_bytes=MAX_RESULTS_BYTES)
        validate(RESULTS_SCHEMA, document, what="checks results")
    except DomainError as exc:
        raise ResultsRejected(f"the checks' results are malformed: {exc.message[:300]}") from exc
    if document["submission_id"] != submission_id or document["sha256"] != sha256:
        raise ResultsRejected("the checks' results are about another submission or another package")
    if "error" in document or "report" not in document:
        raise ResultsRejected(f"the checks could not run: {document.get('error') or 'no report'}")
    reported = document["report"]
    checks = reported["checks"]
    ids = [c["id"] for c in checks]
    if len(set(ids)) != len(ids) or set(ids) != set(only or _CHECK_POINTS):
        raise ResultsRejected("the checks' results do not hold each check exactly once")
    for check in checks:  # points within what each check can earn: a forged 100/100 still needs each check
        if check["max_points"] != _CHECK_POINTS[check["id"]] or check["points"] > check["max_points"]:
            raise ResultsRejected(f"the checks' results give {check['id']} impossible points")
        if check["blocking"] and not check["passed"]:
            check["points"] = 0
    available = sum(c["max_points"] for c in checks)
    score = (sum(c["points"] for c in checks) * 100 + available // 2) // available if available else 0
    passed = all(c["passed"] for c in checks if c["blocking"]) and score >= MIN_SCORE
    reasons = list(reported["reasons"])
    if score < MIN_SCORE and not any("below the minimum" in r for r in reasons):
        reasons.append(f"score {score} is below the minimum of {MIN_SCORE}")
    report = {"checks": checks, "score": score, "min_score": MIN_SCORE, "passed": passed, "reasons": reasons,
              "fidelity": clean_report(reported.get("fidelity"))}
    return CheckResults(report=report, log=reported["log"][-MAX_LOG_CHARS:], passed=passed, score=score)


class LambdaChecks:
    """Sends a submission to the checks function, asynchronously: results come back through S3."""

    def __init__(self, client: Any, function_name: str, store: S3Store) -> None:
        self._client = client
        self._function = function_name
        self._store = store

    def event(self, submission_id: str, artifact_key: str, sha256: str,
              only: list[str] | None = None) -> dict[str, Any]:
        return {
            "submission_id": submission_id, "sha256": sha256, "only": only,
            "package_url": self._store.presigned("GET", artifact_key, seconds=URL_SECONDS),
            "results_url": self._store.presigned("PUT", RESULTS_KEY.format(submission_id=submission_id),
                                                 seconds=URL_SECONDS),
        }

    def __call__(self, submission_id: str, artifact_key: str, sha256: str, only: list[str] | None = None) -> None:
        self._client.invoke(FunctionName=self._function, InvocationType="Event",
                            Payload=json.dumps(self.event(submission_id, artifact_key, sha256, only)).encode())
