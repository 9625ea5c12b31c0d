"""The publishing pipeline: submit a package -> automated checks in isolation -> admin review ->
deploy and publish.

Submission status: ``queued`` -> ``checking`` -> ``checks_failed`` | ``in_review`` -> ``approved`` |
``rejected``. Every move is a conditional write on the status read, is kept in ``history`` and
tells the developer (notifications). What can be refused at once (not a package, an invalid
manifest, another developer's plugin, a version that does not increase or breaks its major
line) is refused by ``submit`` with a 4xx, before anything is stored.

The checks (``mocklib_plugin_sdk.checks``: manifest, tests, contract, security scan, network,
resources, docs, and the quality score) run wherever ``dispatch`` sends them: in the request
(tests), on a worker thread (local stack) or in the ``submission_checks`` function (AWS). A
run retried after a crash starts again from ``checking``; a run that fails unexpectedly ends
the submission in ``checks_failed`` with the reason, so nothing waits forever.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.packaging import MAX_PACKAGE_BYTES, PackageError, extract_package, read_manifest
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.auth.principal import Principal
from chalicelib.catalog.manifest import parse_manifest
from chalicelib.catalog.model import Version
from chalicelib.catalog.service import CatalogService
from chalicelib.core.clock import Clock, iso
from chalicelib.core.dynamo import condition_failed, find
from chalicelib.core.errors import ConflictError, DomainError, InvalidInputError, NotFoundError, PayloadTooLargeError
from chalicelib.core.ids import new_id
from chalicelib.notifications.service import NotificationService
from chalicelib.publishing.artifacts import ArtifactStore, LocalDeployer
from chalicelib.publishing.records import SubmissionRecord

log = logging.getLogger(__name__)

MIN_SCORE = 80
# A package is at most 3 MiB zipped; as base64 in JSON that is 4 MiB, under Lambda's 6 MB payload.
MAX_BODY_BYTES = MAX_PACKAGE_BYTES * 4 // 3 + 64 * 1024
MAX_LOG_CHARS = 64 * 1024
IN_FLIGHT = ("queued", "checking")

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

NOTICES = {
    "checks_failed": "{plugin} {version} did not pass the automated checks: {why}",
    "in_review": "{plugin} {version} passed the automated checks (score {score}) and waits for review",
    "approved": "{plugin} {version} was approved and is live in the marketplace",
    "rejected": "{plugin} {version} was rejected in review: {why}",
}


def _view(rec: SubmissionRecord, *, with_log: bool = False) -> dict[str, Any]:
    report = rec.report or {}
    view: dict[str, Any] = {
        "submission_id": rec.submission_id, "plugin": rec.plugin, "version": rec.version, "status": rec.status,
        "score": int(rec.score) if rec.score is not None else None, "min_score": MIN_SCORE,
        "checks": report.get("checks", []), "reasons": report.get("reasons", []),
        "history": list(rec.history or []), "review_notes": rec.review_notes,
        "package": {"sha256": rec.artifact_sha256, "size_bytes": int(rec.size_bytes)},
        "created_at": iso(rec.created_at), "updated_at": iso(rec.updated_at),
    }
    if with_log:
        view["log"] = rec.log or ""
    return view


def _decode(text: str) -> bytes:
    if len(text) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the package is over {MAX_PACKAGE_BYTES} bytes zipped", code="package_too_large")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError("package must be the base64 of a zip file", code="invalid_package") from exc


class PublishingService:
    def __init__(self, catalog: CatalogService, store: ArtifactStore, deployer: LocalDeployer | None,
                 notifications: NotificationService, clock: Clock) -> None:
        self._catalog = catalog
        self._store = store
        self._deployer = deployer
        self._notifications = notifications
        self._clock = clock
        self.dispatch: Callable[[str], object] = self.run_checks  # the wiring may send it elsewhere
        self.checker: Callable[[Path], Any] | None = None  # None: mocklib_plugin_sdk.checks.run_checks

    # --- developer ---------------------------------------------------------------------
    @staticmethod
    def validate_manifest(document: Any) -> dict[str, Any]:
        try:
            parse_manifest(document)
        except InvalidInputError as exc:
            return {"valid": False, "problems": exc.details or [{"path": "", "message": exc.message}]}
        return {"valid": True, "problems": []}

    def submit(self, developer: Principal, body: dict[str, Any]) -> dict[str, Any]:
        package = _decode(body["package"])
        if len(package) > MAX_PACKAGE_BYTES:
            raise PayloadTooLargeError(f"the package is {len(package)} bytes; the limit is {MAX_PACKAGE_BYTES}",
                                       code="package_too_large")
        try:
            document = read_manifest(package)
        except PackageError as exc:
            raise InvalidInputError(f"invalid package: {exc}", code="invalid_package") from exc
        manifest = parse_manifest(document)
        self._catalog.plan_package(developer, manifest)
        if any(s.plugin == manifest.name and s.version == manifest.version and s.status in IN_FLIGHT
               for s in self._own(developer.user_id)):
            raise ConflictError(f"{manifest.name} {manifest.version} is already being checked",
                                code="submission_in_progress")
        now = self._clock.now()
        submission_id = new_id("sub")
        key = f"{manifest.name}/{manifest.version}/{submission_id}.zip"
        self._store.put(key, package)
        record = SubmissionRecord(
            *SubmissionRecord.key(submission_id), submission_id=submission_id, developer_id=developer.user_id,
            plugin=manifest.name, version=manifest.version, status="queued", manifest=manifest.document,
            artifact_key=key, artifact_sha256=hashlib.sha256(package).hexdigest(), size_bytes=len(package),
            history=[{"status": "queued", "at": iso(now), "note": "package received"}],
            created_at=now, updated_at=now)
        record.save(condition=SubmissionRecord.pk.does_not_exist())
        self.dispatch(submission_id)
        return {"submission": _view(self._load(submission_id))}

    def list_own(self, developer: Principal, plugin: str | None = None) -> dict[str, Any]:
        rows = [r for r in self._own(developer.user_id) if plugin is None or r.plugin == plugin]
        return {"submissions": [_view(r) for r in rows]}

    def get_own(self, developer: Principal, submission_id: str) -> dict[str, Any]:
        record = self._load(submission_id)
        if record.developer_id != developer.user_id and not developer.has_role("admin"):
            raise NotFoundError("no such submission", code="submission_not_found")
        return {"submission": _view(record, with_log=True)}

    def _own(self, developer_id: str) -> list[SubmissionRecord]:
        return list(SubmissionRecord.by_developer.query(developer_id, scan_index_forward=False, limit=200))

    def _load(self, submission_id: str) -> SubmissionRecord:
        record = find(SubmissionRecord, SubmissionRecord.key(submission_id))
        if record is None:
            raise NotFoundError("no such submission", code="submission_not_found")
        return record

    # --- the checks ----------------------------------------------------------------------
    def run_checks(self, submission_id: str) -> dict[str, Any]:
        record = self._load(submission_id)
        if record.status not in IN_FLIGHT:
            return _view(record)  # a retried invocation of a finished run
        record = self._move(record, "checking", "automated checks started")
        try:
            report = self._check(record)
        except Exception:  # noqa: BLE001 - end the submission with a reason instead of leaving it checking
            log.exception("checks of %s failed to run", submission_id)
            return _view(self._move(record, "checks_failed", "the checks could not run; please submit again",
                                    report={"checks": [], "reasons": ["the checks could not run (internal error)"]}))
        result = report.to_dict()
        checks_log = str(result.pop("log", ""))[-MAX_LOG_CHARS:]
        if not report.passed:
            return _view(self._move(record, "checks_failed", "; ".join(report.reasons) or "checks failed",
                                    report=result, score=report.score, checks_log=checks_log))
        developer = Principal(user_id=record.developer_id, role="developer", via="jwt")
        try:
            self._catalog.submit_package(developer, record.manifest, submission_id)
        except DomainError as exc:  # e.g. the same version went in meanwhile from another submission
            result["reasons"] = [*result.get("reasons", []), exc.message]
            return _view(self._move(record, "checks_failed", exc.message, report=result, score=report.score,
                                    checks_log=checks_log))
        return _view(self._move(record, "in_review", f"checks passed with score {report.score}; waiting for review",
                                report=result, score=report.score, checks_log=checks_log))

    def _check(self, record: SubmissionRecord) -> Any:
        package = self._store.get(record.artifact_key)
        with tempfile.TemporaryDirectory(prefix="mf-checks-") as tmp:
            project = Path(tmp) / record.plugin
            extract_package(package, project)
            if self.checker is not None:
                return self.checker(project)
            from mocklib_plugin_sdk.checks import run_checks

            return run_checks(project)

    def _move(self, record: SubmissionRecord, status: str, note: str, *, report: dict[str, Any] | None = None,
              score: int | None = None, checks_log: str | None = None, reviewer: str | None = None,
              review_notes: str | None = None) -> SubmissionRecord:
        now = self._clock.now()
        actions: list[Action] = [SubmissionRecord.status.set(status), SubmissionRecord.updated_at.set(now),
                   SubmissionRecord.history.set([*record.history, {"status": status, "at": iso(now), "note": note}])]
        if report is not None:
            actions.append(SubmissionRecord.report.set(report))
        if score is not None:
            actions.append(SubmissionRecord.score.set(score))
        if checks_log is not None:
            actions.append(SubmissionRecord.log.set(checks_log))
        if reviewer is not None:
            actions.append(SubmissionRecord.reviewed_by.set(reviewer))
        if review_notes:
            actions.append(SubmissionRecord.review_notes.set(review_notes))
        try:
            record.update(actions=actions, condition=SubmissionRecord.status == record.status)
        except UpdateError as exc:
            if condition_failed(exc):
                raise ConflictError(f"submission {record.submission_id} changed meanwhile; try again",
                                    code="submission_changed") from exc
            raise
        if status in NOTICES:
            message = NOTICES[status].format(plugin=record.plugin, version=record.version, why=note,
                                             score=score if score is not None else record.score)
            self._notifications.notify(record.developer_id, f"submission:{record.submission_id}:{status}",
                                       f"submission.{status}", message,
                                       {"submission_id": record.submission_id, "plugin": record.plugin,
                                        "version": record.version})
        return record

    # --- admin review ---------------------------------------------------------------------
    def review_queue(self) -> dict[str, Any]:
        queue = self._catalog.review_queue()
        for entry in queue["versions"]:
            if entry.get("submission_id"):
                record = self._load(entry["submission_id"])
                entry["submission"] = {k: v for k, v in _view(record).items()
                                       if k in ("submission_id", "score", "min_score", "checks", "reasons", "package")}
        return queue

    def _version(self, name: str, version: str) -> Version:
        self._catalog.get_plugin(name)  # an unknown plugin is plugin_not_found, not version_not_found
        return self._catalog.get_version(name, version)

    def approve(self, admin: Principal, name: str, version: str, notes: str | None) -> dict[str, Any]:
        current = self._version(name, version)
        record = self._load(current.submission_id) if current.submission_id else None
        if record is not None and self._deployer is not None and current.status == "pending_review":
            self._deployer.deploy(name, version, self._store.get(record.artifact_key))
        result = self._catalog.approve_version(admin, name, version)
        if record is not None:
            self._move(record, "approved", notes or "approved in review", reviewer=admin.user_id, review_notes=notes)
        return result

    def reject(self, admin: Principal, name: str, version: str, reason: str) -> dict[str, Any]:
        current = self._version(name, version)
        result = self._catalog.reject_version(admin, name, version, reason)
        if current.submission_id:
            self._move(self._load(current.submission_id), "rejected", reason, reviewer=admin.user_id,
                       review_notes=reason)
        return result

