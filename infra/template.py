"""Generate the marketplace's infrastructure (what Chalice does not create) and the API's
IAM policy, per stage, from the code that uses them.

    python -m infra.template [--stage dev|prod ...] [--check]

Writes, per stage:

* ``infra/cloudformation/marketplace-<stage>.json``: a CloudFormation template with
  - one DynamoDB table per ``chalicelib.tables.TABLES`` model (``mf-<stage>-<base_name>``),
    keys, attribute definitions and GSIs taken from the PynamoDB schema, TTL where the model
    has a ``TTLAttribute``, point-in-time recovery on, on-demand billing; in prod deletion
    protection and ``Retain`` so a stack deletion never drops money data;
  - the plugin-state table of the plugin SDK (``mf-<stage>-plugin-state``), from its record class;
    plugins reach only their own partitions through their own roles (``infra.plugin_config``);
  - the frontend: a private S3 bucket read only by a CloudFront distribution (origin access control);
  - the artifacts bucket for submitted plugin packages (``MF_ARTIFACT_STORE``);
  - the Secrets Manager secrets the API resolves at cold start (``chalicelib.core.secrets``),
    created with a random placeholder: the real values are put with ``aws secretsmanager
    put-secret-value`` (docs/DEPLOY.md), CloudFormation never sees them;
  - the network of untrusted code: a VPC with two private subnets, no Internet gateway and no
    NAT, a DynamoDB and an S3 gateway endpoint (each with a policy naming the one table or
    bucket it may reach), and two security groups whose only egress is an endpoint's prefix
    list: plugin functions reach DynamoDB, the checks function reaches S3, nothing else;
  - ``mf-<stage>-plugin-boundary``: the permissions boundary of every plugin function's role
    (its own partitions of the plugin-state table, through the endpoint only; its own log group;
    its network interfaces), exported with the subnets and security groups for plugin stacks;
* ``.chalice/policy-<stage>.json``: the least-privilege policy of the API's functions
  (``autogen_policy: false``): DynamoDB on the stage's tables and indexes only, invoke of its
  own background functions and of the stage's plugin functions, the artifacts bucket, the
  stage's secrets, its own log groups, and the plugin stacks (``mf-plugin-*``) with exactly
  what CloudFormation needs to create them: roles only with the boundary, passed only to Lambda;
* ``.chalice/policy-checks-<stage>.json``: the ``submission_checks`` function's own policy: its
  log group and its network interfaces; no table, no secret, no bucket (it gets signed URLs);
* ``.chalice/merge-template-<stage>.json``: merged into the API's ``chalice package`` output:
  API Gateway's own answers (no route, throttled, ...) in the API's error shape; the functions the
  API invokes by name get that name; the checks function runs in the private subnets and is
  never retried.

All are committed and never edited by hand. ``--check`` writes nothing and exits 1 if a
generated file is missing or differs (a model gained an index, a table was added, ...).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.publishing.stack import (ACTION_ORDER, BOUNDARY_POLICY, ENI_ACTIONS, ENI_DESCRIBE_ACTIONS,
                                         EXPORT_CHECKS_SECURITY_GROUP, EXPORT_PLUGIN_SECURITY_GROUP, EXPORT_SUBNETS,
                                         FUNCTION_TAG, PLUGIN_TAG, SDK_LAYER, STACK_PATTERN)

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = REPO_ROOT / "infra" / "cloudformation"
CHALICE_DIR = REPO_ROOT / ".chalice"

STAGES = ("dev", "prod")
APP_NAME = "mockfactory-marketplace"  # app.py: Chalice(app_name=...); function names derive from it
TABLE_PREFIX = "mf-{stage}-"
PLUGIN_STATE_BASE_NAME = "plugin-state"
# S3 bucket names are global: the artifacts bucket has a fixed, documented name because the
# API's config (MF_ARTIFACT_STORE) and policy must name it without CloudFormation intrinsics.
ARTIFACTS_BUCKET = "mockfactory-marketplace-{stage}-artifacts"
ARTIFACTS_PREFIX = "packages"
# The API's background functions it invokes (webhooks, publishing checks), by Chalice name.
INVOKED_FUNCTIONS = ("webhook_dispatcher", "submission_checks")
PLUGIN_FUNCTION_PATTERN = "mf-plugin-*-v*-{stage}-handler"  # infra.plugin_config.PluginProject.function_name
CHECKS_FUNCTION = "submission_checks"
VPC_CIDR = "10.42.0.0/16"
SUBNET_CIDRS = ("10.42.0.0/20", "10.42.16.0/20")
# Secret names; the API gets MF_<SETTING>_SECRET=<name> and resolves the value at cold start.
SECRETS = {
    "MF_JWT_KEYS": ("jwt-keys", "JWT signing keys, 'kid:secret[,kid:secret]' (secrets of 32+ chars)"),
    "MF_LICENSE_KEYS": ("license-keys", "Licence signing keys, 'kid:<base64 of a PEM RSA private key>'"),
    "MF_STRIPE_SECRET_KEY": ("stripe-secret-key", "Stripe secret API key (sk_live_... / sk_test_...)"),
    "MF_STRIPE_WEBHOOK_SECRET": ("stripe-webhook-secret", "Stripe webhook signing secret (whsec_...)"),
    "MF_WEBHOOK_SIGNING_KEY": ("webhook-signing-key", "Key deriving each install's webhook signing secret (32+ chars)"),
}
SECRET_NAME = "mf/{stage}/{name}"
CACHING_OPTIMIZED_POLICY = "658327ea-f89d-4fab-a63d-7e88639e58f6"  # AWS managed cache policy
DYNAMODB_ACTIONS = (
    # PynamoDB: get/put/update/delete, queries on tables and GSIs, batch writes,
    # TransactWrite (authorised per underlying action, ConditionCheckItem included).
    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem",
    "dynamodb:Query", "dynamodb:UpdateItem",
)


def _logical_id(base_name: str) -> str:
    return "".join(part.capitalize() for part in base_name.replace("_", "-").split("-")) + "Table"


# -- tables ----------------------------------------------------------------------------

def table_models() -> list[tuple[str, Any]]:
    """(base_name, PynamoDB model) for every table: the API's plus the plugin SDK's state table."""
    from mocklib_plugin_sdk.state import record_base

    from chalicelib.tables import TABLES

    models: list[tuple[str, Any]] = [(m.Meta.base_name, m) for m in TABLES]  # type: ignore[attr-defined]
    models.append((PLUGIN_STATE_BASE_NAME, record_base()))
    return models


def table_resource(base_name: str, model: Any, stage: str) -> dict[str, Any]:
    schema = model._get_schema()
    properties: dict[str, Any] = {
        "TableName": f"{TABLE_PREFIX.format(stage=stage)}{base_name}",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
        "KeySchema": schema["key_schema"],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},  # KMS with the AWS managed key (not the default owned key)
        "DeletionProtectionEnabled": stage == "prod",
        "Tags": [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}],
    }
    if schema["global_secondary_indexes"]:
        properties["GlobalSecondaryIndexes"] = [
            {"IndexName": g["index_name"], "KeySchema": g["key_schema"], "Projection": g["projection"]}
            for g in schema["global_secondary_indexes"]]
    if schema["local_secondary_indexes"]:
        properties["LocalSecondaryIndexes"] = [
            {"IndexName": i["index_name"], "KeySchema": i["key_schema"], "Projection": i["projection"]}
            for i in schema["local_secondary_indexes"]]
    ttl = model._ttl_attribute()
    if ttl is not None:
        properties["TimeToLiveSpecification"] = {"AttributeName": ttl.attr_name, "Enabled": True}
    policy = "Retain" if stage == "prod" else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": properties}


# -- the template ----------------------------------------------------------------------

def _private_bucket(stage: str, **extra: Any) -> dict[str, Any]:
    policy = "Retain" if stage == "prod" else "Delete"
    properties: dict[str, Any] = {
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "Tags": [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}],
        **extra,
    }
    return {"Type": "AWS::S3::Bucket", "DeletionPolicy": policy, "UpdateReplacePolicy": policy,
            "Properties": properties}


def _tls_only(bucket: str) -> dict[str, Any]:
    return {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def frontend_resources(stage: str) -> dict[str, Any]:
    return {
        "FrontendBucket": _private_bucket(stage),
        "FrontendOriginAccessControl": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {"OriginAccessControlConfig": {
                "Name": f"mf-{stage}-frontend", "OriginAccessControlOriginType": "s3",
                "SigningBehavior": "always", "SigningProtocol": "sigv4"}},
        },
        "FrontendDistribution": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {"DistributionConfig": {
                "Comment": f"MockFactory Marketplace frontend ({stage})",
                "Enabled": True,
                "HttpVersion": "http2and3",
                "DefaultRootObject": "index.html",
                "PriceClass": "PriceClass_100",
                "Origins": [{
                    "Id": "frontend",
                    "DomainName": {"Fn::GetAtt": ["FrontendBucket", "RegionalDomainName"]},
                    "OriginAccessControlId": {"Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]},
                    "S3OriginConfig": {"OriginAccessIdentity": ""},  # empty: OAC signs instead
                }],
                "DefaultCacheBehavior": {
                    "TargetOriginId": "frontend",
                    "ViewerProtocolPolicy": "redirect-to-https",
                    "AllowedMethods": ["GET", "HEAD"],
                    "CachedMethods": ["GET", "HEAD"],
                    "Compress": True,
                    "CachePolicyId": CACHING_OPTIMIZED_POLICY,
                },
                # A single-page app: unknown paths (403 from a private bucket) serve the shell.
                "CustomErrorResponses": [
                    {"ErrorCode": 403, "ResponseCode": 200, "ResponsePagePath": "/index.html"},
                    {"ErrorCode": 404, "ResponseCode": 200, "ResponsePagePath": "/index.html"},
                ],
            }},
        },
        "FrontendBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "FrontendBucket"},
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Sid": "CloudFrontReads", "Effect": "Allow",
                     "Principal": {"Service": "cloudfront.amazonaws.com"},
                     "Action": "s3:GetObject",
                     "Resource": {"Fn::Sub": "${FrontendBucket.Arn}/*"},
                     "Condition": {"StringEquals": {"AWS:SourceArn": {
                         "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"
                                    "${FrontendDistribution}"}}}},
                    _tls_only("FrontendBucket"),
                ]},
            },
        },
    }


def artifacts_resources(stage: str) -> dict[str, Any]:
    return {
        "ArtifactsBucket": _private_bucket(
            stage, BucketName=ARTIFACTS_BUCKET.format(stage=stage),
            VersioningConfiguration={"Status": "Enabled"},  # a package once stored is evidence: keep versions
            LifecycleConfiguration={"Rules": [{
                "Id": "expire-old-versions", "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}),
        "ArtifactsBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "ArtifactsBucket"},
                           "PolicyDocument": {"Version": "2012-10-17", "Statement": [_tls_only("ArtifactsBucket")]}},
        },
    }


def secret_resources(stage: str) -> dict[str, Any]:
    resources = {}
    for setting, (name, description) in SECRETS.items():
        logical = "".join(p.capitalize() for p in name.split("-")) + "Secret"
        resources[logical] = {
            "Type": "AWS::SecretsManager::Secret",
            # Retained in both stages: deleting a signing key would invalidate every token/licence.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Name": SECRET_NAME.format(stage=stage, name=name),
                "Description": f"{description}. Read by the API as {setting} (set {setting}_SECRET). "
                               "Created with a random placeholder: put the real value with "
                               "`aws secretsmanager put-secret-value` (docs/DEPLOY.md).",
                # A placeholder, never the value: CloudFormation must not hold secrets. It does
                # not parse as any setting, so a forgotten put-secret-value fails the cold start.
                "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True},
                "Tags": [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}],
            },
        }
    return resources


def _sub_arn(service: str, resource: str, *, regional: bool = True) -> dict[str, str]:
    where = "${AWS::Region}:${AWS::AccountId}" if regional else ":${AWS::AccountId}"
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:{service}:{where}:{resource}"}


def _egress_only_to(prefix_list: str) -> list[dict[str, Any]]:
    # Listing any egress rule replaces the default allow-all one: this is the group's only way out.
    return [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "DestinationPrefixListId": {"Ref": prefix_list},
             "Description": "HTTPS to the gateway endpoint's service only"}]


def network_resources(stage: str) -> dict[str, Any]:
    """Where untrusted code runs in AWS: private subnets whose only routes are the VPC itself and
    two gateway endpoints. No Internet gateway, no NAT: nothing else is reachable from them."""
    tags = [{"Key": "app", "Value": APP_NAME}, {"Key": "stage", "Value": stage}]
    state_table = {"Fn::GetAtt": ["PluginStateTable", "Arn"]}
    resources: dict[str, Any] = {
        "PluginVpc": {"Type": "AWS::EC2::VPC", "Properties": {
            "CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True,  # endpoints' names resolve
            "Tags": [*tags, {"Key": "Name", "Value": f"mf-{stage}-plugins"}]}},
        "PluginRouteTable": {"Type": "AWS::EC2::RouteTable", "Properties": {
            "VpcId": {"Ref": "PluginVpc"}, "Tags": tags}},
        "DynamoDbEndpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcId": {"Ref": "PluginVpc"}, "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"},
            "RouteTableIds": [{"Ref": "PluginRouteTable"}],
            # Only the plugin-state table, whoever asks: leaked credentials cannot carry data elsewhere.
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "PluginStateOnly", "Effect": "Allow", "Principal": "*", "Action": list(ACTION_ORDER),
                "Resource": state_table}]}}},
        "S3Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
            "VpcId": {"Ref": "PluginVpc"}, "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"},
            "RouteTableIds": [{"Ref": "PluginRouteTable"}],
            # The checks function's signed URLs: objects of the artifacts bucket only.
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "ArtifactsOnly", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": {"Fn::Sub": f"${{ArtifactsBucket.Arn}}/{ARTIFACTS_PREFIX}/*"}}]}}},
        "PluginSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "Plugin functions: HTTPS to DynamoDB (gateway endpoint) only, no ingress",
            "VpcId": {"Ref": "PluginVpc"}, "SecurityGroupEgress": _egress_only_to("DynamoDbPrefixListId"),
            "Tags": tags}},
        "ChecksSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "Submission checks: HTTPS to S3 (gateway endpoint) only, no ingress",
            "VpcId": {"Ref": "PluginVpc"}, "SecurityGroupEgress": _egress_only_to("S3PrefixListId"),
            "Tags": tags}},
    }
    for index, cidr in enumerate(SUBNET_CIDRS):
        subnet = f"PluginSubnet{'AB'[index]}"
        resources[subnet] = {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "PluginVpc"}, "CidrBlock": cidr, "MapPublicIpOnLaunch": False,
            "AvailabilityZone": {"Fn::Select": [index, {"Fn::GetAZs": ""}]}, "Tags": tags}}
        resources[f"{subnet}Routes"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
            "SubnetId": {"Ref": subnet}, "RouteTableId": {"Ref": "PluginRouteTable"}}}
    return resources


def boundary_document() -> dict[str, Any]:
    """The most any plugin function's role can ever do, whatever its own policy says. One policy
    for every plugin: the role's tags (set by the plugin's stack) name its partitions and log group."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnPluginState", "Effect": "Allow", "Action": list(ACTION_ORDER),
         "Resource": {"Fn::GetAtt": ["PluginStateTable", "Arn"]},
         "Condition": {
             # '#' matters: "echo*" would also admit a plugin named "echo-x".
             "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"${{aws:PrincipalTag/{PLUGIN_TAG}}}#*"]},
             "Null": {"dynamodb:LeadingKeys": "false"},  # ForAllValues alone would admit a call without keys
             # Only from inside the VPC: credentials a plugin leaks in a response are useless elsewhere.
             "StringEquals": {"aws:SourceVpce": {"Ref": "DynamoDbEndpoint"}}}},
        {"Sid": "OwnLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [_sub_arn("logs", f"log-group:/aws/lambda/${{!aws:PrincipalTag/{FUNCTION_TAG}}}"),
                      _sub_arn("logs", f"log-group:/aws/lambda/${{!aws:PrincipalTag/{FUNCTION_TAG}}}:*")]},
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": list(ENI_ACTIONS),
         "Resource": _sub_arn("ec2", "*/*")},
        {"Sid": "VpcNetworkInterfacesDescribe", "Effect": "Allow", "Action": list(ENI_DESCRIBE_ACTIONS),
         "Resource": "*"},
    ]}


