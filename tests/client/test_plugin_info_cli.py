"""``mocklib plugin info``: what the plugin page shows, in a terminal: the plugin's fidelity to
its vendor's API, its examples with the base URL (and, asked for, the configured key), its README
and each version's changes."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mocklib.cli import cli
from tests.client.conftest import PLUGINS_ROOT


@pytest.fixture
def run(marketplace, tmp_path):
    def invoke(*args, key=None):
        env = {"MOCKFACTORY_API_URL": marketplace.api_url, "MOCKFACTORY_CONFIG": str(tmp_path / "config.json"),
               "MOCKFACTORY_TOKEN": None, "MOCKFACTORY_API_KEY": key, "COLUMNS": "200"}
        return CliRunner(env=env).invoke(cli, list(args))

    return invoke


def test_info_prints_the_fidelity_with_the_specs_version_and_note_and_the_readme(run):
    measured = json.loads((PLUGINS_ROOT / "stripe" / "spec" / "fidelity.json").read_text())

    info = run("plugin", "info", "stripe")

    assert info.exit_code == 0, info.output
    coverage, conformance = measured["coverage"], measured["conformance"]
    assert (f"Fidelity vs Stripe API 2023-08-16: {coverage['implemented']}/{coverage['total']} operations, "
            f"{conformance['valid']}/{conformance['total']} answers valid") in info.stdout
    assert "note: the newest full spec obtainable here is API 2023-08-16" in info.stdout
    assert "Coverage per resource" in info.stdout and coverage["resources"][0]["resource"] in info.stdout
    assert "Stripe (reference plugin)" in info.stdout  # the README, rendered for the terminal
    assert "--no-readme" not in info.stdout and "Stripe (reference plugin)" not in run(
        "plugin", "info", "stripe", "--no-readme").stdout


def test_info_fills_the_examples_with_the_base_url_and_only_on_request_with_the_key(run, marketplace):
    placeholder = run("plugin", "info", "echo", "--lang", "curl")
    assert placeholder.exit_code == 0, placeholder.output
    base = f"{marketplace.api_url}/plugins/echo/v1"
    assert f'curl -H "Authorization: Bearer YOUR_MF_TEST_KEY" "{base}/echo/a/b?x=1&x=2"' in placeholder.stdout
    assert "import requests" not in placeholder.stdout  # --lang curl only
    assert "Fidelity: not measured" in placeholder.stdout  # echo mocks no vendor
    assert "Echoes every request back" in placeholder.stdout  # its version's changes

    filled = run("plugin", "info", "echo", "--lang", "curl", "--with-key", key="mf_test_example0000000000")
    assert f'curl -H "Authorization: Bearer mf_test_example0000000000" "{base}/echo/a/b?x=1&x=2"' in filled.stdout
    assert "YOUR_MF_TEST_KEY" not in filled.stdout
