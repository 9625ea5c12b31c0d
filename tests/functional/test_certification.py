"""Certification tiers through the API: eligibility measured from usage data written
directly (100+ users), the tier and the revenue share changing together."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib.catalog.records import PluginRecord
from chalicelib.core.clock import FixedClock
from chalicelib.metering.records import PluginDayRecord, UserMonthRecord
from tests.support import ECHO_PLUGIN as ECHO
from tests.support import expect_error, get, make_admin, post, publish, sign_up

STATUS = "/developer/plugins/echo/certification"
GRANT = "/admin/plugins/echo/certification"


@pytest.fixture
def market(client, container):
    dev = sign_up(client, "developer")
    admin = make_admin(container)
    publish(client, dev["access_token"], admin, ECHO)
    return {"dev": dev["access_token"], "dev_id": dev["user"]["user_id"], "admin": admin}


def today(container) -> date:
    return container.clock.now().date()


def active_users(plugin: str, count: int, day: date, *, mode: str = "live", first: int = 0) -> None:
    """``count`` users with a call on ``day``, as the hourly aggregation leaves them."""
    month = day.strftime("%Y-%m")
    for n in range(first, first + count):
        UserMonthRecord(*UserMonthRecord.key(plugin, f"usr_{n:04d}", mode, month), plugin=plugin,
                        user_id=f"usr_{n:04d}", mode=mode, month=month,
                        billing_month=month if mode == "live" else None, plan="free", allowance=1000,
                        unit_price_micros=1000, calls=10, days={day.day}).save()


def day_stats(plugin: str, day: date, *, calls: int, errors: int, slow: int = 0) -> None:
    """A day of calls: all within 50 ms except ``slow`` that took about a second."""
    PluginDayRecord(*PluginDayRecord.key(plugin, day.isoformat()), plugin=plugin, day=day.isoformat(), calls=calls,
                    errors=errors, lat3=calls - slow, lat7=slow).save()


def ratings(plugin: str, total: int, count: int) -> None:
    PluginRecord(*PluginRecord.key(plugin)).update(actions=[PluginRecord.rating_sum.set(total),
                                                            PluginRecord.rating_count.set(count)])


def verified_grade(container, *, users: int = 100, errors: int = 5, slow: int = 0) -> None:
    """Usage that meets every verified criterion (0.5 % errors: not premier)."""
    day = today(container)
    active_users("echo", users, day)
    day_stats("echo", day, calls=1000, errors=errors, slow=slow)
    ratings("echo", 46, 10)  # 4.6 stars from 10 reviews


def grant(client, admin: str, tier: str):
    return post(client, GRANT, {"tier": tier, "reason": "program review"}, admin)


def criteria(body: dict, tier: str) -> dict[str, dict]:
    return {c["name"]: c for c in body["tiers"][tier]["criteria"]}


def test_a_new_plugin_is_listed_at_70_percent_and_sees_what_each_tier_needs(client, market):
    body = get(client, STATUS, market["dev"]).json_body
    assert body["tier"] == "listed" and body["share_bps"] == 7000
    assert body["window"]["days"] == 30
    assert body["tiers"]["listed"] == {"share_bps": 7000, "eligible": True, "criteria": []}
    verified = criteria(body, "verified")
    assert body["tiers"]["verified"]["eligible"] is False
    assert verified["active_users_30d"] == {"name": "active_users_30d", "comparison": "at_least", "required": 100,
                                            "actual": 0, "met": False}
    assert verified["rating_x100"]["actual"] is None and verified["error_rate_bps"]["actual"] is None
    assert criteria(body, "premier")["current_tier"]["met"] is False


def test_only_the_owner_sees_the_certification(client, market):
    other = sign_up(client, "developer")["access_token"]
    expect_error(get(client, STATUS, other), 403, "not_plugin_owner")
    expect_error(get(client, STATUS, sign_up(client)["access_token"]), 403, "insufficient_role")
    assert get(client, STATUS, market["admin"]).status_code == 200


def test_verified_is_granted_when_every_criterion_is_met_and_the_share_becomes_75_percent(client, market, container):
    verified_grade(container)
    body = get(client, STATUS, market["dev"]).json_body
    assert body["tiers"]["verified"]["eligible"] is True, body
    assert criteria(body, "verified")["error_rate_bps"]["actual"] == 50
    assert criteria(body, "verified")["rating_x100"]["actual"] == 460

    granted = grant(client, market["admin"], "verified")
    assert granted.status_code == 200, granted.body
    assert granted.json_body == {"plugin": "echo", "tier": "verified", "previous_tier": "listed", "share_bps": 7500,
                                 "changed": True, "reason": "program review"}
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.verified, plugin.revenue_share_bps) == ("verified", 7500)  # what the payout job multiplies by
    found = get(client, "/marketplace/plugins?q=echo").json_body["plugins"][0]
    assert found["verification"] == "verified" and found["verified"] is True
    after = get(client, STATUS, market["dev"]).json_body
    assert after["tier"] == "verified" and after["share_bps"] == 7500
    assert after["history"][0]["from"] == "listed" and after["history"][0]["to"] == "verified"
    notes = container.notifications.list(market["dev_id"])["notifications"]
    assert any(n["topic"] == "trust.certification_changed" and n["data"]["share_bps"] == 7500 for n in notes)
    # granting the tier it has changes nothing
    assert grant(client, market["admin"], "verified").json_body["changed"] is False


@pytest.mark.parametrize("setup, unmet", [
    (dict(users=99), {"active_users_30d"}),
    (dict(errors=10), {"error_rate_bps"}),  # exactly 1 %: must be below
    (dict(ratings=(44, 10)), {"rating_x100"}),  # 4.4 stars
    (dict(ratings=(45, 9)), {"review_count", "rating_x100"}),  # 5 stars, but from 9 reviews
    (dict(calls=0), {"calls_30d", "error_rate_bps"}),
])
def test_verified_is_refused_listing_the_unmet_criteria(client, market, container, setup, unmet):
    day = today(container)
    active_users("echo", setup.get("users", 100), day)
    if setup.get("calls", 1000):
        day_stats("echo", day, calls=1000, errors=setup.get("errors", 0))
    ratings("echo", *setup.get("ratings", (45, 10)))
    body = expect_error(grant(client, market["admin"], "verified"), 409, "not_eligible")
    assert {c["name"] for c in body["details"]} == unmet
    assert all(c["met"] is False for c in body["details"])
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.verified, plugin.revenue_share_bps) == ("listed", 7000)


def test_premier_needs_verified_first_then_fewer_errors_and_a_fast_p99(client, market, container):
    verified_grade(container, errors=5, slow=11)  # 0.5 % errors, 1.1 % of calls around a second
    body = expect_error(grant(client, market["admin"], "premier"), 409, "not_eligible")
    assert {c["name"] for c in body["details"]} == {"current_tier", "error_rate_bps", "p99_latency_ms"}
    assert grant(client, market["admin"], "verified").status_code == 200
    body = expect_error(grant(client, market["admin"], "premier"), 409, "not_eligible")
    assert {c["name"]: c["actual"] for c in body["details"]} == {"error_rate_bps": 50, "p99_latency_ms": 1000}

    day_stats("echo", today(container), calls=1000, errors=4, slow=10)  # 0.4 %, and p99 within 50 ms
    assert grant(client, market["admin"], "premier").json_body["share_bps"] == 8000
    assert container.catalog.get_plugin("echo").revenue_share_bps == 8000


def test_a_downgrade_to_listed_is_always_allowed(client, market, container):
    verified_grade(container)
    assert grant(client, market["admin"], "verified").status_code == 200
    active_users("echo", 0, today(container))
    ratings("echo", 10, 10)  # no longer eligible: still allowed to go down
    done = grant(client, market["admin"], "listed")
    assert done.status_code == 200 and done.json_body["share_bps"] == 7000
    plugin = container.catalog.get_plugin("echo")
    assert (plugin.verified, plugin.revenue_share_bps) == ("listed", 7000)


def test_only_admins_grant_and_only_known_tiers(client, market):
    expect_error(grant(client, market["dev"], "listed"), 403, "insufficient_role")
    expect_error(grant(client, market["admin"], "gold"), 400, "validation_failed")
    expect_error(post(client, "/admin/plugins/nope/certification", {"tier": "listed", "reason": "gone"},
                      market["admin"]), 404, "plugin_not_found")


def test_the_window_is_the_last_30_utc_days_across_month_ends(client, market, container):
    container.clock = FixedClock.at("2026-03-01T12:00:00Z")  # the window is 2026-01-31 .. 2026-03-01
    for n, day in enumerate((date(2026, 1, 30), date(2026, 1, 31), date(2026, 2, 15), date(2026, 3, 1))):
        active_users("echo", 10, day, first=n * 10)
        day_stats("echo", day, calls=100, errors=n)
    active_users("echo", 10, date(2026, 2, 15), mode="sandbox", first=100)  # sandbox users are not counted
    active_users("echoes", 10, date(2026, 2, 15), first=200)  # another plugin sharing the prefix
    evidence = container.certification.evidence(container.catalog.get_plugin("echo"))
    assert evidence.active_users == 30
    assert (evidence.calls, evidence.errors) == (300, 1 + 2 + 3)
    window = container.certification.window()
    assert (window[0], window[-1], len(window)) == (date(2026, 1, 31), date(2026, 3, 1), 30)
    assert window[-1] - window[0] == timedelta(days=29)
