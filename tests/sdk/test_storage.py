"""Storage: one contract run against every adapter (memory, moto, DynamoDB Local),
then the scoping guarantees against DynamoDB Local with several plugins sharing a table."""
from __future__ import annotations

import json
import uuid
from typing import Any

import botocore.session

from mocklib_plugin_sdk import Plugin, PluginHost, Request, decode_result, endpoint, make_request_event
from mocklib_plugin_sdk.state import DynamoDBStateStore
from tests.sdk.support import manifest


class StoragePlugin(Plugin):
    """Runs one storage call per request, so tests go through the real invocation path."""

    @endpoint("POST", "/op")
    def op(self, request: Request) -> dict[str, Any]:
        spec = request.json()
        result = getattr(self.sdk.storage, spec["op"])(*spec.get("args", []), **spec.get("kwargs", {}))
        return {"result": result}


class Caller:
    def __init__(self, host: PluginHost, plugin: str) -> None:
        self.host = host
        self.plugin = plugin

    def raw(self, op: str, *args: Any, user: str = "u1", sandbox: bool = False, **kwargs: Any):
        body = json.dumps({"op": op, "args": list(args), "kwargs": kwargs}).encode()
        event = make_request_event("POST", "/op", plugin=self.plugin, user_id=user, sandbox=sandbox, body=body)
        return decode_result(self.host.invoke(event))

    def __call__(self, op: str, *args: Any, **kwargs: Any) -> Any:
        result = self.raw(op, *args, **kwargs)
        assert result.status == 200, result.body
        return result.json()["result"]


def caller_for(make_host, store, name: str = "demo") -> Caller:
    # A unique plugin name per test: tests share one table, as plugins do.
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    return Caller(make_host(StoragePlugin, manifest(unique), store=store), unique)


# -- contract: every adapter behaves the same -----------------------------------------


def test_put_then_get_returns_the_document_and_missing_keys_give_the_default(make_host, any_store):
    kv = caller_for(make_host, any_store)
    kv("put", "customers", "cus_1", {"email": "a@b.com", "n": 1.5, "tags": ["x"]})
    assert kv("get", "customers", "cus_1") == {"email": "a@b.com", "n": 1.5, "tags": ["x"]}
    assert kv("get", "customers", "cus_404") is None
    assert kv("get", "customers", "cus_404", {"none": True}) == {"none": True}


def test_put_overwrites_but_if_absent_refuses_an_existing_key_with_a_409(make_host, any_store):
    kv = caller_for(make_host, any_store)
    kv("put", "idem", "k1", {"v": 1})
    kv("put", "idem", "k1", {"v": 2})
    assert kv("get", "idem", "k1") == {"v": 2}
    refused = kv.raw("put", "idem", "k1", {"v": 3}, if_absent=True)
    assert refused.status == 409
    assert refused.json()["error"]["code"] == "already_exists"
    kv("put", "idem", "k2", {"v": 1}, if_absent=True)
    assert kv("get", "idem", "k1") == {"v": 2}


def test_query_is_in_key_order_with_filters_limit_pagination_and_descending(make_host, any_store):
    kv = caller_for(make_host, any_store)
    for index in range(5):
        kv("put", "charges", f"ch_{index}", {"n": index, "paid": index % 2 == 0})
    assert [d["n"] for d in kv("query", "charges")] == [0, 1, 2, 3, 4]
    assert [d["n"] for d in kv("query", "charges", {"paid": True})] == [0, 2, 4]
    assert [d["n"] for d in kv("query", "charges", None, 2)] == [0, 1]
    assert [d["n"] for d in kv("query", "charges", None, 2, start_after="ch_1")] == [2, 3]
    assert [d["n"] for d in kv("query", "charges", None, 10, descending=True)] == [4, 3, 2, 1, 0]
    assert kv("items", "charges", None, 1) == [["ch_0", {"n": 0, "paid": True}]]


def test_collections_never_leak_into_each_other_even_with_a_common_prefix(make_host, any_store):
    kv = caller_for(make_host, any_store)
    kv("put", "a", "1", {"in": "a"})
    kv("put", "ab", "1", {"in": "ab"})
    assert kv("query", "a") == [{"in": "a"}]


def test_delete_reports_whether_something_was_there_and_clear_empties_one_collection(make_host, any_store):
    kv = caller_for(make_host, any_store)
    kv("put", "x", "1", {})
    kv("put", "x", "2", {})
    kv("put", "y", "1", {})
    assert kv("delete", "x", "1") is True
    assert kv("delete", "x", "1") is False
    assert kv("clear", "x") == 1
    assert kv("query", "x") == []
    assert kv("query", "y") == [{}]


def test_expired_documents_read_as_absent_and_free_their_key(make_host, any_store):
    kv = caller_for(make_host, any_store)
    kv("put", "sessions", "s1", {"v": 1}, ttl_seconds=-1)
    kv("put", "sessions", "s2", {"v": 2}, ttl_seconds=3600)
    assert kv("get", "sessions", "s1") is None
    assert kv("query", "sessions") == [{"v": 2}]
    kv("put", "sessions", "s1", {"v": 3}, if_absent=True)
    assert kv("get", "sessions", "s1") == {"v": 3}


