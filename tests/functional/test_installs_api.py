"""Installs over HTTP: consent, configuration, major versions, counts and isolation."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support import expect_error, get, make_admin, manifest, post, publish, put, sign_up

ECHO_PERMISSIONS = ["storage:read", "storage:write"]
WEATHER_CONFIG = {
    "schema": {
        "type": "object",
        "properties": {"region": {"enum": ["eu", "us"]},
                       "retries": {"type": "integer", "minimum": 0, "maximum": 5}},
        "required": ["region"],
        "additionalProperties": False,
    },
    "default": {"region": "us", "retries": 3},
}


def weather(version: str = "1.0.0", config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return manifest(name="weather", version=version, permissions=[], category="analytics",
                    config=config or WEATHER_CONFIG, **extra)


@pytest.fixture
def dev(client) -> str:
    return sign_up(client, "developer")["access_token"]


@pytest.fixture
def admin(container) -> str:
    return make_admin(container)


@pytest.fixture
def published(client, dev, admin) -> dict[str, str]:
    """``echo`` 1.0.0 (needs storage consent) and ``weather`` 1.0.0 (configurable) in the marketplace."""
    publish(client, dev, admin, manifest())
    publish(client, dev, admin, weather())
    return {"dev": dev, "admin": admin}


@pytest.fixture
def user(client) -> str:
    return sign_up(client)["access_token"]


def install(client: Any, token: str, plugin: str = "echo", **body: Any) -> Any:
    if plugin == "echo" and "accept_permissions" not in body:
        body["accept_permissions"] = ECHO_PERMISSIONS
    return post(client, "/plugins/install", {"plugin": plugin, **body}, token)


def install_count(client: Any, plugin: str) -> int:
    """Read from the plugin's detail page, which reads the table (not the search index)."""
    response = get(client, f"/marketplace/plugins/{plugin}")
    assert response.status_code == 200, response.body
    return int(response.json_body["install_count"])


def installed(client: Any, token: str, plugin: str) -> dict[str, Any]:
    response = get(client, f"/plugins/installed/{plugin}", token)
    assert response.status_code == 200, response.body
    return response.json_body


def install_rows() -> list[Any]:
    from chalicelib.installs.records import InstallRecord

    return list(InstallRecord.scan())


# --- installing -------------------------------------------------------------------------------
def test_installing_is_201_then_200_and_the_install_count_stays_exact(client, published, user):
    first = install(client, user)

    assert first.status_code == 201, first.body
    view = first.json_body
    assert view["plugin"] == "echo" and view["major"] == 1 and view["version"] == "1.0.0"
    assert view["base_path"] == "/plugins/echo/v1" and view["enabled"] is True
    assert view["granted_permissions"] == ECHO_PERMISSIONS
    assert view["plugin_status"] == "active" and view["update_available"] is None
    assert view["pricing"]["per_call_price_micros"] == 1000
    assert install_count(client, "echo") == 1

    again = install(client, user)

    assert again.status_code == 200, again.body
    assert again.json_body["installed_at"] == view["installed_at"]
    assert install_count(client, "echo") == 1
    other = sign_up(client)["access_token"]
    assert install(client, other).status_code == 201
    assert install_count(client, "echo") == 2
    assert len(install_rows()) == 2


def test_installing_needs_consent_to_every_permission_and_names_the_missing_ones(client, published, user):
    none_given = expect_error(install(client, user, accept_permissions=[]), 400, "consent_required")
    partly = expect_error(install(client, user, accept_permissions=["storage:read"]), 400, "consent_required")
    omitted = expect_error(post(client, "/plugins/install", {"plugin": "echo"}, user), 400, "consent_required")

    assert none_given["details"] == {"required_permissions": ECHO_PERMISSIONS, "missing": ECHO_PERMISSIONS}
    assert partly["details"]["missing"] == ["storage:write"]
    assert omitted["details"]["missing"] == ECHO_PERMISSIONS
    assert install_rows() == [] and install_count(client, "echo") == 0
    expect_error(get(client, "/plugins/installed/echo", user), 404, "plugin_not_installed")

    granted = install(client, user, accept_permissions=["storage:write", "storage:read", "user:email"])
    assert granted.status_code == 201
    assert granted.json_body["granted_permissions"] == ECHO_PERMISSIONS  # only what the plugin asks for


