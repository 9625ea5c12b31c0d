"""The ``submission_checks`` function: runs one submission's checks and reports through S3.

It holds no permission of its own beyond its log group (``infra/template.py`` ``checks_policy``)
and runs in subnets whose only way out is the S3 gateway endpoint (its security group allows
S3's prefix list, nothing else): it cannot reach a table, a secret or the Internet. It reads
the package from, and writes its results to, the two URLs the API signed for this submission
(``remote_checks.LambdaChecks``); the API collects the results (``PublishingPipeline``).

Bubblewrap cannot run inside Lambda, so the checks run the submitted code without the local
sandbox: this function, its role and its network are the sandbox. Its own address space is made
unreadable to the code it runs (``PR_SET_DUMPABLE``), so the submitted tests cannot read the
signed URLs or the role's credentials from its memory or environment.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.packaging import MAX_PACKAGE_BYTES, PackageError, extract_package

from chalicelib.publishing.remote_checks import MAX_LOG_CHARS

TIMEOUT_S = 60
MAX_FINDINGS = 50
MAX_TEXT = 2000


def _undumpable() -> None:
    """Other processes of this (same) user may no longer read this one's memory or environ."""
    if not os.environ.get("AWS_LAMBDA_RUNTIME_API"):
        return  # only inside Lambda: a developer's or a test's process is left as it is
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def _text(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_TEXT]


def _finding(finding: Any) -> dict[str, Any]:
    """Flat and bounded: the API refuses anything else (remote_checks.RESULTS_SCHEMA)."""
    if not isinstance(finding, dict):
        return {"detail": _text(finding)}
    return {str(key)[:100]: _text(value) for key, value in list(finding.items())[:20]}


def report_document(report: dict[str, Any]) -> dict[str, Any]:
    checks = [{**check, "name": str(check["name"])[:100], "summary": _text(check["summary"]),
               "findings": [_finding(f) for f in check.get("findings", [])[:MAX_FINDINGS]]}
              for check in report["checks"]]
    return {"checks": checks, "score": report["score"], "min_score": report["min_score"],
            "passed": report["passed"], "reasons": [_text(r) for r in report["reasons"][:50]],
            "log": str(report.get("log", ""))[-MAX_LOG_CHARS:]}


def run(event: dict[str, Any], *, http: Any = None, checker: Callable[[Path], Any] | None = None) -> dict[str, Any]:
    """Check ``event``'s package; PUT the results; answer a summary (for the function's log)."""
    import requests

    http = http or requests
    submission_id, expected = str(event["submission_id"]), str(event["sha256"])
    document: dict[str, Any] = {"submission_id": submission_id, "sha256": expected}
    try:
        answer = http.get(event["package_url"], timeout=TIMEOUT_S)
        answer.raise_for_status()
        package = answer.content
        if len(package) > MAX_PACKAGE_BYTES or hashlib.sha256(package).hexdigest() != expected:
            raise ValueError("the package read is not the package submitted")
        with tempfile.TemporaryDirectory(prefix="mf-checks-") as tmp:
            project = Path(tmp) / "project"
            extract_package(package, project)
            if checker is None:
                from mocklib_plugin_sdk.checks import run_checks

                _undumpable()
                only = event.get("only") or None
                result = run_checks(project, only=only, sandbox_required=False)  # this function is the sandbox
            else:
                result = checker(project)
        document["report"] = report_document(result.to_dict())
    except (PackageError, ValueError, OSError, requests.RequestException) as exc:
        document["error"] = f"the checks could not run: {exc}"[:MAX_TEXT]
    body = json.dumps(document).encode("utf-8")
    stored = http.put(event["results_url"], data=body, timeout=TIMEOUT_S,
                      headers={"Content-Type": "application/json"})
    stored.raise_for_status()
    report = document.get("report") or {}
    return {"submission_id": submission_id, "passed": report.get("passed"), "score": report.get("score"),
            "error": document.get("error")}
