"""Restricted keys, becoming a developer and the admins' user management, through the SDK and the
CLI against the real API over HTTP."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from mocklib import (AuthenticationError, InsufficientScopeError, MockFactory, PermissionDeniedError)
from mocklib.cli import EXIT_AUTH, cli
from tests.client.conftest import PASSWORD


@pytest.fixture
def run(marketplace, tmp_path):
    config = tmp_path / "mockfactory" / "config.json"

    def invoke(*args, token=None, key=None):
        env = {"MOCKFACTORY_API_URL": marketplace.api_url, "MOCKFACTORY_CONFIG": str(config),
               "MOCKFACTORY_TOKEN": token, "MOCKFACTORY_API_KEY": key, "COLUMNS": "250"}
        return CliRunner(env=env).invoke(cli, list(args))

    invoke.config = config
    return invoke


def client(marketplace, key=None, token=None) -> MockFactory:
    return MockFactory(key, token=token, api_url=marketplace.api_url, max_retries=0)


# --- SDK ----------------------------------------------------------------------------------------
def test_a_sandbox_key_cannot_install_a_plugin_and_the_error_says_what_would(marketplace):
    user = marketplace.new_account()
    with client(marketplace, user.test_key) as mf:
        with pytest.raises(InsufficientScopeError) as refused:
            mf.plugins.install("stripe")
        with pytest.raises(InsufficientScopeError) as keys:
            mf.keys.create("sneaky", "live")
    assert refused.value.status == 403 and refused.value.required_scope == "installs:write"
    assert "scopes=['installs:write']" in refused.value.message and "token=" in refused.value.message
    assert keys.value.required_scope is None and "signed-in session" in keys.value.message
    with client(marketplace, token=user.token) as session:
        assert session.plugins.list_installed() == []
        assert [k.name for k in session.keys.list()] == ["live", "test"]


def test_a_restricted_key_with_installs_write_installs_and_the_sandbox_key_calls(marketplace):
    user = marketplace.new_account()
    with client(marketplace, token=user.token) as session:
        installer = session.keys.create("ci-installer", scopes=["installs:write"], plugins=["stripe", "echo"],
                                        expires=timedelta(days=1))
    assert (installer.scopes, installer.plugins) == (["installs:write"], ["echo", "stripe"])
    expires = datetime.fromisoformat(installer.expires_at.replace("Z", "+00:00"))
    assert timedelta(hours=23) < expires - datetime.now(timezone.utc) <= timedelta(days=1)

    with client(marketplace, installer.api_key) as ci:
        assert ci.plugins.install("stripe").plugin == "stripe"
        assert [i.plugin for i in ci.plugins.list_installed()] == ["stripe"]
        with pytest.raises(PermissionDeniedError) as other:
            ci.plugins.install("no-such-plugin", accept_permissions=[])
        assert other.value.code == "plugin_not_allowed"
        with pytest.raises(InsufficientScopeError) as calls:
            ci.stripe.customers.create(email="x@example.com")  # no gateway scope
        assert calls.value.required_scope == "gateway"
    with client(marketplace, user.test_key) as sandbox:
        assert sandbox.stripe.customers.create(email="ci@example.com").email == "ci@example.com"


def test_the_sdk_lists_the_scopes_a_key_may_carry(marketplace):
    user = marketplace.new_account()
    with client(marketplace, token=user.token) as session:
        scopes = session.keys.scopes()
    assert set(scopes) == {"gateway", "usage:read", "installs:read", "installs:write", "licenses:read",
                           "webhooks:read"}


def test_a_user_becomes_a_developer_and_the_client_uses_the_new_token(marketplace):
    user = marketplace.new_account()
    with client(marketplace, token=user.token) as mf:
        with pytest.raises(PermissionDeniedError):
            mf.developer.plugins()
        became = mf.auth.become_developer()
        assert became.user.role == "developer" and mf.token == became.access_token
        assert mf.developer.plugins().plugins == []


def test_an_admin_manages_users_with_the_sdk(marketplace):
    admin = marketplace.new_account("admin")
    user = marketplace.new_account(install=("echo",))
    with client(marketplace, token=admin.token) as mf, client(marketplace, user.test_key) as theirs:
        assert [u.user_id for u in mf.admin.users(user.email).users] == [user.user_id]
        assert user.user_id in {u.user_id for u in mf.admin.all_users("user")}
        assert mf.admin.disable_user(user.user_id, "chargebacks").status == "disabled"
        with pytest.raises(AuthenticationError) as refused:
            theirs.echo.echo.list()
        assert refused.value.code == "account_disabled"
        assert mf.admin.enable_user(user.user_id).status == "active"
        assert theirs.echo.echo.list() is not None
        assert mf.admin.set_role(user.user_id, "developer", "partner").role == "developer"
        assert len(mf.admin.revoke_keys(user.user_id, "rotation").revoked) == 2
        with pytest.raises(PermissionDeniedError) as own:
            mf.admin.disable_user(admin.user_id, "oops")
        assert own.value.code == "cannot_disable_self"


# --- CLI ----------------------------------------------------------------------------------------
def test_keys_create_with_scopes_plugins_and_expiry_and_list_shows_them(run, marketplace):
    user = marketplace.new_account()

    created = run("--json", "keys", "create", "--name", "ci", "--scope", "installs:write", "--scope", "gateway",
                  "--plugin", "stripe", "--expires", "30d", token=user.token)

    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert (key["scopes"], key["plugins"]) == (["gateway", "installs:write"], ["stripe"])
    assert key["expires_at"][:10] == (datetime.now(timezone.utc) + timedelta(days=30)).date().isoformat()
    table = run("keys", "list", token=user.token).stdout
    assert "gateway installs:write" in table and "stripe" in table and key["expires_at"] in table
    assert "gateway usage:read" in table and "never" in table  # the fixture's default sandbox key
    installed = run("plugin", "install", "stripe", key=key["api_key"])
    assert installed.exit_code == 0, installed.output
    bad = run("keys", "create", "--expires", "soon", token=user.token)
    assert bad.exit_code == 2 and "30d" in bad.stderr
    past = run("keys", "create", "--expires", "2001-01-01", token=user.token)
    assert past.exit_code == 1 and "Error [invalid_expiry]" in past.stderr


def test_a_sandbox_key_is_told_to_sign_in_or_use_a_scoped_key(run, marketplace):
    user = marketplace.new_account()

    refused = run("plugin", "install", "stripe", key=user.test_key)
    keys = run("keys", "create", key=user.test_key)

    assert refused.exit_code == EXIT_AUTH and "Error [insufficient_scope]" in refused.stderr
    assert "--scope installs:write" in refused.stderr and "mocklib login" in refused.stderr
    assert keys.exit_code == EXIT_AUTH and "API keys cannot do this" in keys.stderr
    assert "Traceback" not in refused.output + keys.output


def test_account_become_developer_stores_the_new_token(run, marketplace):
    user = marketplace.new_account()
    assert CliRunner(env={"MOCKFACTORY_API_URL": marketplace.api_url, "MOCKFACTORY_CONFIG": str(run.config)}).invoke(
        cli, ["login", "--email", user.email, "--password", PASSWORD]).exit_code == 0

    became = run("account", "become-developer")

    assert became.exit_code == 0, became.output
    assert "is now a developer; the new token is stored" in became.stdout
    assert json.loads(run.config.read_text())["role"] == "developer"
    assert run("payouts").exit_code == 0  # a developer route, with the stored token
    with_key = run("account", "become-developer", key=user.test_key)
    assert with_key.exit_code == EXIT_AUTH and "Error [session_required]" in with_key.stderr


def test_admin_users_from_the_cli(run, marketplace):
    admin = marketplace.new_account("admin")
    user = marketplace.new_account()

    listed = run("admin", "users", "list", "--email", user.email, token=admin.token)
    assert listed.exit_code == 0 and user.user_id in listed.stdout and "active" in listed.stdout
    disabled = run("admin", "users", "disable", user.user_id, "--reason", "spam", token=admin.token)
    assert disabled.exit_code == 0 and f"Disabled {user.email}" in disabled.stdout
    assert "account_disabled" in run("usage", key=user.test_key).stderr
    assert run("admin", "users", "enable", user.user_id, token=admin.token).exit_code == 0
    shown = json.loads(run("--json", "admin", "users", "show", user.user_id, token=admin.token).stdout)
    assert shown["user"]["status"] == "active" and len(shown["keys"]) == 2
    role = run("admin", "users", "set-role", user.user_id, "developer", token=admin.token)
    assert role.exit_code == 0 and "role developer" in role.stdout
    revoked = run("admin", "users", "revoke-keys", user.user_id, "--reason", "leak", token=admin.token)
    assert revoked.exit_code == 0 and "Revoked 2 key(s)" in revoked.stdout
    page = json.loads(run("--json", "admin", "users", "list", "--limit", "1", token=admin.token).stdout)
    assert len(page["users"]) == 1 and page["next_cursor"]
    refused = run("admin", "users", "list", token=marketplace.new_account().token)
    assert refused.exit_code == EXIT_AUTH and "Error [insufficient_role]" in refused.stderr
    own = run("admin", "users", "set-role", admin.user_id, "user", token=admin.token)
    assert own.exit_code == EXIT_AUTH and "Error [cannot_demote_self]" in own.stderr
