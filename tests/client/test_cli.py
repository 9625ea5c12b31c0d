"""The ``mocklib`` CLI through click's runner, against the real API over HTTP."""
from __future__ import annotations

import json
import os
import socket
import stat

import pytest
from click.testing import CliRunner

from mocklib.cli import EXIT_API, EXIT_AUTH, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_USAGE, cli
from tests.client.conftest import PASSWORD, Reply


@pytest.fixture
def config_file(tmp_path):
    return tmp_path / "mockfactory" / "config.json"


@pytest.fixture
def run(marketplace, config_file):
    """``run(*args, token=..., key=..., url=...)``: the CLI with only the environment given here."""

    def invoke(*args, token=None, key=None, url=None, input=None):
        env = {"MOCKFACTORY_API_URL": url or marketplace.api_url, "MOCKFACTORY_CONFIG": str(config_file),
               "MOCKFACTORY_TOKEN": token, "MOCKFACTORY_API_KEY": key, "COLUMNS": "200"}
        return CliRunner(env=env).invoke(cli, list(args), input=input)

    return invoke


def assert_error(result, exit_code, code):
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error [{code}]: "), result.stderr
    assert "Traceback" not in result.output


def test_keys_create_list_rotate_and_revoke(run, marketplace):
    user = marketplace.new_account()
    created = run("keys", "create", "--name", "ci", "--mode", "live", token=user.token)
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("mf_live_") and "shown this once" in created.stdout

    listed = run("--json", "keys", "list", token=user.token)
    keys = {k["name"]: k for k in json.loads(listed.stdout)}
    assert keys["ci"]["mode"] == "live" and keys["ci"]["prefix"] == secret[:12]
    table = run("keys", "list", token=user.token).stdout
    assert keys["ci"]["key_id"] in table and secret not in table  # secrets are never shown again

    rotated = run("keys", "rotate", keys["ci"]["key_id"], token=user.token)
    new_secret = rotated.stdout.strip().splitlines()[-1]
    assert rotated.exit_code == 0 and new_secret.startswith("mf_live_") and new_secret != secret

    new_id = next(k["key_id"] for k in json.loads(run("--json", "keys", "list", token=user.token).stdout)
                  if k["prefix"] == new_secret[:12])
    revoked = run("keys", "revoke", new_id, token=user.token)
    assert revoked.exit_code == 0 and f"Revoked {new_id}" in revoked.stdout
    assert_error(run("plugin", "list", key=new_secret), EXIT_AUTH, "invalid_api_key")


def test_plugin_install_list_info_and_uninstall(run, marketplace):
    user = marketplace.new_account()
    installed = run("plugin", "install", "stripe", token=user.token)
    assert installed.exit_code == 0, installed.output
    assert "Installed stripe 1.0.0" in installed.stdout and "/plugins/stripe/v1" in installed.stdout

    listed = run("plugin", "list", token=user.token)
    assert listed.exit_code == 0 and "stripe" in listed.stdout and "/plugins/stripe/v1" in listed.stdout

    info = run("plugin", "info", "stripe")
    assert info.exit_code == 0
    assert "Stripe (stripe) 1.0.0" in info.stdout and "/customers/{customer_id}" in info.stdout
    assert "$0.005 per call after 1,000 free calls" in info.stdout

    assert run("plugin", "uninstall", "stripe", token=user.token).exit_code == 0
    assert "No plugins installed" in run("plugin", "list", token=user.token).stdout


def test_marketplace_search_browse_and_trending(run):
    found = run("marketplace", "search", "stripe")
    assert found.exit_code == 0 and "stripe" in found.stdout and "echo" not in found.stdout
    assert "stripe" in run("plugin", "search", "payments").stdout
    browsed = run("--json", "marketplace", "browse", "--category", "devops", "--sort", "newest")
    assert [p["name"] for p in json.loads(browsed.stdout)["plugins"]] == ["echo"]
    trending = run("marketplace", "trending")
    assert trending.exit_code == 0 and "Trending plugins" in trending.stdout
    assert_error(run("marketplace", "browse", "--category", "nope"), EXIT_FAILED, "validation_failed")