def test_a_plugin_without_permissions_installs_without_consent(client, published, user):
    response = install(client, user, "weather")

    assert response.status_code == 201, response.body
    assert response.json_body["granted_permissions"] == []


def test_install_config_is_merged_with_the_defaults(client, published, user):
    response = install(client, user, "weather", config={"retries": 1})

    assert response.status_code == 201, response.body
    assert response.json_body["config"] == {"region": "us", "retries": 1}
    assert installed(client, user, "weather")["config"] == {"region": "us", "retries": 1}
    other = sign_up(client)["access_token"]
    assert install(client, other, "weather").json_body["config"] == {"region": "us", "retries": 3}


def test_a_plugin_whose_function_cannot_run_still_installs_cleanly(client, published, user):
    """Lifecycle events are best effort: a plugin that cannot hear 'installed' (here ``weather``
    has no function source) must not turn a committed install into a 500."""
    response = install(client, user, "weather")

    assert response.status_code == 201, response.body
    assert installed(client, user, "weather")["plugin"] == "weather"
    assert post(client, "/plugins/uninstall", {"plugin": "weather"}, user).status_code == 200
    assert install_count(client, "weather") == 0


@pytest.mark.parametrize(("config", "paths"), [
    pytest.param({"retries": "many"}, ["retries"], id="wrong-type"),
    pytest.param({"retries": 99}, ["retries"], id="out-of-range"),
    pytest.param({"region": "mars"}, ["region"], id="not-in-enum"),
    pytest.param({"colour": "red"}, ["colour"], id="unknown-key"),
    pytest.param({"region": "mars", "retries": -1}, ["region", "retries"], id="several-problems"),
])
def test_config_that_breaks_the_plugins_schema_is_invalid_config_and_installs_nothing(
        client, published, user, config, paths):
    body = expect_error(install(client, user, "weather", config=config), 400, "invalid_config")

    assert sorted({d["path"] for d in body["details"]}) == paths
    assert install_rows() == [] and install_count(client, "weather") == 0


def test_config_for_a_plugin_that_takes_none_is_invalid_config(client, published, user):
    expect_error(install(client, user, "echo", config={"verbose": True}), 400, "invalid_config")
    assert install_rows() == []
    assert install(client, user, "echo", config={}).status_code == 201


def test_unknown_draft_and_under_review_plugins_cannot_be_installed(client, published, user):
    dev = published["dev"]
    post(client, "/developer/plugins", manifest(name="drafty", permissions=[]), dev)
    post(client, "/developer/plugins", manifest(name="queued", permissions=[]), dev)
    post(client, "/developer/plugins/queued/versions/1.0.0/submit", None, dev)

    for name in ("does-not-exist", "drafty", "queued"):
        expect_error(install(client, user, name), 404, "plugin_not_found")
    assert install_rows() == []


def test_a_suspended_plugin_cannot_be_installed(client, published, user):
    post(client, "/admin/plugins/echo/suspend", {"reason": "leaks data"}, published["admin"])

    body = expect_error(install(client, user), 409, "plugin_suspended")

    assert "leaks data" in body["message"]
    assert install_rows() == []


def test_installs_of_a_suspended_plugin_show_it_and_can_still_be_uninstalled(client, published, user):
    install(client, user)
    post(client, "/admin/plugins/echo/suspend", {"reason": "leaks data"}, published["admin"])

    assert installed(client, user, "echo")["plugin_status"] == "suspended"
    expect_error(install(client, user), 409, "plugin_suspended")
    assert post(client, "/plugins/uninstall", {"plugin": "echo"}, user).status_code == 200
    assert install_rows() == []


@pytest.mark.parametrize("requested", ["latest", "1", "1.x", "1.0.0"])
def test_any_way_of_naming_a_published_major_installs_its_newest_version(client, published, user, requested):
    publish(client, published["dev"], published["admin"], manifest(version="1.1.0"))

    response = install(client, user, version=requested)

    assert response.status_code == 201, response.body
    assert response.json_body["major"] == 1 and response.json_body["version"] == "1.1.0"