def plugin_platform_resources(stage: str) -> dict[str, Any]:
    """What every plugin stack stands on: the network and the permissions boundary."""
    return {**network_resources(stage), "PluginBoundary": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "ManagedPolicyName": BOUNDARY_POLICY.format(stage=stage),
        "Description": "Permissions boundary of every plugin function's role (mf-plugin-* stacks)",
        "PolicyDocument": boundary_document()}}}


def plugin_platform_outputs(stage: str) -> dict[str, Any]:
    return {
        "PluginSubnetIds": {"Value": {"Fn::Join": [",", [{"Ref": "PluginSubnetA"}, {"Ref": "PluginSubnetB"}]]},
                            "Export": {"Name": EXPORT_SUBNETS.format(stage=stage)}},
        "PluginSecurityGroupId": {"Value": {"Ref": "PluginSecurityGroup"},
                                  "Export": {"Name": EXPORT_PLUGIN_SECURITY_GROUP.format(stage=stage)}},
        "ChecksSecurityGroupId": {"Value": {"Ref": "ChecksSecurityGroup"},
                                  "Export": {"Name": EXPORT_CHECKS_SECURITY_GROUP.format(stage=stage)}},
        "PluginBoundaryArn": {"Value": {"Ref": "PluginBoundary"},
                              "Description": "iam:PermissionsBoundary of every mf-plugin-* role"},
    }


