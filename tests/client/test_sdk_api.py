"""The SDK against the real API over HTTP: installs, dynamic plugin resources, typed errors."""
from __future__ import annotations

import json

import pytest

from mocklib import (AuthenticationError, ConflictError, InvalidRequestError, MockFactory, MockObject,
                     NotFoundError, PermissionDeniedError, QuotaExceededError, UnknownResourceError)
from tests.client.conftest import ECHO_FREE_CALLS


@pytest.fixture
def mf(marketplace, account):
    """The sandbox key alone, as in a CI config: it calls plugins and reads usage."""
    with MockFactory(account.test_key, api_url=marketplace.api_url, max_retries=0) as client:
        yield client


@pytest.fixture
def session(marketplace, account):
    """The key for plugin calls, the account's session for managing it."""
    with MockFactory(account.test_key, token=account.token, api_url=marketplace.api_url, max_retries=0) as client:
        yield client


def test_install_list_and_uninstall_a_plugin(marketplace):
    fresh = marketplace.new_account()
    with MockFactory(fresh.test_key, token=fresh.token, api_url=marketplace.api_url) as mf:
        assert mf.plugins.list_installed() == []
        installed = mf.plugins.install("stripe")
        assert (installed.plugin, installed.major, installed.base_path) == ("stripe", 1, "/plugins/stripe/v1")
        assert sorted(installed.granted_permissions) == ["storage:read", "storage:write", "webhooks:send"]
        assert [row.plugin for row in mf.plugins.list_installed()] == ["stripe"]
        assert mf.plugins.install("stripe").plugin == "stripe"  # installing again is harmless
        assert mf.plugins.uninstall("stripe") == {"plugin": "stripe", "uninstalled": True}
        assert mf.plugins.list_installed() == []


def test_install_without_consent_is_refused_with_the_permissions_needed(session):
    with pytest.raises(InvalidRequestError) as refused:
        session.plugins.install("stripe", accept_permissions=[])
    assert refused.value.code == "consent_required"
    assert "webhooks:send" in refused.value.details["missing"]


def test_info_and_available_plugins_come_from_the_catalog(mf):
    info = mf.plugins.info("stripe")
    assert info.api.base_path == "/plugins/stripe/v1" and info.versions[0].version == "1.0.0"
    assert [p.name for p in mf.plugins.list_available(q="stripe")] == ["stripe"]
    assert {p.name for p in mf.plugins.list_available(sort="name")} == {"echo", "stripe"}
    assert [p.name for p in mf.plugins.list_available(category="payments")] == ["stripe"]


def test_stripe_customers_end_to_end(mf):
    customer = mf.stripe.customers.create(email="a@example.com", name="A")
    assert isinstance(customer, MockObject) and customer.id.startswith("cus_")
    fetched = mf.stripe.customers.get(customer.id)
    assert (fetched.id, fetched.email, fetched.name) == (customer.id, "a@example.com", "A")

    updated = mf.stripe.customers.update(customer.id, name="Ann", metadata={"plan": "gold"})
    assert (updated.name, updated.metadata.plan) == ("Ann", "gold")
    mf.stripe.customers.create(email="b@example.com")
    listed = mf.stripe.customers.list(limit=10)
    assert listed.object == "list" and {c.email for c in listed.data} == {"a@example.com", "b@example.com"}

    deleted = mf.stripe.customers.delete(customer.id)
    assert deleted.deleted is True
    with pytest.raises(NotFoundError) as missing:  # the plugin's own 404, in Stripe's error shape
        mf.stripe.customers.get("cus_nope")
    assert (missing.value.status, missing.value.code) == (404, "resource_missing")
    assert "cus_nope" in missing.value.message


def test_nested_resources_take_path_parameters_from_keywords(mf):
    customer = mf.stripe.customers.create(email="n@example.com")
    methods = mf.stripe.customers_payment_methods.list(customer_id=customer.id)
    assert methods.object == "list" and methods.data == []
    with pytest.raises(InvalidRequestError) as missing:
        mf.stripe.customers_payment_methods.list()
    assert missing.value.code == "missing_path_parameter"


