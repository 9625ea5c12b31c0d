"""The plugin gateway through chalice's test client (routing patched like API Gateway)
and through real API Gateway events given to ``app(event, context)``."""
from __future__ import annotations

import base64
import json

import pytest

from chalicelib.runtime.port import PluginOutOfMemory, PluginTimedOut
from devstack.apigw import LambdaContext, rest_event
from tests.support import ECHO_PLUGIN as ECHO
from tests.support import get, make_admin, post, publish, sign_up

CONSENT = ECHO["permissions"]


@pytest.fixture
def user(client, container):
    dev = sign_up(client, "developer")["access_token"]
    publish(client, dev, make_admin(container), ECHO)
    token = sign_up(client)["access_token"]
    assert post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": CONSENT}, token).status_code == 201
    live = post(client, "/keys", {"name": "live", "mode": "live"}, token).json_body["api_key"]
    test = post(client, "/keys", {"name": "test", "mode": "test"}, token).json_body["api_key"]
    return {"token": token, "live": live, "test": test}


def call(client, method, path, key=None, body=b"", **headers):
    if key:
        headers.setdefault("Authorization", f"Bearer {key}")
    return client.http.request(method, path, headers=headers, body=body)


def echoed(response) -> dict:
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def test_a_call_reaches_the_plugin_with_path_query_and_body_intact(client, user):
    body = bytes(range(256))
    response = call(client, "POST", "/plugins/echo/v1/echo/a/b%20c?x=1&x=2&empty=&y=z", user["live"], body,
                    **{"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"})
    seen = echoed(response)
    assert seen["method"] == "POST"
    assert seen["path"] == "/echo/a/b%20c"
    assert seen["query"] == {"x": ["1", "2"], "empty": [""], "y": ["z"]}
    assert base64.b64decode(seen["body_b64"]) == body
    assert "authorization" not in seen["headers"]
    assert response.headers["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("carrier", ["bearer", "token", "basic-password", "basic-user", "x-api-key"])
def test_the_key_is_accepted_where_vendor_sdks_put_it_and_never_forwarded(client, user, carrier):
    key = user["live"]
    headers = {
        "bearer": {"Authorization": f"Bearer {key}"},
        "token": {"Authorization": f"token {key}"},
        "basic-password": {"Authorization": "Basic " + base64.b64encode(f"AC123:{key}".encode()).decode()},
        "basic-user": {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
        "x-api-key": {"X-Api-Key": key},
    }[carrier]
    seen = echoed(call(client, "GET", "/plugins/echo/v1/echo", **headers))
    assert key not in json.dumps(seen)
    if carrier == "basic-password":  # Twilio's AccountSid stays, the secret goes
        assert seen["headers"]["authorization"] == "Basic " + base64.b64encode(b"AC123:").decode()


def test_calls_to_the_base_path_and_unknown_plugin_paths_reach_the_plugin(client, user):
    assert call(client, "GET", "/plugins/echo/v1", user["live"]).status_code == 404  # the plugin's own 404
    assert call(client, "GET", "/plugins/echo/v1/nowhere", user["live"]).json_body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path, status, code", [
    ("/plugins/echo/v2/echo", 404, "version_not_installed"),
    ("/plugins/echo/latest/echo", 404, "invalid_version_segment"),
    ("/plugins/nope/v1/echo", 404, "plugin_not_found"),
])
def test_wrong_addresses_are_refused_with_clear_codes(client, user, path, status, code):
    response = call(client, "GET", path, user["live"])
    assert (response.status_code, response.json_body["code"]) == (status, code)


def test_missing_wrong_and_revoked_keys_are_refused(client, user):
    assert call(client, "GET", "/plugins/echo/v1/echo").json_body["code"] == "missing_credentials"
    assert call(client, "GET", "/plugins/echo/v1/echo", "mf_live_" + "x" * 40).json_body["code"] == "invalid_api_key"
    key_id = get(client, "/keys", user["token"]).json_body["keys"][0]["key_id"]
    client.http.delete(f"/keys/{key_id}", headers={"Authorization": f"Bearer {user['token']}"})
    refused = [call(client, "GET", "/plugins/echo/v1/echo", k).status_code for k in (user["live"], user["test"])]
    assert 401 in refused


def test_a_user_without_the_install_or_with_it_disabled_is_refused(client, user):
    other = sign_up(client)["access_token"]
    other_key = post(client, "/keys", {"name": "k"}, other).json_body["api_key"]
    assert call(client, "GET", "/plugins/echo/v1/echo", other_key).json_body["code"] == "plugin_not_installed"
    post(client, "/plugins/installed/echo/disable", None, user["token"])
    assert call(client, "GET", "/plugins/echo/v1/echo", user["live"]).json_body["code"] == "plugin_disabled"
    post(client, "/plugins/installed/echo/enable", None, user["token"])
    assert call(client, "GET", "/plugins/echo/v1/echo", user["live"]).status_code == 200
    post(client, "/plugins/uninstall", {"plugin": "echo"}, user["token"])
    assert call(client, "GET", "/plugins/echo/v1/echo", user["live"]).json_body["code"] == "plugin_not_installed"


def test_live_calls_are_metered_and_report_the_free_tier(client, user):
    for expected in (1, 2, 3):
        response = call(client, "GET", "/plugins/echo/v1/echo", user["live"])
        assert response.headers["X-MockFactory-Calls-This-Month"] == str(expected)
        assert response.headers["X-MockFactory-Free-Calls-Remaining"] == str(1000 - expected)
    usage = get(client, "/usage", user["token"]).json_body["plugins"][0]
    assert usage["live"] == {"calls": 3, "billable": 3, "errors": 0, "free_tier_calls": 1000,
                             "free_calls_used": 3, "free_calls_remaining": 997}
    assert usage["sandbox"] == {"calls": 0, "errors": 0}


