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
* ``.chalice/policy-<stage>.json``: the least-privilege policy of the API's functions
  (``autogen_policy: false``): DynamoDB on the stage's tables and indexes only, invoke of its
  own background functions and of the stage's plugin functions, the artifacts bucket, the
  stage's secrets, its own log groups;
* ``.chalice/merge-template-<stage>.json``: merged into the API's ``chalice package`` output:
  API Gateway's own answers (no route, throttled, ...) in the API's error shape.

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
                       "bucket, secrets. Generated by `python -m infra.template`; do not edit.",
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


def api_merge_template() -> dict[str, Any]:
    """Merged into the API's ``chalice package`` output (``--merge-template``): API Gateway's own
    answers as the app gives its own (the local server answers the same way, devstack.server)."""
    responses = {
        "MISSING_AUTHENTICATION_TOKEN": _gateway_answer(
            404, "route_not_found", '"no route matches $context.httpMethod $context.path"'),
        "DEFAULT_4XX": _gateway_answer(400, "gateway_refused", "$context.error.messageString"),
        "DEFAULT_5XX": _gateway_answer(502, "gateway_error", "$context.error.messageString"),
    }
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        del responses[kind]["statusCode"]  # keep the status API Gateway chose (413, 429, 504, ...)
    return {"Resources": {"RestAPI": {"Properties": {"DefinitionBody": {
        "x-amazon-apigateway-gateway-responses": responses}}}}}


# -- modes -----------------------------------------------------------------------------

def _json(document: Any) -> str:
    return json.dumps(document, indent=2) + "\n"


def generated_files(stage: str) -> dict[Path, str]:
    return {TEMPLATE_DIR / f"marketplace-{stage}.json": _json(template(stage)),
            CHALICE_DIR / f"policy-{stage}.json": _json(api_policy(stage)),
            CHALICE_DIR / f"merge-template-{stage}.json": _json(api_merge_template())}


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
