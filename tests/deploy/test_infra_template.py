"""infra/cloudformation: generated from the models, current, valid for cfn-lint, least privilege."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import template
from tests.deploy.conftest import REPO, cfn_lint


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_committed_templates_and_api_policies_are_current():
    result = _run("infra.template", "--check")
    assert result.returncode == 0, "run `python -m infra.template` and commit the result\n" + result.stderr


def test_plugin_configs_are_current():
    result = _run("infra.plugin_config", "--check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stage", template.STAGES)
def test_every_model_has_its_table_with_keys_indexes_ttl_and_recovery(stage):
    from mocklib_plugin_sdk.state import record_base

    from chalicelib.tables import TABLES

    committed = json.loads((template.TEMPLATE_DIR / f"marketplace-{stage}.json").read_text())
    tables = {r["Properties"]["TableName"]: r for r in committed["Resources"].values()
              if r["Type"] == "AWS::DynamoDB::Table"}
    models = {f"mf-{stage}-{m.Meta.base_name}": m for m in TABLES}
    models[f"mf-{stage}-plugin-state"] = record_base()
    assert set(tables) == set(models)
    for name, model in models.items():
        table = tables[name]
        properties = table["Properties"]
        schema = model._get_schema()
        assert properties["KeySchema"] == schema["key_schema"], name
        assert {(a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]} == \
            {(a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]}, name
        gsis = {g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in properties.get("GlobalSecondaryIndexes", [])}
        assert gsis == {g["index_name"]: (g["key_schema"], g["projection"])
                        for g in schema["global_secondary_indexes"]}, name
        ttl = model._ttl_attribute()
        expected_ttl = {"AttributeName": ttl.attr_name, "Enabled": True} if ttl else None
        assert properties.get("TimeToLiveSpecification") == expected_ttl, name
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        # A prod stack deletion or replacement never drops data.
        assert properties["DeletionProtectionEnabled"] is (stage == "prod")
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == ("Retain" if stage == "prod" else "Delete")


def test_the_plugin_state_table_matches_what_plugin_policies_grant():
    prod = template.template("prod")["Resources"]
    assert prod["PluginStateTable"]["Properties"]["TableName"] == "mf-prod-plugin-state"
    assert prod["PluginStateTable"]["Properties"]["KeySchema"][0] == {"KeyType": "HASH", "AttributeName": "pk"}


def test_the_frontend_bucket_is_private_and_read_only_by_its_distribution():
    resources = template.template("prod")["Resources"]
    block = resources["FrontendBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    statement = resources["FrontendBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert "FrontendDistribution" in json.dumps(statement["Condition"])
    origin = resources["FrontendDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["FrontendOriginAccessControl", "Id"]}


def test_secrets_are_created_without_a_value_in_the_template():
    for resource in template.template("prod")["Resources"].values():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            assert "SecretString" not in resource["Properties"]
            assert resource["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("stage", template.STAGES)
def test_api_policy_is_limited_to_the_stage(stage):
    policy = json.loads((REPO / ".chalice" / f"policy-{stage}.json").read_text())
    other = "prod" if stage == "dev" else "dev"
    text = json.dumps(policy)
    assert f"-{other}-" not in text and f"mf/{other}/" not in text
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        assert all(":" in a and not a.endswith(":*") for a in actions), statement["Sid"]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Sid"] == "UnscopableReads":  # reads IAM cannot scope, and nothing else
            assert all(a.split(":")[1].startswith(("Describe", "List")) for a in actions)
            continue
        assert all(r != "*" for r in resources), statement["Sid"]
    tables = next(s for s in policy["Statement"] if s["Sid"] == "OwnTables")
    assert all(f":table/mf-{stage}-" in r for r in tables["Resource"])
    assert not any("plugin-state" in r for r in tables["Resource"]), "plugins' state is theirs alone"
    assert "dynamodb:Scan" not in tables["Action"]
    invoke = next(s for s in policy["Statement"] if s["Sid"] == "InvokeOwnFunctionsAndPlugins")
    assert invoke["Resource"] == [
        f"arn:aws:lambda:*:*:function:mockfactory-marketplace-{stage}-webhook_dispatcher",
        f"arn:aws:lambda:*:*:function:mockfactory-marketplace-{stage}-submission_checks",
        f"arn:aws:lambda:*:*:function:mf-plugin-*-v*-{stage}-handler"]


def test_the_chalice_config_points_at_the_infra_it_needs():
    config = json.loads((REPO / ".chalice" / "config.json").read_text())
    for stage in template.STAGES:
        stage_config = config["stages"][stage]
        assert stage_config["autogen_policy"] is False
        assert stage_config["iam_policy_file"] == f"policy-{stage}.json"
        store = stage_config["environment_variables"]["MF_ARTIFACT_STORE"]
        assert store == f"s3://{template.ARTIFACTS_BUCKET.format(stage=stage)}/{template.ARTIFACTS_PREFIX}"
        assert stage_config["environment_variables"]["MF_PLUGIN_DEPLOYER"] == "cloudformation"
        checks = stage_config["lambda_functions"]["submission_checks"]
        assert (checks["autogen_policy"], checks["iam_policy_file"]) == (False, f"policy-checks-{stage}.json")


def test_committed_templates_pass_cfn_lint():
    result = cfn_lint(*sorted(template.TEMPLATE_DIR.glob("*.json")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_fails_a_broken_template(tmp_path: Path):
    broken = template.template("prod")
    broken["Resources"]["UsageTable"]["Properties"]["BillingMode"] = "PAY_PER_CALL"
    broken["Resources"]["FrontendDistribution"]["Properties"]["DistributionConfig"]["Origins"][0]["DomainName"] = {
        "Fn::GetAtt": ["NoSuchBucket", "RegionalDomainName"]}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = cfn_lint(path)
    assert result.returncode != 0
    assert "PAY_PER_CALL" in result.stdout and "NoSuchBucket" in result.stdout