def test_usage_shows_calls_per_installed_plugin(run, marketplace, account):
    from mocklib import MockFactory

    with MockFactory(account.test_key, api_url=marketplace.api_url) as mf:
        mf.echo.echo.list()
        mf.echo.echo.list()
    shown = run("--json", "usage", key=account.test_key)
    assert shown.exit_code == 0, shown.output
    rows = {row["plugin"]: row for row in json.loads(shown.stdout)["usage"]["plugins"]}
    assert rows["echo"]["sandbox"]["calls"] == 2 and rows["stripe"]["live"]["calls"] == 0
    table = run("usage", key=account.test_key)
    assert table.exit_code == 0 and "echo" in table.stdout and "free" in table.stdout


def test_payouts_show_the_developer_dashboard(run, marketplace):
    developer = marketplace.new_account("developer")
    shown = run("payouts", token=developer.token)
    assert shown.exit_code == 0, shown.output
    assert "Projected payout: $0.00" in shown.stdout and "No payouts yet." in shown.stdout
    assert_error(run("payouts", token=marketplace.new_account().token), EXIT_AUTH, "insufficient_role")


def test_errors_are_one_red_line_with_a_distinct_exit_code(run, marketplace, account, tmp_path):
    assert_error(run("plugin", "info", "no-such-plugin"), EXIT_NOT_FOUND, "plugin_not_found")
    assert_error(run("plugin", "install", "stripe", "--version", "9", token=account.token), EXIT_NOT_FOUND,
                 "version_not_found")
    assert_error(run("keys", "revoke", "key_nope", token=account.token), EXIT_NOT_FOUND, "key_not_found")
    assert_error(run("plugin", "list", key="mf_test_wrong"), EXIT_AUTH, "invalid_api_key")
    assert_error(run("plugin", "list"), EXIT_AUTH, "missing_credentials")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert_error(run("plugin", "info", "echo", url=dead), EXIT_API, "connection_error")

    bad_month = run("usage", "--month", "2026-13", key=account.test_key)
    assert bad_month.exit_code == EXIT_USAGE and "expected YYYY-MM" in bad_month.stderr
    assert run("keys", "create", "--mode", "prod", key=account.test_key).exit_code == EXIT_USAGE
    assert run("no-such-command").exit_code == EXIT_USAGE


def test_login_stores_a_private_token_and_logout_forgets_it(run, marketplace, config_file):
    user = marketplace.new_account()
    signed_in = run("login", "--email", user.email, input=PASSWORD + "\n")
    assert signed_in.exit_code == 0, signed_in.output
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    stored = json.loads(config_file.read_text())
    assert stored["api_url"] == marketplace.api_url and stored["email"] == user.email

    whoami = run("whoami", url=marketplace.api_url)
    assert whoami.exit_code == 0 and user.email in whoami.stdout and "config file" in whoami.stdout
    assert run("keys", "create", "--name", "from-login").exit_code == 0
    # the stored token is never sent to an API other than the one that issued it
    assert_error(run("whoami", url="http://127.0.0.1:9"), EXIT_AUTH, "missing_credentials")

    assert "Signed out" in run("logout").stdout and not config_file.exists()
    assert_error(run("whoami"), EXIT_AUTH, "missing_credentials")
    assert_error(run("login", "--email", user.email, "--password", "wrong password!"), EXIT_AUTH,
                 "invalid_credentials")


def test_a_garbled_config_file_is_a_configuration_error(run, config_file):
    config_file.parent.mkdir(parents=True)
    config_file.write_text("{not json")
    assert_error(run("whoami"), EXIT_AUTH, "config_error")


# --- plugin development ------------------------------------------------------------------------
def test_init_validate_and_test_a_new_plugin(run, tmp_path):
    project = tmp_path / "weather-api"
    created = run("plugin", "init", "--name", "weather-api", "--language", "python", "--dir", str(project))
    assert created.exit_code == 0, created.output
    assert (project / "chalicelib" / "manifest.json").is_file()
    assert_error(run("plugin", "init", "--name", "weather-api", "--dir", str(project)), EXIT_USAGE,
                 "invalid_project")
    assert_error(run("plugin", "init", "--name", "Bad_Name", "--dir", str(tmp_path / "x")), EXIT_USAGE,
                 "invalid_project")

    validated = run("plugin", "validate", str(project))
    assert validated.exit_code == 0, validated.output
    assert "Manifest" in validated.stdout and "Score: 100/100" in validated.stdout

    tested = run("plugin", "test", str(project))
    assert tested.exit_code == 0, tested.output
    assert "Tests" in tested.stdout and "No network access" in tested.stdout

    manifest_path = project / "chalicelib" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = "one"
    manifest_path.write_text(json.dumps(manifest))
    broken = run("plugin", "validate", str(project))
    assert_error(broken, EXIT_FAILED, "validation_failed")
    assert "FAIL" in broken.stdout


