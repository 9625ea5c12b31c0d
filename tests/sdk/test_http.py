from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from mocklib_plugin_sdk import BadRequestError, Headers, QueryParams, Request, Response, parse_nested


def form_request(pairs: list[tuple[str, str]]) -> Request:
    return Request("POST", "/", Headers({"Content-Type": "application/x-www-form-urlencoded"}),
                   urlencode(pairs).encode())


def test_stripe_style_brackets_become_nested_dicts():
    request = form_request([("email", "a@b.com"), ("metadata[order]", "6735"), ("address[city]", "Paris"),
                            ("address[geo][lat]", "48.8")])
    assert request.form() == {"email": "a@b.com", "metadata": {"order": "6735"},
                              "address": {"city": "Paris", "geo": {"lat": "48.8"}}}


def test_empty_brackets_append_to_a_list():
    assert form_request([("expand[]", "customer"), ("expand[]", "invoice")]).form() == {
        "expand": ["customer", "invoice"]}


def test_dense_indices_become_a_list_of_objects_in_index_order():
    request = form_request([("items[1][price]", "price_b"), ("items[0][price]", "price_a"),
                            ("items[0][quantity]", "2")])
    assert request.form() == {"items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}]}


def test_sparse_numeric_keys_stay_a_dict_so_metadata_is_not_mangled():
    assert form_request([("metadata[7]", "x")]).form() == {"metadata": {"7": "x"}}


def test_plain_repeated_keys_keep_the_last_value_and_form_pairs_keep_all():
    request = form_request([("a", "1"), ("a", "2")])
    assert request.form() == {"a": "2"}
    assert request.form_pairs() == [("a", "1"), ("a", "2")]


def test_a_key_used_as_value_and_container_is_a_bad_request():
    with pytest.raises(BadRequestError):
        parse_nested([("a", "1"), ("a[b]", "2")])
    with pytest.raises(BadRequestError):
        parse_nested([("a[b]", "1"), ("a", "2")])
    with pytest.raises(BadRequestError):
        parse_nested([("a[]", "1"), ("a[x]", "2")])


def test_blank_values_and_plus_signs_follow_form_encoding():
    request = Request("POST", "/", body=b"name=Jane+Doe&note=&tag%5B%5D=a%26b")
    assert request.form() == {"name": "Jane Doe", "note": "", "tag": ["a&b"]}


def test_query_params_keep_every_value_and_the_first_wins_for_get():
    query = QueryParams({"expand[]": ["a", "b"], "limit": ["3"]})
    assert query["expand[]"] == "a"
    assert query.getlist("expand[]") == ["a", "b"]
    assert query.get("missing", "d") == "d"
    assert query.nested() == {"expand": ["a", "b"], "limit": "3"}
    assert QueryParams.from_pairs([("x", "1"), ("y", "2"), ("x", "3")]).to_dict() == {"x": ["1", "3"], "y": ["2"]}


def test_request_json_parses_the_body_and_rejects_garbage_with_a_400():
    assert Request("POST", "/", body=b'{"amount": 2000}').json() == {"amount": 2000}
    assert Request("GET", "/").json() == {}
    with pytest.raises(BadRequestError) as caught:
        Request("POST", "/", body=b"{nope").json()
    assert caught.value.code == "invalid_json"


def test_headers_are_case_insensitive():
    request = Request("GET", "/", Headers({"Idempotency-Key": "k1"}))
    assert request.get_header("idempotency-key") == "k1"
    assert request.headers["IDEMPOTENCY-KEY"] == "k1"


def test_response_json_sets_content_type_and_keeps_extra_headers():
    response = Response.json({"id": "cus_1"}, status=201, headers={"Request-Id": "req_1"})
    assert response.status_code == 201
    assert json.loads(response.body) == {"id": "cus_1"}
    assert response.headers == {"Content-Type": "application/json", "Request-Id": "req_1"}


def test_a_seed_style_response_with_a_dict_body_is_json_and_bytes_stay_bytes():
    assert Response(200, {"a": 1}).headers["Content-Type"] == "application/json"
    raw = Response(200, b"\x00\xff", {"Content-Type": "image/png"})
    assert (raw.body, raw.headers) == (b"\x00\xff", {"Content-Type": "image/png"})
