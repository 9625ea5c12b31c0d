"""Legacy plans (recurring prices answered as ``object: "plan"``), and the shape of the objects: every
field Stripe's current example objects carry (``spec/stripe_fixtures3.subset.json.gz``), driven by the
official ``stripe`` library through the marketplace gateway."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import stripe

FIXTURES = Path(__file__).resolve().parents[1] / "spec" / "stripe_fixtures3.subset.json.gz"

# Fields of Stripe's example objects that a default answer leaves out, as Stripe's does: a charge's
# ``refunds`` only when expanded (since API 2022-11-15) and its ``source`` only on Charges-API
# charges; a Source carries the details of its own type (``card``), not those of the example's.
ABSENT_BY_DESIGN = {"charge": {"refunds", "source"}, "source": {"ach_credit_transfer", "receiver"}}


def client_for(gateway, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": f"{gateway.api_url}/plugins/stripe"},
                               max_network_retries=0)


def raw(client: stripe.StripeClient, method: str, path: str, **params: Any) -> dict[str, Any]:
    return json.loads(client.raw_request(method, path, **params).body)


def current_examples() -> dict[str, dict[str, Any]]:
    with gzip.open(FIXTURES, "rt", encoding="utf-8") as data:
        return {example["object"]: example for example in json.load(data)["resources"].values()}


def objects_in(node: Any) -> list[dict[str, Any]]:
    """Every Stripe object (a dict with an ``id`` and an ``object``) in an answer, nested ones too."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("object"), str) and "id" in node and not node.get("deleted"):
            found.append(node)
        for value in node.values():
            found.extend(objects_in(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(objects_in(value))
    return found


def test_plans_are_recurring_prices_in_the_plan_shape_and_a_subscription_takes_a_plan_id(gateway):
    client = client_for(gateway, gateway.test_key)

    gold = raw(client, "post", "/v1/plans", id="gold-monthly", amount=2000, currency="usd", interval="month",
               product={"name": "Gold"}, nickname="Gold monthly", trial_period_days=14)
    assert (gold["id"], gold["object"], gold["amount"], gold["amount_decimal"]) == ("gold-monthly", "plan", 2000, "2000")
    assert (gold["interval"], gold["interval_count"], gold["usage_type"]) == ("month", 1, "licensed")
    assert gold["trial_period_days"] == 14 and gold["product"].startswith("prod_")
    # One object under two names: the plan is a recurring price of the same id, and back.
    as_price = client.v1.prices.retrieve("gold-monthly")
    assert (as_price.object, as_price.type, as_price.unit_amount) == ("price", "recurring", 2000)
    monthly = client.v1.prices.create(params={"unit_amount": 900, "currency": "usd", "product": gold["product"],
                                              "recurring": {"interval": "month"}})
    assert raw(client, "get", f"/v1/plans/{monthly.id}")["object"] == "plan"
    one_time = client.v1.prices.create(params={"unit_amount": 500, "currency": "usd", "product": gold["product"]})
    with pytest.raises(stripe.InvalidRequestError) as not_a_plan:
        client.raw_request("get", f"/v1/plans/{one_time.id}")
    assert not_a_plan.value.http_status == 404 and not_a_plan.value.user_message == f"No such plan: '{one_time.id}'"
    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.raw_request("post", "/v1/plans", id="gold-monthly", amount=1, currency="usd", interval="month",
                           product=gold["product"])
    assert taken.value.code == "resource_already_exists"

    updated = raw(client, "post", "/v1/plans/gold-monthly", nickname="Gold", metadata={"tier": "gold"})
    assert (updated["nickname"], updated["metadata"], updated["amount"]) == ("Gold", {"tier": "gold"}, 2000)
    listed = raw(client, "get", "/v1/plans", product=gold["product"])
    assert listed["url"] == "/v1/plans" and [p["id"] for p in listed["data"]] == [monthly.id, "gold-monthly"]
    assert {p["object"] for p in listed["data"]} == {"plan"}
    events = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert "plan.created" in events and "plan.updated" in events

    # Subscription items take a plan id where a price id goes, and carry both views.
    ada = client.v1.customers.create(params={"email": "ada@example.com"})
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": ada.id})
    client.v1.customers.update(ada.id, params={"invoice_settings": {"default_payment_method": visa.id}})
    sub = raw(client, "post", "/v1/subscriptions", customer=ada.id, items=[{"plan": "gold-monthly"}])
    item = sub["items"]["data"][0]
    assert sub["status"] == "active" and item["price"]["id"] == "gold-monthly"
    assert (item["plan"]["object"], item["plan"]["id"], item["plan"]["amount"]) == ("plan", "gold-monthly", 2000)

    assert raw(client, "delete", "/v1/plans/gold-monthly") == {"id": "gold-monthly", "object": "plan",
                                                                "deleted": True}
    with pytest.raises(stripe.InvalidRequestError):
        client.raw_request("get", "/v1/plans/gold-monthly")
    assert raw(client, "get", f"/v1/subscriptions/{sub['id']}")["items"]["data"][0]["plan"]["id"] == "gold-monthly"


def test_invoices_sessions_and_accounts_carry_every_field_of_todays_stripe_objects(gateway):
    client = client_for(gateway, gateway.test_key)
    answers: list[dict[str, Any]] = []

    product = raw(client, "post", "/v1/products", name="Gold")
    price = raw(client, "post", "/v1/prices", unit_amount=1500, currency="usd", product=product["id"],
                recurring={"interval": "month"})
    customer = raw(client, "post", "/v1/customers", email="ada@example.com")
    visa = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer["id"]})
    client.v1.customers.update(customer["id"], params={"invoice_settings": {"default_payment_method": visa.id}})
    sub = raw(client, "post", "/v1/subscriptions", customer=customer["id"], items=[{"price": price["id"]}],
              expand=["latest_invoice"])
    session = raw(client, "post", "/v1/checkout/sessions", mode="payment",
                  line_items=[{"price_data": {"currency": "usd", "unit_amount": 700,
                                              "product_data": {"name": "Poster"}}, "quantity": 1}],
                  success_url="https://shop.example.com/ok")
    account = raw(client, "post", "/v1/accounts", type="custom", country="US",
                  tos_acceptance={"date": 1700000000, "ip": "8.8.8.8"}, settings={"dashboard": {"display_name": "Shop"}})
    answers += [product, price, customer, sub, session, account,
                raw(client, "get", f"/v1/invoices/{sub['latest_invoice']['id']}"),
                raw(client, "get", f"/v1/checkout/sessions/{session['id']}/line_items"),
                raw(client, "post", "/v1/plans", amount=100, currency="usd", interval="year", product=product["id"])]

    # What issue 17 found missing, as Stripe answers them when the feature is not used.
    invoice = sub["latest_invoice"]
    assert invoice["amount_shipping"] == 0 and invoice["automatic_tax"]["enabled"] is False
    assert invoice["payment_settings"]["payment_method_types"] is None and invoice["custom_fields"] is None
    assert invoice["rendering"]["pdf"] == {"page_size": "auto"} and invoice["shipping_cost"] is None
    assert session["automatic_tax"]["enabled"] is False and session["custom_fields"] == []
    assert session["custom_text"]["submit"] is None and session["payment_method_options"] == {}
    assert account["tos_acceptance"]["date"] == 1700000000  # an integer, though the form sent text
    assert account["settings"]["dashboard"] == {"display_name": "Shop", "timezone": "Etc/UTC"}
    assert account["settings"]["payouts"]["schedule"]["interval"] == "daily"
    assert (product["features"], product["marketing_features"]) == ([], [])

    examples = current_examples()
    seen = set()
    for obj in (o for answer in answers for o in objects_in(answer)):
        example = examples.get(obj["object"])
        if example is None:
            continue
        seen.add(obj["object"])
        missing = set(example) - set(obj) - ABSENT_BY_DESIGN.get(obj["object"], set())
        assert not missing, f"{obj['object']} {obj['id']} lacks {sorted(missing)}"
    assert {"invoice", "line_item", "checkout.session", "item", "account", "product", "plan",
            "subscription", "subscription_item", "price", "customer"} <= seen
