from __future__ import annotations

import pytest

from chalicelib.catalog.manifest import parse_manifest
from chalicelib.core.errors import InvalidInputError
from tests.support import manifest


def problems_of(doc) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_manifest(doc)
    assert caught.value.code == "invalid_manifest"
    return {p["path"]: p["message"] for p in caught.value.details}


def test_seed_style_decimal_money_becomes_exact_integers():
    doc = manifest(pricing={"tier": "premium", "per_call_price": 0.005, "free_tier_calls": 100,
                            "revenue_share": 0.70})
    assert parse_manifest(doc).pricing == {"tier": "premium", "per_call_price_micros": 5000,
                                           "free_tier_calls": 100, "revenue_share_bps": 7000,
                                           "model": "usage", "plans": []}


def test_tier_prices_are_fixed_except_enterprise():
    assert "pricing/per_call_price" in problems_of(manifest(pricing={"tier": "standard", "per_call_price": "0.002"}))
    assert "pricing/per_call_price" in problems_of(manifest(pricing={"tier": "enterprise"}))
    custom = parse_manifest(manifest(pricing={"tier": "enterprise", "per_call_price": "0.0125"}))
    assert custom.pricing["per_call_price_micros"] == 12_500


def test_sub_micro_dollar_prices_are_refused_not_rounded():
    assert "pricing/per_call_price" in problems_of(
        manifest(pricing={"tier": "enterprise", "per_call_price": "0.0000001"}))


def test_every_violation_is_reported_with_its_path():
    doc = manifest(runtime={"language": "python", "memory_limit_mb": 20000, "timeout_seconds": 30},
                   pricing={"tier": "standard", "free_tier_calls": 10001}, tags=["UPPER"])
    del doc["description"]
    found = problems_of(doc)
    assert {"runtime/memory_limit_mb", "runtime/timeout_seconds", "pricing/free_tier_calls", "tags/0",
            "description"} <= set(found)


def test_base_path_must_name_the_plugin_and_its_major():
    doc = manifest(version="2.1.0")
    doc["api"]["base_path"] = "/plugins/echo/v1"
    assert problems_of(doc) == {"api/base_path": "must be /plugins/echo/v2"}


def test_config_schema_must_be_valid_and_defaults_must_follow_it():
    bad_schema = manifest(config={"schema": {"type": "nonsense"}})
    assert "config/schema" in problems_of(bad_schema)
    bad_default = manifest(config={"schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                                   "default": {"n": "x"}})
    assert "config/default/n" in problems_of(bad_default)


def test_a_header_carrier_needs_its_header_name():
    assert "auth/header" in problems_of(manifest(auth={"carriers": ["header"]}))
    ok = parse_manifest(manifest(auth={"carriers": ["header", "bearer"], "header": "DD-API-KEY"}))
    assert ok.document["auth"]["header"] == "DD-API-KEY"


PROVENIQ_PLANS = [
    {"id": "free", "name": "Free", "kind": "free", "included_calls": 1000},
    {"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 9900, "interval": "month",
     "included_calls": 50_000, "overage_price_micros": 1000, "trial_days": 14, "features": ["analytics"]},
    {"id": "enterprise", "name": "Enterprise", "kind": "custom", "included_calls": -1},
    {"id": "templates", "name": "Templates", "kind": "addon", "price_cents": 1900, "requires_plan": "pro"},
]


def test_the_proveniq_freemium_shape_and_its_rates():
    from chalicelib.catalog.pricing import plans_of, rate_for

    pricing = parse_manifest(manifest(pricing={"tier": "standard", "model": "freemium",
                                               "plans": PROVENIQ_PLANS})).pricing
    plans = plans_of(pricing)
    assert plans["pro"].purchasable and plans["pro"].recurring and not plans["templates"].recurring
    assert rate_for(pricing, None).allowance == 1000 and rate_for(pricing, None).unit_price_micros == 0
    assert (rate_for(pricing, "pro").allowance, rate_for(pricing, "pro").unit_price_micros) == (50_000, 1000)
    assert rate_for(pricing, "enterprise").paid_calls(10**9) == 0
    assert rate_for(pricing, "templates") == rate_for(pricing, None)  # add-ons do not change the rate


@pytest.mark.parametrize("pricing, path", [
    ({"model": "freemium", "plans": [PROVENIQ_PLANS[0]]}, "pricing/plans"),
    ({"model": "subscription", "plans": [{"id": "pro", "name": "Pro", "kind": "subscription"}]},
     "pricing/plans/0/price_cents"),
    ({"model": "subscription", "plans": [{"id": "pro", "name": "Pro", "kind": "subscription", "price_cents": 1}]},
     "pricing/plans/0/interval"),
    ({"plans": [PROVENIQ_PLANS[0], PROVENIQ_PLANS[0]]}, "pricing/plans/1/id"),
    ({"plans": [PROVENIQ_PLANS[3]]}, "pricing/plans/0/requires_plan"),
    ({"model": "free"}, "pricing/tier"),
    ({"model": "one_time", "plans": [{"id": "x", "name": "X", "kind": "one_time", "price_cents": 500,
                                      "interval": "month"}]}, "pricing/plans/0/interval"),
])
def test_plan_rules(pricing, path):
    assert path in problems_of(manifest(pricing={"tier": "standard", **pricing}))


@pytest.mark.parametrize("name", ["installed", "verify", "revoke"])
def test_names_of_the_marketplace_own_routes_are_reserved(name):
    assert "name" in problems_of(manifest(name=name))