def test_validate_asks_the_marketplace_when_signed_in(run, marketplace, tmp_path):
    developer = marketplace.new_account("developer")
    project = tmp_path / "tides"
    assert run("plugin", "init", "--name", "tides", "--dir", str(project)).exit_code == 0
    checked = run("--json", "plugin", "validate", str(project), token=developer.token)
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["api"] == {"valid": True, "problems": []}

    manifest_path = project / "chalicelib" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["api"]["base_path"] = "/plugins/tides/v2"  # the local checks do not look at this one
    manifest_path.write_text(json.dumps(manifest))
    refused = run("plugin", "validate", str(project), token=developer.token)
    assert_error(refused, EXIT_FAILED, "validation_failed")
    assert "api/base_path" in refused.stdout

    as_user = run("plugin", "validate", str(project), token=marketplace.new_account().token)
    assert as_user.exit_code == 0 and "Skipped the marketplace's manifest check" in as_user.stderr


def test_publish_submits_the_package_and_waits_for_the_verdict(run, marketplace, tmp_path):
    developer = marketplace.new_account("developer")
    project = tmp_path / "tide-tables"
    assert run("plugin", "init", "--name", "tide-tables", "--dir", str(project)).exit_code == 0
    published = run("plugin", "publish", str(project), "--version", "1.0.1", "--skip-checks",
                    "--poll-interval", "0.2", "--wait-timeout", "120", token=developer.token)
    assert published.exit_code == 0, published.output
    assert "tide-tables 1.0.1" in published.stdout and "in_review" in published.stdout
    assert "Score: 100/100" in published.stdout
    manifest = json.loads((project / "chalicelib" / "manifest.json").read_text())
    assert manifest["version"] == "1.0.1"

    logs = run("plugin", "logs", "tide-tables", token=developer.token)
    assert logs.exit_code == 0 and "in_review" in logs.stdout and "====" in logs.stdout
    assert_error(run("plugin", "logs", "never-published", token=developer.token), EXIT_NOT_FOUND,
                 "submission_not_found")
    assert_error(run("plugin", "publish", str(project), "--version", "1.x", token=developer.token),
                 EXIT_USAGE, "invalid_version")


def test_publish_exits_1_when_the_marketplace_checks_fail(run, scripted, tmp_path):
    script, url = scripted
    project = tmp_path / "flaky"
    assert run("plugin", "init", "--name", "flaky", "--dir", str(project), url=url).exit_code == 0
    view = {"submission_id": "sub_1", "plugin": "flaky", "version": "1.0.0", "score": None, "min_score": 80,
            "checks": [], "reasons": [], "history": [], "review_notes": None}
    failed_check = {"id": "tests", "name": "Tests", "passed": False, "blocking": True, "points": 0,
                    "max_points": 20, "summary": "1 of 4 tests failed",
                    "findings": [{"path": "tests/test_flaky.py", "line": 3, "message": "assert 1 == 2"}]}
    script.replies = [Reply(202, {"submission": {**view, "status": "queued"}}),
                      Reply(200, {"submission": {**view, "status": "checking"}}),
                      Reply(200, {"submission": {**view, "status": "checks_failed", "score": 70,
                                                 "checks": [failed_check], "reasons": ["Tests failed"]}})]
    published = run("plugin", "publish", str(project), "--skip-checks", "--poll-interval", "0.05",
                    url=url, token="a.jwt.token")
    assert_error(published, EXIT_FAILED, "checks_failed")
    assert "tests/test_flaky.py:3: assert 1 == 2" in published.stdout and "Score: 70/100" in published.stdout
    post = script.seen[0]
    assert (post.method, post.path) == ("POST", "/developer/submissions")
    assert set(json.loads(post.body)) == {"package"}
    assert [s.path for s in script.seen[1:]] == ["/developer/submissions/sub_1"] * 2

    script.seen.clear()
    script.replies = [Reply(202, {"submission": {**view, "status": "queued"}})]
    queued = run("plugin", "publish", str(project), "--skip-checks", "--no-wait", url=url, token="a.jwt.token")
    assert queued.exit_code == 0 and "sub_1" in queued.stdout and len(script.seen) == 1
