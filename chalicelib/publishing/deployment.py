"""The deployer port: where an approved plugin version's code is made to run, and the local adapter.

Deploying is asynchronous in AWS (a CloudFormation stack takes minutes), so the port speaks in
:class:`Progress` reports: ``start`` begins, ``poll`` says where it is, the pipeline keeps the
adapter's ``phase`` with the submission between polls (``chalicelib/publishing/pipeline.py``).
The local adapter finishes at once but answers through the same calls and states, so the dev
stack and the tests walk the same ``approved -> deploying -> live`` path as AWS.

Adapters:

* :class:`LocalDeployer` (dev stack, tests): the local runtime runs an approved package from
  ``<root>/<plugin>/<version>/``, extracted once, atomically (a temporary folder renamed into
  place), so a half-extracted package is never run and deploying twice is a no-op;
* ``chalicelib.publishing.cloudformation.CloudFormationDeployer`` (AWS): one stack per plugin major.
"""
from __future__ import annotations

import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.packaging import PackageError, extract_package

DEPLOYING, LIVE, FAILED, REMOVING, REMOVED = "deploying", "live", "failed", "removing", "removed"


@dataclass(frozen=True)
class Release:
    """One reviewed plugin version, as a deployer sees it."""

    plugin: str
    version: str
    major: int
    submission_id: str
    artifact_key: str
    manifest: dict[str, Any] = field(hash=False, compare=False)
    attempt: int = 1  # how many times this submission was deployed; makes each stack operation unique


@dataclass(frozen=True)
class Progress:
    state: str  # deploying | live | failed | removing | removed
    target: str  # where it runs: a stack name, a folder
    phase: str = ""  # the adapter's own step, handed back to it on the next poll
    reason: str | None = None  # why it failed, for the developer and the admin


class DeploymentError(Exception):
    """A deployment could not start or go on; ``str(exc)`` is the reason shown to people."""


class Deployer(ABC):
    # Whether a version without a package (first-party code the platform deploys itself) can run:
    # the local runtime runs plugin_functions/<name>/; in AWS only what a deployer deployed runs.
    runs_unpackaged_versions = False

    @abstractmethod
    def start(self, release: Release, package: bytes) -> Progress:
        """Begin running ``package`` (the submitted zip, its digest already verified)."""

    @abstractmethod
    def poll(self, release: Release, phase: str) -> Progress: ...

    @abstractmethod
    def remove(self, release: Release) -> Progress:
        """Stop running the release's code (suspension, unpublishing)."""

    @abstractmethod
    def poll_removal(self, release: Release) -> Progress: ...


class LocalDeployer(Deployer):
    runs_unpackaged_versions = True

    def __init__(self, root: Path) -> None:
        self.root = str(root)  # the gateway's FunctionLocator reads it: deployed_root

    def _target(self, release: Release) -> Path:
        return Path(self.root) / release.plugin / release.version

    def start(self, release: Release, package: bytes) -> Progress:
        target = self._target(release)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{release.version}.", dir=target.parent))
            try:
                extract_package(package, staging)
                staging.rename(target)
            except PackageError as exc:
                raise DeploymentError(f"the package cannot be extracted: {exc.message}") from exc
            except OSError as exc:
                if not target.exists():
                    raise DeploymentError(f"the package could not be written to {target}: {exc}") from exc
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return self.poll(release, "")

    def poll(self, release: Release, phase: str) -> Progress:
        target = self._target(release)
        if (target / "chalicelib" / "manifest.json").is_file():
            return Progress(LIVE, str(target))
        return Progress(FAILED, str(target), reason="the extracted package is missing")

    def remove(self, release: Release) -> Progress:
        shutil.rmtree(self._target(release), ignore_errors=True)
        return self.poll_removal(release)

    def poll_removal(self, release: Release) -> Progress:
        target = self._target(release)
        return Progress(REMOVING if target.exists() else REMOVED, str(target))