@pytest.mark.parametrize("requested", ["2", "2.x", "2.0.0", "1.5.0"])
def test_installing_a_version_that_is_not_published_is_404(client, published, user, requested):
    dev = published["dev"]
    post(client, "/developer/plugins/echo/versions", manifest(version="1.5.0"), dev)
    post(client, "/developer/plugins/echo/versions/1.5.0/submit", None, dev)
    post(client, "/developer/plugins/echo/versions", manifest(version="2.0.0"), dev)

    expect_error(install(client, user, version=requested), 404, "version_not_found")
    assert install_rows() == []


# --- versions -------------------------------------------------------------------------------------
def test_an_install_follows_the_newest_published_version_within_its_major(client, published, user):
    install(client, user)
    assert installed(client, user, "echo")["version"] == "1.0.0"

    publish(client, published["dev"], published["admin"], manifest(version="1.1.0"))
    post(client, "/developer/plugins/echo/versions", manifest(version="1.2.0"), published["dev"])  # draft only

    view = installed(client, user, "echo")
    assert view["version"] == "1.1.0" and view["major"] == 1 and view["update_available"] is None
    assert get(client, "/plugins/installed", user).json_body["installs"][0]["version"] == "1.1.0"


def test_a_new_major_shows_update_available_and_installing_it_requires_an_upgrade(client, published, user):
    install(client, user)
    publish(client, published["dev"], published["admin"], manifest(version="2.0.0"))

    view = installed(client, user, "echo")
    assert view["major"] == 1 and view["version"] == "1.0.0" and view["update_available"] == "2.0.0"

    for requested in ("latest", "2", "2.0.0"):
        body = expect_error(install(client, user, version=requested), 409, "major_upgrade_required")
        assert "/plugins/installed/echo/upgrade" in body["message"]
    assert install(client, user, version="1").status_code == 200
    assert installed(client, user, "echo")["major"] == 1
    assert install_count(client, "echo") == 1


def test_an_install_shows_the_endpoints_of_its_own_version_not_the_newest(client, published, user):
    install(client, user)
    v2 = manifest(version="2.0.0")
    v2["api"]["endpoints"] = [{"method": "GET", "path": "/echo/v2-only", "description": "Only in 2.x"}]
    publish(client, published["dev"], published["admin"], v2)

    assert installed(client, user, "echo")["endpoints"] == manifest()["api"]["endpoints"]


def test_upgrading_moves_the_install_to_the_new_major_after_fresh_consent(client, published, user):
    install(client, user)
    publish(client, published["dev"], published["admin"],
            manifest(version="2.0.0", permissions=[*ECHO_PERMISSIONS, "webhooks:send"]))

    refused = post(client, "/plugins/installed/echo/upgrade", {"version": "2"}, user)
    body = expect_error(refused, 400, "consent_required")
    assert body["details"]["required_permissions"] == [*ECHO_PERMISSIONS, "webhooks:send"]
    assert "webhooks:send" in body["details"]["missing"]
    partial = post(client, "/plugins/installed/echo/upgrade",
                   {"version": "2", "accept_permissions": ECHO_PERMISSIONS}, user)
    assert expect_error(partial, 400, "consent_required")["details"]["missing"] == ["webhooks:send"]
    assert installed(client, user, "echo")["major"] == 1

    upgraded = post(client, "/plugins/installed/echo/upgrade",
                    {"version": "latest", "accept_permissions": [*ECHO_PERMISSIONS, "webhooks:send"]}, user)

    assert upgraded.status_code == 200, upgraded.body
    view = upgraded.json_body
    assert view["major"] == 2 and view["version"] == "2.0.0" and view["base_path"] == "/plugins/echo/v2"
    assert view["update_available"] is None
    assert view["granted_permissions"] == ["storage:read", "storage:write", "webhooks:send"]
    assert installed(client, user, "echo")["major"] == 2
    assert install_count(client, "echo") == 1
    expect_error(post(client, "/plugins/installed/echo/upgrade", {"version": "2"}, user), 409, "already_on_major")


