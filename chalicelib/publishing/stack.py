"""Pure code: a plugin major's CloudFormation stack, the plan to get it there, and what a stack's
state means. No AWS calls here; ``chalicelib/publishing/cloudformation.py`` performs the plans.

One stack per plugin major and stage, ``mf-plugin-<name>-v<major>-<stage>``; a newer version of
the same major updates it. The template is what ``chalice package`` plus the generated merge
template give a reference plugin (``infra/plugin_config.py``), with what AWS needs for code
the platform did not write:

* ``Handler``: the function the gateway invokes (``MF_PLUGIN_FUNCTION_TEMPLATE``), the manifest's
  memory and timeout, ``MF_PLUGIN_STATE_TABLE``, the SDK layer, and a ``VpcConfig`` in the private
  subnets (no route anywhere but the DynamoDB gateway endpoint: ``infra/template.py``);
* ``Role``: its own, under the platform's permissions boundary ``mf-<stage>-plugin-boundary``,
  tagged with the plugin and the function the boundary's policy variables name;
* ``LogGroup``: its own, created by the stack (the role cannot create log groups).

These names are shared with infra/template.py (the boundary, the exports, the API's policy).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.publishing.bundle import HANDLER

STACK_NAME = "mf-plugin-{name}-v{major}-{stage}"  # also the role's name
STACK_PATTERN = "mf-plugin-*-v*-{stage}"  # what the API may create, update and delete
BOUNDARY_POLICY = "mf-{stage}-plugin-boundary"
SDK_LAYER = "mf-{stage}-plugin-sdk"
EXPORT_SUBNETS = "mf-{stage}-plugin-subnet-ids"  # comma-separated, of the infra stack
EXPORT_PLUGIN_SECURITY_GROUP = "mf-{stage}-plugin-security-group"
EXPORT_CHECKS_SECURITY_GROUP = "mf-{stage}-checks-security-group"
PLUGIN_TAG = "mf-plugin"  # the role's tag: the boundary allows partition keys "<tag>#*" only
FUNCTION_TAG = "mf-function"  # the role's tag: the boundary allows that function's log group only
RUNTIME = "python3.11"  # the SDK layer is built for it (infra/package.py)
LOG_RETENTION_DAYS = 30
# Storage permission -> DynamoDB actions the SDK's storage calls make (put(if_absent=True) reads
# first; clear() queries then deletes). infra/plugin_config.py generates reference plugins' policies from it.
STORAGE_ACTIONS = {
    "storage:read": ("dynamodb:GetItem", "dynamodb:Query"),
    "storage:write": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"),
}
ACTION_ORDER = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query")
# Lambda creates and removes the function's network interfaces with the function's own role;
# DescribeNetworkInterfaces works only on "*" and DeleteNetworkInterface needs every interface
# of the account/region (Lambda developer guide, "Connecting to a VPC").
ENI_ACTIONS = ("ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
               "ec2:UnassignPrivateIpAddresses")
ENI_DESCRIBE_ACTIONS = ("ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets")

_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "IMPORT_COMPLETE")
_FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_FAILED", "UPDATE_ROLLBACK_COMPLETE",
           "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED", "DELETE_COMPLETE", "IMPORT_ROLLBACK_COMPLETE",
           "IMPORT_ROLLBACK_FAILED")
# A stack that never came up: nothing runs in it, it can only be deleted and created again.
_DEAD = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED")
# A stack serving a previous version: an update may start from here.
_UPDATABLE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE")


def storage_actions(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The DynamoDB actions a manifest's storage permissions need (none without the storage service)."""
    services = (manifest.get("dependencies") or {}).get("mockfactory_apis") or []
    if "storage" not in services:
        return ()
    granted = {a for p in manifest.get("permissions") or [] for a in STORAGE_ACTIONS.get(p, ())}
    return tuple(a for a in ACTION_ORDER if a in granted)


@dataclass(frozen=True)
class StackSpec:
    """Everything the template of one plugin version depends on."""

    plugin: str
    version: str
    major: int
    submission_id: str
    stage: str
    function_name: str
    memory_mb: int
    timeout_s: int
    state_table: str
    code_bucket: str
    code_key: str
    layer_arn: str
    storage: tuple[str, ...]

    @property
    def stack_name(self) -> str:
        return STACK_NAME.format(name=self.plugin, major=self.major, stage=self.stage)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"


def _arn(service: str, resource: str, *, regional: bool = True) -> dict[str, str]:
    where = "${AWS::Region}:${AWS::AccountId}" if regional else ":${AWS::AccountId}"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:{where}:{resource}"}