PARAMETERS = {
    name: {"Type": "String", "AllowedPattern": "^pl-[0-9a-f]+$",
           "Description": f"The AWS-managed prefix list of {service} in this region: aws ec2 "
                          "describe-managed-prefix-lists --filters Name=prefix-list-name,"
                          f"Values=com.amazonaws.$AWS_REGION.{service} --query 'PrefixLists[0].PrefixListId'"}
    for name, service in (("DynamoDbPrefixListId", "dynamodb"), ("S3PrefixListId", "s3"))
}


def template(stage: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for base_name, model in table_models():
        logical = _logical_id(base_name)
        resources[logical] = table_resource(base_name, model, stage)
        outputs[logical + "Name"] = {"Value": {"Ref": logical}}
    resources.update(frontend_resources(stage))
    resources.update(artifacts_resources(stage))
    resources.update(secret_resources(stage))
    resources.update(plugin_platform_resources(stage))
    outputs.update(plugin_platform_outputs(stage))
    outputs.update({
        "FrontendBucketName": {"Value": {"Ref": "FrontendBucket"},
                               "Description": "aws s3 sync target for the built frontend"},
        "FrontendDistributionId": {"Value": {"Ref": "FrontendDistribution"},
                                   "Description": "aws cloudfront create-invalidation --distribution-id"},
        "FrontendUrl": {"Value": {"Fn::Sub": "https://${FrontendDistribution.DomainName}"}},
        "ArtifactStore": {"Value": {"Fn::Sub": f"s3://${{ArtifactsBucket}}/{ARTIFACTS_PREFIX}"},
                          "Description": "MF_ARTIFACT_STORE of the API (.chalice/config.json)"},
    })
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"MockFactory Marketplace {stage}: tables, frontend bucket + CloudFront, artifacts "
                       "bucket, secrets, the plugins' network and permissions boundary. Generated by "
                       "`python -m infra.template`; do not edit.",
        "Parameters": PARAMETERS,
        "Resources": resources,
        "Outputs": outputs,
    }


