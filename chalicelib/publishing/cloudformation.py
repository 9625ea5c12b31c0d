"""The CloudFormation adapter of the deployer port: it performs the plans of ``stack.py``.

Clients are injected (``chalicelib/wiring.py``); every vendor error leaves as
:class:`~chalicelib.publishing.deployment.DeploymentError` ``from`` it, with a sentence for
the developer. The API's role may do exactly what this needs and no more (``infra/template.py``
``api_policy``): stacks named ``mf-plugin-*-v*-<stage>``, roles of that name created only with
the platform's permissions boundary, passed only to Lambda, functions only in a VPC.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.publishing.artifacts import S3Store
from chalicelib.publishing.bundle import BundleError, lambda_bundle
from chalicelib.publishing.deployment import (DEPLOYING, FAILED, LIVE, REMOVED, REMOVING, Deployer, DeploymentError,
                                              Progress, Release)
from chalicelib.publishing.stack import (SDK_LAYER, STACK_NAME, StackSpec, StackState, outcome, plan_deployment,
                                         plugin_stack_template, storage_actions)

VENDOR_ERRORS = (BotoCoreError, ClientError)
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the role has a fixed name (the boundary and the API's policy name it)


@dataclass(frozen=True)
class StackEnvironment:
    """The platform's side of every plugin stack: stage, names, where code goes."""

    stage: str
    function_template: str  # MF_PLUGIN_FUNCTION_TEMPLATE: the function the gateway invokes
    state_table: str


def code_key(release: Release) -> str:
    return f"deployments/{release.plugin}/{release.version}/{release.submission_id}.zip"


