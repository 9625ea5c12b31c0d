"""The publishing pipeline: submit a package -> automated checks in isolation -> admin review ->
deploy -> publish once live (states: ``chalicelib/publishing/submissions.py``).

What can be refused at once (not a package, an invalid manifest, packages the platform does not
provide, another developer's plugin, a version that does not increase or breaks its major line)
is refused by ``submit`` with a 4xx, before anything is stored. Where the checks would run on
this machine (``inline``, ``thread``) and it cannot sandbox them, submissions are refused (503
``sandbox_unavailable``) instead of running third-party code unsandboxed.

The checks (``mocklib_plugin_sdk.checks``: manifest, tests, contract, security scan, network,
resources, docs, and the quality score) run wherever ``dispatch`` sends them: in the request
(tests), on a worker thread (local stack) or in the ``submission_checks`` function (AWS), whose
results the scheduled job collects (``collect_checks``). A run that fails unexpectedly ends the
submission in ``checks_failed`` with the reason, so nothing waits forever.

Approval hands the version to the deployment pipeline (``pipeline.py``); the catalog publishes it
when its function is live.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import tempfile
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.conformance.measure import clean_report
from mocklib_plugin_sdk.packaging import MAX_PACKAGE_BYTES, PackageError, extract_package, read_manifest

from chalicelib.auth.principal import Principal
from chalicelib.catalog.documents import MAX_README_CHARS, documents
from chalicelib.catalog.manifest import parse_manifest
from chalicelib.catalog.model import Version
from chalicelib.catalog.service import CatalogService, version_view
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import (ConflictError, DomainError, InvalidInputError, NotFoundError,
                                    PayloadTooLargeError, UpstreamUnavailableError)
from chalicelib.core.ids import new_id
from chalicelib.publishing.artifacts import ArtifactError, ArtifactStore, ArtifactTooLarge
from chalicelib.publishing.bundle import BundleError, extra_requirements, package_requirements
from chalicelib.publishing.pipeline import DeploymentPipeline
from chalicelib.publishing.records import SubmissionRecord
from chalicelib.publishing.remote_checks import (MAX_RESULTS_BYTES, RESULTS_KEY, CheckResults, LambdaChecks,
                                                 ResultsRejected, parse_results)
from chalicelib.publishing.repository import CHECKS, DEPLOYMENT
from chalicelib.publishing.submissions import IN_FLIGHT, MIN_SCORE, Submissions, view

log = logging.getLogger(__name__)

__all__ = ["MAX_BODY_BYTES", "MIN_SCORE", "PublishingService", "REVIEW_NOTES", "SUBMIT", "UNDEPLOY"]

# A package is at most 3 MiB zipped; as base64 in JSON that is 4 MiB, under Lambda's 6 MB payload.
MAX_BODY_BYTES = MAX_PACKAGE_BYTES * 4 // 3 + 64 * 1024
MAX_LOG_CHARS = 64 * 1024
MAX_README_BYTES = 4 * MAX_README_CHARS  # UTF-8: at most 4 bytes a character
# The checks function runs at most 15 minutes, after at most 10 queued (EventInvokeConfig in the
# API's merge template); past this its submission is ended instead of waiting forever.
CHECKS_DEADLINE = timedelta(minutes=30)

SUBMIT = {
    "type": "object",
    "properties": {"package": {"type": "string", "minLength": 4,
                               "description": "the plugin project as a zip (mocklib plugin publish), base64"}},
    "required": ["package"],
    "additionalProperties": False,
}
REVIEW_NOTES = {
    "type": "object",
    "properties": {"notes": {"type": "string", "maxLength": 2000}},
    "additionalProperties": False,
}
UNDEPLOY = {
    "type": "object",
    "properties": {"reason": {"type": "string", "minLength": 3, "maxLength": 2000}},
    "required": ["reason"],
    "additionalProperties": False,
}


def _decode(text: str) -> bytes:
    if len(text) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the package is over {MAX_PACKAGE_BYTES} bytes zipped", code="package_too_large")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("package must be the base64 of a zip file", code="invalid_package") from exc


def package_readme(package: bytes) -> str | None:
    """The package's top-level README.md (what its plugin page shows), or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            entry = next((i for i in archive.infolist() if i.filename.lower() == "readme.md"), None)
            if entry is None or entry.file_size > MAX_README_BYTES:
                return None
            return archive.read(entry).decode("utf-8", errors="replace")
    except (zipfile.BadZipFile, OSError):
        return None