# -- the API's IAM policy --------------------------------------------------------------

def api_policy(stage: str) -> dict[str, Any]:
    # Region/account are wildcards: `chalice deploy` sends the file to IAM as is (no intrinsics).
    prefix = TABLE_PREFIX.format(stage=stage)
    tables = [f"arn:aws:dynamodb:*:*:table/{prefix}{m.Meta.base_name}"  # type: ignore[attr-defined]
              for m in _api_tables()]
    functions = [f"arn:aws:lambda:*:*:function:{APP_NAME}-{stage}-{name}" for name in INVOKED_FUNCTIONS]
    bucket = ARTIFACTS_BUCKET.format(stage=stage)
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{APP_NAME}-{stage}-*"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Logs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [log_group, f"{log_group}:*"]},
        {"Sid": "OwnTables", "Effect": "Allow", "Action": list(DYNAMODB_ACTIONS),
         "Resource": [r for t in tables for r in (t, f"{t}/index/*")]},
        {"Sid": "InvokeOwnFunctionsAndPlugins", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [*functions, f"arn:aws:lambda:*:*:function:{PLUGIN_FUNCTION_PATTERN.format(stage=stage)}"]},
        {"Sid": "ArtifactObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:aws:s3:::{bucket}/{ARTIFACTS_PREFIX}/*"},
        # ListBucket only so a missing package is a 404, not a 403.
        {"Sid": "ArtifactListing", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}}},
        {"Sid": "OwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
         # Secrets Manager appends '-' and 6 random characters to a secret's ARN.
         "Resource": [f"arn:aws:secretsmanager:*:*:secret:{SECRET_NAME.format(stage=stage, name=name)}-??????"
                      for name, _ in SECRETS.values()]},
        *plugin_deployment_statements(stage),
    ]}


