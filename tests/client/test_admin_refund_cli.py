"""``mocklib admin refund``: the admins' refund of a user's invoice from the CLI (the refund itself,
its ledger and its audit entry are tested through the API in tests/functional/money)."""
from __future__ import annotations

from click.testing import CliRunner

from mocklib import MockFactory
from mocklib.cli import EXIT_AUTH, EXIT_NOT_FOUND, cli


def run(marketplace, tmp_path, *args, token):
    env = {"MOCKFACTORY_API_URL": marketplace.api_url, "MOCKFACTORY_CONFIG": str(tmp_path / "config.json"),
           "MOCKFACTORY_TOKEN": token, "MOCKFACTORY_API_KEY": None, "COLUMNS": "250"}
    return CliRunner(env=env).invoke(cli, list(args))


def test_admin_refund_calls_the_refund_endpoint_with_the_reason_and_is_audited(marketplace, tmp_path):
    admin = marketplace.new_account("admin")
    missing = run(marketplace, tmp_path, "admin", "refund", "nonsense", "--amount-cents", "500",
                  "--reason", "goodwill after the outage", token=admin.token)
    assert missing.exit_code == EXIT_NOT_FOUND and "Error [invoice_not_found]" in missing.stderr
    with MockFactory(token=admin.token, api_url=marketplace.api_url, max_retries=0) as mf:
        audit = mf.request("GET", "/admin/audit", params={"limit": 20})
    rows = audit.get("entries") or audit.get("items") or []
    assert any(row.get("action") == "POST /admin/billing/invoices/{invoice_id}/refund"
               and row.get("reason") == "goodwill after the outage" and row.get("target") == "invoice_id=nonsense"
               for row in rows), rows

    user = marketplace.new_account()
    refused = run(marketplace, tmp_path, "admin", "refund", "in_123", "--reason", "mine", token=user.token)
    assert refused.exit_code == EXIT_AUTH and "Error [insufficient_role]" in refused.stderr
    needs_reason = run(marketplace, tmp_path, "admin", "refund", "in_123", token=admin.token)
    assert needs_reason.exit_code == 2 and "--reason" in needs_reason.output
