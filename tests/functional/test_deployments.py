"""Approval -> a live function in AWS, on moto: CloudFormation, IAM, Lambda, S3 and DynamoDB.

An approved package gets its own stack per major (``mf-plugin-<name>-v<major>-<stage>``) with the
function the gateway invokes, the manifest's memory and timeout, its own role under the
platform's boundary and its own log group, in the private subnets; the catalog publishes the
version only once its function is live. moto runs CloudFormation synchronously and never rolls
back: a stack that works is live at once, a stack moto refuses fails at once. What a stack does
over minutes in AWS (in progress, rolled back, a dead first attempt) is played by
``ScriptedStacks``, a stand-in of the CloudFormation client that reports given states.
"""
from __future__ import annotations

import ast
import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from mocklib_plugin_sdk.packaging import build_package
from mocklib_plugin_sdk.scaffold import init_project

from chalicelib.publishing.deployment import LocalDeployer
from tests.functional.aws_platform import BUCKET, STAGE, MovableClock, aws_container
from tests.functional.test_publishing import Verdict
from tests.support import expect_error, get, make_admin, post, sign_up

PLUGIN = "acme-notes"
STACK_V1 = f"mf-plugin-{PLUGIN}-v1-{STAGE}"
FUNCTION_V1 = f"{STACK_V1}-handler"


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def aws(runtime: Any, clock: MovableClock) -> Iterator[Any]:
    with aws_container(runtime, clock) as built:
        built.publishing.checker = Verdict()
        yield built


@pytest.fixture
def client(aws: Any) -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app) as test_client:
        yield test_client


@pytest.fixture
def dev(client: Any) -> str:
    return sign_up(client, "developer")["access_token"]


@pytest.fixture
def admin(aws: Any) -> str:
    return make_admin(aws)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_project(tmp_path / PLUGIN, PLUGIN, author="Acme")


def manifest_of(project: Path) -> dict[str, Any]:
    return json.loads((project / "chalicelib" / "manifest.json").read_text())


def release(project: Path, version: str, **runtime: int) -> None:
    doc = manifest_of(project)
    doc["version"] = version
    doc["api"]["base_path"] = f"/plugins/{PLUGIN}/v{version.split('.')[0]}"
    doc["runtime"].update(runtime)
    (project / "chalicelib" / "manifest.json").write_text(json.dumps(doc, indent=2))


def submit(client: Any, token: str, project: Path) -> dict[str, Any]:
    response = post(client, "/developer/submissions", {"package": base64.b64encode(build_package(project)).decode()},
                    token)
    assert response.status_code == 202, response.body
    return response.json_body["submission"]


def approve(client: Any, admin: str, version: str) -> Any:
    return post(client, f"/admin/plugins/{PLUGIN}/versions/{version}/approve", {"notes": "ok"}, admin)


def stack(name: str) -> dict[str, Any]:
    return boto3.client("cloudformation", region_name="us-east-1").describe_stacks(StackName=name)["Stacks"][0]


def function(name: str = FUNCTION_V1) -> dict[str, Any]:
    return boto3.client("lambda", region_name="us-east-1").get_function(FunctionName=name)["Configuration"]


# -- the CloudFormation deployer on moto ----------------------------------------------------------

