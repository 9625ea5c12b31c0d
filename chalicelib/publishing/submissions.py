"""A submission's life: its states, each move kept in ``history`` and told to the developer.

```
queued -> checking -> checks_failed
                   -> in_review -> rejected
                                -> approved -> deploying -> live -> superseded (a newer version of its major is live)
                                                         |       -> undeploying -> undeployed
                                                         -> deploy_failed
deploy_failed | undeployed -> deploying (an admin deploys it again)
```

``checking`` waits for the checks (in the request, on a thread, or in the ``submission_checks``
function whose results the scheduled job collects); ``approved`` is reviewed, its deployment
starting; ``deploying`` waits for its stack; only ``live`` puts the version in the catalog.
"""
from __future__ import annotations

from typing import Any

from pynamodb.expressions.update import Action

from chalicelib.core.clock import Clock, iso
from chalicelib.notifications.service import NotificationService
from chalicelib.publishing.records import SubmissionRecord
from chalicelib.publishing.repository import SubmissionRepository

MIN_SCORE = 80
IN_FLIGHT = ("queued", "checking")

NOTICES = {
    "checks_failed": "{plugin} {version} did not pass the automated checks: {why}",
    "in_review": "{plugin} {version} passed the automated checks (score {score}) and waits for review",
    "approved": "{plugin} {version} was approved in review; it is being deployed and goes live when its "
                "function runs",
    "rejected": "{plugin} {version} was rejected in review: {why}",
    "live": "{plugin} {version} is live in the marketplace",
    "deploy_failed": "{plugin} {version} could not be deployed: {why}. Users keep the version they had; "
                     "fix it and submit the same version again",
    "undeployed": "{plugin} {version} no longer runs: {why}",
}


def view(rec: SubmissionRecord, *, with_log: bool = False) -> dict[str, Any]:
    report = rec.report or {}
    deployment = rec.deployment or {}
    result: dict[str, Any] = {
        "submission_id": rec.submission_id, "plugin": rec.plugin, "version": rec.version, "status": rec.status,
        "score": int(rec.score) if rec.score is not None else None, "min_score": MIN_SCORE,
        "checks": report.get("checks", []), "reasons": report.get("reasons", []),
        "fidelity": report.get("fidelity"),  # coverage and conformance against the package's spec/ (not scored)
        "history": list(rec.history or []), "review_notes": rec.review_notes,
        "package": {"sha256": rec.artifact_sha256, "size_bytes": int(rec.size_bytes)},
        "deployment": {"target": deployment.get("target"), "reason": deployment.get("reason")} if deployment else None,
        "created_at": iso(rec.created_at), "updated_at": iso(rec.updated_at),
    }
    if with_log:
        result["log"] = rec.log or ""
    return result


class Submissions:
    def __init__(self, repository: SubmissionRepository, notifications: NotificationService, clock: Clock) -> None:
        self.repository = repository
        self._notifications = notifications
        self._clock = clock

    def load(self, submission_id: str) -> SubmissionRecord:
        return self.repository.load(submission_id)

    def move(self, record: SubmissionRecord, status: str, note: str, *, report: dict[str, Any] | None = None,
             score: int | None = None, checks_log: str | None = None, reviewer: str | None = None,
             review_notes: str | None = None, deployment: dict[str, Any] | None = None,
             pending: str | None = None, done: tuple[str, ...] = ()) -> SubmissionRecord:
        """Conditional on the status read (ConflictError ``submission_changed`` if it moved meanwhile);
        ``pending``: the job's work this submission now waits for; ``done``: the work that ended."""
        now = self._clock.now()
        actions: list[Action] = [SubmissionRecord.status.set(status), SubmissionRecord.updated_at.set(now),
                                 SubmissionRecord.history.set([*record.history,
                                                               {"status": status, "at": iso(now), "note": note}])]
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
        if deployment is not None:
            actions.append(SubmissionRecord.deployment.set(deployment))
        self.repository.move(record, status, actions, now=now, pending_add=pending, pending_remove=done)
        if status in NOTICES:
            message = NOTICES[status].format(plugin=record.plugin, version=record.version, why=note,
                                             score=score if score is not None else record.score)
            self._notifications.notify(record.developer_id, f"submission:{record.submission_id}:{status}",
                                       f"submission.{status}", message,
                                       {"submission_id": record.submission_id, "plugin": record.plugin,
                                        "version": record.version})
        return record