def plugin_deployment_statements(stage: str) -> list[dict[str, Any]]:
    """What the API needs to run approved plugins (chalicelib/publishing/cloudformation.py): CloudFormation
    creates a plugin stack's role, log group and function with the API's own credentials, so the API
    may do exactly that, for ``mf-plugin-*`` of its stage only, and nothing that could give a plugin
    more than the boundary: a role is created, or given a policy, only with the boundary attached; it
    can be passed to Lambda only; its function must be in a VPC."""
    stacks = STACK_PATTERN.format(stage=stage)  # the stack's and the role's name
    roles = f"arn:aws:iam::*:role/{stacks}"
    functions = f"arn:aws:lambda:*:*:function:{PLUGIN_FUNCTION_PATTERN.format(stage=stage)}"
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{PLUGIN_FUNCTION_PATTERN.format(stage=stage)}"
    boundary = f"arn:aws:iam::*:policy/{BOUNDARY_POLICY.format(stage=stage)}"
    return [
        {"Sid": "PluginStacks", "Effect": "Allow",
         "Action": ["cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                    "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents"],
         "Resource": f"arn:aws:cloudformation:*:*:stack/{stacks}/*"},
        # Only with the platform's boundary: whatever policy the role gets, the boundary caps it.
        # (AttachRolePolicy is not granted at all: plugin roles carry inline policies only.)
        {"Sid": "PluginRolesOnlyWithTheBoundary", "Effect": "Allow",
         "Action": ["iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"],
         "Resource": roles, "Condition": {"StringLike": {"iam:PermissionsBoundary": boundary}}},
        {"Sid": "PluginRolesLifecycle", "Effect": "Allow",
         "Action": ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole", "iam:TagRole", "iam:UntagRole", "iam:DeleteRole"],
         "Resource": roles},
        {"Sid": "PassPluginRolesToLambdaOnly", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": roles,
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}},
        {"Sid": "PluginFunctionsOnlyInAVpc", "Effect": "Allow",
         "Action": ["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"], "Resource": functions,
         "Condition": {"Null": {"lambda:VpcIds": "false"}}},
        {"Sid": "PluginFunctionsLifecycle", "Effect": "Allow",
         # Reads included: CloudFormation's Lambda resource handler reads these after each change.
         "Action": ["lambda:UpdateFunctionCode", "lambda:DeleteFunction", "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration", "lambda:GetFunctionCodeSigningConfig",
                    "lambda:GetFunctionConcurrency", "lambda:GetFunctionRecursionConfig",
                    "lambda:GetRuntimeManagementConfig", "lambda:TagResource", "lambda:UntagResource",
                    "lambda:ListTags"],
         "Resource": functions},
        {"Sid": "PluginSdkLayer", "Effect": "Allow", "Action": ["lambda:GetLayerVersion"],
         "Resource": f"arn:aws:lambda:*:*:layer:{SDK_LAYER.format(stage=stage)}:*"},
        {"Sid": "PluginLogGroups", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup",
                    "logs:ListTagsForResource"],
         "Resource": [log_group, f"{log_group}:*"]},
        # Read-only calls IAM cannot scope to a resource (they accept only "*"): Lambda checks a
        # function's subnets and security groups with the caller's rights, CloudFormation waits on
        # its network interfaces and reads log groups, the deployer finds the newest SDK layer.
        {"Sid": "UnscopableReads", "Effect": "Allow",
         "Action": ["ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
                    "ec2:DescribeNetworkInterfaces", "logs:DescribeLogGroups", "lambda:ListLayerVersions"],
         "Resource": "*"},
    ]