def test_approving_a_package_creates_its_stack_with_the_manifests_memory_timeout_role_and_boundary(
        client, aws, dev, admin, project):
    release(project, "1.0.0", memory_limit_mb=256, timeout_seconds=12)
    submission = submit(client, dev, project)
    assert submission["status"] == "in_review"

    approved = approve(client, admin, "1.0.0")

    assert approved.status_code == 200, approved.body
    assert approved.json_body["status"] == "published"
    assert approved.json_body["submission"]["status"] == "live"
    assert approved.json_body["submission"]["deployment"]["target"] == STACK_V1
    history = [h["status"] for h in get(client, f"/developer/submissions/{submission['submission_id']}",
                                        dev).json_body["submission"]["history"]]
    assert history == ["queued", "checking", "in_review", "approved", "deploying", "live"]

    assert stack(STACK_V1)["StackStatus"] == "CREATE_COMPLETE"
    config = function()
    assert (config["MemorySize"], config["Timeout"]) == (256, 12)
    assert config["Handler"] == "mf_plugin_entry.handler" and config["Runtime"] == "python3.11"
    assert config["Environment"]["Variables"] == {"MF_PLUGIN_STATE_TABLE": f"mf-{STAGE}-plugin-state"}
    outputs = aws.test_outputs
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(outputs["PluginSubnetIds"].split(","))
    assert config["VpcConfig"]["SecurityGroupIds"] == [outputs["PluginSecurityGroupId"]]
    body = boto3.client("cloudformation", region_name="us-east-1").get_template(StackName=STACK_V1)["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    assert template["Resources"]["Handler"]["Properties"]["Layers"] == [outputs["LayerArn"]]

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.get_role(RoleName=STACK_V1)["Role"]
    assert role["Arn"] == config["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == outputs["PluginBoundaryArn"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]}["mf-plugin"] == PLUGIN
    policy = iam.get_role_policy(RoleName=STACK_V1, PolicyName="plugin")["PolicyDocument"]
    policy = policy if isinstance(policy, dict) else ast.literal_eval(unquote(policy))  # moto keeps a repr
    state = next(s for s in policy["Statement"] if s["Sid"] == "OwnPluginState")
    assert state["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{PLUGIN}#*"]}}
    assert state["Resource"].endswith(f":table/mf-{STAGE}-plugin-state")
    groups = boto3.client("logs", region_name="us-east-1").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{FUNCTION_V1}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{FUNCTION_V1}"]

    # The function's code: the package's chalicelib/ and the generated entry, nothing else.
    key = f"packages/deployments/{PLUGIN}/1.0.0/{submission['submission_id']}.zip"
    code = boto3.client("s3", region_name="us-east-1").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    names = zipfile.ZipFile(io.BytesIO(code)).namelist()
    assert "mf_plugin_entry.py" in names and "chalicelib/manifest.json" in names
    assert not [n for n in names if not (n == "mf_plugin_entry.py" or n.startswith("chalicelib/"))]

    assert get(client, f"/marketplace/plugins/{PLUGIN}").json_body["latest_version"] == "1.0.0"


def test_a_newer_version_of_the_same_major_updates_that_stack_and_supersedes_the_old_one(
        client, aws, dev, admin, project):
    first = submit(client, dev, project)
    approve(client, admin, "1.0.0")
    release(project, "1.1.0", memory_limit_mb=512)
    second = submit(client, dev, project)

    approved = approve(client, admin, "1.1.0")

    assert approved.json_body["submission"]["status"] == "live", approved.body
    assert {o["OutputKey"]: o["OutputValue"] for o in stack(STACK_V1)["Outputs"]}["Version"] == "1.1.0"
    assert function()["MemorySize"] == 512
    statuses = {s["submission_id"]: s["status"] for s in
                get(client, f"/developer/submissions?plugin={PLUGIN}", dev).json_body["submissions"]}
    assert statuses == {first["submission_id"]: "superseded", second["submission_id"]: "live"}
    assert get(client, f"/marketplace/plugins/{PLUGIN}").json_body["latest_version"] == "1.1.0"


def test_a_failed_stack_ends_in_deploy_failed_and_the_previous_version_keeps_serving(
        client, aws, dev, admin, project):
    submit(client, dev, project)
    approve(client, admin, "1.0.0")
    # Something in the account already holds the name v2's stack needs: CloudFormation fails.
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_role(RoleName=f"mf-plugin-{PLUGIN}-v2-{STAGE}", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))
    release(project, "2.0.0")
    failed = submit(client, dev, project)

    approved = approve(client, admin, "2.0.0")

    assert approved.status_code == 200, approved.body
    assert approved.json_body["status"] == "deploy_failed"
    submission = get(client, f"/developer/submissions/{failed['submission_id']}", dev).json_body["submission"]
    assert submission["status"] == "deploy_failed"
    assert "already exists" in submission["deployment"]["reason"]
    detail = get(client, f"/marketplace/plugins/{PLUGIN}").json_body
    assert detail["latest_version"] == "1.0.0"
    assert [v["version"] for v in detail["versions"]] == ["1.0.0"]
    assert stack(STACK_V1)["StackStatus"] == "CREATE_COMPLETE" and function()["FunctionName"] == FUNCTION_V1
    notices = get(client, "/notifications", dev).json_body["notifications"]
    failure = next(n for n in notices if n["topic"] == "submission.deploy_failed")
    assert "already exists" in failure["message"] and "keep the version they had" in failure["message"]
    # The developer may send the same version again (after fixing what failed).
    doc = get(client, f"/developer/plugins/{PLUGIN}", dev).json_body
    assert {v["version"]: v["status"] for v in doc["versions"]}["2.0.0"] == "deploy_failed"


