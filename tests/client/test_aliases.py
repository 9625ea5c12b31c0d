"""Resource aliases from a manifest's ``client.resources``: pure functions, no HTTP (the calls
themselves are tested through the real gateway in the Twilio, Datadog and SendGrid plugins' tests)."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from mocklib.aliases import AliasClient, form_encode, parse_aliases, pascal
from mocklib.resources import parse_endpoints

ENDPOINTS = parse_endpoints([
    {"method": "POST", "path": "/2010-04-01/Accounts/{account_sid}/Messages.json"},
    {"method": "GET", "path": "/2010-04-01/Accounts/{account_sid}/Messages.json"},
    {"method": "GET", "path": "/2010-04-01/Accounts/{account_sid}/Messages/{sid}"},
    {"method": "POST", "path": "/api/v1/series"},
])


def test_twilios_parameter_names_are_pascal_case_without_pythons_trailing_underscore():
    assert [pascal(n) for n in ("to", "from_", "status_callback", "status_callback_event")] == [
        "To", "From", "StatusCallback", "StatusCallbackEvent"]


def test_forms_nest_objects_with_brackets_and_repeat_keys_for_lists():
    encoded = form_encode({"amount": 2000, "metadata": {"order": "A1"}, "StatusCallbackEvent": ["ringing", "answered"],
                           "capture": False, "skipped": None})
    assert parse_qsl(encoded.decode()) == [("amount", "2000"), ("metadata[order]", "A1"),
                                           ("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered"),
                                           ("capture", "false")]


def test_aliases_keep_only_what_the_installed_version_declares_and_never_an_authorization_header():
    aliases = parse_aliases({"resources": {
        "messages": {"collection": "/2010-04-01/Accounts/{account_sid}/Messages.json",
                     "item": "/2010-04-01/Accounts/{account_sid}/Messages/{sid}", "body": "form",
                     "param_case": "pascal", "basic_user": "account_sid", "defaults": {"account_sid": "AC1"},
                     "headers": {"Authorization": "Bearer stolen", "X-Extra": "1"}},
        "metrics": {"operations": {"send": {"method": "POST", "path": "/api/v1/series", "wrap": "series"},
                                   "delete_all": {"method": "DELETE", "path": "/api/v1/series"}}},
        "calls": {"collection": "/2010-04-01/Accounts/{account_sid}/Calls.json"},
        "not a name": {"collection": "/api/v1/series"},
    }}, ENDPOINTS)

    assert sorted(aliases) == ["messages", "metrics"]
    messages = aliases["messages"]
    assert (messages.body, messages.param_case, messages.basic_user, dict(messages.defaults)) == (
        "form", "pascal", "account_sid", {"account_sid": "AC1"})
    assert dict(messages.headers) == {"X-Extra": "1"}
    assert list(aliases["metrics"].operations) == ["send"]  # DELETE /api/v1/series is not declared
    assert parse_aliases(None, ENDPOINTS) == {} and parse_aliases({"resources": []}, ENDPOINTS) == {}


def test_indexed_forms_number_list_items_as_stripes_libraries_do():
    encoded = form_encode({"items": [{"price": "price_1", "quantity": 2}], "expand": ["customer"]}, indexed=True)
    assert parse_qsl(encoded.decode()) == [("items[0][price]", "price_1"), ("items[0][quantity]", "2"),
                                           ("expand[0]", "customer")]


class RecordingPlugin:
    """What AliasClient needs of ``mf.<plugin>``: ``request`` (recorded here) and the key."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._client = SimpleNamespace(api_key="mf_test_k")

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, path, kwargs))
        return {"id": "ch_1", "object": "charge"}


def test_a_stripe_style_alias_posts_indexed_forms_to_its_declared_collection():
    endpoints = parse_endpoints([{"method": "POST", "path": "/charges"}, {"method": "GET", "path": "/charges"},
                                 {"method": "GET", "path": "/charges/{charge_id}"}])
    aliases = parse_aliases({"resources": {"charges": {"collection": "/charges", "item": "/charges/{charge_id}",
                                                       "body": "form_indexed"}}}, endpoints)
    plugin = RecordingPlugin()
    charges = AliasClient(plugin, aliases["charges"])  # type: ignore[arg-type]

    assert charges.create(amount=2000, currency="usd", expand=["balance_transaction"]).id == "ch_1"
    charges.get("ch_1")
    [(method, path, sent), (read, item, query)] = plugin.calls
    assert (method, path, sent["headers"]["Content-Type"]) == ("POST", "/charges", "application/x-www-form-urlencoded")
    assert parse_qsl(sent["data"].decode()) == [("amount", "2000"), ("currency", "usd"),
                                                ("expand[0]", "balance_transaction")]
    assert (read, item, query["params"]) == ("GET", "/charges/ch_1", None)
    assert charges.operations == ["create", "list", "get"]