def test_echo_resources_and_the_raw_escape_hatch(mf):
    posted = mf.echo.echo.create(greeting="hi")
    assert posted.method == "POST" and json.loads(posted.body) == {"greeting": "hi"}
    assert posted.headers["content-type"] == "application/json"
    assert posted.headers["user-agent"].startswith("mocklib/")
    assert "authorization" not in posted.headers  # the gateway strips the key
    sub = mf.echo.echo.get("a/b", x=1)
    assert sub.method == "GET" and sub.path.endswith("/echo/a/b") and sub.query == {"x": ["1"]}
    raw = mf.echo.request("PUT", "/echo", json={"k": 1}, params={"flag": True})
    assert raw.method == "PUT" and raw.query == {"flag": ["true"]}
    assert mf.echo.counter.get().calls == 3
    assert mf.echo.counter.delete() == {"calls": 0}
    assert mf.echo.counter.list().calls == 0


def test_an_undeclared_resource_is_a_clear_error_listing_what_exists(mf):
    with pytest.raises(UnknownResourceError) as unknown:
        mf.stripe.unicorns
    assert "unicorns" in str(unknown.value) and "customers" in str(unknown.value)
    assert not hasattr(mf.echo, "customers")
    with pytest.raises(InvalidRequestError, match="no update"):
        mf.echo.counter.update("x", a=1)


def test_plugin_names_with_dashes_use_underscores(mf, session):
    with pytest.raises(NotFoundError) as missing:
        session.send_grid.mail.create()
    assert missing.value.code == "plugin_not_installed" and "send-grid" in missing.value.message
    with pytest.raises(NotFoundError) as unknown:  # a key that may not read installs looks in the catalog
        mf.send_grid.mail.create()
    assert unknown.value.code == "plugin_not_found" and "send-grid" in unknown.value.message


def test_unknown_plugin_is_not_found(mf, session):
    with pytest.raises(NotFoundError) as missing:
        mf.plugins.info("no-such-plugin")
    assert missing.value.code == "plugin_not_found" and missing.value.request_id.startswith("req_")
    with pytest.raises(NotFoundError):
        session.plugins.install("no-such-plugin", accept_permissions=[])


def test_a_bad_key_is_an_authentication_error(marketplace):
    with MockFactory("mf_test_not_a_real_key", api_url=marketplace.api_url) as mf:
        with pytest.raises(AuthenticationError) as refused:
            mf.plugins.list_installed()
        assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")
        with pytest.raises(AuthenticationError):
            mf.echo.request("GET", "/echo")


def test_admin_routes_refuse_api_keys(mf):
    with pytest.raises(PermissionDeniedError) as refused:
        mf.request("GET", "/admin/reviews")
    assert refused.value.code == "admin_requires_session"


def test_conflicts_are_typed(marketplace, account):
    from chalicelib.auth.principal import Principal

    principal = Principal(user_id=account.user_id, role="user", via="jwt")
    for n in range(18):  # the fixture made two keys; at most 20 may be active
        marketplace.container.auth.create_key(principal, name=f"k{n}", mode="test")
    with MockFactory(account.test_key, token=account.token, api_url=marketplace.api_url) as mf:
        with pytest.raises(ConflictError) as refused:
            mf.keys.create("one too many")
    assert (refused.value.status, refused.value.code) == (409, "key_limit_reached")


def test_the_monthly_quota_is_a_quota_exceeded_error(marketplace, account):
    with MockFactory(account.live_key, api_url=marketplace.api_url, max_retries=0) as mf:
        for _ in range(ECHO_FREE_CALLS):
            mf.echo.echo.list()
        with pytest.raises(QuotaExceededError) as refused:
            mf.echo.echo.list()
    assert refused.value.status == 402 and refused.value.code == "quota_exceeded"
    assert refused.value.details["limit"] == ECHO_FREE_CALLS


def test_a_jwt_manages_and_the_api_key_calls_plugins(marketplace, account):
    with MockFactory(account.test_key, token=account.token, api_url=marketplace.api_url) as mf:
        assert mf.auth.me().email == account.email
        assert mf.stripe.customers.create(email="t@example.com").email == "t@example.com"
    with MockFactory(token=account.token, api_url=marketplace.api_url) as tokens_only:
        tokens_only.api_key = None
        with pytest.raises(AuthenticationError, match="API key"):
            tokens_only.echo.echo.list()