def test_bad_collection_names_and_non_json_values_are_refused(make_host, any_store):
    kv = caller_for(make_host, any_store)
    refused = kv.raw("put", "cus#tomers", "k", {})
    assert (refused.status, refused.json()["error"]["code"]) == (500, "storage_error")
    assert kv.raw("put", "c", "", {}).status == 500


def test_the_dynamodb_adapter_also_runs_on_motos_mock_aws_for_fast_unit_tests(make_host, moto_store):
    kv = caller_for(make_host, moto_store)
    kv("put", "customers", "cus_1", {"v": 1})
    kv("put", "customers", "cus_2", {"v": 2}, ttl_seconds=60)
    assert kv("get", "customers", "cus_1") == {"v": 1}
    assert kv("query", "customers", None, 10, descending=True) == [{"v": 2}, {"v": 1}]
    assert kv.raw("put", "customers", "cus_1", {}, if_absent=True).status == 409
    assert kv("delete", "customers", "cus_1") is True
    assert kv("get", "customers", "cus_1", user="u2") is None
    assert kv("clear") == 1


# -- scoping, on a real DynamoDB Local table shared by several plugins ------------------


def test_plugin_a_cannot_read_plugin_b_items_in_the_same_table(make_host, dynamo_store):
    alpha = caller_for(make_host, dynamo_store, "alpha")
    beta = caller_for(make_host, dynamo_store, "beta")
    alpha("put", "customers", "cus_1", {"owner": "alpha"})
    assert beta("get", "customers", "cus_1") is None
    assert beta("query", "customers") == []
    assert beta("delete", "customers", "cus_1") is False
    assert alpha("get", "customers", "cus_1") == {"owner": "alpha"}


def test_a_forged_plugin_name_in_the_event_is_refused_before_any_storage_call(make_host, dynamo_store):
    alpha = caller_for(make_host, dynamo_store, "alpha")
    alpha("put", "customers", "cus_1", {"owner": "alpha"})
    beta = caller_for(make_host, dynamo_store, "beta")
    forged = Caller(beta.host, alpha.plugin).raw("get", "customers", "cus_1")
    assert forged.status == 500
    assert forged.json()["error"]["code"] == "plugin_mismatch"


def test_user_1_cannot_read_user_2_items(make_host, dynamo_store):
    kv = caller_for(make_host, dynamo_store)
    kv("put", "customers", "cus_1", {"owner": "u1"}, user="u1")
    assert kv("get", "customers", "cus_1", user="u2") is None
    assert kv("query", "customers", user="u2") == []
    kv("put", "customers", "cus_1", {"owner": "u2"}, user="u2")
    assert kv("get", "customers", "cus_1", user="u1") == {"owner": "u1"}


def test_sandbox_and_live_state_are_separate_for_the_same_user(make_host, dynamo_store):
    kv = caller_for(make_host, dynamo_store)
    kv("put", "customers", "cus_1", {"mode": "live"}, user="u1", sandbox=False)
    assert kv("get", "customers", "cus_1", user="u1", sandbox=True) is None
    kv("put", "customers", "cus_1", {"mode": "sandbox"}, user="u1", sandbox=True)
    assert kv("get", "customers", "cus_1", user="u1", sandbox=False) == {"mode": "live"}
    assert kv("clear", user="u1", sandbox=True) == 1
    assert kv("get", "customers", "cus_1", user="u1", sandbox=False) == {"mode": "live"}


def test_items_have_the_documented_layout_in_dynamodb(make_host, dynamo_store, dynamo_settings):
    kv = caller_for(make_host, dynamo_store, "alpha")
    kv("put", "customers", "cus_1", {"email": "a@b.com"}, user="usr_42", sandbox=True, ttl_seconds=60)
    client = botocore.session.get_session().create_client(
        "dynamodb", endpoint_url=dynamo_settings.dynamodb_endpoint, region_name="us-east-1")
    item = client.get_item(TableName=dynamo_settings.state_table,
                           Key={"pk": {"S": f"{kv.plugin}#sandbox#usr_42"}, "sk": {"S": "customers#cus_1"}})["Item"]
    assert json.loads(item["doc"]["S"]) == {"email": "a@b.com"}
    assert item["updated_at"]["S"].endswith("+0000")
    assert int(item["expires_at"]["N"]) > 0
    ttl = client.describe_time_to_live(TableName=dynamo_settings.state_table)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at"


def test_a_plugin_without_a_configured_table_gets_a_clear_configuration_error(make_host):
    kv = Caller(make_host(StoragePlugin, manifest(), store=None), "demo")
    refused = kv.raw("get", "customers", "cus_1")
    assert refused.status == 500
    assert "MF_PLUGIN_STATE_TABLE" in refused.json()["error"]["message"]


def test_table_creation_is_idempotent(dynamo_settings):
    store = DynamoDBStateStore.from_settings(dynamo_settings)
    store.create_table()  # the session fixture already created it
    store.create_table()
