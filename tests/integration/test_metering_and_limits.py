"""Exactness under concurrency, against a real DynamoDB server."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone


from chalicelib.auth.principal import Principal
from chalicelib.billing.records import CustomerRecord
from chalicelib.core.clock import FixedClock
from chalicelib.gateway.service import GatewayCall
from chalicelib.limits.service import Limit, RateLimiter, WindowStore
from tests.support import ECHO_PLUGIN as ECHO


def installed_key(container) -> str:
    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    container.catalog.create_plugin(dev, ECHO)
    container.catalog.submit_version(dev, "echo", "1.0.0")
    container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "echo", "1.0.0")
    user = container.auth.create_user(email="load@example.com", password="correct horse battery", role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="echo", accept_permissions=ECHO["permissions"])
    # 4,000 calls go past the free tier: the user has a card on file (no Stripe here, the record alone)
    CustomerRecord(*CustomerRecord.key(user.user_id), user_id=user.user_id, stripe_customer_id="cus_load",
                   payment_method="pm_card_visa").save()
    return container.auth.create_key(principal, name="load", mode="live")["api_key"]


def test_eight_threads_of_five_hundred_calls_are_counted_exactly_four_thousand_times(gateway_container):
    key = installed_key(gateway_container)
    gateway = gateway_container.gateway

    def burst(thread: int) -> list[int]:
        statuses = []
        for n in range(500):
            call = GatewayCall(method="GET", plugin="echo", version_segment="v1", path="counter", query={},
                               headers={"authorization": f"Bearer {key}"}, body=b"", request_id=f"r{thread}-{n}")
            statuses.append(gateway.handle(call).status)
        return statuses

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(burst, range(8)) for s in batch]
    assert statuses.count(200) == 4000
    user_id = gateway_container.auth.authenticate_key(key).user_id
    month = gateway_container.clock.now().strftime("%Y-%m")
    counted = gateway_container.metering.month_usage(plugin="echo", user_id=user_id, sandbox=False, month=month)
    assert (counted.calls, counted.billable, counted.non_billable, counted.errors) == (4000, 4000, 0, 0)


def mid_window_ahead() -> datetime:
    """Half past an hour in the future: no window boundary mid-race, and a window whose
    TTL (an hour after it ends) lies ahead, so DynamoDB's TTL sweep leaves it alone."""
    return datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0) + timedelta(hours=2)


def test_sixteen_clients_in_four_containers_never_exceed_the_limit(gateway_container):
    limit = Limit(1000, 3600)
    frozen = FixedClock(mid_window_ahead())
    containers = [RateLimiter(WindowStore(), frozen) for _ in range(4)]

    def client(n: int) -> int:
        limiter = containers[n % 4]
        return sum(limiter.check("race#user", limit).allowed for _ in range(100))

    with ThreadPoolExecutor(max_workers=16) as pool:
        admitted = sum(pool.map(client, range(16)))
    assert admitted == 1000  # 1,600 attempts: every leased admission gets used, none beyond the limit