def test_a_version_without_a_package_cannot_be_approved_where_only_deployed_code_runs(client, dev, admin):
    from tests.support import manifest

    doc = manifest(name="bare-plugin")
    assert post(client, "/developer/plugins", doc, dev).status_code == 201
    submitted = post(client, f"/developer/plugins/bare-plugin/versions/{doc['version']}/submit", None, dev)
    assert submitted.status_code == 200
    expect_error(post(client, f"/admin/plugins/bare-plugin/versions/{doc['version']}/approve", None, admin), 409,
                 "package_required")


def test_undeploying_a_suspended_plugin_deletes_its_stack_audited_and_deploying_again_brings_it_back(
        client, aws, dev, admin, project):
    submit(client, dev, project)
    approve(client, admin, "1.0.0")
    undeploy = f"/admin/plugins/{PLUGIN}/versions/1.0.0/undeploy"
    expect_error(post(client, undeploy, {"reason": "abuse"}, admin), 409, "plugin_not_suspended")
    assert post(client, f"/admin/plugins/{PLUGIN}/suspend", {"reason": "abuse report #7"}, admin).status_code == 200

    removed = post(client, undeploy, {"reason": "abuse report #7"}, admin)

    assert removed.status_code == 200, removed.body
    assert removed.json_body["submission"]["status"] == "undeployed"
    with pytest.raises(Exception, match="does not exist"):
        stack(STACK_V1)
    with pytest.raises(Exception, match="not found|Function not found"):
        function()
    audited = [(e["action"], e["status"], e["reason"], e["target"]) for e in
               get(client, "/admin/audit", admin).json_body["entries"] if e["action"].endswith("/undeploy")]
    assert sorted(audited) == sorted([
        ("POST /admin/plugins/{name}/versions/{version}/undeploy", 200, "abuse report #7",
         f"name={PLUGIN},version=1.0.0"),
        ("POST /admin/plugins/{name}/versions/{version}/undeploy", 409, "abuse", f"name={PLUGIN},version=1.0.0")])

    redeployed = post(client, f"/admin/plugins/{PLUGIN}/versions/1.0.0/deploy", None, admin)
    assert redeployed.status_code == 200, redeployed.body
    assert redeployed.json_body["submission"]["status"] == "live"
    assert stack(STACK_V1)["StackStatus"] == "CREATE_COMPLETE"
    expect_error(post(client, f"/admin/plugins/{PLUGIN}/versions/1.0.0/deploy", None, admin), 409,
                 "not_redeployable")


def test_the_local_deployer_is_the_same_port_in_the_same_states(tmp_path):
    from chalicelib.publishing.deployment import Deployer, Release

    deployer = LocalDeployer(tmp_path / "deployed")
    package = build_package(init_project(tmp_path / PLUGIN, PLUGIN, author="Acme"))
    target = Release(plugin=PLUGIN, version="1.0.0", major=1, submission_id="sub_1", artifact_key="k", manifest={})

    assert isinstance(deployer, Deployer)
    assert deployer.start(target, package).state == "live"
    assert deployer.poll(target, "").state == "live"
    assert deployer.remove(target).state == "removed"
    assert deployer.poll(target, "").state == "failed"


# -- what takes minutes in AWS: a scripted CloudFormation ------------------------------------------

