"""The catalog over HTTP: manifests, the review flow, admin actions and marketplace search."""
from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.support import expect_error, get, make_admin, manifest, post, publish, put, sign_up

ECHO_PERMISSIONS = ["storage:read", "storage:write"]


@pytest.fixture
def dev(client) -> str:
    return sign_up(client, "developer")["access_token"]


@pytest.fixture
def admin(container) -> str:
    return make_admin(container)


def catalog_rows() -> list[Any]:
    """Every item of the catalog table (to prove a refused call wrote nothing)."""
    from chalicelib.catalog.records import CatalogTable

    return list(CatalogTable.scan())


def create(client: Any, token: str, doc: Any) -> Any:
    return post(client, "/developer/plugins", doc if isinstance(doc, (str, bytes)) else json.dumps(doc), token)


def submit(client: Any, token: str, name: str, version: str) -> Any:
    return post(client, f"/developer/plugins/{name}/versions/{version}/submit", None, token)


def approve(client: Any, token: str, name: str, version: str) -> Any:
    return post(client, f"/admin/plugins/{name}/versions/{version}/approve", None, token)


def reject(client: Any, token: str, name: str, version: str, reason: str = "endpoints undocumented") -> Any:
    return post(client, f"/admin/plugins/{name}/versions/{version}/reject", {"reason": reason}, token)


def own(client: Any, token: str, name: str) -> dict[str, Any]:
    response = get(client, f"/developer/plugins/{name}", token)
    assert response.status_code == 200, response.body
    return response.json_body


def search(client: Any, query: str = "") -> Any:
    return get(client, f"/marketplace/plugins{'?' + query if query else ''}")


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.body
    return [p["name"] for p in response.json_body["plugins"]]


def violations(response: Any) -> dict[str, list[str]]:
    body = expect_error(response, 400, "invalid_manifest")
    found: dict[str, list[str]] = {}
    for detail in body["details"]:
        found.setdefault(detail["path"], []).append(detail["message"])
    return found


# --- creating plugins ---------------------------------------------------------------------
def test_a_developer_creates_a_plugin_as_a_draft_with_one_draft_version(client, dev):
    response = create(client, dev, manifest())

    assert response.status_code == 201, response.body
    plugin = response.json_body
    assert plugin["name"] == "echo" and plugin["status"] == "draft"
    assert plugin["latest_version"] is None and plugin["max_version"] == "1.0.0"
    assert plugin["install_count"] == 0
    assert [(v["version"], v["status"]) for v in plugin["versions"]] == [("1.0.0", "draft")]
    assert plugin["versions"][0]["manifest"]["api"]["endpoints"] == manifest()["api"]["endpoints"]
    assert own(client, dev, "echo")["status"] == "draft"


def test_a_developer_api_key_cannot_create_plugins_but_the_developers_session_can(client, dev):
    key = post(client, "/keys", {"name": "ci", "scopes": ["gateway", "installs:write"]}, dev).json_body["api_key"]

    expect_error(create(client, key, manifest()), 403, "insufficient_scope")  # developer actions take a session
    assert catalog_rows() == []
    assert create(client, dev, manifest()).status_code == 201