def role_policy(spec: StackSpec) -> dict[str, Any]:
    """The role's own policy: what ``infra.plugin_config.iam_policy`` gives a reference plugin (its log
    group; its partitions of the state table if it declares storage) and the VPC's network interfaces."""
    statements: list[dict[str, Any]] = [
        {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [_arn("logs", f"log-group:{spec.log_group}"), _arn("logs", f"log-group:{spec.log_group}:*")]},
    ]
    if spec.storage:
        statements.append({
            "Sid": "OwnPluginState", "Effect": "Allow", "Action": list(spec.storage),
            "Resource": _arn("dynamodb", f"table/{spec.state_table}"),
            # '#' matters: "echo*" would also admit a plugin named "echo-x".
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{spec.plugin}#*"]}}})
    statements += [
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": list(ENI_ACTIONS),
         "Resource": _arn("ec2", "*/*")},
        {"Sid": "VpcNetworkInterfacesDescribe", "Effect": "Allow", "Action": list(ENI_DESCRIBE_ACTIONS),
         "Resource": "*"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def plugin_stack_template(spec: StackSpec) -> dict[str, Any]:
    stage = spec.stage
    tags = {"app": "mockfactory-marketplace", "stage": stage, "plugin": spec.plugin, "version": spec.version,
            "submission": spec.submission_id}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"MockFactory plugin {spec.plugin} v{spec.major} ({stage}): {spec.version}, submission "
                       f"{spec.submission_id}. Generated by chalicelib/publishing/stack.py; do not edit.",
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {
                "RoleName": spec.stack_name,
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
                "PermissionsBoundary": _arn("iam", f"policy/{BOUNDARY_POLICY.format(stage=stage)}", regional=False),
                "Policies": [{"PolicyName": "plugin", "PolicyDocument": role_policy(spec)}],
                "Tags": [{"Key": PLUGIN_TAG, "Value": spec.plugin}, {"Key": FUNCTION_TAG, "Value": spec.function_name},
                         {"Key": "app", "Value": tags["app"]}, {"Key": "stage", "Value": stage}],
            }},
            "LogGroup": {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
                         "Properties": {"LogGroupName": spec.log_group, "RetentionInDays": LOG_RETENTION_DAYS}},
            "Handler": {"Type": "AWS::Lambda::Function", "DependsOn": "LogGroup", "Properties": {
                "FunctionName": spec.function_name,
                "Runtime": RUNTIME,
                "Handler": HANDLER,
                "Code": {"S3Bucket": spec.code_bucket, "S3Key": spec.code_key},
                "MemorySize": spec.memory_mb,
                "Timeout": spec.timeout_s,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Layers": [spec.layer_arn],
                "Environment": {"Variables": {"MF_PLUGIN_STATE_TABLE": spec.state_table}},
                "VpcConfig": {
                    "SubnetIds": {"Fn::Split": [",", {"Fn::ImportValue": EXPORT_SUBNETS.format(stage=stage)}]},
                    "SecurityGroupIds": [{"Fn::ImportValue": EXPORT_PLUGIN_SECURITY_GROUP.format(stage=stage)}],
                },
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }},
        },
        "Outputs": {
            "FunctionName": {"Value": {"Ref": "Handler"}},
            "Version": {"Value": spec.version},
            "Submission": {"Value": spec.submission_id},
        },
    }


# -- the state of a stack, and the plan from it --------------------------------------------------

@dataclass(frozen=True)
class StackState:
    name: str
    status: str
    reason: str | None = None  # the stack's StackStatusReason
    failure: str | None = None  # the first failed resource's reason, when there is one


@dataclass(frozen=True)
class StackPlan:
    """What to do to a stack: ``create``, ``update``, ``replace`` (delete a stack that never came up,
    then create), or ``wait`` (another operation is running on it)."""

    action: str
    stack_name: str
    reason: str | None = None


def plan_deployment(stack_name: str, current: StackState | None) -> StackPlan:
    if current is None or current.status == "DELETE_COMPLETE":
        return StackPlan("create", stack_name)
    if current.status in _UPDATABLE:
        return StackPlan("update", stack_name)
    if current.status in _DEAD:
        return StackPlan("replace", stack_name, reason=f"the stack is {current.status} from an earlier attempt")
    return StackPlan("wait", stack_name, reason=f"the stack is {current.status}")


def outcome(current: StackState | None) -> tuple[str, str | None]:
    """("live" | "failed" | "deploying", reason) of a stack being created or updated."""
    if current is None:
        return "failed", "the stack no longer exists"
    if current.status in _DONE:
        return "live", None
    if current.status in _FAILED:
        detail = current.failure or current.reason or "no reason given"
        return "failed", f"stack {current.name} is {current.status}: {detail}"
    return "deploying", None
