"""The marketplace as it runs in AWS, on moto: packages in S3, plugins deployed by CloudFormation.

``platform_stack`` deploys, from the real generated infra template (``infra/template.py``), what
every plugin stack stands on: the plugin-state table, the artifacts bucket, the private network
with its endpoints and security groups, and the permissions boundary, with their exports. The
plugin SDK layer is published as ``python -m infra.package plugin-sdk`` would (a small stand-in
zip: moto never runs it). moto creates resources synchronously and keeps no security group
egress rules from a template, so what the network allows is checked on the template itself
(tests/deploy/test_boundary.py).
"""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

STAGE = "test"  # tests/conftest.py TEST_ENV
BUCKET = f"mockfactory-marketplace-{STAGE}-artifacts"
STORE = f"s3://{BUCKET}/packages"
PREFIX_LISTS = {"DynamoDbPrefixListId": "pl-02cd2c6b", "S3PrefixListId": "pl-63a5400a"}


class MovableClock:
    def __init__(self) -> None:
        self.moment = datetime.now(timezone.utc)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


def platform_template(stage: str = STAGE) -> dict[str, Any]:
    from infra import template

    models = dict(template.table_models())
    resources = dict(template.plugin_platform_resources(stage))
    resources["PluginStateTable"] = template.table_resource("plugin-state", models["plugin-state"], stage)
    resources["ArtifactsBucket"] = template.artifacts_resources(stage)["ArtifactsBucket"]
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": template.PARAMETERS, "Resources": resources,
            "Outputs": template.plugin_platform_outputs(stage)}


def platform_stack(stage: str = STAGE) -> dict[str, str]:
    """Deploy the platform's part of the infra template; its outputs."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.create_stack(StackName=f"mf-{stage}-infra", TemplateBody=json.dumps(platform_template(stage)),
                                Capabilities=["CAPABILITY_NAMED_IAM"],
                                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PREFIX_LISTS.items()])
    stack = cloudformation.describe_stacks(StackName=f"mf-{stage}-infra")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def publish_layer(stage: str = STAGE) -> str:
    import boto3

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/mocklib_plugin_sdk/__init__.py", "")
    layer = boto3.client("lambda", region_name="us-east-1").publish_layer_version(
        LayerName=f"mf-{stage}-plugin-sdk", Content={"ZipFile": buffer.getvalue()}, CompatibleRuntimes=["python3.11"])
    return str(layer["LayerVersionArn"])


@contextmanager
def aws_container(runtime: Any, clock: Any = None, **env: str) -> Iterator[Any]:
    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.core.settings import Settings
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container
    from tests.conftest import TEST_ENV

    settings = Settings.from_env({**TEST_ENV, "MF_ARTIFACT_STORE": STORE, "MF_CHECKS_DISPATCH": "inline", **env})
    assert settings.plugin_deployer == "cloudformation"
    with mock_aws():
        outputs = platform_stack()
        layer = publish_layer()
        built = Container(settings, clock=clock, runtime=runtime)
        create_tables(TABLES)
        built.test_outputs = {**outputs, "LayerArn": layer}  # type: ignore[attr-defined]
        set_container(built)
        try:
            yield built
        finally:
            set_container(None)
