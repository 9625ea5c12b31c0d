"""A developer's and an admin's stories in the browser, against the dev stack: an admin approves
a submission from the review queue; a developer whose paid plugin was called sees the revenue
on the dashboard, with the submission's check results; an admin finds a user, disables and
re-enables them, changes their role and revokes their keys."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from devstack import REPO_ROOT
from mocklib_plugin_sdk.packaging import build_package
from mocklib_plugin_sdk.scaffold import init_project
from tests.browser.conftest import bearer, log_in, screenshot, sign_up
from tests.e2e.stack import DevStack

CHECKS_TIMEOUT = 90


def submit(stack: DevStack, token: str, workdir: Path, name: str, **pricing: Any) -> dict[str, Any]:
    """A new plugin project from the scaffold, packaged and submitted; waits for the checks."""
    project = init_project(workdir / name, name, author="Browser Tests")
    if pricing:
        manifest_file = project / "chalicelib" / "manifest.json"
        manifest = json.loads(manifest_file.read_text())
        manifest["pricing"].update(pricing)
        manifest_file.write_text(json.dumps(manifest, indent=2))
    package = base64.b64encode(build_package(project)).decode()
    sent = requests.post(f"{stack.url}/developer/submissions", json={"package": package}, headers=bearer(token), timeout=30)
    assert sent.status_code == 202, sent.text
    submission_id = sent.json()["submission"]["submission_id"]
    deadline = time.monotonic() + CHECKS_TIMEOUT
    while time.monotonic() < deadline:
        submission = requests.get(f"{stack.url}/developer/submissions/{submission_id}", headers=bearer(token),
                                  timeout=10).json()["submission"]
        if submission["status"] not in ("queued", "checking"):
            assert submission["status"] == "in_review", submission
            return dict(submission)
        time.sleep(0.3)
    pytest.fail(f"submission {submission_id} still checking after {CHECKS_TIMEOUT}s:\n{stack.output()}")


def plugin_name(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:6]}"


def test_an_admin_approves_a_submission_from_the_review_queue(page: Page, stack: DevStack, tmp_path: Path) -> None:
    developer = sign_up(stack, f"dev-{uuid.uuid4().hex[:8]}@example.com", role="developer")
    name = plugin_name("queue-notes")
    submit(stack, developer, tmp_path, name)

    log_in(page, stack, str(stack.info["admin_email"]), str(stack.info["demo_password"]))
    page.get_by_role("link", name="Admin").click()
    item = page.locator(f".review-item[data-plugin='{name}']")
    expect(item).to_contain_text("1.0.0")
    expect(item).to_contain_text("score 100 / 100, 7/7 passed")
    item.get_by_text("Checks:").click()  # the check results, one by one
    for check in ("Manifest", "Tests", "Protocol contract", "Security scan (bandit)", "No network access"):
        expect(item.get_by_text(check, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Suspended plugins")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    screenshot(page, "admin")

    # rejecting needs a reason: refused in the page before any request
    item.get_by_role("button", name=f"Reject {name} 1.0.0").click()
    expect(item.get_by_role("alert")).to_contain_text("Say why it is rejected")

    item.get_by_label("Review notes").fill("clean checks, approved from the browser")
    item.get_by_role("button", name=f"Approve {name} 1.0.0").click()
    expect(page.get_by_role("status").filter(has_text=f"{name} 1.0.0 approved and live")).to_be_visible()
    expect(page.locator(f".review-item[data-plugin='{name}']")).to_have_count(0)
    audit = page.locator("#audit-table tbody tr", has_text=f"name={name}")
    expect(audit.first).to_contain_text("POST /admin/plugins/{name}/versions/{version}/approve")
    expect(audit.first).to_contain_text("clean checks, approved from the browser")

    listed = requests.get(f"{stack.url}/marketplace/plugins/{name}", timeout=10)
    assert listed.status_code == 200 and listed.json()["latest_version"] == "1.0.0"
    page.get_by_role("link", name="Catalog").click()
    expect(page.locator(".plugin-card", has_text="Queue Notes")).to_be_visible()

    # suspend it from the admin page, see it listed as suspended, reinstate it
    page.get_by_role("link", name="Admin").click()
    page.get_by_label("Plugin", exact=True).fill(name)
    page.get_by_label("Reason").fill("looking into a complaint")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("status").filter(has_text=f"{name} is suspended")).to_be_visible()
    expect(page.locator(".admin-section", has_text="Suspended plugins").get_by_text(name, exact=True)).to_be_visible()
    assert requests.get(f"{stack.url}/marketplace/plugins/{name}", timeout=10).status_code == 404
    page.get_by_role("button", name=f"Reinstate {name}").click()  # from the list of suspended plugins
    expect(page.get_by_role("status").filter(has_text=f"{name} is active")).to_be_visible()
    expect(page.locator(".admin-section", has_text="Suspended plugins").get_by_text(name, exact=True)).to_have_count(0)
    assert requests.get(f"{stack.url}/marketplace/plugins/{name}", timeout=10).status_code == 200


def run_job(stack: DevStack, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(stack.state_dir), "--run-job", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def test_a_developer_sees_the_revenue_of_a_paid_plugin_on_the_dashboard(page: Page, stack: DevStack, tmp_path: Path) -> None:
    # A developer publishes a plugin with no free tier (standard: $0.001 a call) ...
    address = f"earner-{uuid.uuid4().hex[:8]}@example.com"
    developer = sign_up(stack, address, role="developer")
    name = plugin_name("paid-notes")
    submit(stack, developer, tmp_path, name, free_tier_calls=0)
    admin = bearer(str(stack.info["admin_token"]))
    approved = requests.post(f"{stack.url}/admin/plugins/{name}/versions/1.0.0/approve", json={}, headers=admin, timeout=60)
    assert approved.status_code == 200, approved.text

    # ... a user installs it, puts a card on file and calls it 25 times with a live key ...
    user = sign_up(stack, f"payer-{uuid.uuid4().hex[:8]}@example.com")
    installed = requests.post(f"{stack.url}/plugins/install", json={"plugin": name, "accept_permissions": [
        "storage:read", "storage:write"]}, headers=bearer(user), timeout=10)
    assert installed.status_code == 201, installed.text
    key = requests.post(f"{stack.url}/keys", json={"name": "prod", "mode": "live"}, headers=bearer(user), timeout=10).json()["api_key"]
    card = requests.post(f"{stack.url}/billing/payment-method", json={"payment_method": "pm_card_visa"},
                         headers=bearer(user), timeout=30)  # paid calls need a card on file
    assert card.status_code == 200, card.text
    hours = {datetime.now(timezone.utc).strftime("%Y-%m-%dT%H")}
    statuses = [requests.get(f"{stack.url}/plugins/{name}/v1/items", headers=bearer(key), timeout=10).status_code
                for _ in range(25)]
    hours.add(datetime.now(timezone.utc).strftime("%Y-%m-%dT%H"))
    assert statuses == [200] * 25

    # ... and the hourly aggregation runs against the stack (the current hour included).
    hour_args = [arg for hour in sorted(hours) for arg in ("--hour", hour)]
    result = run_job(stack, "aggregate", *hour_args)
    assert result["applied"] >= 1, result

    log_in(page, stack, address)
    page.get_by_role("link", name="Developer").click()
    revenue = page.locator("#stat-revenue .big-number")
    expect(revenue).to_have_text("$0.025")  # 25 billable calls x $0.001
    expect(page.locator("#stat-share .big-number")).to_have_text("$0.0175")  # 70 %
    expect(page.locator("#stat-calls .big-number")).to_have_text("25")
    row = page.locator(f"#plugins-table tr[data-plugin='{name}']")
    expect(row).to_contain_text("25")
    expect(row).to_contain_text("$0.025")
    expect(row).to_contain_text("(70 %)")
    chart = page.get_by_role("img", name="Revenue and calls", exact=False)
    expect(chart).to_have_attribute("aria-label", "Revenue and calls: 30 days, Revenue $0.025 in total, Calls 25 in total.")
    submission = page.locator(".submission", has_text=f"{name} 1.0.0")
    expect(submission).to_contain_text("approved")
    submission.get_by_text("Check results (7/7 passed)").click()
    expect(submission.get_by_text("Tests", exact=True)).to_be_visible()
    screenshot(page, "developer-dashboard")


def test_an_admin_finds_a_user_disables_re_enables_revokes_keys_and_changes_the_role(page: Page, stack: DevStack) -> None:
    address = f"managed-{uuid.uuid4().hex[:8]}@example.com"
    token = sign_up(stack, address)
    key = requests.post(f"{stack.url}/keys", json={"name": "ci"}, headers=bearer(token), timeout=10).json()["api_key"]
    assert requests.get(f"{stack.url}/usage", headers=bearer(key), timeout=10).status_code == 200

    log_in(page, stack, str(stack.info["admin_email"]), str(stack.info["demo_password"]))
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_label("E-mail starts with").fill(address[:12].upper())
    page.get_by_role("button", name="Search users").click()
    row = page.locator(f"#users-table tr[data-email='{address}']")
    expect(row).to_contain_text("active")
    expect(page.locator("#users-table tbody tr")).to_have_count(1)
    screenshot(page, "admin-users")

    # Disabling needs a reason; the user's key and session stop working at once.
    row.get_by_role("button", name=f"Disable {address}").click()
    dialog = page.get_by_role("dialog", name=f"Disable {address}?")
    dialog.get_by_label("Reason for the audit log").fill("chargeback fraud")
    dialog.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status").filter(has_text=f"{address} is disabled.")).to_be_visible()
    expect(row.locator("[data-cell=status]")).to_have_text("disabled")
    assert requests.get(f"{stack.url}/usage", headers=bearer(key), timeout=10).json()["code"] == "account_disabled"
    assert requests.get(f"{stack.url}/keys", headers=bearer(token), timeout=10).json()["code"] == "account_disabled"
    audit = page.locator("#audit-table tbody tr", has_text="/disable")
    expect(audit.first).to_contain_text("chargeback fraud")

    row.get_by_role("button", name=f"Enable {address}").click()
    expect(row.locator("[data-cell=status]")).to_have_text("active")
    assert requests.get(f"{stack.url}/usage", headers=bearer(key), timeout=10).status_code == 200
    assert requests.get(f"{stack.url}/keys", headers=bearer(token), timeout=10).json()["code"] == "session_revoked"

    row.get_by_label(f"Role of {address}", exact=True).select_option("developer")
    row.get_by_role("button", name=f"Change the role of {address}").click()
    expect(row.locator("[data-cell=role]")).to_have_text("developer")
    expect(page.get_by_role("status").filter(has_text=f"{address} is now developer.")).to_be_visible()

    row.get_by_role("button", name=f"Revoke the keys of {address}").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke keys").click()
    expect(page.get_by_role("status").filter(has_text=f"1 key of {address} revoked.")).to_be_visible()
    assert requests.get(f"{stack.url}/usage", headers=bearer(key), timeout=10).json()["code"] == "invalid_api_key"
    expect(page.locator("#audit-table tbody tr", has_text="/revoke-keys")).to_have_count(1)
