"""From approval to a live function: deploy through the deployer port, follow it, publish.

A reviewed version is ``approved``; :meth:`DeploymentPipeline.deploy` starts its deployment
(``deploying``) and the version enters the catalog only when the deployer reports its function
``live``. A deployment that fails ends ``deploy_failed`` with the reason: the catalog keeps the
version users had (CloudFormation rolls a failed update back, so the stack serves it too).
Whatever is still moving waits in a ``PENDING#deployment`` item that the scheduled job
``plugin_pipeline`` (``app.py``, every minute) advances with :meth:`advance_pending`.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

from chalicelib.auth.principal import Principal
from chalicelib.catalog.service import CatalogService
from chalicelib.core.clock import Clock, iso
from chalicelib.core.errors import ConflictError, DomainError, UpstreamUnavailableError
from chalicelib.publishing.artifacts import ArtifactError, ArtifactStore
from chalicelib.publishing.deployment import (DEPLOYING, FAILED, LIVE, REMOVED, Deployer, DeploymentError, Progress,
                                              Release)
from chalicelib.publishing.records import SubmissionRecord
from chalicelib.publishing.repository import DEPLOYMENT
from chalicelib.publishing.submissions import Submissions, view

log = logging.getLogger(__name__)

# An "approved" submission the job finds this old lost its request between approval and the
# deployment's start (a timeout, a crash); a younger one is still being started by that request.
STALE_START = timedelta(minutes=2)


class DeploymentPipeline:
    def __init__(self, submissions: Submissions, catalog: CatalogService, store: ArtifactStore, deployer: Deployer,
                 clock: Clock) -> None:
        self._submissions = submissions
        self._catalog = catalog
        self._store = store
        self.deployer = deployer
        self._clock = clock

    # --- starting ---------------------------------------------------------------------------------
    def deploy(self, record: SubmissionRecord) -> SubmissionRecord:
        """Start running an ``approved`` (or, again, a ``deploy_failed``/``undeployed``) submission."""
        self.ensure_idle(record.plugin, int(record.version.split(".")[0]), but=record.version)
        release = self._release(record, new_attempt=True)
        try:
            progress = self.deployer.start(release, self._package(record))
        except DeploymentError as exc:
            return self._failed(record, str(exc), release.attempt)
        record = self._submissions.move(
            record, DEPLOYING, f"deploying to {progress.target}" + (f" ({progress.reason})" if progress.reason else ""),
            deployment=self._deployment(progress, release.attempt), pending=DEPLOYMENT)
        if progress.state == DEPLOYING:  # look once more at once: what finishes quickly is live in this request
            try:
                progress = self.deployer.poll(release, progress.phase)
            except DeploymentError as exc:
                return self._failed(record, str(exc), release.attempt)
        return self._follow(record, progress, release.attempt)

    def ensure_idle(self, name: str, major: int, *, but: str) -> None:
        """One deployment per stack at a time: CloudFormation would refuse the second anyway."""
        running = [v.version for v in self._catalog.versions_with_status(name, "approved")
                   if v.major == major and v.version != but]
        if running:
            raise ConflictError(f"{name} {running[0]} is being deployed to the same major line; wait until it is "
                                "live or failed", code="deployment_in_progress")

    def _release(self, record: SubmissionRecord, *, new_attempt: bool = False) -> Release:
        attempt = int((record.deployment or {}).get("attempt", 0)) + (1 if new_attempt else 0)
        return Release(plugin=record.plugin, version=record.version, major=int(record.version.split(".")[0]),
                       submission_id=record.submission_id, artifact_key=record.artifact_key,
                       manifest=dict(record.manifest), attempt=attempt)

    def _package(self, record: SubmissionRecord) -> bytes:
        """The stored package, provided it is still the one that was checked and reviewed."""
        try:
            package = self._store.get(record.artifact_key)
        except (ArtifactError, OSError) as exc:
            raise DeploymentError(f"the package could not be read: {exc}") from exc
        if hashlib.sha256(package).hexdigest() != record.artifact_sha256:
            raise DeploymentError("the stored package is not the one that was checked and reviewed")
        return package

    def _deployment(self, progress: Progress, attempt: int) -> dict[str, Any]:
        return {"target": progress.target, "phase": progress.phase, "reason": progress.reason,
                "attempt": attempt, "updated_at": iso(self._clock.now())}

    # --- following ---------------------------------------------------------------------------------
    def _follow(self, record: SubmissionRecord, progress: Progress, attempt: int) -> SubmissionRecord:
        if progress.state == LIVE:
            return self._live(record, progress, attempt)
        if progress.state == FAILED:
            return self._failed(record, progress.reason or "the deployment failed", attempt)
        if progress.phase != (record.deployment or {}).get("phase"):
            record = self._submissions.move(record, DEPLOYING, f"deploying to {progress.target}: {progress.phase}",
                                            deployment=self._deployment(progress, attempt), pending=DEPLOYMENT)
        return record

    def _live(self, record: SubmissionRecord, progress: Progress, attempt: int) -> SubmissionRecord:
        version = self._catalog.get_version(record.plugin, record.version)
        previous = self._catalog.get_plugin(record.plugin).latest_by_major.get(str(version.major))
        if version.status == "approved":
            self._catalog.publish_version(record.plugin, record.version)
        record = self._submissions.move(record, LIVE, f"live: {progress.target}",
                                        deployment=self._deployment(progress, attempt), done=(DEPLOYMENT,))
        if previous and previous != record.version:
            self._supersede(record.plugin, previous, record.version)
        return record

    def _supersede(self, plugin: str, old_version: str, new_version: str) -> None:
        """The stack of a major runs one version: the one it ran before is no longer live."""
        old = self._catalog.get_version(plugin, old_version)
        if not old.submission_id:
            return
        record = self._submissions.load(old.submission_id)
        if record.status == LIVE:
            self._submissions.move(record, "superseded", f"{new_version} now runs in its place")

    def _failed(self, record: SubmissionRecord, reason: str, attempt: int) -> SubmissionRecord:
        version = self._catalog.get_version(record.plugin, record.version)
        if version.status == "approved":
            self._catalog.version_deploy_failed(record.plugin, record.version, reason)
        deployment = {**(record.deployment or {}), "reason": reason, "attempt": attempt,
                      "updated_at": iso(self._clock.now())}
        return self._submissions.move(record, "deploy_failed", reason, deployment=deployment, done=(DEPLOYMENT,))

    def advance(self, record: SubmissionRecord) -> SubmissionRecord:
        """One step of a submission waiting for its deployment (or its removal)."""
        if record.status == "approved":
            return self.deploy(record)
        release = self._release(record)
        phase = str((record.deployment or {}).get("phase", ""))
        try:
            if record.status == DEPLOYING:
                return self._follow(record, self.deployer.poll(release, phase), release.attempt)
            if record.status == "undeploying":
                return self._follow_removal(record, self.deployer.poll_removal(release))
        except DeploymentError as exc:
            if record.status == DEPLOYING:
                return self._failed(record, str(exc), release.attempt)
            raise
        self._submissions.repository.forget(DEPLOYMENT, record.submission_id)  # it moved on meanwhile
        return record

    def advance_pending(self) -> dict[str, Any]:
        """The scheduled job: every submission waiting for a deployment moves one step."""
        moved: dict[str, int] = {}
        errors = []
        now = self._clock.now()
        for item in self._submissions.repository.pending(DEPLOYMENT):
            try:
                record = self._submissions.load(item.submission_id)
                if record.status == "approved" and now - record.updated_at < STALE_START:
                    continue
                before = record.status
                after = self.advance(record).status
                if after != before:
                    moved[after] = moved.get(after, 0) + 1
            except (DomainError, DeploymentError) as exc:  # one submission never stops the others
                log.warning("deployment of %s did not advance: %s", item.submission_id, exc)
                errors.append({"submission_id": item.submission_id, "error": str(exc)})
        return {"moved": moved, "errors": errors}

    # --- admins: remove, deploy again -----------------------------------------------------------------
    def undeploy(self, admin: Principal, name: str, version: str, reason: str) -> dict[str, Any]:
        """Delete the function a suspended plugin's live version runs in (its major's stack)."""
        plugin = self._catalog.get_plugin(name)
        if plugin.status != "suspended":
            raise ConflictError(f"plugin '{name}' is {plugin.status}: suspend it before removing its function",
                                code="plugin_not_suspended")
        record = self._live_submission(name, version)
        try:
            progress = self.deployer.remove(self._release(record))
        except DeploymentError as exc:
            raise UpstreamUnavailableError(f"the function could not be removed: {exc}",
                                           code="deployer_unavailable") from exc
        record = self._submissions.move(record, "undeploying", f"removing {progress.target}: {reason}",
                                        pending=DEPLOYMENT,
                                        deployment={**(record.deployment or {}), "target": progress.target,
                                                    "reason": reason, "updated_at": iso(self._clock.now())})
        return {"submission": view(self._follow_removal(record, progress))}

    def _live_submission(self, name: str, version: str) -> SubmissionRecord:
        current = self._catalog.get_version(name, version)
        record = self._submissions.load(current.submission_id) if current.submission_id else None
        if record is None or record.status != LIVE:
            raise ConflictError(f"{name} {version} does not run as a deployed package here",
                                code="version_not_live")
        return record

    def _follow_removal(self, record: SubmissionRecord, progress: Progress) -> SubmissionRecord:
        if progress.state == REMOVED:
            return self._submissions.move(record, "undeployed", (record.deployment or {}).get("reason") or "removed",
                                          done=(DEPLOYMENT,))
        if progress.state == FAILED:  # the stack is still there, and most likely its function
            return self._submissions.move(record, LIVE, f"could not be removed: {progress.reason}",
                                          done=(DEPLOYMENT,))
        return record

    def redeploy(self, admin: Principal, name: str, version: str) -> dict[str, Any]:
        """Deploy again a version whose deployment failed or whose function was removed."""
        current = self._catalog.get_version(name, version)
        record = self._submissions.load(current.submission_id) if current.submission_id else None
        if record is None or record.status not in ("deploy_failed", "undeployed"):
            raise ConflictError(f"{name} {version} is not waiting to be deployed again "
                                f"({record.status if record else 'no package'})", code="not_redeployable")
        plugin = self._catalog.get_plugin(name)
        if record.status == "undeployed" and plugin.latest_by_major.get(str(current.major)) != version:
            raise ConflictError(f"{version} is no longer the newest of its major line", code="not_redeployable")
        self.ensure_idle(name, current.major, but=version)
        if current.status == "deploy_failed":
            self._catalog.retry_deployment(name, version)
        return {"submission": view(self.deploy(record))}