def test_sandbox_calls_see_their_own_state_and_are_never_billable(client, user):
    assert echoed(call(client, "GET", "/plugins/echo/v1/echo", user["live"]))["calls"] == 1
    sandboxed = call(client, "GET", "/plugins/echo/v1/echo", user["test"])
    assert echoed(sandboxed)["calls"] == 1 and echoed(sandboxed)["sandbox"] is True
    assert sandboxed.headers["X-MockFactory-Mode"] == "sandbox"
    assert "X-MockFactory-Free-Calls-Remaining" not in sandboxed.headers
    usage = get(client, "/usage", user["token"]).json_body["plugins"][0]
    assert (usage["live"]["billable"], usage["sandbox"]["calls"]) == (1, 1)


@pytest.mark.parametrize("failure, status, code", [
    (PluginTimedOut("the plugin did not answer within 10 s"), 504, "plugin_timeout"),
    (PluginOutOfMemory("the plugin ran out of memory"), 502, "plugin_out_of_memory"),
])
def test_runtime_failures_answer_5xx_and_are_not_billed(client, user, runtime, failure, status, code):
    healthy = runtime.invoke

    def failing(function, event):
        raise failure

    runtime.invoke = failing
    response = call(client, "GET", "/plugins/echo/v1/echo", user["live"])
    assert (response.status_code, response.json_body["code"]) == (status, code)
    assert response.headers["X-MockFactory-Free-Calls-Remaining"] == "1000"
    runtime.invoke = healthy
    assert call(client, "GET", "/plugins/echo/v1/echo", user["live"]).status_code == 200
    usage = get(client, "/usage", user["token"]).json_body["plugins"][0]["live"]
    assert (usage["calls"], usage["billable"], usage["errors"]) == (2, 1, 1)


def test_an_api_gateway_event_gets_the_same_answer_as_the_local_route(client, user):
    from app import app

    event = rest_event("POST", "/plugins/echo/v1/echo/deep/path?k=1&k=2", "/plugins/{name}/{version}/{proxy+}",
                       path_params={"name": "echo", "version": "v1", "proxy": "echo/deep/path"},
                       headers={"Authorization": f"Bearer {user['live']}", "Content-Type": "application/json"},
                       body=b'{"a": 1}')
    response = app(event, LambdaContext())
    assert response["statusCode"] == 200, response
    raw = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()
    seen = json.loads(raw)
    via_client = echoed(call(client, "POST", "/plugins/echo/v1/echo/deep/path?k=1&k=2", user["live"], b'{"a": 1}',
                             **{"Content-Type": "application/json"}))
    for field in ("method", "path", "query", "body"):
        assert seen[field] == via_client[field]
    assert seen["body"] == '{"a": 1}'


def test_binary_bodies_cross_api_gateway_byte_for_byte_both_ways(client, user, runtime):
    from app import app

    payload = bytes(range(256)) * 4  # not UTF-8
    event = rest_event("POST", "/plugins/echo/v1/echo", "/plugins/{name}/{version}/{proxy+}",
                       path_params={"name": "echo", "version": "v1", "proxy": "echo"},
                       headers={"Authorization": f"Bearer {user['live']}", "Content-Type": "application/x-protobuf"},
                       body=payload)
    answer = app(event, LambdaContext())
    assert answer["statusCode"] == 200 and answer["isBase64Encoded"] is True
    assert base64.b64decode(json.loads(base64.b64decode(answer["body"]))["body_b64"]) == payload

    healthy = runtime.invoke

    def png(function, event):
        result = healthy(function, event)
        result.update(body_b64=base64.b64encode(payload).decode(), headers={"Content-Type": "image/png"})
        return result

    runtime.invoke = png
    event["headers"].pop("Accept", None)  # no Accept header at all: API Gateway converts with */* anyway
    answer = app(event, LambdaContext())
    assert answer["statusCode"] == 200, answer
    assert answer["isBase64Encoded"] is True and base64.b64decode(answer["body"]) == payload


def test_the_marketplace_limit_headers_never_overwrite_the_plugins_own(client, user, runtime):
    healthy = runtime.invoke

    def vendor_headers(function, event):
        result = healthy(function, event)
        result["headers"] = {**result["headers"], "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999"}
        return result

    runtime.invoke = vendor_headers
    response = call(client, "GET", "/plugins/echo/v1/echo", user["live"])
    assert (response.headers["X-RateLimit-Limit"], response.headers["X-RateLimit-Remaining"]) == ("5000", "4999")
    assert response.headers["X-MockFactory-RateLimit-Limit"] == "6000"


def test_an_empty_binary_typed_answer_needs_no_accept_header(client, user, runtime):
    healthy = runtime.invoke

    def empty(function, event):
        result = healthy(function, event)
        result.update(status=202, body_b64="", headers={"Content-Type": "application/octet-stream"})
        return result

    runtime.invoke = empty
    response = call(client, "POST", "/plugins/echo/v1/echo", user["live"])
    assert (response.status_code, response.body) == (202, b"")


def test_gateway_refusals_also_nest_the_error_for_vendor_sdks(client, user):
    body = call(client, "GET", "/plugins/echo/v1/echo", "mf_live_" + "x" * 40).json_body
    assert body["code"] == "invalid_api_key"
    assert body["error"] == {"type": "authentication_error", "code": "invalid_api_key", "message": body["message"]}