class CloudFormationDeployer(Deployer):
    def __init__(self, cloudformation: Any, lambda_client: Any, store: S3Store, environment: StackEnvironment) -> None:
        self._cfn = cloudformation
        self._lambda = lambda_client
        self._store = store
        self._env = environment

    # --- the port ------------------------------------------------------------------------------
    def start(self, release: Release, package: bytes) -> Progress:
        try:
            bundle = lambda_bundle(package)
        except BundleError as exc:
            raise DeploymentError(f"the package cannot be turned into a function: {exc}") from exc
        try:
            self._store.put(code_key(release), bundle)
        except VENDOR_ERRORS as exc:
            raise DeploymentError(f"the function's code could not be stored: {exc}") from exc
        name = self._stack_name(release)
        plan = plan_deployment(name, self._describe(name))
        if plan.action == "wait":
            raise DeploymentError(f"another deployment of {name} is still running ({plan.reason}); try again later")
        if plan.action == "replace":
            self._call("delete the failed stack", self._cfn.delete_stack, StackName=name)
            return Progress(DEPLOYING, name, phase="replacing", reason=plan.reason)
        return self._apply(release, plan.action)

    def poll(self, release: Release, phase: str) -> Progress:
        name = self._stack_name(release)
        current = self._describe(name)
        if phase == "replacing":
            if current is None or current.status == "DELETE_COMPLETE":
                return self._apply(release, "create")
            if current.status == "DELETE_FAILED":
                return Progress(FAILED, name, reason=f"the failed stack {name} could not be deleted: "
                                                     f"{current.failure or current.reason}")
            return Progress(DEPLOYING, name, phase="replacing")
        state, reason = outcome(current)
        if state == FAILED and current is not None:
            state, reason = outcome(StackState(current.name, current.status, current.reason,
                                               self._first_failure(name)))
        return Progress(state, name, phase=phase, reason=reason)

    def remove(self, release: Release) -> Progress:
        name = self._stack_name(release)
        self._call("delete the stack", self._cfn.delete_stack, StackName=name)
        return self.poll_removal(release)

    def poll_removal(self, release: Release) -> Progress:
        name = self._stack_name(release)
        current = self._describe(name)
        if current is None or current.status == "DELETE_COMPLETE":
            return Progress(REMOVED, name)
        if current.status == "DELETE_FAILED":
            return Progress(FAILED, name, reason=f"stack {name} could not be deleted: {current.reason}")
        return Progress(REMOVING, name)

    # --- planning inputs and execution -----------------------------------------------------------
    def spec(self, release: Release) -> StackSpec:
        runtime = release.manifest["runtime"]
        env = self._env
        return StackSpec(
            plugin=release.plugin, version=release.version, major=release.major,
            submission_id=release.submission_id, stage=env.stage,
            function_name=env.function_template.format(name=release.plugin, major=release.major, stage=env.stage),
            memory_mb=int(runtime["memory_limit_mb"]), timeout_s=int(runtime["timeout_seconds"]),
            state_table=env.state_table, code_bucket=self._store.bucket,
            code_key=self._store.object_key(code_key(release)), layer_arn=self._layer_arn(),
            storage=storage_actions(release.manifest))

    def _apply(self, release: Release, action: str) -> Progress:
        spec = self.spec(release)
        arguments = {
            "StackName": spec.stack_name, "TemplateBody": json.dumps(plugin_stack_template(spec)),
            "Capabilities": CAPABILITIES,
            # The same request retried (a timeout, the job after a crash) is one operation, not two.
            "ClientRequestToken": f"{release.submission_id}-{release.attempt}-{action}"[:128],
            "Tags": [{"Key": "app", "Value": "mockfactory-marketplace"}, {"Key": "stage", "Value": self._env.stage},
                     {"Key": "plugin", "Value": release.plugin}],
        }
        if action == "create":
            self._call("create the stack", self._cfn.create_stack, **arguments)
        else:
            try:
                self._cfn.update_stack(**arguments)
            except VENDOR_ERRORS as exc:  # "nothing to update" is told apart by its message, as documented
                if "No updates are to be performed" not in str(exc):
                    raise DeploymentError(f"could not update the stack {spec.stack_name}: {_message(exc)}") from exc
                return Progress(LIVE, spec.stack_name, phase="stack")  # already runs exactly this
        return Progress(DEPLOYING, spec.stack_name, phase="stack")

    def _stack_name(self, release: Release) -> str:
        return STACK_NAME.format(name=release.plugin, major=release.major, stage=self._env.stage)

    def _layer_arn(self) -> str:
        """The newest version of the SDK layer: what every plugin deployed from now on runs on."""
        layer = SDK_LAYER.format(stage=self._env.stage)
        versions = self._call("find the plugin SDK layer", self._lambda.list_layer_versions,
                              LayerName=layer).get("LayerVersions") or []
        if not versions:
            raise DeploymentError(f"the plugin SDK layer {layer} is not published (docs/DEPLOY.md)")
        newest = max(versions, key=lambda v: int(v["Version"]))
        return str(newest["LayerVersionArn"])

    def _describe(self, name: str) -> StackState | None:
        try:
            stacks = self._cfn.describe_stacks(StackName=name).get("Stacks") or []
        except VENDOR_ERRORS as exc:  # a missing stack is a ValidationError in this API
            if "does not exist" in str(exc):
                return None
            raise DeploymentError(f"could not read the stack {name}: {_message(exc)}") from exc
        if not stacks:
            return None
        stack = stacks[0]
        return StackState(name, str(stack["StackStatus"]), stack.get("StackStatusReason"))

    def _first_failure(self, name: str) -> str | None:
        """The first resource that failed is the cause; the stack's own reason is its consequence."""
        try:
            events = self._cfn.describe_stack_events(StackName=name).get("StackEvents") or []
        except VENDOR_ERRORS:  # the stack's own reason is still shown
            return None
        failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")
                  and e.get("ResourceStatusReason")]
        return str(failed[-1]["ResourceStatusReason"])[:1000] if failed else None  # events are newest first

    @staticmethod
    def _call(what: str, operation: Any, **arguments: Any) -> Any:
        try:
            return operation(**arguments)
        except VENDOR_ERRORS as exc:
            raise DeploymentError(f"could not {what}: {_message(exc)}") from exc


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Message"):
        return str(response["Error"]["Message"])[:1000]
    return str(exc)[:1000]
