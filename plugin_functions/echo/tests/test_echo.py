"""The echo plugin through the SDK's PluginHost (fixtures: plugin_functions/conftest.py).

Storage is the SDK's in-memory store, so these run anywhere in milliseconds; the
packaged Lambda is checked by tests/infra/test_plugin_packaging.py.
"""
from __future__ import annotations

import base64

import pytest

from mocklib_plugin_sdk.protocol import decode_result, make_health_event, make_lifecycle_event


def test_echoes_method_path_query_headers_and_text_body(call):
    body = '{"hello": "wörld"}'.encode()
    result = call("POST", "/echo", query={"a": ["1", "2"], "b": [""], "q": ["x y"]},
                  headers={"Content-Type": "application/json", "X-Trace": "t-1"}, body=body,
                  request_id="req_1")

    assert result.status == 200
    assert result.headers["Content-Type"] == "application/json"
    echoed = result.json()
    assert echoed["method"] == "POST"
    assert echoed["path"] == "/echo"
    # Repeated keys and blank values survive, in order.
    assert echoed["query"] == {"a": ["1", "2"], "b": [""], "q": ["x y"]}
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["headers"]["x-trace"] == "t-1"
    assert echoed["body"] == body.decode("utf-8")
    assert base64.b64decode(echoed["body_b64"]) == body
    assert echoed["sandbox"] is False
    assert result.webhooks == []


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_every_declared_method_is_echoed(call, method):
    result = call(method, "/echo")

    assert result.status == 200
    assert result.json()["method"] == method
    assert result.json()["body"] == ""
    assert result.json()["query"] == {}


def test_binary_body_is_echoed_byte_exact(call):
    body = bytes(range(256)) + b"\xff\xfe\x00gzip?\x1f\x8b"  # not UTF-8

    result = call("PUT", "/echo", headers={"Content-Type": "application/octet-stream"}, body=body)

    assert result.status == 200
    assert result.json()["body"] is None  # no text form for non-UTF-8 bytes
    assert base64.b64decode(result.json()["body_b64"], validate=True) == body


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_sub_paths_are_echoed_as_sent(call, method):
    result = call(method, "/echo/a/b%2Fc/d", query={"k": ["v"]})

    assert result.status == 200
    assert result.json()["path"] == "/echo/a/b%2Fc/d"
    assert result.json()["query"] == {"k": ["v"]}


def test_sandbox_flag_is_echoed(call):
    assert call("GET", "/echo", sandbox=True).json()["sandbox"] is True


def test_counter_counts_echo_calls_per_user(call):
    assert [call("GET", "/echo", user="usr_a").json()["calls"] for _ in range(3)] == [1, 2, 3]
    assert call("POST", "/echo/x", user="usr_b").json()["calls"] == 1

    # Reading the counter is not an echo call: it does not count itself.
    assert call("GET", "/counter", user="usr_a").json() == {"calls": 3}
    assert call("GET", "/counter", user="usr_a").json() == {"calls": 3}
    assert call("GET", "/counter", user="usr_b").json() == {"calls": 1}
    assert call("GET", "/counter", user="usr_new").json() == {"calls": 0}


def test_counter_reset_only_affects_the_caller(call):
    for _ in range(2):
        call("GET", "/echo", user="usr_a")
    call("GET", "/echo", user="usr_b")

    assert call("DELETE", "/counter", user="usr_a").json() == {"calls": 0}

    assert call("GET", "/counter", user="usr_a").json() == {"calls": 0}
    assert call("GET", "/echo", user="usr_a").json()["calls"] == 1
    assert call("GET", "/counter", user="usr_b").json() == {"calls": 1}


def test_sandbox_and_live_counters_never_mix(call):
    call("GET", "/echo", user="usr_a")
    call("GET", "/echo", user="usr_a")

    assert call("GET", "/echo", user="usr_a", sandbox=True).json()["calls"] == 1
    assert call("GET", "/counter", user="usr_a").json() == {"calls": 2}
    assert call("GET", "/counter", user="usr_a", sandbox=True).json() == {"calls": 1}


def test_state_keys_stay_under_the_plugins_own_prefix(call, store):
    # The Lambda's IAM policy only allows partition keys "echo#*" (infra/plugin_config.py).
    call("GET", "/echo", user="usr_a")
    call("GET", "/echo", user="usr_a", sandbox=True)

    assert store.get("echo#live#usr_a", "counters#echo") is not None
    assert store.get("echo#sandbox#usr_a", "counters#echo") is not None
    assert all(pk.startswith("echo#") for pk in store._partitions)


def test_undeclared_routes_are_404_and_wrong_methods_405(call):
    assert call("GET", "/nope").status == 404
    result = call("PUT", "/counter")
    assert result.status == 405
    assert set(result.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "DELETE"}


def test_health_and_lifecycle(host, manifest):
    health = decode_result(host.invoke(make_health_event(manifest["name"])))
    assert (health.status, health.json()) == (200, {"healthy": True})

    installed = decode_result(host.invoke(make_lifecycle_event("installed", plugin=manifest["name"],
                                                               user_id="usr_a")))
    assert 200 <= installed.status < 300


def test_refuses_events_for_another_plugin(host):
    result = decode_result(host.invoke(make_health_event("stripe")))
    assert result.status == 500
    assert result.error is not None and result.error["code"] == "plugin_mismatch"


def test_echo_through_the_gateway_over_real_http(gateway):
    import requests

    body = bytes(range(256))
    response = requests.post(f"{gateway.base_url}/echo/x?a=1&a=2", data=body, timeout=30,
                             headers={"Authorization": f"Bearer {gateway.live_key}",
                                      "Content-Type": "application/octet-stream"})
    assert response.status_code == 200, response.text
    seen = response.json()
    assert (seen["path"], seen["query"]) == ("/echo/x", {"a": ["1", "2"]})
    assert base64.b64decode(seen["body_b64"]) == body
    assert response.headers["X-MockFactory-Free-Calls-Remaining"] == "999"


def test_the_python_example_on_the_plugin_page_gets_its_request_echoed(gateway, manifest):
    import contextlib
    import io

    code = manifest["client"]["snippets"]["python"].replace("{{BASE_URL}}", gateway.base_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("{{API_KEY}}", gateway.live_key), "example", "exec"), {})  # noqa: S102
    echoed = out.getvalue()
    assert "'/echo/a/b'" in echoed and "'x': ['1', '2']" in echoed