class ScriptedStacks:
    """The CloudFormation calls the deployer makes, answering the states a test gives: one per
    describe (the approval's start and its look right after, then one per run of the job), the
    last one for good."""

    def __init__(self, states: list[str] | None = None, failure: str | None = None) -> None:
        self.states = list(states or [])
        self.failure = failure
        self.calls: list[tuple[str, str]] = []

    def _error(self, message: str) -> Exception:
        from botocore.exceptions import ClientError

        return ClientError({"Error": {"Code": "ValidationError", "Message": message}}, "DescribeStacks")

    def describe_stacks(self, StackName: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        self.calls.append(("describe", StackName))
        if not self.states or self.states[0] == "ABSENT":
            if self.states:
                self.states.pop(0)
            raise self._error(f"Stack with id {StackName} does not exist")
        status = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"Stacks": [{"StackName": StackName, "StackStatus": status,
                            "StackStatusReason": "The following resource(s) failed to update: [Handler]."}]}

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        return {"StackEvents": [{"ResourceStatus": "UPDATE_FAILED", "LogicalResourceId": "Handler",
                                 "ResourceStatusReason": self.failure or "failed"}]}

    def create_stack(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("create", arguments["StackName"]))
        return {"StackId": "arn:stack"}

    def update_stack(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("update", arguments["StackName"]))
        return {"StackId": "arn:stack"}

    def delete_stack(self, StackName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append(("delete", StackName))
        return {}


def scripted(aws: Any, stacks: ScriptedStacks) -> None:
    """The container's deployer, with the stand-in instead of CloudFormation."""
    from chalicelib.publishing.cloudformation import CloudFormationDeployer

    real = aws.publishing.pipeline.deployer
    aws.publishing.pipeline.deployer = CloudFormationDeployer(stacks, real._lambda, real._store, real._env)


def test_a_stack_still_creating_is_deploying_until_the_scheduled_job_sees_it_complete(client, aws, dev, admin,
                                                                                     project, clock):
    stacks = ScriptedStacks(["ABSENT", "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"])
    scripted(aws, stacks)
    submission = submit(client, dev, project)

    approved = approve(client, admin, "1.0.0")

    assert approved.json_body["status"] == "approved" and approved.json_body["submission"]["status"] == "deploying"
    expect_error(get(client, f"/marketplace/plugins/{PLUGIN}"), 404, "plugin_not_found")  # not before it is live
    assert aws.publishing.run_pipeline()["deployments"]["moved"] == {}  # still creating
    clock.advance(minutes=1)
    assert aws.publishing.run_pipeline()["deployments"]["moved"] == {"live": 1}
    assert get(client, f"/developer/submissions/{submission['submission_id']}", dev).json_body["submission"][
        "status"] == "live"
    assert get(client, f"/marketplace/plugins/{PLUGIN}").json_body["latest_version"] == "1.0.0"
    assert aws.publishing.run_pipeline()["deployments"]["moved"] == {}  # nothing left to follow
    assert [c for c in stacks.calls if c[0] != "describe"] == [("create", STACK_V1)]


def test_an_update_rolled_back_ends_deploy_failed_with_the_failing_resources_reason_and_v1_keeps_serving(
        client, aws, dev, admin, project):
    submit(client, dev, project)
    approve(client, admin, "1.0.0")  # on moto: live
    stacks = ScriptedStacks(["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS",
                             "UPDATE_ROLLBACK_COMPLETE"],
                            failure="Resource handler returned message: \"Memory size is too large\"")
    scripted(aws, stacks)
    release(project, "1.1.0", memory_limit_mb=3008)
    failed = submit(client, dev, project)

    assert approve(client, admin, "1.1.0").json_body["submission"]["status"] == "deploying"
    assert aws.publishing.run_pipeline()["deployments"]["moved"] == {}  # rolling back: not over yet
    assert aws.publishing.run_pipeline()["deployments"]["moved"] == {"deploy_failed": 1}

    submission = get(client, f"/developer/submissions/{failed['submission_id']}", dev).json_body["submission"]
    assert submission["status"] == "deploy_failed"
    assert "UPDATE_ROLLBACK_COMPLETE" in submission["deployment"]["reason"]
    assert "Memory size is too large" in submission["deployment"]["reason"]
    assert get(client, f"/marketplace/plugins/{PLUGIN}").json_body["latest_version"] == "1.0.0"
    assert ("update", STACK_V1) in stacks.calls


def test_a_first_stack_that_never_came_up_is_deleted_and_created_again(client, aws, dev, admin, project, clock):
    stacks = ScriptedStacks(["ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "ABSENT", "CREATE_IN_PROGRESS",
                             "CREATE_COMPLETE"])
    scripted(aws, stacks)
    submit(client, dev, project)

    assert approve(client, admin, "1.0.0").json_body["submission"]["status"] == "deploying"
    for _ in range(3):  # deleted -> create, creating, created
        aws.publishing.run_pipeline()

    assert [c for c in stacks.calls if c[0] != "describe"] == [("delete", STACK_V1), ("create", STACK_V1)]
    assert get(client, f"/marketplace/plugins/{PLUGIN}").json_body["latest_version"] == "1.0.0"


def test_one_deployment_per_major_at_a_time(client, aws, dev, admin, project):
    scripted(aws, ScriptedStacks(["ABSENT", "CREATE_IN_PROGRESS"]))
    submit(client, dev, project)
    approve(client, admin, "1.0.0")
    release(project, "1.0.1")
    submit(client, dev, project)

    expect_error(approve(client, admin, "1.0.1"), 409, "deployment_in_progress")


def test_an_approval_whose_request_died_before_the_deployment_started_is_started_by_the_job(
        client, aws, dev, admin, project, clock):
    from chalicelib.auth.principal import Principal

    submission = submit(client, dev, project)
    publishing = aws.publishing
    # What approve() does before it starts the deployment, and then the request is gone.
    aws.catalog.accept_version(Principal(user_id="usr_admin", role="admin", via="jwt"), PLUGIN, "1.0.0")
    record = publishing._submissions.load(submission["submission_id"])
    publishing._submissions.move(record, "approved", "approved in review", pending="deployment")

    assert publishing.run_pipeline()["deployments"]["moved"] == {}  # young: its request may still be starting it
    clock.advance(minutes=3)
    assert publishing.run_pipeline()["deployments"]["moved"] == {"live": 1}
    assert stack(STACK_V1)["StackStatus"] == "CREATE_COMPLETE"


# -- the pure parts: what a stack's state means, what to do about it, what a package may ask for ------

@pytest.mark.parametrize("status, action", [
    (None, "create"), ("DELETE_COMPLETE", "create"), ("CREATE_COMPLETE", "update"), ("UPDATE_COMPLETE", "update"),
    ("UPDATE_ROLLBACK_COMPLETE", "update"), ("ROLLBACK_COMPLETE", "replace"), ("CREATE_FAILED", "replace"),
    ("UPDATE_IN_PROGRESS", "wait"), ("DELETE_IN_PROGRESS", "wait"), ("UPDATE_ROLLBACK_FAILED", "wait"),
])
def test_the_plan_for_a_stack_follows_its_state(status, action):
    from chalicelib.publishing.stack import StackState, plan_deployment

    current = StackState(STACK_V1, status) if status else None
    assert plan_deployment(STACK_V1, current).action == action


@pytest.mark.parametrize("status, state", [
    ("CREATE_COMPLETE", "live"), ("UPDATE_COMPLETE", "live"), ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "live"),
    ("CREATE_IN_PROGRESS", "deploying"), ("UPDATE_ROLLBACK_IN_PROGRESS", "deploying"),
    ("UPDATE_ROLLBACK_COMPLETE", "failed"), ("ROLLBACK_COMPLETE", "failed"), ("DELETE_COMPLETE", "failed"),
])
def test_a_stacks_state_says_whether_its_version_is_live(status, state):
    from chalicelib.publishing.stack import StackState, outcome

    found, reason = outcome(StackState(STACK_V1, status, "stack reason", "the Handler failed: quota"))
    assert found == state
    assert (reason is not None) == (state == "failed")
    if reason:
        assert status in reason and "the Handler failed: quota" in reason


