"""Production from zero with the operator commands (``python -m chalicelib.ops``), on moto: the
first admin, and the reference plugins published through the real pipeline into live stacks."""
from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib import ops
from tests.functional.aws_platform import STAGE, aws_container

PASSWORD = "correct horse battery staple"


@pytest.fixture
def aws(runtime: Any) -> Iterator[Any]:
    with aws_container(runtime) as built:
        yield built


def run(aws: Any, *argv: str, stdin: str = "") -> tuple[int, Any]:
    out = io.StringIO()
    code = ops.main(list(argv), stdin=io.StringIO(stdin), stdout=out, build=lambda: aws)
    return code, json.loads(out.getvalue()) if out.getvalue() else None


def test_create_admin_reads_the_password_from_stdin_and_a_second_run_changes_nothing(aws):
    code, first = run(aws, "create-admin", "--email", "Ops@Example.com", stdin=PASSWORD + "\n")
    assert (code, first["outcome"]) == (0, "created")
    session = aws.auth.log_in(email="ops@example.com", password=PASSWORD)
    assert session["user"]["role"] == "admin"

    code, second = run(aws, "create-admin", "--email", "ops@example.com", stdin=PASSWORD + "\n")

    assert (code, second["outcome"], second["user_id"]) == (0, "exists", first["user_id"])
    entries = aws.audit.list()["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [("ops", "ops.create_admin")]


def test_create_admin_promotes_an_existing_account_only_when_asked_and_given_its_own_password(aws):
    user = aws.auth.create_user(email="lead@example.com", password=PASSWORD, role="developer")

    assert run(aws, "create-admin", "--email", "lead@example.com", stdin="another password\n")[0] == 1
    assert run(aws, "create-admin", "--email", "lead@example.com", stdin=PASSWORD + "\n")[0] == 1  # no --promote
    assert aws.auth.get_user(user.user_id).role == "developer"

    code, promoted = run(aws, "create-admin", "--email", "lead@example.com", "--promote", stdin=PASSWORD + "\n")

    assert (code, promoted["outcome"]) == (0, "promoted")
    assert aws.auth.get_user(user.user_id).role == "admin"


def test_create_admin_takes_the_password_from_a_secret_never_from_the_command_line(aws):
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="mf/test/admin-password",
                                                                        SecretString=PASSWORD)
    with pytest.raises(SystemExit):
        ops.main(["create-admin", "--email", "a@example.com", "--password", PASSWORD], build=lambda: aws)

    code, created = run(aws, "create-admin", "--email", "a@example.com", "--password-secret", "mf/test/admin-password")

    assert (code, created["outcome"]) == (0, "created")
    assert aws.auth.log_in(email="a@example.com", password=PASSWORD)["user"]["role"] == "admin"
    assert run(aws, "create-admin", "--email", "b@example.com", stdin="short\n")[0] == 1


def test_publish_plugins_takes_a_reference_plugin_through_checks_review_and_deployment_and_twice_is_harmless(aws):
    result = ops.publish_plugins(aws, ["echo"], timeout_s=60, sleep=lambda s: None)

    (echo,) = result["plugins"]
    assert echo["outcome"] == "live", echo
    submission = aws.publishing.get_own(ops.OPERATOR, echo["submission_id"])["submission"]
    assert [h["status"] for h in submission["history"]] == [
        "queued", "checking", "in_review", "approved", "deploying", "live"]
    assert {c["id"] for c in submission["checks"]} == set(ops.REFERENCE_CHECKS)  # its tests run in this repository
    assert aws.auth.get_user(result["developer_id"]).role == "developer"
    stack = boto3.client("cloudformation", region_name="us-east-1").describe_stacks(
        StackName=f"mf-plugin-echo-v1-{STAGE}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert aws.catalog.public_detail("echo")["latest_version"] == echo["version"]

    again = ops.publish_plugins(aws, ["echo"], timeout_s=60, sleep=lambda s: None)

    assert again["plugins"] == [echo] and again["developer_id"] == result["developer_id"]
    mine = aws.publishing.list_own(ops.Principal(user_id=result["developer_id"], role="developer", via="jwt"))
    assert len(mine["submissions"]) == 1


@pytest.mark.parametrize("name", ["stripe", "twilio", "sendgrid", "datadog", "github"])
def test_every_reference_plugin_passes_the_checks_and_goes_live(aws, name):
    (plugin,) = ops.publish_plugins(aws, [name], timeout_s=60, sleep=lambda s: None)["plugins"]
    assert plugin["outcome"] == "live", plugin


def test_publish_plugins_reports_what_the_checks_refuse_and_fails(aws, tmp_path):
    shutil.copytree(ops.PLUGINS_DIR / "echo", tmp_path / "echo", ignore=shutil.ignore_patterns("vendor", "tests"))
    plugin = tmp_path / "echo" / "chalicelib" / "plugin.py"
    plugin.write_text(plugin.read_text() + "\n\ndef _run(command):\n    import subprocess\n"
                      "    return subprocess.run(command, shell=True)\n")  # bandit: HIGH (B602)
    result = ops.publish_plugins(aws, ["echo"], plugins_dir=tmp_path, timeout_s=60, sleep=lambda s: None)

    (echo,) = result["plugins"]
    assert echo["outcome"] == "checks_failed"
    assert any("security" in reason for reason in echo["reasons"]), echo
    with pytest.raises(Exception, match="no plugin named"):  # nothing entered the catalog
        aws.catalog.get_plugin("echo")


def test_index_users_puts_older_accounts_into_the_user_directory_and_twice_is_harmless(aws):
    assert run(aws, "index-users")[0] == 0
    code, again = run(aws, "index-users")
    assert code == 0 and again == {"indexed": 0}


def test_the_stage_environment_is_the_apis_own_from_the_chalice_config():
    env = ops.stage_environment("prod")
    assert env["MF_STAGE"] == "prod"
    assert env["MF_ARTIFACT_STORE"] == "s3://mockfactory-marketplace-prod-artifacts/packages"
    assert env["MF_PLUGIN_DEPLOYER"] == "cloudformation" and env["MF_JWT_KEYS_SECRET"] == "mf/prod/jwt-keys"
    assert "MF_JWT_KEYS" not in env