def test_upgrading_checks_the_config_against_the_new_majors_schema(client, published, user):
    install(client, user, "weather", config={"region": "eu", "retries": 4})
    schema = json.loads(json.dumps(WEATHER_CONFIG["schema"]))
    schema["properties"]["retries"]["maximum"] = 2  # 2.x allows fewer retries
    publish(client, published["dev"], published["admin"],
            weather("2.0.0", config={"schema": schema, "default": {"region": "us", "retries": 1}}))

    body = expect_error(post(client, "/plugins/installed/weather/upgrade", {"version": "2"}, user), 400,
                        "invalid_config")
    assert [d["path"] for d in body["details"]] == ["retries"]
    assert installed(client, user, "weather")["major"] == 1
    assert installed(client, user, "weather")["config"] == {"region": "eu", "retries": 4}

    upgraded = post(client, "/plugins/installed/weather/upgrade", {"version": "2", "config": {"region": "eu"}}, user)

    assert upgraded.status_code == 200, upgraded.body
    assert upgraded.json_body["major"] == 2
    assert upgraded.json_body["config"] == {"region": "eu", "retries": 1}


def test_upgrade_errors_for_missing_installs_versions_and_suspended_plugins(client, published, user):
    expect_error(post(client, "/plugins/installed/echo/upgrade", {"version": "2"}, user), 404,
                 "plugin_not_installed")
    install(client, user)
    expect_error(post(client, "/plugins/installed/echo/upgrade", {"version": "3"}, user), 404,
                 "version_not_found")
    expect_error(post(client, "/plugins/installed/echo/upgrade", {"version": "1"}, user), 409,
                 "already_on_major")
    publish(client, published["dev"], published["admin"], manifest(version="2.0.0"))
    post(client, "/admin/plugins/echo/suspend", {"reason": "abuse"}, published["admin"])
    expect_error(post(client, "/plugins/installed/echo/upgrade",
                      {"version": "2", "accept_permissions": ECHO_PERMISSIONS}, user), 409, "plugin_suspended")
    assert installed(client, user, "echo")["major"] == 1


# --- uninstalling, enabling, configuring ---------------------------------------------------
def test_uninstalling_decrements_the_count_and_a_second_uninstall_is_404(client, published, user):
    other = sign_up(client)["access_token"]
    install(client, user)
    install(client, other)
    assert install_count(client, "echo") == 2

    removed = post(client, "/plugins/uninstall", {"plugin": "echo"}, user)

    assert removed.status_code == 200, removed.body
    assert removed.json_body == {"plugin": "echo", "uninstalled": True}
    assert install_count(client, "echo") == 1
    expect_error(post(client, "/plugins/uninstall", {"plugin": "echo"}, user), 404, "plugin_not_installed")
    assert install_count(client, "echo") == 1
    expect_error(get(client, "/plugins/installed/echo", user), 404, "plugin_not_installed")
    assert get(client, "/plugins/installed", user).json_body == {"installs": []}
    expect_error(post(client, "/plugins/uninstall", {"plugin": "never-heard-of"}, user), 404,
                 "plugin_not_installed")


def test_a_plugin_can_be_installed_again_after_uninstalling(client, published, user):
    install(client, user)
    post(client, "/plugins/uninstall", {"plugin": "echo"}, user)

    again = install(client, user)

    assert again.status_code == 201, again.body
    assert install_count(client, "echo") == 1


def test_an_install_can_be_disabled_and_enabled_again(client, published, user):
    install(client, user)

    disabled = post(client, "/plugins/installed/echo/disable", None, user)
    assert disabled.status_code == 200, disabled.body
    assert disabled.json_body["enabled"] is False
    assert installed(client, user, "echo")["enabled"] is False
    assert install(client, user).json_body["enabled"] is False  # re-installing does not re-enable
    assert post(client, "/plugins/installed/echo/disable", None, user).json_body["enabled"] is False

    enabled = post(client, "/plugins/installed/echo/enable", None, user)
    assert enabled.status_code == 200 and enabled.json_body["enabled"] is True
    assert installed(client, user, "echo")["enabled"] is True
    assert install_count(client, "echo") == 1


def test_enabling_or_disabling_a_plugin_that_is_not_installed_is_404(client, published, user):
    expect_error(post(client, "/plugins/installed/echo/enable", None, user), 404, "plugin_not_installed")
    expect_error(post(client, "/plugins/installed/echo/disable", None, user), 404, "plugin_not_installed")
    assert install_rows() == []


