"""`python -m devstack` end to end, the money paths: the Stripe stand-in as a dev-stack service,
delivering real signed events over HTTP to the API, and the scheduler of the app's jobs.

A developer finishes Stripe Connect onboarding and the ``account.updated`` event reaches the
API's webhook; a user buys a subscription plan through Checkout and the plan is active.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from devstack import REPO_ROOT
from devstack.dynamodb import free_port, port_is_open
from tests.e2e.stack import DevStack

DELIVERY_TIMEOUT = 25  # the stand-in retries a failed delivery after 1, 2, 4 and 8 s
WEBHOOK_PATH = "/billing/stripe/webhook"
SCHEDULED = {"webhook_retries": "rate(1 minute)", "plugin_pipeline": "rate(1 minute)",
             "hourly_aggregation": "cron(5 * * * ? *)", "payouts": "cron(0 0 1,15 * ? *)",
             "usage_invoices": "cron(0 2 1 * ? *)", "ledger_check": "cron(0 3 * * ? *)"}
PRICING = {"tier": "standard", "model": "freemium", "plans": [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50000}]}


@pytest.fixture
def money_stack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path / "state", free_port(), free_port(), tmp_path / "devstack.log")
    try:
        yield stack.start()
    finally:
        stack.kill()  # a failed test must not leave servers behind (the stand-in dies with its parent)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def eventually(check: Callable[[], Any], timeout: float, what: str, stack: DevStack) -> Any:
    """``check()``'s first truthy result within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout}s\n{stack.output()}")
        time.sleep(0.2)