def checks_policy(stage: str) -> dict[str, Any]:
    """The ``submission_checks`` function runs submitted code: it holds nothing worth taking. Its log
    group, and the network interfaces Lambda makes for it in the private subnets. The package and
    the results go through URLs the API signs per submission (chalicelib/publishing/remote_checks.py)."""
    log_group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{APP_NAME}-{stage}-{CHECKS_FUNCTION}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "OwnLogGroup", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [log_group, f"{log_group}:*"]},
        # Lambda developer guide: DeleteNetworkInterface needs every interface of the account/region
        # (written "arn:aws:ec2:<region>:<account>:*/*"; the file takes no intrinsics, so wildcards),
        # DescribeNetworkInterfaces only works on "*".
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Action": list(ENI_ACTIONS),
         "Resource": "arn:aws:ec2:*:*:*/*"},
        {"Sid": "VpcNetworkInterfacesDescribe", "Effect": "Allow", "Action": list(ENI_DESCRIBE_ACTIONS),
         "Resource": "*"},
    ]}


def _api_tables() -> list[Any]:
    from chalicelib.tables import TABLES

    return list(TABLES)


def secret_environment(stage: str) -> dict[str, str]:
    """The ``MF_<SETTING>_SECRET`` variables .chalice/config.json sets for ``stage``."""
    return {f"{setting}_SECRET": SECRET_NAME.format(stage=stage, name=name) for setting, (name, _) in SECRETS.items()}