def test_a_package_may_ask_only_for_what_the_sdk_layer_holds():
    from chalicelib.publishing.bundle import extra_requirements

    text = "# pinned as in the SDK\nmocklib-plugin-sdk\nPyNamoDB==6.1.0\njsonschema>=4\naws_lambda_powertools\n"
    assert extra_requirements(text) == []
    assert extra_requirements("numpy\n-r other.txt\n--index-url https://evil\n./local.whl\nhttps://x/y.whl\n") == [
        "numpy", "-r other.txt", "--index-url https://evil", "./local.whl", "https://x/y.whl"]


@pytest.mark.parametrize("env, deployer", [
    ({"MF_ARTIFACT_STORE": "dir:/tmp/a"}, "local"),
    ({"MF_ARTIFACT_STORE": "s3://b/packages"}, "cloudformation"),
    ({}, ""),
    ({"MF_ARTIFACT_STORE": "dir:/tmp/a", "MF_PLUGIN_DEPLOYER": "cloudformation"}, None),
    ({"MF_ARTIFACT_STORE": "s3://b/packages", "MF_PLUGIN_DEPLOYER": "local"}, None),
    ({"MF_ARTIFACT_STORE": "s3://b/packages", "MF_PLUGIN_DEPLOYER": "chalice"}, None),
])
def test_the_deployer_setting_follows_the_artifact_store_and_a_bad_one_fails_at_start(env, deployer):
    from chalicelib.core.errors import ConfigurationError
    from chalicelib.core.settings import Settings
    from tests.conftest import TEST_ENV

    if deployer is None:
        with pytest.raises(ConfigurationError, match="MF_PLUGIN_DEPLOYER"):
            Settings.from_env({**TEST_ENV, **env})
    else:
        assert Settings.from_env({**TEST_ENV, **env}).plugin_deployer == deployer
