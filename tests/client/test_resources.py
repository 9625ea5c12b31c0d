"""Mapping a manifest's endpoints to ``mf.<plugin>.<resource>`` (pure, no HTTP)."""
from __future__ import annotations

import copy
import pickle

import pytest

from mocklib import MockObject
from mocklib.resources import build_resources, fill_path, parse_endpoints
from tests.client.conftest import load_manifest


def resources_of(name):
    return build_resources(parse_endpoints(load_manifest(name)["api"]["endpoints"]))


def test_stripe_customers_map_to_their_collection_and_item():
    customers = resources_of("stripe")["customers"]
    assert (customers.collection, customers.item) == ("/customers", "/customers/{customer_id}")
    assert customers.collection_methods == {"GET", "POST"} and customers.item_methods == {"GET", "POST", "DELETE"}
    assert customers.update_method == "POST"
    assert customers.operations() == ["create", "list", "get", "update", "delete"]


def test_the_least_nested_collection_wins_a_shared_name_and_the_joined_name_reaches_the_other():
    stripe = resources_of("stripe")
    assert stripe["payment_methods"].collection == "/payment_methods"
    assert stripe["customers_payment_methods"].collection == "/customers/{customer_id}/payment_methods"
    assert stripe["sessions"].collection == stripe["checkout_sessions"].collection == "/checkout/sessions"
    assert stripe["reversals"].item == "/transfers/{transfer_id}/reversals/{reversal_id}"


def test_update_prefers_patch_then_put_then_post():
    endpoints = parse_endpoints([{"method": m, "path": "/things/{id}"} for m in ("POST", "PUT", "PATCH")])
    assert build_resources(endpoints)["things"].update_method == "PATCH"
    endpoints = parse_endpoints([{"method": m, "path": "/things/{id}"} for m in ("POST", "PUT")])
    assert build_resources(endpoints)["things"].update_method == "PUT"


def test_an_item_without_a_collection_is_still_a_resource_and_dashes_become_underscores():
    found = build_resources(parse_endpoints([{"method": "GET", "path": "/api-keys/{key}"}]))
    assert found["api_keys"].item == "/api-keys/{key}" and found["api_keys"].collection_methods == frozenset()
    assert found["api_keys"].operations() == ["get"]


def test_echo_has_greedy_items():
    echo = resources_of("echo")
    assert echo["echo"].item == "/echo/{rest+}" and set(echo) == {"echo", "licence", "counter"}
    assert fill_path("/echo/{rest+}", {"rest": "a/b c"}) == "/echo/a/b%20c"
    assert fill_path("/customers/{id}", {"id": "a/b"}) == "/customers/a%2Fb"
    with pytest.raises(KeyError):
        fill_path("/customers/{id}", {})


def test_results_are_dicts_with_attribute_access():
    from mocklib.objects import wrap

    obj = wrap({"id": "cus_1", "metadata": {"plan": "gold"}, "lines": [{"n": 1}]})
    assert isinstance(obj, MockObject) and isinstance(obj, dict)
    assert (obj.id, obj.metadata.plan, obj.lines[0].n) == ("cus_1", "gold", 1)
    with pytest.raises(AttributeError, match="keys: id, lines, metadata"):
        obj.email
    assert copy.deepcopy(obj) == obj and pickle.loads(pickle.dumps(obj)) == obj
    assert type(obj.to_dict()["metadata"]) is dict