def _only(record: SubmissionRecord) -> list[str] | None:
    """The checks this submission asked for; None: all of them."""
    return [str(check) for check in record.checks_only] if record.checks_only else None


class PublishingService:
    def __init__(self, catalog: CatalogService, store: ArtifactStore, submissions: Submissions,
                 pipeline: DeploymentPipeline, clock: Clock) -> None:
        self._catalog = catalog
        self._store = store
        self._submissions = submissions
        self.pipeline = pipeline
        self._clock = clock
        self.dispatch: Callable[[str], object] = self.run_checks  # the wiring may send it elsewhere
        self.checker: Callable[[Path], Any] | None = None  # None: mocklib_plugin_sdk.checks.run_checks
        self.sandbox_check: Callable[[], str | None] | None = None  # why checks here would run unsandboxed
        self.remote: LambdaChecks | None = None  # the checks function, when dispatch sends work to it

    # --- developer ---------------------------------------------------------------------
    @staticmethod
    def validate_manifest(document: Any) -> dict[str, Any]:
        try:
            parse_manifest(document)
        except InvalidInputError as exc:
            return {"valid": False, "problems": exc.details or [{"path": "", "message": exc.message}]}
        return {"valid": True, "problems": []}

    def submit(self, developer: Principal, body: dict[str, Any], *,
               checks_only: tuple[str, ...] | None = None) -> dict[str, Any]:
        """``checks_only``: in-process callers only (chalicelib.ops, for the reference plugins)."""
        if self.sandbox_check is not None and (reason := self.sandbox_check()) is not None:
            raise UpstreamUnavailableError(f"submissions cannot be checked on this server: {reason}",
                                           code="sandbox_unavailable")
        package = _decode(body["package"])
        if len(package) > MAX_PACKAGE_BYTES:
            raise PayloadTooLargeError(f"the package is {len(package)} bytes; the limit is {MAX_PACKAGE_BYTES}",
                                       code="package_too_large")
        try:
            document = read_manifest(package)
            extra = extra_requirements(package_requirements(package))
        except (PackageError, BundleError) as exc:
            raise InvalidInputError(f"invalid package: {exc}", code="invalid_package") from exc
        manifest = parse_manifest(document)
        if extra:
            raise InvalidInputError(
                f"plugins run on the platform's SDK layer and may not bring other packages: {', '.join(extra[:10])}",
                code="unsupported_requirements", details={"requirements": extra[:50]})
        self._catalog.plan_package(developer, manifest)
        if any(s.plugin == manifest.name and s.version == manifest.version and s.status in IN_FLIGHT
               for s in self._own(developer.user_id)):
            raise ConflictError(f"{manifest.name} {manifest.version} is already being checked",
                                code="submission_in_progress")
        now = self._clock.now()
        submission_id = new_id("sub")
        key = f"{manifest.name}/{manifest.version}/{submission_id}.zip"
        self._store.put(key, package)
        self._submissions.repository.add(SubmissionRecord(
            *SubmissionRecord.key(submission_id), submission_id=submission_id, developer_id=developer.user_id,
            plugin=manifest.name, version=manifest.version, status="queued", manifest=manifest.document,
            artifact_key=key, artifact_sha256=hashlib.sha256(package).hexdigest(), size_bytes=len(package),
            history=[{"status": "queued", "at": iso(now), "note": "package received"}],
            checks_only=list(checks_only) if checks_only else None, created_at=now, updated_at=now))
        self.dispatch(submission_id)
        return {"submission": view(self._submissions.load(submission_id))}

    def list_own(self, developer: Principal, plugin: str | None = None) -> dict[str, Any]:
        rows = [r for r in self._own(developer.user_id) if plugin is None or r.plugin == plugin]
        return {"submissions": [view(r) for r in rows]}

    def get_own(self, developer: Principal, submission_id: str) -> dict[str, Any]:
        record = self._submissions.load(submission_id)
        if record.developer_id != developer.user_id and not developer.has_role("admin"):
            raise NotFoundError("no such submission", code="submission_not_found")
        return {"submission": view(record, with_log=True)}

    def _own(self, developer_id: str) -> list[SubmissionRecord]:
        return self._submissions.repository.by_developer(developer_id)

    # --- the checks, here ---------------------------------------------------------------
    def run_checks(self, submission_id: str) -> dict[str, Any]:
        record = self._submissions.load(submission_id)
        if record.status not in IN_FLIGHT:
            return view(record)  # a retried invocation of a finished run
        record = self._submissions.move(record, "checking", "automated checks started")
        try:
            report = self._check(record)
        except Exception:  # noqa: BLE001 - end the submission with a reason instead of leaving it checking
            log.exception("checks of %s failed to run", submission_id)
            return view(self._submissions.move(
                record, "checks_failed", "the checks could not run; please submit again",
                report={"checks": [], "reasons": ["the checks could not run (internal error)"]}))
        result = report.to_dict()
        result["fidelity"] = clean_report(result.get("fidelity"))
        checks_log = str(result.pop("log", ""))[-MAX_LOG_CHARS:]
        return view(self._conclude(record, CheckResults(result, checks_log, bool(report.passed), int(report.score))))

    def _check(self, record: SubmissionRecord) -> Any:
        package = self._store.get(record.artifact_key)
        with tempfile.TemporaryDirectory(prefix="mf-checks-") as tmp:
            project = Path(tmp) / record.plugin
            extract_package(package, project)
            if self.checker is not None:
                return self.checker(project)
            from mocklib_plugin_sdk.checks import run_checks

            return run_checks(project, only=_only(record))

    def _conclude(self, record: SubmissionRecord, results: CheckResults) -> SubmissionRecord:
        result, score, done = dict(results.report), results.score, (CHECKS,)
        if not results.passed:
            return self._submissions.move(record, "checks_failed", "; ".join(result.get("reasons", [])) or
                                          "checks failed", report=result, score=score, checks_log=results.log,
                                          done=done)
        developer = Principal(user_id=record.developer_id, role="developer", via="jwt")
        try:
            readme = package_readme(self._store.get(record.artifact_key))
        except ArtifactError:  # the page goes without a README rather than the submission failing
            readme = None
        shown = documents(readme, result.get("fidelity"))
        try:
            self._catalog.submit_package(developer, record.manifest, record.submission_id, documents=shown)
        except DomainError as exc:  # e.g. the same version went in meanwhile from another submission
            result["reasons"] = [*result.get("reasons", []), exc.message]
            return self._submissions.move(record, "checks_failed", exc.message, report=result, score=score,
                                          checks_log=results.log, done=done)
        return self._submissions.move(record, "in_review", f"checks passed with score {score}; waiting for review",
                                      report=result, score=score, checks_log=results.log, done=done)

    # --- the checks, in the checks function --------------------------------------------------
    def send_to_checks_function(self, submission_id: str) -> None:
        assert self.remote is not None, "the wiring sets remote with this dispatch"
        record = self._submissions.move(self._submissions.load(submission_id), "checking",
                                        "sent to the checks function", pending=CHECKS)
        try:
            self.remote(submission_id, record.artifact_key, record.artifact_sha256, _only(record))
        except Exception as exc:  # noqa: BLE001 - boto3's errors, a presigning failure: the checks did not start
            log.exception("checks of %s could not be started", submission_id)
            self._submissions.move(record, "checks_failed", "the checks could not be started; please submit again",
                                   report={"checks": [], "reasons": [f"the checks could not be started ({exc})"[:300]]},
                                   done=(CHECKS,))

    def collect_checks(self) -> dict[str, int]:
        """The scheduled job: the checks function's results, validated, become the submissions' verdicts."""
        counts = {"collected": 0, "waiting": 0, "failed": 0, "errors": 0}
        for item in self._submissions.repository.pending(CHECKS):
            try:
                counts[self._collect(self._submissions.load(item.submission_id))] += 1
            except DomainError as exc:  # a race with another run, a vanished submission: never stop the rest
                log.warning("results of %s not collected: %s", item.submission_id, exc.message)
                counts["errors"] += 1
        return counts

    def _collect(self, record: SubmissionRecord) -> str:
        if record.status != "checking":
            self._submissions.repository.forget(CHECKS, record.submission_id)
            return "collected"
        try:
            raw = self._store.find(RESULTS_KEY.format(submission_id=record.submission_id), max_bytes=MAX_RESULTS_BYTES)
            if raw is None:
                if self._clock.now() - record.updated_at <= CHECKS_DEADLINE:
                    return "waiting"
                raise ResultsRejected(f"the checks did not report within {CHECKS_DEADLINE.seconds // 60} minutes; "
                                      "please submit again")
            results = parse_results(raw, submission_id=record.submission_id, sha256=record.artifact_sha256,
                                    only=_only(record))
        except (ResultsRejected, ArtifactTooLarge) as exc:
            reason = str(exc) if isinstance(exc, ResultsRejected) else f"the checks' results are too large: {exc}"
            self._submissions.move(record, "checks_failed", reason, report={"checks": [], "reasons": [reason]},
                                   done=(CHECKS,))
            return "failed"
        except ArtifactError as exc:
            log.warning("results of %s could not be read: %s", record.submission_id, exc)
            return "waiting"
        self._conclude(record, results)
        return "collected"

    def run_pipeline(self) -> dict[str, Any]:
        """Everything the scheduled job ``plugin_pipeline`` moves on, once."""
        return {"checks": self.collect_checks(), "deployments": self.pipeline.advance_pending()}

    # --- admin review ---------------------------------------------------------------------
    def review_queue(self) -> dict[str, Any]:
        queue = self._catalog.review_queue()
        for entry in queue["versions"]:
            if entry.get("submission_id"):
                record = self._submissions.load(entry["submission_id"])
                entry["submission"] = {k: v for k, v in view(record).items()
                                       if k in ("submission_id", "score", "min_score", "checks", "reasons", "package")}
        return queue

    def _version(self, name: str, version: str) -> Version:
        self._catalog.get_plugin(name)  # an unknown plugin is plugin_not_found, not version_not_found
        return self._catalog.get_version(name, version)

    def approve(self, admin: Principal, name: str, version: str, notes: str | None) -> dict[str, Any]:
        """Reviewed: a submitted package is deployed, and published once its function is live."""
        current = self._version(name, version)
        if not current.submission_id:
            if not self.pipeline.deployer.runs_unpackaged_versions:
                raise ConflictError(f"{name} {version} has no package to deploy: submit it with "
                                    "`mocklib plugin publish`", code="package_required")
            return self._catalog.approve_version(admin, name, version)  # first-party code: runs from the source
        if current.status != "pending_review":
            raise ConflictError(f"version {version} is {current.status}, not pending review",
                                code="version_not_pending")
        record = self._submissions.load(current.submission_id)
        self.pipeline.ensure_idle(name, current.major, but=version)
        self._catalog.accept_version(admin, name, version)
        record = self._submissions.move(record, "approved", notes or "approved in review", reviewer=admin.user_id,
                                        review_notes=notes, pending=DEPLOYMENT)
        record = self.pipeline.deploy(record)
        now = self._catalog.get_version(name, version)
        return {"plugin": name, "plugin_status": self._catalog.get_plugin(name).status,
                **version_view(now, full=False), "submission": view(record)}

    def reject(self, admin: Principal, name: str, version: str, reason: str) -> dict[str, Any]:
        current = self._version(name, version)
        result = self._catalog.reject_version(admin, name, version, reason)
        if current.submission_id:
            self._submissions.move(self._submissions.load(current.submission_id), "rejected", reason,
                                   reviewer=admin.user_id, review_notes=reason)
        return result

    def undeploy(self, admin: Principal, name: str, version: str, reason: str) -> dict[str, Any]:
        self._version(name, version)
        return self.pipeline.undeploy(admin, name, version, reason)

    def redeploy(self, admin: Principal, name: str, version: str) -> dict[str, Any]:
        self._version(name, version)
        return self.pipeline.redeploy(admin, name, version)