# -- the API's own answers -----------------------------------------------------------------

def _gateway_answer(status: int, code: str, message: str) -> dict[str, Any]:
    """What API Gateway answers itself (no route, throttled, too large, timed out), in the API's
    error shape: ``{"code", "message", "request_id"}`` with the request id in ``X-Request-Id``."""
    body = '{"code":"%s","message":%s,"request_id":"$context.requestId"}' % (code, message)
    return {"statusCode": status, "responseTemplates": {"application/json": body},
            "responseParameters": {"gatewayresponse.header.X-Request-Id": "context.requestId"}}


def api_merge_template(stage: str) -> dict[str, Any]:
    """Merged into the API's ``chalice package`` output (``--merge-template``): API Gateway's own
    answers as the app gives its own (the local server answers the same way, devstack.server);
    the functions the API invokes by name named so (CloudFormation would call them
    ``<stack>-<LogicalId>-<random>``); the checks function in the private subnets, behind the
    security group whose only way out is S3, and never retried (a retry would run the same
    submitted code again, after its signed URLs may have expired)."""
    responses = {
        "MISSING_AUTHENTICATION_TOKEN": _gateway_answer(
            404, "route_not_found", '"no route matches $context.httpMethod $context.path"'),
        "DEFAULT_4XX": _gateway_answer(400, "gateway_refused", "$context.error.messageString"),
        "DEFAULT_5XX": _gateway_answer(502, "gateway_error", "$context.error.messageString"),
    }
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        del responses[kind]["statusCode"]  # keep the status API Gateway chose (413, 429, 504, ...)
    resources: dict[str, Any] = {"RestAPI": {"Properties": {"DefinitionBody": {
        "x-amazon-apigateway-gateway-responses": responses}}}}
    for name in INVOKED_FUNCTIONS:
        resources[_chalice_logical_id(name)] = {"Properties": {"FunctionName": f"{APP_NAME}-{stage}-{name}"}}
    checks = resources[_chalice_logical_id(CHECKS_FUNCTION)]["Properties"]
    checks["VpcConfig"] = {
        "SubnetIds": {"Fn::Split": [",", {"Fn::ImportValue": EXPORT_SUBNETS.format(stage=stage)}]},
        "SecurityGroupIds": [{"Fn::ImportValue": EXPORT_CHECKS_SECURITY_GROUP.format(stage=stage)}]}
    resources["SubmissionChecksEventInvokeConfig"] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
        "FunctionName": {"Ref": _chalice_logical_id(CHECKS_FUNCTION)}, "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 600}}
    return {"Resources": resources}


def _chalice_logical_id(function: str) -> str:
    """What `chalice package` names a function's resource: ``submission_checks`` -> ``SubmissionChecks``."""
    return "".join(part.capitalize() for part in function.split("_"))


# -- modes -----------------------------------------------------------------------------

def _json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def generated_files(stage: str) -> dict[Path, str]:
    return {TEMPLATE_DIR / f"marketplace-{stage}.json": _json(template(stage)),
            CHALICE_DIR / f"policy-{stage}.json": _json(api_policy(stage)),
            CHALICE_DIR / f"policy-checks-{stage}.json": _json(checks_policy(stage)),
            CHALICE_DIR / f"merge-template-{stage}.json": _json(api_merge_template(stage))}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.template", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", action="append", choices=STAGES, help="stage(s) to generate (default: all)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    stale = []
    for stage in args.stage or STAGES:
        for path, content in generated_files(stage).items():
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            label = path.relative_to(REPO_ROOT).as_posix()
            if current == content:
                print(f"{label}: up to date")
            elif args.check:
                stale.append(label)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content, encoding="utf-8")
                print(f"{label}: wrote")
    if stale:
        print(f"stale: {', '.join(stale)}\nregenerate with: python -m infra.template", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
