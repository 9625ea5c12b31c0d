"""A marketplace on moto whose clock the test moves, with Stripe = the stand-in (real HTTP, real ``stripe``)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib.core.clock import FixedClock
from tests.support import ECHO_PLUGIN, make_admin, manifest, post, publish, put, sign_up


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 10, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def settings(settings):
    from dataclasses import replace

    # tokens outlive the moved clock; these flows buy and change plans more than 5 times an hour
    return replace(settings, access_token_ttl_seconds=90 * 86_400, purchase_rate_limit="1000/60")


@pytest.fixture
def container(settings, runtime, clock, stripe_payments):
    from moto import mock_aws

    from chalicelib.core.dynamo import create_tables
    from chalicelib.tables import TABLES
    from chalicelib.wiring import Container, set_container

    with mock_aws():
        built = Container(settings, clock=clock, runtime=runtime, payments=stripe_payments)
        create_tables(TABLES)
        set_container(built)
        try:
            yield built
        finally:
            set_container(None)


@pytest.fixture(autouse=True)
def platform_funds(stripe_standin) -> None:
    """Money to transfer: the users' card payments stay pending for two days (as in Stripe's test
    mode) and the stand-in's clock is not the test's."""
    stripe_standin.fund(10_000_000)


@pytest.fixture
def admin(container) -> str:
    return make_admin(container)


class Developer:
    """A developer with a plugin in the catalog (echo's code, this name and price)."""

    def __init__(self, client: Any, admin: str, standin: Any, plugin: str, *, price: str = "1.00",
                 free: int = 0, ready: bool = True) -> None:
        signed = sign_up(client, "developer")
        self.client, self.token, self.id, self.plugin = client, signed["access_token"], signed["user"]["user_id"], plugin
        doc = manifest(name=plugin, pricing={"tier": "enterprise", "per_call_price": price, "free_tier_calls": free})
        doc["runtime"] = ECHO_PLUGIN["runtime"]
        publish(client, self.token, admin, doc)
        if ready:
            self.onboard(standin)
            self.tax_form()

    def onboard(self, standin: Any) -> str:
        reply = post(self.client, "/developer/onboarding", {"return_url": "https://app.example/done",
                                                            "refresh_url": "https://app.example/retry"}, self.token)
        assert reply.status_code == 200, reply.body
        account = reply.json_body["stripe_account_id"]
        standin.onboard(account)
        assert self.get("/developer/account")["payouts_enabled"] is True
        return account

    def tax_form(self, form: str = "W-9", country: str = "US") -> None:
        reply = put(self.client, "/developer/tax-form", {"form": form, "legal_name": "Ada Dev", "country": country,
                                                         "tax_id": "123-45-6789"}, self.token)
        assert reply.status_code == 200, reply.body

    def get(self, path: str) -> Any:
        reply = self.client.http.get(path, headers={"Authorization": f"Bearer {self.token}"})
        assert reply.status_code == 200, reply.body
        return reply.json_body

    def account_id(self) -> str:
        return self.get("/developer/account")["stripe_account_id"]
