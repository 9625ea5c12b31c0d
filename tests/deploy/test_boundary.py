"""Untrusted code never holds platform power: what each role, boundary and network allows, read
from the generated and the packaged (``chalice package``) templates, statement by statement.

* The API may create and delete only ``mf-plugin-*`` stacks of its stage, create roles (or give
  them a policy) only with the platform's boundary, pass them only to Lambda, and create
  functions only in a VPC.
* The boundary caps every plugin role: its own partitions of the plugin-state table, through the
  VPC endpoint only; its own log group; its network interfaces.
* The checks function has its own role with nothing but its log group and network interfaces,
  runs in the private subnets, and is never retried.
* The private subnets have no route out but two gateway endpoints, each limited to one table or
  bucket, and each security group's only egress is one endpoint's prefix list.
* A plugin stack (``chalicelib/publishing/stack.py``) passes cfn-lint and gives every reference
  plugin what ``chalice package`` + its merge template give it; its code runs on the SDK layer.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.publishing import stack as plugin_stack
from chalicelib.publishing.bundle import LAYER_PACKAGES, lambda_bundle
from infra import package as packaging
from infra import plugin_config, template
from tests.deploy.conftest import REPO, cfn_lint, functions_of, load_template

STAGE = "prod"


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert len(by_sid) == len(policy["Statement"]), "every statement has its own Sid"
    return by_sid


def role_policy(template_doc: dict[str, Any], function: str) -> dict[str, Any]:
    role = functions_of(template_doc)[function]["Role"]["Fn::GetAtt"][0]
    (policy,) = template_doc["Resources"][role]["Properties"]["Policies"]
    return dict(policy["PolicyDocument"])


# -- the API: plugin stacks and nothing more -------------------------------------------------------

def test_each_statement_the_packaged_api_role_has_for_plugin_stacks_allows_exactly_that(packages):
    policy = statements(role_policy(load_template(packages[f"api/{STAGE}"]), "APIHandler"))
    stacks, roles = "mf-plugin-*-v*-prod", "arn:aws:iam::*:role/mf-plugin-*-v*-prod"
    functions = "arn:aws:lambda:*:*:function:mf-plugin-*-v*-prod-handler"
    boundary = "arn:aws:iam::*:policy/mf-prod-plugin-boundary"

    assert policy["PluginStacks"]["Action"] == [
        "cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"]
    assert policy["PluginStacks"]["Resource"] == f"arn:aws:cloudformation:*:*:stack/{stacks}/*"
    assert "Condition" not in policy["PluginStacks"]

    granting = policy["PluginRolesOnlyWithTheBoundary"]
    assert granting["Action"] == ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    assert granting["Resource"] == roles
    assert granting["Condition"] == {"StringLike": {"iam:PermissionsBoundary": boundary}}

    lifecycle = policy["PluginRolesLifecycle"]
    assert lifecycle["Resource"] == roles and "Condition" not in lifecycle
    assert set(lifecycle["Action"]) == {"iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies",
                                        "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
                                        "iam:TagRole", "iam:UntagRole", "iam:DeleteRole"}

    passing = policy["PassPluginRolesToLambdaOnly"]
    assert (passing["Action"], passing["Resource"]) == (["iam:PassRole"], roles)
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}

    in_vpc = policy["PluginFunctionsOnlyInAVpc"]
    assert (in_vpc["Action"], in_vpc["Resource"]) == (["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"],
                                                      functions)
    assert in_vpc["Condition"] == {"Null": {"lambda:VpcIds": "false"}}
    assert policy["PluginFunctionsLifecycle"]["Resource"] == functions
    assert not {"lambda:CreateFunction", "lambda:UpdateFunctionConfiguration", "lambda:AddPermission",
                "lambda:InvokeFunction"} & set(policy["PluginFunctionsLifecycle"]["Action"])
    assert policy["PluginSdkLayer"] == {"Sid": "PluginSdkLayer", "Effect": "Allow",
                                        "Action": ["lambda:GetLayerVersion"],
                                        "Resource": "arn:aws:lambda:*:*:layer:mf-prod-plugin-sdk:*"}
    logs = "arn:aws:logs:*:*:log-group:/aws/lambda/mf-plugin-*-v*-prod-handler"
    assert policy["PluginLogGroups"]["Resource"] == [logs, f"{logs}:*"]
    reads = policy["UnscopableReads"]
    assert reads["Resource"] == "*"
    assert all(action.split(":")[1].startswith(("Describe", "List")) for action in reads["Action"])

    # Nowhere else may the API touch IAM, CloudFormation or another function's configuration.
    for sid, statement in policy.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith(("iam:", "cloudformation:")) for a in actions):
            assert sid in ("PluginStacks", "PluginRolesOnlyWithTheBoundary", "PluginRolesLifecycle",
                           "PassPluginRolesToLambdaOnly"), sid
        assert "iam:AttachRolePolicy" not in actions and "iam:PutRolePermissionsBoundary" not in actions
        assert "iam:DeleteRolePermissionsBoundary" not in actions and "iam:CreatePolicy" not in actions


def test_the_boundary_allows_own_partitions_through_the_endpoint_own_log_group_and_network_interfaces_only():
    resources = template.template(STAGE)["Resources"]
    boundary = resources["PluginBoundary"]["Properties"]
    assert boundary["ManagedPolicyName"] == "mf-prod-plugin-boundary"
    policy = statements(boundary["PolicyDocument"])
    assert set(policy) == {"OwnPluginState", "OwnLogGroup", "VpcNetworkInterfaces", "VpcNetworkInterfacesDescribe"}

    state = policy["OwnPluginState"]
    assert state["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"]
    assert state["Resource"] == {"Fn::GetAtt": ["PluginStateTable", "Arn"]}
    assert state["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["${aws:PrincipalTag/mf-plugin}#*"]},  # note the '#'
        "Null": {"dynamodb:LeadingKeys": "false"},
        "StringEquals": {"aws:SourceVpce": {"Ref": "DynamoDbEndpoint"}}}
    log_group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/" \
                "${!aws:PrincipalTag/mf-function}"
    assert policy["OwnLogGroup"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert policy["OwnLogGroup"]["Resource"] == [{"Fn::Sub": log_group}, {"Fn::Sub": log_group + ":*"}]
    assert set(policy["VpcNetworkInterfaces"]["Action"]) == set(plugin_stack.ENI_ACTIONS)
    assert set(policy["VpcNetworkInterfacesDescribe"]["Action"]) == {"ec2:DescribeNetworkInterfaces",
                                                                      "ec2:DescribeSubnets"}
    # Every stack's role names the boundary and carries the tags its variables read.
    spec = _spec(plugin_config.load_project(REPO / "plugin_functions" / "echo"))
    role = plugin_stack.plugin_stack_template(spec)["Resources"]["Role"]["Properties"]
    assert role["PermissionsBoundary"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/mf-prod-plugin-boundary"}
    assert {t["Key"]: t["Value"] for t in role["Tags"]}.items() >= {
        ("mf-plugin", "echo"), ("mf-function", "mf-plugin-echo-v1-prod-handler")}


def test_the_private_network_has_no_way_out_but_two_endpoints_each_limited_to_one_table_or_bucket():
    document = template.template(STAGE)
    resources = document["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::Route",
                        "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::EgressOnlyInternetGateway"}
    endpoints = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::EC2::VPCEndpoint"}
    assert set(endpoints) == {"DynamoDbEndpoint", "S3Endpoint"}
    assert all(e["VpcEndpointType"] == "Gateway" and e["RouteTableIds"] == [{"Ref": "PluginRouteTable"}]
               for e in endpoints.values())
    (dynamodb,) = endpoints["DynamoDbEndpoint"]["PolicyDocument"]["Statement"]
    assert dynamodb["Resource"] == {"Fn::GetAtt": ["PluginStateTable", "Arn"]}
    (s3,) = endpoints["S3Endpoint"]["PolicyDocument"]["Statement"]
    assert s3["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert s3["Resource"] == {"Fn::Sub": "${ArtifactsBucket.Arn}/packages/*"}
    subnets = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::Subnet"]
    assert len(subnets) == 2 and not any(s["MapPublicIpOnLaunch"] for s in subnets)
    for group, prefix_list in (("PluginSecurityGroup", "DynamoDbPrefixListId"),
                               ("ChecksSecurityGroup", "S3PrefixListId")):
        properties = resources[group]["Properties"]
        assert "SecurityGroupIngress" not in properties
        assert properties["SecurityGroupEgress"] == [{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "DestinationPrefixListId": {"Ref": prefix_list},
            "Description": "HTTPS to the gateway endpoint's service only"}]
    exports = {o["Export"]["Name"] for o in document["Outputs"].values() if "Export" in o}
    assert exports == {"mf-prod-plugin-subnet-ids", "mf-prod-plugin-security-group", "mf-prod-checks-security-group"}


# -- the checks function --------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_checks_function_has_its_own_role_with_nothing_but_its_log_group_and_network_interfaces(packages, stage):
    packaged = load_template(packages[f"api/{stage}"])
    policy = statements(role_policy(packaged, "SubmissionChecks"))
    assert set(policy) == {"OwnLogGroup", "VpcNetworkInterfaces", "VpcNetworkInterfacesDescribe"}
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/mockfactory-marketplace-{stage}-submission_checks"
    assert policy["OwnLogGroup"]["Resource"] == [log_group, f"{log_group}:*"]
    assert set(policy["VpcNetworkInterfaces"]["Action"]) == set(plugin_stack.ENI_ACTIONS)
    actions = {a for s in policy.values() for a in s["Action"]}
    assert not any(a.startswith(("dynamodb:", "secretsmanager:", "s3:", "lambda:", "iam:", "kms:")) for a in actions)
    assert role_policy(packaged, "SubmissionChecks") != role_policy(packaged, "APIHandler")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_checks_function_runs_in_the_private_subnets_under_its_name_and_is_never_retried(packages, stage):
    packaged = load_template(packages[f"api/{stage}"])
    checks = functions_of(packaged)["SubmissionChecks"]
    assert checks["FunctionName"] == f"mockfactory-marketplace-{stage}-submission_checks"  # the name the API invokes
    assert checks["VpcConfig"] == {
        "SubnetIds": {"Fn::Split": [",", {"Fn::ImportValue": f"mf-{stage}-plugin-subnet-ids"}]},
        "SecurityGroupIds": [{"Fn::ImportValue": f"mf-{stage}-checks-security-group"}]}
    config = packaged["Resources"]["SubmissionChecksEventInvokeConfig"]["Properties"]
    assert (config["MaximumRetryAttempts"], config["FunctionName"]) == (0, {"Ref": "SubmissionChecks"})
    assert functions_of(packaged)["WebhookDispatcher"]["FunctionName"] == \
        f"mockfactory-marketplace-{stage}-webhook_dispatcher"
    assert "VpcConfig" not in functions_of(packaged)["APIHandler"]  # the API itself talks to Stripe and webhooks


# -- plugin stacks ----------------------------------------------------------------------------------

def _spec(project: plugin_config.PluginProject, manifest: dict[str, Any] | None = None) -> plugin_stack.StackSpec:
    document = manifest or json.loads((project.directory / "chalicelib" / "manifest.json").read_text())
    return plugin_stack.StackSpec(
        plugin=project.name, version=document["version"], major=project.major, submission_id="sub_test",
        stage=STAGE, function_name=project.function_name(STAGE), memory_mb=project.memory_mb,
        timeout_s=project.timeout_s, state_table=f"mf-{STAGE}-plugin-state",
        code_bucket=template.ARTIFACTS_BUCKET.format(stage=STAGE),
        code_key=f"packages/deployments/{project.name}.zip",
        layer_arn="arn:aws:lambda:us-east-1:123456789012:layer:mf-prod-plugin-sdk:3",
        storage=plugin_stack.storage_actions(document))


def test_a_plugin_stack_gives_each_reference_plugin_what_chalice_package_gives_it_and_passes_cfn_lint(
        packages, tmp_path: Path):
    written = []
    for entry in [e for e in packages.values() if e["plugin"]]:
        project = plugin_config.load_project(Path(entry["directory"]))
        chalice = load_template(entry)
        theirs = functions_of(chalice)["Handler"]
        generated = plugin_stack.plugin_stack_template(_spec(project))
        ours = generated["Resources"]["Handler"]["Properties"]
        for key in ("FunctionName", "MemorySize", "Timeout", "Runtime", "Environment"):
            assert ours[key] == theirs[key], (entry["name"], key)
        their_policy = statements(role_policy(chalice, "Handler"))
        our_policy = statements(generated["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"])
        if "OwnPluginState" in their_policy:
            assert our_policy["OwnPluginState"]["Action"] == their_policy["OwnPluginState"]["Action"]
            assert our_policy["OwnPluginState"]["Condition"] == their_policy["OwnPluginState"]["Condition"]
        else:
            assert "OwnPluginState" not in our_policy
        # Chalice's role may create its log group; the stack creates it, the role only writes to it.
        assert set(our_policy["OwnLogGroup"]["Action"]) == set(their_policy["OwnLogGroup"]["Action"]) - {
            "logs:CreateLogGroup"}
        assert generated["Resources"]["LogGroup"]["Properties"]["LogGroupName"] == f"/aws/lambda/{ours['FunctionName']}"
        assert ours["VpcConfig"]["SecurityGroupIds"] == [{"Fn::ImportValue": "mf-prod-plugin-security-group"}]
        path = tmp_path / f"{entry['name']}.json"
        path.write_text(json.dumps(generated))
        written.append(path)
    result = cfn_lint(*written)
    assert result.returncode == 0, result.stdout + result.stderr


# -- the code: the plugin's bundle on the SDK layer -------------------------------------------------

@pytest.fixture(scope="module")
def sdk_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return packaging.build_sdk_layer(STAGE, tmp_path_factory.mktemp("layer"), packaging.packaging_env())


def test_the_sdk_layer_holds_the_sdk_and_its_pinned_dependencies_with_bytecode_and_no_botocore(sdk_layer: Path):
    with zipfile.ZipFile(sdk_layer) as archive:
        names = set(archive.namelist())
    tops = {n.split("/")[1] for n in names}
    assert all(n.startswith("python/") for n in names)
    assert {"mocklib_plugin_sdk", "pynamodb", "jsonschema", "aws_lambda_powertools"} <= tops
    assert not any(t.startswith("botocore") for t in tops) and "bin" not in tops
    assert "python/mocklib_plugin_sdk/__pycache__/__init__.cpython-311.pyc" in names
    # What a plugin may ask for is exactly what the layer holds.
    pinned = {r.split("==")[0].lower() for r in plugin_config.sdk_requirements()}
    assert LAYER_PACKAGES == pinned | {"mocklib-plugin-sdk"}


def test_a_reference_plugins_bundle_answers_on_the_sdk_layer_alone(sdk_layer: Path, tmp_path: Path):
    from mocklib_plugin_sdk.packaging import build_package

    task, opt = tmp_path / "task", tmp_path / "opt"
    zipfile.ZipFile(io.BytesIO(lambda_bundle(build_package(REPO / "plugin_functions" / "echo")))).extractall(task)
    zipfile.ZipFile(sdk_layer).extractall(opt)
    runtime = tmp_path / "runtime"  # what the Lambda runtime adds: boto3 and its botocore
    runtime.mkdir()
    import botocore

    site = Path(botocore.__file__).resolve().parent.parent
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        if (site / name).exists():
            (runtime / name).symlink_to(site / name)
    script = ("import json, mf_plugin_entry\n"
              "from mocklib_plugin_sdk.protocol import make_health_event\n"
              "print(json.dumps(mf_plugin_entry.handler(make_health_event('echo'), None)))\n")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join([str(task), str(opt / "python"),
                                                                            str(runtime)]),
           "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1",
           "MF_PLUGIN_STATE_TABLE": "mf-prod-plugin-state"}
    result = subprocess.run([sys.executable, "-S", "-c", script], cwd=task, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 200, answer