def test_putting_a_config_replaces_it_merged_with_the_defaults(client, published, user):
    install(client, user, "weather", config={"region": "eu", "retries": 0})

    replaced = put(client, "/plugins/installed/weather/config", {"config": {"retries": 5}}, user)

    assert replaced.status_code == 200, replaced.body
    assert replaced.json_body["config"] == {"region": "us", "retries": 5}
    assert installed(client, user, "weather")["config"] == {"region": "us", "retries": 5}
    assert put(client, "/plugins/installed/weather/config", {"config": {}}, user).json_body["config"] == \
        {"region": "us", "retries": 3}


def test_an_invalid_config_put_is_refused_and_the_config_is_unchanged(client, published, user):
    install(client, user, "weather", config={"region": "eu"})

    body = expect_error(put(client, "/plugins/installed/weather/config", {"config": {"retries": "x"}}, user),
                        400, "invalid_config")
    assert [d["path"] for d in body["details"]] == ["retries"]
    expect_error(put(client, "/plugins/installed/weather/config", {"config": "region=eu"}, user), 400,
                 "validation_failed")
    expect_error(put(client, "/plugins/installed/weather/config", {"settings": {}}, user), 400,
                 "validation_failed")
    expect_error(put(client, "/plugins/installed/echo/config", {"config": {}}, user), 404, "plugin_not_installed")

    assert installed(client, user, "weather")["config"] == {"region": "eu", "retries": 3}


def test_installs_are_listed_by_plugin_name(client, published, user):
    install(client, user, "weather")
    install(client, user, "echo")

    listed = get(client, "/plugins/installed", user)

    assert listed.status_code == 200, listed.body
    assert [(i["plugin"], i["version"]) for i in listed.json_body["installs"]] == [("echo", "1.0.0"),
                                                                                   ("weather", "1.0.0")]


def test_an_api_key_with_installs_write_can_manage_its_owners_installs(client, published, user):
    key = post(client, "/keys", {"name": "cli", "scopes": ["installs:write"]}, user).json_body["api_key"]

    assert install(client, key).status_code == 201
    assert installed(client, user, "echo")["enabled"] is True
    assert post(client, "/plugins/installed/echo/disable", None, key).json_body["enabled"] is False
    assert post(client, "/plugins/uninstall", {"plugin": "echo"}, key).status_code == 200


def test_search_shows_new_install_counts_once_the_index_refreshes(client, published, user):
    """The search index pulls changes at most once a second; the detail page is always exact."""
    assert get(client, "/marketplace/plugins?q=echo").json_body["plugins"][0]["install_count"] == 0

    install(client, user)
    assert install_count(client, "echo") == 1
    time.sleep(1.1)

    assert get(client, "/marketplace/plugins?q=echo").json_body["plugins"][0]["install_count"] == 1


# --- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "status", "code"), [
    pytest.param('{"plugin": "echo"', 400, "malformed_json", id="malformed"),
    pytest.param("", 400, "malformed_json", id="empty"),
    pytest.param('["echo"]', 400, "validation_failed", id="array"),
    pytest.param({}, 400, "validation_failed", id="missing-plugin"),
    pytest.param({"plugin": 42}, 400, "validation_failed", id="plugin-not-a-string"),
    pytest.param({"plugin": "Echo!"}, 400, "validation_failed", id="plugin-bad-name"),
    pytest.param({"plugin": "echo", "version": "newest"}, 400, "validation_failed", id="bad-version"),
    pytest.param({"plugin": "echo", "version": 1}, 400, "validation_failed", id="version-not-a-string"),
    pytest.param({"plugin": "echo", "accept_permissions": ["root"]}, 400, "validation_failed",
                 id="unknown-permission"),
    pytest.param({"plugin": "echo", "accept_permissions": "storage:read"}, 400, "validation_failed",
                 id="consent-not-a-list"),
    pytest.param({"plugin": "echo", "config": ["x"]}, 400, "validation_failed", id="config-not-an-object"),
    pytest.param({"plugin": "echo", "user_id": "usr_someone_else"}, 400, "validation_failed",
                 id="unknown-field"),
    pytest.param({"plugin": "echo", "config": {"pad": "x" * (256 * 1024)}}, 413, "payload_too_large",
                 id="oversize"),
])
def test_bad_install_input_gets_a_stable_code_and_installs_nothing(client, published, user, raw, status, code):
    expect_error(post(client, "/plugins/install", raw, user), status, code)

    assert install_rows() == []
    assert install_count(client, "echo") == 0