def sign(payload: bytes, secret: str) -> str:
    t = int(time.time())
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def test_devstack_money_flows(money_stack: DevStack) -> None:
    stack, info = money_stack, money_stack.info
    api = info["api_url"]
    http = requests.Session()
    http.trust_env = False  # 127.0.0.1 only, never through a proxy from the environment

    # dev.json: the stand-in, its key and the webhook endpoint; the scheduler and its jobs
    stripe_base, stripe_key = info["stripe_api_base"], info["stripe_api_key"]
    assert urlsplit(stripe_base).hostname == "127.0.0.1"
    assert stripe_key.startswith("mf_test_")
    endpoint = info["stripe_webhook_endpoint"]
    assert endpoint["id"].startswith("we_") and endpoint["url"] == api + WEBHOOK_PATH
    assert info["scheduled_jobs"] == SCHEDULED
    assert "[devstack] scheduler: webhook_retries rate(1 minute)" in stack.output()
    assert "export MF_STRIPE_SECRET_KEY=" in (stack.state_dir / "dev.env").read_text()

    standin = requests.Session()
    standin.trust_env = False
    standin.headers.update(bearer(stripe_key))
    registered = standin.get(f"{stripe_base}/v1/webhook_endpoints", timeout=10).json()["data"]
    assert [(e["id"], e["url"], e["enabled_events"], e["status"]) for e in registered] == \
        [(endpoint["id"], api + WEBHOOK_PATH, ["*"], "enabled")]

    def deliveries() -> list[dict[str, Any]]:
        log = standin.get(f"{stripe_base}/_mf/deliveries", timeout=10).json()["deliveries"]
        return [d for d in log if d["url"] == api + WEBHOOK_PATH]

    def all_delivered() -> list[dict[str, Any]]:
        found = deliveries()
        if any(d["state"] == "pending" for d in found):
            return []
        bad = [d for d in found if d["state"] != "delivered"]
        assert not bad, f"the API refused Stripe events: {bad}\n{stack.output()}"
        return found or []

    # --- a developer onboards: account.updated reaches the webhook, payouts get enabled --------
    dev = bearer(info["developer_token"])
    onboarding = http.post(f"{api}/developer/onboarding", headers=dev, timeout=20, json={
        "return_url": "https://example.com/onboarding/done", "refresh_url": "https://example.com/onboarding/again"})
    assert onboarding.status_code == 200, onboarding.text
    account_id = onboarding.json()["stripe_account_id"]
    assert account_id.startswith("acct_") and onboarding.json()["onboarding_url"].startswith("https://")
    before = http.get(f"{api}/developer/account", headers=dev, timeout=10)
    assert before.status_code == 200 and before.json()["payouts_enabled"] is False, before.text

    onboarded = standin.post(f"{stripe_base}/v1/test_helpers/accounts/{account_id}/onboard", timeout=10)
    assert onboarded.status_code == 200 and onboarded.json()["payouts_enabled"] is True, onboarded.text
    events = standin.get(f"{stripe_base}/v1/events?type=account.updated&limit=100",
                         timeout=10).json()["data"]
    event = next(e for e in events if e["data"]["object"]["id"] == account_id
                 and e["data"]["object"]["payouts_enabled"])
    assert event["pending_webhooks"] == 1
    delivered = eventually(all_delivered, DELIVERY_TIMEOUT, "account.updated delivered to the API", stack)
    assert all(d["attempts"][-1]["status"] == 200 for d in delivered)
    # The API verified and recorded that very event: the same event again is a duplicate.
    payload = json.dumps(event).encode()
    replay = http.post(f"{api}{WEBHOOK_PATH}", data=payload, timeout=10, headers={
        "Content-Type": "application/json", "Stripe-Signature": sign(payload, info["stripe_webhook_secret"])})
    assert replay.status_code == 200 and replay.json() == {"received": True, "duplicate": True}, replay.text
    forged = http.post(f"{api}{WEBHOOK_PATH}", data=payload, timeout=10, headers={
        "Content-Type": "application/json", "Stripe-Signature": sign(payload, "whsec_not_the_secret")})
    assert forged.status_code >= 400, forged.text

    def payouts_enabled() -> bool:
        view = http.get(f"{api}/developer/account", headers=dev, timeout=10)
        assert view.status_code == 200, view.text
        return bool(view.json()["payouts_enabled"]) and "stripe_onboarding" not in view.json()["missing"]

    eventually(payouts_enabled, 5, "GET /developer/account payouts_enabled", stack)

    # --- a plugin with a subscription plan, published by the seeded developer ----------------
    name = f"money-e2e-{uuid.uuid4().hex[:8]}"
    manifest = json.loads((REPO_ROOT / "plugin_functions/echo/chalicelib/manifest.json").read_text())
    manifest.update({"name": name, "display_name": "Money e2e", "version": "1.0.0", "pricing": PRICING})
    manifest["api"] = {**manifest["api"], "base_path": f"/plugins/{name}/v1"}
    admin = bearer(info["admin_token"])
    for url, headers, body, status in (
            (f"{api}/developer/plugins", dev, manifest, 201),
            (f"{api}/developer/plugins/{name}/versions/1.0.0/submit", dev, None, 200),
            (f"{api}/admin/plugins/{name}/versions/1.0.0/approve", admin, None, 200)):
        response = http.post(url, headers=headers, json=body, timeout=10)
        assert response.status_code == status, (url, response.text)

    # --- a user buys Pro through Checkout, pays on the stand-in, the plan is active ----------
    signup = http.post(f"{api}/auth/signup", timeout=10, json={
        "email": f"buyer-{uuid.uuid4().hex[:10]}@example.com", "password": "e2e-password-123"})
    assert signup.status_code == 201, signup.text
    user = bearer(signup.json()["access_token"])
    checkout = http.post(f"{api}/billing/checkout", headers=user, timeout=20, json={
        "plugin": name, "plan": "pro", "success_url": "https://example.com/paid",
        "cancel_url": "https://example.com/cancelled"})
    assert checkout.status_code == 201, checkout.text
    session = checkout.json()
    assert session["session_id"].startswith("cs_test_") and session["amount_cents"] == 9900, session
    completed = standin.post(f"{stripe_base}/v1/test_helpers/checkout/sessions/{session['session_id']}/complete",
                             timeout=20)
    assert completed.status_code == 200 and completed.json()["status"] == "complete", completed.text
    subscription_id = completed.json()["subscription"]

    def pro_plan() -> dict[str, Any] | None:
        billing = http.get(f"{api}/billing", headers=user, timeout=10)
        assert billing.status_code == 200, billing.text
        return next((p for p in billing.json()["plans"] if p["plugin"] == name and p["status"] == "active"), None)

    plan = eventually(pro_plan, 10, "GET /billing shows the Pro plan active", stack)
    assert plan["plan"] == "pro" and plan["source"] == "subscription", plan
    assert plan["current_period_end"], plan
    eventually(all_delivered, DELIVERY_TIMEOUT, "every event delivered to and accepted by the API", stack)
    summary = http.get(f"{api}/billing", headers=user, timeout=10).json()
    assert summary["customer"]["stripe_customer_id"].startswith("cus_")
    assert standin.get(f"{stripe_base}/v1/subscriptions/{subscription_id}", timeout=10).json()["status"] == "active"

    # --- the jobs run by hand against the running stack, with its settings ---------------------
    job = subprocess.run([sys.executable, "-m", "devstack", "--state-dir", str(stack.state_dir), "--run-job", "hourly"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert job.returncode == 0, job.stdout + job.stderr
    result = json.loads(job.stdout)
    assert "hours" in result and result["downgraded"] == [], result  # billing configured: graces checked
    http.close()
    standin.close()

    # Ctrl-C stops the stand-in with the rest
    assert stack.stop(signal.SIGINT) == 0, stack.output()
    assert not port_is_open(urlsplit(stripe_base).port or 0), "the Stripe stand-in still listens"
    assert not port_is_open(stack.api_port) and not port_is_open(stack.dynamodb_port)
    assert not (stack.state_dir / "dev.json").exists() and not (stack.state_dir / "dev.env").exists()


def test_scheduler_fires_the_apps_schedules_on_time_and_survives_a_failing_job(tmp_path: Path) -> None:
    """The dev stack's scheduler on a Chalice app of its own, with a clock the test moves."""
    from datetime import datetime, timezone

    from chalice import Chalice, Cron, Rate

    from devstack.scheduler import Scheduler, scheduled_jobs

    app = Chalice(app_name="scheduler-e2e")
    runs: list[tuple[str, str]] = []

    @app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
    def tick(event: Any) -> dict[str, int]:
        runs.append(("tick", event.time))
        return {"runs": len(runs)}

    @app.schedule(Cron(0, 0, "1,15", "*", "?", "*"), name="payday")
    def payday(event: Any) -> None:
        runs.append(("payday", event.time))
        raise RuntimeError("the payouts job blew up")

    lines: list[str] = []
    jobs = scheduled_jobs(app, lines.append)
    assert {job.name: job.expression for job in jobs} == {"tick": "rate(1 minute)", "payday": "cron(0 0 1,15 * ? *)"}
    now = [datetime(2026, 11, 30, 23, 58, 30, tzinfo=timezone.utc)]
    scheduler = Scheduler(jobs, log=lines.append, clock=lambda: now[0], max_wait_s=0.05,
                          error_log=tmp_path / "scheduler.log").start()

    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 5
        while not condition():
            assert time.monotonic() < deadline, (runs, lines)
            time.sleep(0.02)

    def next_runs() -> dict[str, datetime | None]:
        return {job.name: job.next_run for job in jobs}

    try:
        assert next_runs() == {"tick": datetime(2026, 11, 30, 23, 59, 30, tzinfo=timezone.utc),
                               "payday": datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)}
        time.sleep(0.2)
        assert runs == []  # nothing is due yet
        now[0] = datetime(2026, 12, 1, 0, 0, 10, tzinfo=timezone.utc)  # both are due
        wait_for(lambda: len([line for line in lines if " in " in line]) == 2)
        assert sorted(runs) == [("payday", "2026-12-01T00:00:00Z"), ("tick", "2026-11-30T23:59:30Z")]
        assert any(line.startswith("tick [rate(1 minute)] ok in ") and '{"runs":' in line for line in lines), lines
        assert any(line.startswith("payday [cron(0 0 1,15 * ? *)] FAILED in ")
                   and "RuntimeError: the payouts job blew up" in line for line in lines), lines
        assert "the payouts job blew up" in (tmp_path / "scheduler.log").read_text()
        wait_for(lambda: next_runs() == {"tick": datetime(2026, 12, 1, 0, 1, 10, tzinfo=timezone.utc),
                                         "payday": datetime(2026, 12, 15, 0, 0, tzinfo=timezone.utc)})
        assert scheduler.alive()
        now[0] = datetime(2026, 12, 1, 0, 1, 20, tzinfo=timezone.utc)  # after a failure, life goes on
        wait_for(lambda: len(runs) == 3)
        assert runs[-1] == ("tick", "2026-12-01T00:01:10Z")
    finally:
        scheduler.stop()
    assert not scheduler.alive()
