"""Quotas and trials under real concurrency, on DynamoDB Local (moto would lose racing ADDs)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import ConflictError, QuotaExceededError
from chalicelib.gateway.service import GatewayCall
from tests.support import ECHO_PLUGIN as ECHO

FREE_1000 = {"tier": "standard", "model": "freemium", "plans": [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000, "trial_days": 14}]}


def setup_user(container) -> tuple[Principal, str]:
    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    container.catalog.create_plugin(dev, {**ECHO, "pricing": FREE_1000})
    container.catalog.submit_version(dev, "echo", "1.0.0")
    container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "echo", "1.0.0")
    user = container.auth.create_user(email="quota@example.com", password="correct horse battery", role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="echo", accept_permissions=ECHO["permissions"])
    return principal, container.auth.create_key(principal, name="load", mode="live")["api_key"]


def test_sixteen_clients_racing_against_a_quota_of_1000_get_exactly_1000(gateway_container):
    _, key = setup_user(gateway_container)
    gateway = gateway_container.gateway

    def client(n: int) -> tuple[int, int]:
        admitted = refused = 0
        for i in range(80):  # 16 x 80 = 1,280 attempts
            call = GatewayCall(method="GET", plugin="echo", version_segment="v1", path="echo", query={},
                               headers={"authorization": f"Bearer {key}"}, body=b"", request_id=f"q{n}-{i}")
            try:
                admitted += gateway.handle(call).status == 200
            except QuotaExceededError:
                refused += 1
        return admitted, refused

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(client, range(16)))
    assert sum(a for a, _ in results) == 1000
    assert sum(r for _, r in results) == 280


def test_two_racing_trial_requests_start_one_trial(gateway_container):
    principal, _ = setup_user(gateway_container)
    billing = gateway_container.billing

    def start(_: int) -> str:
        try:
            return billing.start_trial(principal, "echo")["status"]
        except ConflictError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(start, range(8)))
    assert outcomes.count("active") == 1
    assert set(outcomes) - {"active"} <= {"trial_already_used", "plan_already_held"}