@pytest.mark.parametrize(("path", "raw", "code"), [
    pytest.param("/plugins/uninstall", "{", "malformed_json", id="uninstall-malformed"),
    pytest.param("/plugins/uninstall", {}, "validation_failed", id="uninstall-missing-plugin"),
    pytest.param("/plugins/uninstall", {"plugin": ["echo"]}, "validation_failed", id="uninstall-wrong-type"),
    pytest.param("/plugins/installed/echo/upgrade", "{", "malformed_json", id="upgrade-malformed"),
    pytest.param("/plugins/installed/echo/upgrade", {}, "validation_failed", id="upgrade-missing-version"),
    pytest.param("/plugins/installed/echo/upgrade", {"version": "two"}, "validation_failed",
                 id="upgrade-bad-version"),
    pytest.param("/plugins/installed/echo/upgrade", {"version": "2", "force": True}, "validation_failed",
                 id="upgrade-unknown-field"),
])
def test_bad_uninstall_and_upgrade_input_gets_a_stable_code_and_changes_nothing(client, published, user, path,
                                                                                 raw, code):
    install(client, user)

    expect_error(post(client, path, raw, user), 400, code)

    assert installed(client, user, "echo")["major"] == 1
    assert install_count(client, "echo") == 1


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/plugins/install"),
    ("POST", "/plugins/uninstall"),
    ("GET", "/plugins/installed"),
    ("GET", "/plugins/installed/echo"),
    ("POST", "/plugins/installed/echo/enable"),
    ("POST", "/plugins/installed/echo/disable"),
    ("PUT", "/plugins/installed/echo/config"),
    ("POST", "/plugins/installed/echo/upgrade"),
])
def test_every_install_route_needs_credentials(client, method, path):
    response = client.http.request(method, path, headers={"Content-Type": "application/json"},
                                   body=json.dumps({"plugin": "echo", "version": "1", "config": {}}))

    expect_error(response, 401, "missing_credentials")


# --- isolation ---------------------------------------------------------------------------------
def test_another_user_can_never_read_or_change_your_installs(client, published, user):
    install(client, user, "weather", config={"region": "eu"})
    install(client, user)
    publish(client, published["dev"], published["admin"], manifest(version="2.0.0"))
    intruder = sign_up(client)["access_token"]
    intruder_key = post(client, "/keys", {"name": "x", "scopes": ["installs:write"]}, intruder).json_body["api_key"]

    for credential in (intruder, intruder_key):
        assert get(client, "/plugins/installed", credential).json_body == {"installs": []}
        for plugin in ("echo", "weather"):
            expect_error(get(client, f"/plugins/installed/{plugin}", credential), 404, "plugin_not_installed")
            expect_error(post(client, f"/plugins/installed/{plugin}/disable", None, credential), 404,
                         "plugin_not_installed")
            expect_error(post(client, f"/plugins/installed/{plugin}/enable", None, credential), 404,
                         "plugin_not_installed")
            expect_error(put(client, f"/plugins/installed/{plugin}/config", {"config": {}}, credential), 404,
                         "plugin_not_installed")
            expect_error(post(client, f"/plugins/installed/{plugin}/upgrade",
                              {"version": "2", "accept_permissions": ECHO_PERMISSIONS}, credential), 404,
                         "plugin_not_installed")
            expect_error(post(client, "/plugins/uninstall", {"plugin": plugin}, credential), 404,
                         "plugin_not_installed")

    mine = {i["plugin"]: i for i in get(client, "/plugins/installed", user).json_body["installs"]}
    assert set(mine) == {"echo", "weather"}
    assert mine["weather"]["config"] == {"region": "eu", "retries": 3} and mine["weather"]["enabled"] is True
    assert mine["echo"]["major"] == 1 and mine["echo"]["enabled"] is True
    assert install_count(client, "echo") == 1 and install_count(client, "weather") == 1


def test_installing_the_same_plugin_as_another_user_does_not_touch_the_first_install(client, published, user):
    install(client, user, "weather", config={"region": "eu"})
    other = sign_up(client)["access_token"]

    theirs = install(client, other, "weather", config={"retries": 0})

    assert theirs.status_code == 201 and theirs.json_body["config"] == {"region": "us", "retries": 0}
    assert installed(client, user, "weather")["config"] == {"region": "eu", "retries": 3}