def test_a_plain_user_cannot_create_plugins_and_nothing_is_written(client):
    user = sign_up(client)["access_token"]
    user_key = post(client, "/keys", {"name": "ci"}, user).json_body["api_key"]

    expect_error(create(client, user, manifest()), 403, "insufficient_role")
    expect_error(create(client, user_key, manifest()), 403, "insufficient_role")
    expect_error(create(client, None, manifest()), 401, "missing_credentials")
    assert catalog_rows() == []


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/developer/plugins"),
    ("GET", "/developer/plugins"),
    ("GET", "/developer/plugins/echo"),
    ("POST", "/developer/plugins/echo/versions"),
    ("PUT", "/developer/plugins/echo/versions/1.0.0"),
    ("POST", "/developer/plugins/echo/versions/1.0.0/submit"),
])
def test_every_developer_route_refuses_a_plain_user(client, dev, method, path):
    create(client, dev, manifest())
    user = sign_up(client)["access_token"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {user}"}

    response = client.http.request(method, path, headers=headers, body=json.dumps(manifest()))

    expect_error(response, 403, "insufficient_role")
    assert own(client, dev, "echo")["versions"][0]["status"] == "draft"


def test_a_taken_plugin_name_is_409_and_the_original_is_untouched(client, dev):
    other = sign_up(client, "developer")["access_token"]
    create(client, dev, manifest())
    rows_before = len(catalog_rows())

    expect_error(create(client, dev, manifest()), 409, "plugin_name_taken")
    expect_error(create(client, other, manifest(version="2.0.0", display_name="Hijack")), 409,
                 "plugin_name_taken")

    assert len(catalog_rows()) == rows_before
    mine = own(client, dev, "echo")
    assert mine["display_name"] == "Echo" and [v["version"] for v in mine["versions"]] == ["1.0.0"]
    assert get(client, "/developer/plugins", other).json_body["plugins"] == []


def test_developers_list_only_their_own_plugins_with_status(client, dev):
    other = sign_up(client, "developer")["access_token"]
    create(client, dev, manifest(name="zeta"))
    create(client, dev, manifest(name="alpha"))
    create(client, other, manifest(name="theirs"))

    listed = get(client, "/developer/plugins", dev).json_body["plugins"]

    assert [(p["name"], p["status"]) for p in listed] == [("alpha", "draft"), ("zeta", "draft")]


# --- manifest validation --------------------------------------------------------------------
def test_manifest_validation_lists_every_violation_with_its_field_path(client, dev):
    doc = manifest()
    doc["runtime"].update(memory_limit_mb=20_000, timeout_seconds=30)
    doc["pricing"]["free_tier_calls"] = 20_000
    del doc["description"]
    del doc["category"]

    found = violations(create(client, dev, doc))

    assert {"runtime/memory_limit_mb", "runtime/timeout_seconds", "pricing/free_tier_calls", "description",
            "category"} <= set(found)
    assert "10240" in found["runtime/memory_limit_mb"][0]
    assert "29" in found["runtime/timeout_seconds"][0]
    assert "10000" in found["pricing/free_tier_calls"][0]
    assert catalog_rows() == []
    expect_error(get(client, "/developer/plugins/echo", dev), 404, "plugin_not_found")


@pytest.mark.parametrize(("change", "path"), [
    pytest.param({"name": "Echo_Plugin"}, "name", id="name-pattern"),
    pytest.param({"name": 5}, "name", id="name-wrong-type"),
    pytest.param({"version": "1.0"}, "version", id="version-not-semver"),
    pytest.param({"version": "01.0.0"}, "version", id="version-leading-zero"),
    pytest.param({"category": "games"}, "category", id="unknown-category"),
    pytest.param({"tags": ["Echo"]}, "tags/0", id="bad-tag"),
    pytest.param({"license": "GPL"}, "license", id="unknown-license"),
    pytest.param({"homepage": "https://x"}, "homepage", id="unknown-field"),
    pytest.param({"author": {}}, "author/name", id="author-without-name"),
    pytest.param({"pricing": {"tier": "gold"}}, "pricing/tier", id="unknown-tier"),
    pytest.param({"pricing": {"tier": "standard", "free_tier_calls": -1}}, "pricing/free_tier_calls",
                 id="negative-free-calls"),
    pytest.param({"pricing": {"tier": "standard", "per_call_price": "five"}}, "pricing/per_call_price",
                 id="price-not-a-number"),
    pytest.param({"pricing": {"tier": "standard", "revenue_share_bps": 9000}}, "pricing/revenue_share_bps",
                 id="unknown-share-bps"),
    pytest.param({"pricing": {"tier": "standard", "revenue_share": "0.75"}}, "pricing/revenue_share",
                 id="verified-share-without-certification"),
    pytest.param({"api": {"base_path": "/plugins/echo/v1", "endpoints": []}}, "api/endpoints",
                 id="no-endpoints"),
    pytest.param({"api": {"base_path": "/plugins/other/v1", "endpoints": [{"method": "GET", "path": "/x"}]}},
                 "api/base_path", id="base-path-of-another-plugin"),
    pytest.param({"api": {"base_path": "/plugins/echo/v1", "endpoints": [{"method": "FETCH", "path": "/x"}]}},
                 "api/endpoints/0/method", id="unknown-http-method"),
    pytest.param({"runtime": {"language": "python", "memory_limit_mb": 64, "timeout_seconds": 10}},
                 "runtime/memory_limit_mb", id="memory-below-128"),
    pytest.param({"runtime": {"language": "python", "memory_limit_mb": "128", "timeout_seconds": 10}},
                 "runtime/memory_limit_mb", id="memory-as-string"),
    pytest.param({"runtime": {"language": "node", "memory_limit_mb": 128, "timeout_seconds": 10}},
                 "runtime/language", id="unknown-language"),
    pytest.param({"runtime": {"language": "python", "memory_limit_mb": 128}}, "runtime/timeout_seconds",
                 id="missing-timeout"),
    pytest.param({"permissions": ["root"]}, "permissions/0", id="unknown-permission"),
    pytest.param({"config": {"schema": {"type": 5}}}, "config/schema", id="config-schema-not-a-schema"),
    pytest.param({"config": {"schema": {"type": "object", "properties": {"retries": {"type": "integer"}}},
                             "default": {"retries": "three"}}}, "config/default/retries",
                 id="config-default-breaks-schema"),
    pytest.param({"auth": {"carriers": ["header"]}}, "auth/header", id="header-carrier-without-name"),
])
def test_an_invalid_manifest_names_the_field_and_creates_no_plugin(client, dev, change, path):
    found = violations(create(client, dev, manifest(**change)))

    assert path in found, found
    assert all(messages for messages in found.values())
    assert catalog_rows() == []


@pytest.mark.parametrize(("raw", "status", "code"), [
    pytest.param('{"name": "echo",', 400, "malformed_json", id="malformed"),
    pytest.param("", 400, "malformed_json", id="empty"),
    pytest.param("[1, 2]", 400, "invalid_manifest", id="array"),
    pytest.param("null", 400, "invalid_manifest", id="null"),
    pytest.param(json.dumps({**manifest(), "description": "x" * (256 * 1024)}), 413, "payload_too_large",
                 id="oversize"),
])
def test_a_manifest_that_is_not_a_json_object_is_refused_and_creates_no_plugin(client, dev, raw, status, code):
    expect_error(create(client, dev, raw), status, code)
    assert catalog_rows() == []


# --- money ---------------------------------------------------------------------------------
def test_seed_style_decimal_prices_become_integer_micros_and_basis_points(client, dev):
    doc = manifest(pricing={"tier": "premium", "per_call_price": 0.005, "revenue_share": 0.70,
                            "free_tier_calls": 500})

    response = create(client, dev, doc)

    assert response.status_code == 201, response.body
    plugin = response.json_body
    assert plugin["pricing"] == {"tier": "premium", "per_call_price_micros": 5000, "free_tier_calls": 500}
    assert plugin["revenue_share_bps"] == 7000
    stored = own(client, dev, "echo")["versions"][0]["manifest"]["pricing"]
    assert stored == {"tier": "premium", "per_call_price_micros": 5000, "free_tier_calls": 500,
                      "revenue_share_bps": 7000, "model": "usage", "plans": []}


def test_decimal_prices_written_as_strings_are_normalized_exactly(client, dev):
    doc = manifest(pricing={"tier": "premium", "per_call_price": "0.005", "revenue_share": "0.70"})

    plugin = create(client, dev, doc).json_body

    assert plugin["pricing"]["per_call_price_micros"] == 5000 and plugin["revenue_share_bps"] == 7000


@pytest.mark.parametrize(("tier", "micros"), [("free", 0), ("standard", 1000), ("premium", 5000)])
def test_each_standard_tier_gets_its_price_when_none_is_given(client, dev, tier, micros):
    plugin = create(client, dev, manifest(pricing={"tier": tier})).json_body

    assert plugin["pricing"]["per_call_price_micros"] == micros
    assert plugin["pricing"]["free_tier_calls"] == 1000 and plugin["revenue_share_bps"] == 7000


def test_an_enterprise_plugin_sets_its_own_price(client, dev):
    decimal = create(client, dev, manifest(name="ent-a", pricing={"tier": "enterprise", "per_call_price": 0.002}))
    micros = create(client, dev, manifest(name="ent-b", pricing={"tier": "enterprise",
                                                                  "per_call_price_micros": 25_000}))

    assert decimal.json_body["pricing"]["per_call_price_micros"] == 2000
    assert micros.json_body["pricing"]["per_call_price_micros"] == 25_000


@pytest.mark.parametrize("pricing", [
    pytest.param({"tier": "premium", "per_call_price": 0.004}, id="premium-wrong-decimal"),
    pytest.param({"tier": "standard", "per_call_price_micros": 5000}, id="standard-wrong-micros"),
    pytest.param({"tier": "free", "per_call_price": "0.001"}, id="free-with-a-price"),
    pytest.param({"tier": "enterprise"}, id="enterprise-without-price"),
    pytest.param({"tier": "enterprise", "per_call_price": 0.0000001}, id="finer-than-a-micro"),
])
def test_a_price_that_does_not_fit_the_tier_is_an_invalid_manifest(client, dev, pricing):
    found = violations(create(client, dev, manifest(pricing=pricing)))

    assert "pricing/per_call_price" in found
    assert catalog_rows() == []


@pytest.mark.parametrize("share", [0.65, "0.90", 0.705])
def test_a_revenue_share_other_than_70_75_or_80_percent_is_refused(client, dev, share):
    found = violations(create(client, dev, manifest(pricing={"tier": "standard", "revenue_share": share})))

    assert "pricing/revenue_share" in found


def test_a_decimal_enterprise_price_is_bounded_like_the_integer_one(client, dev):
    """$5 per call is refused as ``per_call_price_micros: 5000000``; it must be as a decimal too."""
    as_micros = create(client, dev, manifest(pricing={"tier": "enterprise", "per_call_price_micros": 5_000_000}))
    assert "pricing/per_call_price_micros" in violations(as_micros)

    as_decimal = create(client, dev, manifest(pricing={"tier": "enterprise", "per_call_price": 5}))

    expect_error(as_decimal, 400, "invalid_manifest")
    assert catalog_rows() == []


@pytest.mark.parametrize(("price", "code"), [
    ("1e400", "invalid_manifest"),  # valid JSON that Python reads as infinity
    ("1e300", "invalid_manifest"),
    ("Infinity", "malformed_json"),  # not JSON at all
    ("NaN", "malformed_json"),
])
def test_an_absurd_decimal_price_is_a_400_not_an_error(client, dev, price, code):
    raw = json.dumps(manifest(pricing={"tier": "enterprise", "per_call_price": 1})).replace(
        '"per_call_price": 1', f'"per_call_price": {price}')

    body = expect_error(create(client, dev, raw), 400, code)

    if code == "invalid_manifest":
        assert "pricing/per_call_price" in {d["path"] for d in body["details"]}
    assert catalog_rows() == []


# --- review flow ------------------------------------------------------------------------------
def test_a_plugin_goes_from_draft_to_pending_review_to_active(client, dev, admin):
    create(client, dev, manifest())
    assert names(search(client)) == []
    expect_error(get(client, "/marketplace/plugins/echo"), 404, "plugin_not_found")

    submitted = submit(client, dev, "echo", "1.0.0")
    assert submitted.status_code == 200, submitted.body
    assert submitted.json_body["status"] == "pending_review" and submitted.json_body["submitted_at"]
    assert own(client, dev, "echo")["status"] == "pending_review"
    queue = get(client, "/admin/reviews", admin).json_body["versions"]
    assert [(v["plugin"], v["version"], v["status"]) for v in queue] == [("echo", "1.0.0", "pending_review")]
    assert queue[0]["manifest"]["name"] == "echo"
    assert names(search(client)) == []
    expect_error(get(client, "/marketplace/plugins/echo"), 404, "plugin_not_found")

    approved = approve(client, admin, "echo", "1.0.0")
    assert approved.status_code == 200, approved.body
    assert approved.json_body["plugin"] == "echo" and approved.json_body["version"] == "1.0.0"
    assert approved.json_body["status"] == "published" and approved.json_body["published_at"]

    mine = own(client, dev, "echo")
    assert mine["status"] == "active" and mine["latest_version"] == "1.0.0"
    assert mine["versions"][0]["status"] == "published"
    assert get(client, "/admin/reviews", admin).json_body["versions"] == []
    assert names(search(client)) == ["echo"]
    assert get(client, "/marketplace/plugins/echo").status_code == 200


def test_a_rejected_version_sends_the_plugin_back_to_draft_with_the_reason(client, dev, admin):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")

    rejected = reject(client, admin, "echo", "1.0.0", "the description is too vague")

    assert rejected.status_code == 200, rejected.body
    assert rejected.json_body["status"] == "rejected"
    assert rejected.json_body["review_reason"] == "the description is too vague"
    mine = own(client, dev, "echo")
    assert mine["status"] == "draft" and mine["status_reason"] == "the description is too vague"
    assert mine["versions"][0]["status"] == "rejected"
    assert get(client, "/admin/reviews", admin).json_body["versions"] == []
    assert names(search(client)) == []


def test_a_rejected_version_can_be_fixed_resubmitted_and_approved(client, dev, admin):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")
    reject(client, admin, "echo", "1.0.0")

    fixed = put(client, "/developer/plugins/echo/versions/1.0.0",
                manifest(description="Echoes every request back, headers included."), dev)
    assert fixed.status_code == 200, fixed.body
    assert fixed.json_body["status"] == "draft" and fixed.json_body["review_reason"] is None
    assert submit(client, dev, "echo", "1.0.0").json_body["status"] == "pending_review"
    assert own(client, dev, "echo")["status"] == "pending_review"
    assert approve(client, admin, "echo", "1.0.0").status_code == 200
    assert own(client, dev, "echo")["status"] == "active"

    detail = get(client, "/marketplace/plugins/echo").json_body
    assert detail["description"] == "Echoes every request back, headers included."


def test_a_rejected_version_may_be_resubmitted_unchanged(client, dev, admin):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")
    reject(client, admin, "echo", "1.0.0")

    again = submit(client, dev, "echo", "1.0.0")

    assert again.status_code == 200, again.body
    assert again.json_body["status"] == "pending_review"
    assert [v["version"] for v in get(client, "/admin/reviews", admin).json_body["versions"]] == ["1.0.0"]


def test_review_actions_on_a_version_that_is_not_pending_are_409(client, dev, admin):
    create(client, dev, manifest())

    expect_error(approve(client, admin, "echo", "1.0.0"), 409, "version_not_pending")
    expect_error(reject(client, admin, "echo", "1.0.0"), 409, "version_not_pending")
    submit(client, dev, "echo", "1.0.0")
    expect_error(submit(client, dev, "echo", "1.0.0"), 409, "version_not_submittable")
    approve(client, admin, "echo", "1.0.0")
    expect_error(approve(client, admin, "echo", "1.0.0"), 409, "version_not_pending")
    expect_error(reject(client, admin, "echo", "1.0.0"), 409, "version_not_pending")
    expect_error(submit(client, dev, "echo", "1.0.0"), 409, "version_not_submittable")
    assert own(client, dev, "echo")["versions"][0]["status"] == "published"


def test_review_actions_on_unknown_plugins_or_versions_are_404(client, dev, admin):
    create(client, dev, manifest())

    expect_error(approve(client, admin, "nope", "1.0.0"), 404, "plugin_not_found")
    expect_error(reject(client, admin, "nope", "1.0.0"), 404, "plugin_not_found")
    expect_error(approve(client, admin, "echo", "9.9.9"), 404, "version_not_found")
    expect_error(submit(client, dev, "echo", "9.9.9"), 404, "version_not_found")
    expect_error(submit(client, dev, "nope", "1.0.0"), 404, "plugin_not_found")
    expect_error(get(client, "/developer/plugins/nope", dev), 404, "plugin_not_found")


def test_review_replies_report_the_plugins_new_status_as_well_as_the_versions(client, dev, admin):
    """Approve/reject answer with the version's status; the plugin's own status must not be lost."""
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")
    rejected = reject(client, admin, "echo", "1.0.0")
    assert rejected.json_body["status"] == "rejected"
    assert rejected.json_body["plugin_status"] == "draft"

    submit(client, dev, "echo", "1.0.0")
    approved = approve(client, admin, "echo", "1.0.0")

    assert approved.json_body["status"] == "published"
    assert approved.json_body["plugin_status"] == "active"


@pytest.mark.parametrize(("raw", "code"), [
    pytest.param({}, "validation_failed", id="missing-reason"),
    pytest.param({"reason": "no"}, "validation_failed", id="reason-too-short"),
    pytest.param({"reason": 42}, "validation_failed", id="reason-not-a-string"),
    pytest.param("{reason", "malformed_json", id="malformed"),
])
def test_rejecting_needs_a_reason_and_a_bad_one_leaves_the_version_pending(client, dev, admin, raw, code):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")

    expect_error(post(client, "/admin/plugins/echo/versions/1.0.0/reject", raw, admin), 400, code)
    assert own(client, dev, "echo")["versions"][0]["status"] == "pending_review"


# --- versions -----------------------------------------------------------------------------
def test_a_new_version_must_be_greater_than_every_version_proposed_so_far(client, dev):
    create(client, dev, manifest())

    expect_error(post(client, "/developer/plugins/echo/versions", manifest(version="1.0.0"), dev), 409,
                 "version_not_increasing")
    expect_error(post(client, "/developer/plugins/echo/versions", manifest(version="0.9.0"), dev), 409,
                 "version_not_increasing")
    added = post(client, "/developer/plugins/echo/versions", manifest(version="1.2.0"), dev)
    assert added.status_code == 201, added.body
    assert added.json_body["status"] == "draft" and added.json_body["version"] == "1.2.0"
    expect_error(post(client, "/developer/plugins/echo/versions", manifest(version="1.1.0"), dev), 409,
                 "version_not_increasing")

    mine = own(client, dev, "echo")
    assert [v["version"] for v in mine["versions"]] == ["1.2.0", "1.0.0"]
    assert mine["max_version"] == "1.2.0"


def test_an_invalid_new_version_is_refused_and_leaves_no_version_behind(client, dev):
    create(client, dev, manifest())
    bad = manifest(version="1.1.0")
    bad["runtime"]["timeout_seconds"] = 300

    assert "runtime/timeout_seconds" in violations(post(client, "/developer/plugins/echo/versions", bad, dev))
    expect_error(post(client, "/developer/plugins/echo/versions", "{", dev), 400, "malformed_json")

    mine = own(client, dev, "echo")
    assert [v["version"] for v in mine["versions"]] == ["1.0.0"] and mine["max_version"] == "1.0.0"
    assert post(client, "/developer/plugins/echo/versions", manifest(version="1.1.0"), dev).status_code == 201


def test_a_manifest_must_name_the_plugin_and_version_of_its_url(client, dev):
    create(client, dev, manifest())

    expect_error(post(client, "/developer/plugins/echo/versions", manifest(name="other", version="1.1.0"), dev),
                 400, "manifest_name_mismatch")
    expect_error(put(client, "/developer/plugins/echo/versions/1.0.0", manifest(version="1.0.1"), dev),
                 400, "manifest_name_mismatch")
    expect_error(post(client, "/developer/plugins/ghost/versions", manifest(name="ghost", version="1.1.0"), dev),
                 404, "plugin_not_found")
    assert [v["version"] for v in own(client, dev, "echo")["versions"]] == ["1.0.0"]


def test_a_draft_version_can_be_replaced_but_an_invalid_replacement_changes_nothing(client, dev):
    create(client, dev, manifest())

    replaced = put(client, "/developer/plugins/echo/versions/1.0.0", manifest(changelog="first cut"), dev)
    assert replaced.status_code == 200, replaced.body
    assert replaced.json_body["changelog"] == "first cut"

    bad = manifest(changelog="broken")
    bad["pricing"]["free_tier_calls"] = 10_001
    assert "pricing/free_tier_calls" in violations(put(client, "/developer/plugins/echo/versions/1.0.0", bad, dev))
    assert own(client, dev, "echo")["versions"][0]["changelog"] == "first cut"
    expect_error(put(client, "/developer/plugins/echo/versions/9.0.0", manifest(version="9.0.0"), dev), 404,
                 "version_not_found")


def test_a_version_under_review_or_published_is_immutable(client, dev, admin):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")

    expect_error(put(client, "/developer/plugins/echo/versions/1.0.0", manifest(changelog="sneaky"), dev), 409,
                 "version_immutable")
    approve(client, admin, "echo", "1.0.0")
    expect_error(put(client, "/developer/plugins/echo/versions/1.0.0", manifest(changelog="sneaky"), dev), 409,
                 "version_immutable")

    published = own(client, dev, "echo")["versions"][0]
    assert published["status"] == "published" and published["changelog"] is None


def test_a_new_version_of_an_active_plugin_is_reviewed_while_the_plugin_stays_listed(client, dev, admin):
    publish(client, dev, admin, manifest())
    post(client, "/developer/plugins/echo/versions", manifest(version="1.1.0", changelog="faster"), dev)
    submit(client, dev, "echo", "1.1.0")

    assert own(client, dev, "echo")["status"] == "active"
    assert get(client, "/marketplace/plugins/echo").json_body["latest_version"] == "1.0.0"
    assert names(search(client)) == ["echo"]

    approve(client, admin, "echo", "1.1.0")
    detail = get(client, "/marketplace/plugins/echo").json_body
    assert detail["latest_version"] == "1.1.0"
    assert [v["version"] for v in detail["versions"]] == ["1.1.0", "1.0.0"]


def test_rejecting_a_new_version_of_an_active_plugin_keeps_it_active(client, dev, admin):
    publish(client, dev, admin, manifest())
    post(client, "/developer/plugins/echo/versions", manifest(version="1.1.0"), dev)
    submit(client, dev, "echo", "1.1.0")

    rejected = reject(client, admin, "echo", "1.1.0", "breaks the echo contract")

    assert rejected.status_code == 200, rejected.body
    assert rejected.json_body["plugin_status"] == "active"
    mine = own(client, dev, "echo")
    assert mine["status"] == "active" and mine["latest_version"] == "1.0.0"
    assert [(v["version"], v["status"]) for v in mine["versions"]] == [("1.1.0", "rejected"), ("1.0.0", "published")]
    assert names(search(client)) == ["echo"]


def test_a_developer_can_never_change_or_read_another_developers_plugin(client, dev, admin):
    publish(client, dev, admin, manifest())
    post(client, "/developer/plugins/echo/versions", manifest(version="1.1.0"), dev)
    other = sign_up(client, "developer")["access_token"]

    for credential in (other,):
        expect_error(get(client, "/developer/plugins/echo", credential), 403, "not_plugin_owner")
        expect_error(post(client, "/developer/plugins/echo/versions", manifest(version="2.0.0"), credential),
                     403, "not_plugin_owner")
        expect_error(put(client, "/developer/plugins/echo/versions/1.1.0",
                         manifest(version="1.1.0", description="pwned"), credential), 403, "not_plugin_owner")
        expect_error(put(client, "/developer/plugins/echo/versions/1.0.0",
                         manifest(description="pwned"), credential), 403, "not_plugin_owner")
        expect_error(submit(client, credential, "echo", "1.1.0"), 403, "not_plugin_owner")

    mine = own(client, dev, "echo")
    assert [(v["version"], v["status"]) for v in mine["versions"]] == [("1.1.0", "draft"), ("1.0.0", "published")]
    assert all(v["manifest"]["description"] == manifest()["description"] for v in mine["versions"])
    assert get(client, "/developer/plugins", other).json_body["plugins"] == []


# --- admin --------------------------------------------------------------------------------------
ADMIN_ROUTES = [
    ("GET", "/admin/reviews", None),
    ("POST", "/admin/plugins/echo/versions/1.0.0/approve", None),
    ("POST", "/admin/plugins/echo/versions/1.0.0/reject", {"reason": "because"}),
    ("POST", "/admin/plugins/echo/suspend", {"reason": "because"}),
    ("POST", "/admin/plugins/echo/reinstate", None),
]


def _call(client: Any, method: str, path: str, body: Any, credential: str | None) -> Any:
    headers = {"Content-Type": "application/json"}
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return client.http.request(method, path, headers=headers, body=json.dumps(body or {}))


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_api_keys_even_an_admins(client, container, dev, admin, method, path, body):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")
    admin_key = post(client, "/keys", {"name": "ops"}, admin).json_body["api_key"]

    expect_error(_call(client, method, path, body, admin_key), 403, "admin_requires_session")
    assert own(client, dev, "echo")["versions"][0]["status"] == "pending_review"


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_admin_routes_refuse_users_and_developers(client, dev, method, path, body):
    create(client, dev, manifest())
    submit(client, dev, "echo", "1.0.0")
    user = sign_up(client)["access_token"]

    expect_error(_call(client, method, path, body, user), 403, "insufficient_role")
    expect_error(_call(client, method, path, body, dev), 403, "insufficient_role")
    expect_error(_call(client, method, path, body, None), 401, "missing_credentials")
    assert own(client, dev, "echo")["versions"][0]["status"] == "pending_review"


def test_suspending_unlists_a_plugin_and_reinstating_lists_it_again(client, dev, admin):
    publish(client, dev, admin, manifest())
    assert names(search(client)) == ["echo"]

    suspended = post(client, "/admin/plugins/echo/suspend", {"reason": "exfiltrates data"}, admin)

    assert suspended.status_code == 200, suspended.body
    assert suspended.json_body == {"plugin": "echo", "status": "suspended", "status_reason": "exfiltrates data"}
    assert names(search(client)) == []
    assert names(search(client, "q=echo")) == []
    expect_error(get(client, "/marketplace/plugins/echo"), 404, "plugin_not_found")
    assert get(client, "/marketplace/suggest?q=ec").json_body["suggestions"] == []
    assert get(client, "/marketplace/categories").json_body["categories"] == []
    mine = own(client, dev, "echo")
    assert mine["status"] == "suspended" and mine["status_reason"] == "exfiltrates data"
    listed = get(client, "/admin/plugins?status=suspended", admin).json_body["plugins"]
    assert [(p["name"], p["status_reason"]) for p in listed] == [("echo", "exfiltrates data")]
    expect_error(get(client, "/admin/plugins?status=gone", admin), 400, "invalid_status")
    expect_error(get(client, "/admin/plugins", dev), 403, "insufficient_role")

    reinstated = post(client, "/admin/plugins/echo/reinstate", None, admin)
    assert get(client, "/admin/plugins", admin).json_body["plugins"] == []

    assert reinstated.status_code == 200, reinstated.body
    assert reinstated.json_body["status"] == "active"
    assert names(search(client)) == ["echo"]
    assert get(client, "/marketplace/plugins/echo").status_code == 200


def test_suspend_and_reinstate_only_apply_to_the_right_status(client, dev, admin):
    create(client, dev, manifest())

    expect_error(post(client, "/admin/plugins/echo/suspend", {"reason": "early"}, admin), 409,
                 "invalid_status_change")
    expect_error(post(client, "/admin/plugins/nope/suspend", {"reason": "early"}, admin), 404, "plugin_not_found")
    submit(client, dev, "echo", "1.0.0")
    approve(client, admin, "echo", "1.0.0")
    expect_error(post(client, "/admin/plugins/echo/reinstate", None, admin), 409, "invalid_status_change")
    expect_error(post(client, "/admin/plugins/echo/suspend", {}, admin), 400, "validation_failed")
    post(client, "/admin/plugins/echo/suspend", {"reason": "abuse"}, admin)
    expect_error(post(client, "/admin/plugins/echo/suspend", {"reason": "abuse"}, admin), 409,
                 "invalid_status_change")
    assert own(client, dev, "echo")["status"] == "suspended"


def test_approving_a_new_version_of_a_suspended_plugin_keeps_it_suspended(client, dev, admin):
    publish(client, dev, admin, manifest())
    post(client, "/admin/plugins/echo/suspend", {"reason": "abuse"}, admin)
    post(client, "/developer/plugins/echo/versions", manifest(version="1.0.1"), dev)
    submit(client, dev, "echo", "1.0.1")

    approved = approve(client, admin, "echo", "1.0.1")

    assert approved.status_code == 200, approved.body
    assert approved.json_body["plugin_status"] == "suspended"
    mine = own(client, dev, "echo")
    assert mine["status"] == "suspended" and mine["status_reason"] == "abuse"
    assert mine["latest_version"] == "1.0.1"
    assert names(search(client)) == []


def test_the_review_queue_lists_pending_versions_oldest_first(client, dev, admin):
    for name in ("first", "second", "third"):
        create(client, dev, manifest(name=name))
    for name in ("second", "first", "third"):
        submit(client, dev, name, "1.0.0")

    queue = get(client, "/admin/reviews", admin).json_body["versions"]

    assert [v["plugin"] for v in queue] == ["second", "first", "third"]


# --- public marketplace -----------------------------------------------------------------------
@pytest.fixture
def market(client, dev, admin) -> dict[str, str]:
    """Four published plugins (in this order) plus a draft and a plugin under review."""
    docs = [
        manifest(name="stripe-mock", display_name="Stripe Mock", category="payments", tags=["payments", "cards"],
                 description="Fake card payments and refunds.", pricing={"tier": "premium"}, permissions=[]),
        manifest(name="paypal-mock", display_name="PayPal Mock", category="payments", tags=["payments"],
                 description="Fake wallet payments.", pricing={"tier": "standard"}, permissions=[]),
        manifest(name="mailer", display_name="Mailer", category="communication", tags=["email"],
                 description="Captures outgoing e-mail.", pricing={"tier": "free"}, permissions=[]),
        manifest(name="uptime", display_name="Uptime", category="monitoring", tags=["monitoring", "cards"],
                 description="Pretend health checks.",
                 pricing={"tier": "enterprise", "per_call_price_micros": 2000}, permissions=[]),
    ]
    for doc in docs:
        publish(client, dev, admin, doc)
    create(client, dev, manifest(name="payroll-draft", category="payments", description="Draft payments."))
    create(client, dev, manifest(name="payments-review", category="payments", description="Pending payments."))
    submit(client, dev, "payments-review", "1.0.0")
    return {"dev": dev, "admin": admin}


def test_search_lists_only_active_plugins(client, market):
    assert sorted(names(search(client))) == ["mailer", "paypal-mock", "stripe-mock", "uptime"]


def test_search_matches_word_prefixes_and_every_term(client, market):
    assert sorted(names(search(client, "q=pay"))) == ["paypal-mock", "stripe-mock"]
    assert names(search(client, "q=pay%20wal")) == ["paypal-mock"]
    assert names(search(client, "q=MAIL")) == ["mailer"]
    assert names(search(client, "q=zzz")) == []


def test_search_filters_by_category_tags_and_tier(client, market):
    assert sorted(names(search(client, "category=payments"))) == ["paypal-mock", "stripe-mock"]
    assert sorted(names(search(client, "tags=cards"))) == ["stripe-mock", "uptime"]
    assert names(search(client, "tags=cards,payments")) == ["stripe-mock"]
    assert names(search(client, "tier=free")) == ["mailer"]
    assert names(search(client, "tier=enterprise&tags=cards")) == ["uptime"]
    assert names(search(client, "category=payments&tier=free")) == []
    assert names(search(client, "category=storage")) == []


def test_search_sorts_by_price_newest_name_and_rating(client, market):
    assert names(search(client, "sort=price")) == ["mailer", "paypal-mock", "uptime", "stripe-mock"]
    assert names(search(client, "sort=newest")) == ["uptime", "mailer", "paypal-mock", "stripe-mock"]
    assert names(search(client, "sort=name")) == ["mailer", "paypal-mock", "stripe-mock", "uptime"]
    # No reviews yet: every rating ties, and ties are broken by name.
    assert names(search(client, "sort=rating")) == ["mailer", "paypal-mock", "stripe-mock", "uptime"]


def test_search_sorts_by_popularity_using_install_counts(client, market):
    for plugin, users in (("uptime", 3), ("mailer", 1)):
        for _ in range(users):
            user = sign_up(client)["access_token"]
            assert post(client, "/plugins/install", {"plugin": plugin}, user).status_code == 201

    # Nothing searched since the last approval, so this first search reads fresh counts.
    popular = search(client, "sort=popular")

    assert names(popular) == ["uptime", "mailer", "paypal-mock", "stripe-mock"]
    assert [p["install_count"] for p in popular.json_body["plugins"]] == [3, 1, 0, 0]
    assert names(search(client)) == names(popular)  # popular is the default sort


def test_search_pages_carry_pagination_metadata(client, market):
    first = search(client, "sort=name&limit=3")
    last = search(client, "sort=name&limit=3&page=2")
    beyond = search(client, "sort=name&limit=3&page=3")

    assert names(first) == ["mailer", "paypal-mock", "stripe-mock"]
    assert first.json_body["pagination"] == {"page": 1, "limit": 3, "total": 4, "pages": 2, "has_next": True}
    assert names(last) == ["uptime"]
    assert last.json_body["pagination"] == {"page": 2, "limit": 3, "total": 4, "pages": 2, "has_next": False}
    assert names(beyond) == [] and beyond.json_body["pagination"]["total"] == 4
    assert search(client, "limit=100").json_body["pagination"]["limit"] == 100
    assert search(client).json_body["pagination"] == {"page": 1, "limit": 20, "total": 4, "pages": 1,
                                                      "has_next": False}


def test_search_cards_show_public_facts_only(client, market):
    card = next(p for p in search(client).json_body["plugins"] if p["name"] == "stripe-mock")

    assert card["display_name"] == "Stripe Mock" and card["category"] == "payments"
    assert card["pricing"] == {"tier": "premium", "per_call_price_micros": 5000, "free_tier_calls": 1000}
    assert card["latest_version"] == "1.0.0" and card["published_at"]
    assert card["rating"] == {"average": 0.0, "count": 0}
    assert "author_id" not in card and "revenue_share_bps" not in card and "status" not in card


@pytest.mark.parametrize(("query", "path"), [
    ("limit=101", "limit"),
    ("limit=0", "limit"),
    ("limit=ten", "limit"),
    ("limit=-1", "limit"),
    ("page=0", "page"),
    ("page=1.5", "page"),
    ("sort=cheapest", "sort"),
    ("category=games", "category"),
    ("tier=gold", "tier"),
    ("order=asc", "order"),
    ("q=" + "a" * 201, "q"),
])
def test_bad_search_parameters_are_a_400_naming_the_parameter(client, query, path):
    body = expect_error(search(client, query), 400, "validation_failed")

    assert [d["path"] for d in body["details"]] == [path]


def test_every_bad_search_parameter_is_reported_at_once(client):
    body = expect_error(search(client, "limit=500&sort=random&colour=red"), 400, "validation_failed")

    assert sorted(d["path"] for d in body["details"]) == ["colour", "limit", "sort"]


@pytest.mark.parametrize("parameter", ["limit", "page"])
def test_a_superscript_digit_in_search_paging_is_a_400_not_an_error(client, parameter):
    # '²'.isdigit() is True but int('²') raises: the check must not trust str.isdigit().
    expect_error(search(client, f"{parameter}=%C2%B2"), 400, "validation_failed")


def test_the_detail_page_shows_published_versions_and_endpoints(client, dev, admin):
    doc = manifest(config={"schema": {"type": "object", "properties": {"greeting": {"type": "string"}}},
                           "default": {"greeting": "hi"}},
                   auth={"carriers": ["bearer"]})
    doc["api"]["endpoints"].append({"method": "POST", "path": "/echo", "description": "Echo a body"})
    publish(client, dev, admin, doc)
    publish(client, dev, admin, manifest(version="1.1.0", changelog="faster", config=doc["config"],
                                         api={"base_path": "/plugins/echo/v1", "endpoints": doc["api"]["endpoints"]}))
    post(client, "/developer/plugins/echo/versions", manifest(version="1.2.0"), dev)  # a draft: not public

    response = get(client, "/marketplace/plugins/echo")

    assert response.status_code == 200, response.body
    detail = response.json_body
    assert detail["name"] == "echo" and detail["latest_version"] == "1.1.0"
    assert [(v["version"], v["status"]) for v in detail["versions"]] == [("1.1.0", "published"),
                                                                         ("1.0.0", "published")]
    assert detail["versions"][0]["changelog"] == "faster" and detail["versions"][0]["published_at"]
    assert "manifest" not in detail["versions"][0]
    assert detail["api"]["base_path"] == "/plugins/echo/v1"
    assert [(e["method"], e["path"]) for e in detail["api"]["endpoints"]] == [("GET", "/echo"), ("POST", "/echo")]
    assert detail["permissions"] == ECHO_PERMISSIONS
    assert detail["config"]["default"] == {"greeting": "hi"}
    assert detail["runtime"]["timeout_seconds"] == 10 and detail["license"] == "MIT"
    assert detail["pricing"]["per_call_price_micros"] == 1000
    assert detail["install_count"] == 0


def test_drafts_plugins_under_review_and_unknown_names_have_no_detail_page(client, market):
    expect_error(get(client, "/marketplace/plugins/payroll-draft"), 404, "plugin_not_found")
    expect_error(get(client, "/marketplace/plugins/payments-review"), 404, "plugin_not_found")
    expect_error(get(client, "/marketplace/plugins/does-not-exist"), 404, "plugin_not_found")


def test_suggest_offers_listed_plugins_matching_what_was_typed(client, market):
    suggested = get(client, "/marketplace/suggest?q=pay")

    assert suggested.status_code == 200, suggested.body
    assert sorted(s["name"] for s in suggested.json_body["suggestions"]) == ["paypal-mock", "stripe-mock"]
    assert {"name": "paypal-mock", "display_name": "PayPal Mock"} in suggested.json_body["suggestions"]
    assert get(client, "/marketplace/suggest?q=").json_body == {"suggestions": []}
    assert get(client, "/marketplace/suggest").json_body == {"suggestions": []}
    assert get(client, "/marketplace/suggest?q=payroll").json_body == {"suggestions": []}


def test_categories_count_listed_plugins_only(client, market):
    response = get(client, "/marketplace/categories")

    assert response.status_code == 200, response.body
    assert response.json_body["categories"] == [{"name": "communication", "count": 1},
                                                {"name": "monitoring", "count": 1},
                                                {"name": "payments", "count": 2}]


def test_the_manifest_schema_is_served_and_accepts_a_valid_manifest(client):
    response = get(client, "/marketplace/manifest-schema")

    assert response.status_code == 200, response.body
    schema = response.json_body
    Draft202012Validator.check_schema(schema)
    assert {"name", "version", "pricing", "api", "runtime"} <= set(schema["required"])
    assert schema["properties"]["runtime"]["properties"]["timeout_seconds"]["maximum"] == 29
    assert schema["properties"]["runtime"]["properties"]["memory_limit_mb"]["maximum"] == 10240
    assert schema["properties"]["pricing"]["properties"]["free_tier_calls"]["maximum"] == 10000
    assert list(Draft202012Validator(schema).iter_errors(manifest())) == []


def test_public_marketplace_routes_need_no_credentials_and_ignore_bad_ones(client, market):
    assert search(client).status_code == 200
    assert client.http.get("/marketplace/plugins", headers={"Authorization": "Bearer junk"}).status_code == 200
    assert get(client, "/marketplace/plugins/mailer", "junk").status_code == 200


def test_an_older_major_line_still_gets_fixes_but_never_goes_backwards(client, dev):
    create(client, dev, manifest(version="1.0.0"))
    for version in ("2.0.0", "1.0.1"):
        added = client.http.post("/developer/plugins/echo/versions", body=json.dumps(manifest(version=version)),
                                 headers={"Authorization": f"Bearer {dev}", "Content-Type": "application/json"})
        assert added.status_code == 201, added.body
    for version, floor in (("1.0.1", "1.0.1"), ("0.9.0", "2.0.0"), ("2.0.0", "2.0.0")):
        refused = client.http.post("/developer/plugins/echo/versions", body=json.dumps(manifest(version=version)),
                                   headers={"Authorization": f"Bearer {dev}", "Content-Type": "application/json"})
        assert expect_error(refused, 409, "version_not_increasing")["message"].endswith(floor)
    assert own(client, dev, "echo")["max_version"] == "2.0.0"


def test_trending_orders_by_calls_in_the_last_seven_days(client, container, dev, admin):
    from datetime import datetime, timedelta, timezone

    from chalicelib import jobs
    from chalicelib.metering.records import PluginDayRecord

    for name in ("alpha", "beta", "gamma"):
        publish(client, dev, admin, manifest(name=name))
    today = datetime.now(timezone.utc).date()
    for name, days_ago, calls in (("alpha", 3, 100), ("beta", 0, 500), ("gamma", 10, 9_999), ("gamma", 6, 1)):
        day = (today - timedelta(days=days_ago)).isoformat()
        PluginDayRecord(*PluginDayRecord.key(name, day), plugin=name, day=day, calls=calls).save()

    assert jobs.hourly(container)["trending_changed"] == 3
    assert names(search(client, "sort=trending")) == ["beta", "alpha", "gamma"]  # gamma's 9,999 are too old
    assert get(client, "/marketplace/plugins/beta").json_body["calls_last_7_days"] == 500
    assert jobs.hourly(container)["trending_changed"] == 0  # nothing moved: nothing written
