"""A plugin's page carries what users need to call it: README, vendor SDK snippets, client aliases,
the changelog per version, and its fidelity to the vendor's API with the spec's version.

First-party plugins (the platform's own, published from their manifest as the dev stack does) get
their README and measured fidelity from their project under MF_PLUGIN_SOURCE_ROOT; a submitted
package gets its README from the package and its fidelity from its publishing checks.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.packaging import build_package
from mocklib_plugin_sdk.scaffold import init_project

from tests.sdk.items_spec import ship_spec
from tests.support import expect_error, get, make_admin, post, publish, sign_up

PLUGINS = Path(__file__).resolve().parents[2] / "plugin_functions"


def test_a_reference_plugins_page_has_its_readme_snippets_aliases_changelog_and_measured_fidelity(client, container):
    dev, admin = sign_up(client, "developer")["access_token"], make_admin(container)
    twilio = json.loads((PLUGINS / "twilio" / "chalicelib" / "manifest.json").read_text())
    measured = json.loads((PLUGINS / "twilio" / "spec" / "fidelity.json").read_text())
    publish(client, dev, admin, twilio)

    page = get(client, "/marketplace/plugins/twilio").json_body

    assert page["readme"] == (PLUGINS / "twilio" / "README.md").read_text()
    assert page["fidelity"] == {
        "spec_title": "Twilio REST API", "spec_version": "2010-04-01", "spec_note": None,
        "operations_implemented": measured["coverage"]["implemented"],
        "operations_total": measured["coverage"]["total"], "coverage_percent": measured["coverage"]["percent"],
        "responses_valid": measured["conformance"]["valid"], "responses_total": measured["conformance"]["total"],
        "conformance_percent": measured["conformance"]["percent"], "measured_by": measured["measured_by"]}
    assert [r["resource"] for r in page["fidelity_report"]["coverage"]["resources"]] == ["Message", "Call"]
    assert "{{BASE_URL}}" in page["client"]["snippets"]["python"]
    assert page["client"]["resources"]["messages"]["param_case"] == "pascal"
    assert page["versions"][0]["changes"] == page["changelog"][0]["changes"] and page["versions"][0]["changes"]
    card = next(p for p in get(client, "/marketplace/plugins?q=twilio").json_body["plugins"] if p["name"] == "twilio")
    assert card["fidelity"] == page["fidelity"]


def test_a_plugin_without_a_spec_has_no_fidelity_and_keeps_a_plain_text_changelog(client, container):
    dev, admin = sign_up(client, "developer")["access_token"], make_admin(container)
    from tests.support import manifest

    publish(client, dev, admin, manifest(name="plainlog", changelog="Fixed the thing."))

    page = get(client, "/marketplace/plugins/plainlog").json_body
    assert page["fidelity"] is None and page["fidelity_report"] is None and page["readme"] is None
    assert (page["versions"][0]["changelog"], page["versions"][0]["changes"]) == ("Fixed the thing.",
                                                                                  ["Fixed the thing."])


def test_a_submitted_packages_page_shows_its_readme_and_the_fidelity_its_checks_measured(client, container,
                                                                                       tmp_path):
    dev, admin = sign_up(client, "developer")["access_token"], make_admin(container)
    project = init_project(tmp_path / "items-api", "items-api", author="Ada")
    ship_spec(project)
    (project / "README.md").write_text((project / "README.md").read_text() + "\n[x](javascript:alert(1))\n")

    submitted = post(client, "/developer/submissions",
                     {"package": base64.b64encode(build_package(project)).decode()}, dev)
    assert submitted.status_code == 202, submitted.body
    submission = submitted.json_body["submission"]
    assert submission["status"] == "in_review", submission["reasons"]
    fidelity = submission["fidelity"]
    assert fidelity["measured_by"].startswith("the publishing checks")
    assert fidelity["coverage"]["implemented"] == 4 and fidelity["conformance"]["total"] >= 10
    assert post(client, "/admin/plugins/items-api/versions/1.0.0/approve", {}, admin).status_code == 200

    page = get(client, "/marketplace/plugins/items-api").json_body
    assert page["readme"] == (project / "README.md").read_text()  # shown as Markdown, sanitised by the web app
    assert page["fidelity_report"]["conformance"] == fidelity["conformance"]
    assert page["fidelity"]["spec_version"] == "2026-01-01"
    assert page["fidelity"]["responses_valid"] == fidelity["conformance"]["valid"]


def test_client_aliases_must_name_declared_endpoints(client):
    dev = sign_up(client, "developer")["access_token"]
    from tests.support import manifest

    doc: dict[str, Any] = manifest(name="aliased", client={"resources": {
        "things": {"collection": "/things"}, "echoes": {"operations": {"send": {"method": "POST", "path": "/echo"}}}}})
    body = expect_error(post(client, "/developer/plugins", doc, dev), 400, "invalid_manifest")
    assert {p["path"] for p in body["details"]} == {"client/resources/things/collection",
                                                    "client/resources/echoes/operations/send"}
