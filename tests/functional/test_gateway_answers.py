"""Whatever a plugin answers reaches the client exactly, and is metered exactly as answered:
every media type and status class through chalice's test client, through API Gateway events
given to ``app(event, context)`` and through the local HTTP server on a kept-alive connection;
a result the client could not receive as given is a ``plugin_error`` and never billed."""
from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from devstack.apigw import LambdaContext, rest_event
from tests.support import get, make_admin, post, publish, sign_up

ANSWER = json.loads((Path(__file__).resolve().parents[1] / "plugins/answer/chalicelib/manifest.json").read_text())
BODIES = [
    ("text/plain", b"plain text"),
    ("text/html; charset=utf-8", b"<!doctype html><p>hi</p>"),
    ("application/xml", b"<?xml version='1.0'?><a>1</a>"),
    ("text/csv", b"a,b\r\n1,2\r\n"),
    ("application/octet-stream", bytes(range(256))),
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\xff"),
    ("text/plain", b""),
]
STATUSES = [200, 201, 204, 301, 304, 404, 418, 500, 503]
CASES = [(status, content_type, body) for status in STATUSES for content_type, body in BODIES]


def expected_body(status: int, body: bytes) -> bytes:
    return b"" if status in (204, 304) else body  # HTTP: no body after a 204 or a 304


def answer_path(status: int, content_type: str) -> str:
    return f"/plugins/answer/v1/answer?status={status}&type={quote(content_type)}"


@pytest.fixture
def settings(settings):
    return replace(settings, plugin_source_root=str(Path(__file__).resolve().parents[1] / "plugins"))


@pytest.fixture
def user(client, container):
    publish(client, sign_up(client, "developer")["access_token"], make_admin(container), ANSWER)
    token = sign_up(client)["access_token"]
    assert post(client, "/plugins/install", {"plugin": "answer", "accept_permissions": []}, token).status_code == 201
    key = post(client, "/keys", {"name": "live", "mode": "live"}, token).json_body["api_key"]
    return {"token": token, "key": key}


def live_usage(client, token):
    return get(client, "/usage", token).json_body["plugins"][0]["live"]


def test_every_media_type_and_status_class_comes_back_exactly_through_the_test_client(client, user):
    for status, content_type, body in CASES:
        response = client.http.post(answer_path(status, content_type), body=body,
                                    headers={"Authorization": f"Bearer {user['key']}"})
        case = (status, content_type, body[:20])
        assert response.status_code == status, case
        assert response.body == expected_body(status, body), case
        assert response.headers["Content-Type"] == content_type, case
    usage = live_usage(client, user["token"])
    assert (usage["calls"], usage["billable"]) == (len(CASES), sum(1 for s, _, _ in CASES if s < 500))


def test_every_media_type_and_status_class_comes_back_exactly_through_api_gateway_events(client, user):
    from app import app

    for status, content_type, body in CASES:
        event = rest_event("POST", answer_path(status, content_type), "/plugins/{name}/{version}/{proxy+}",
                           path_params={"name": "answer", "version": "v1", "proxy": "answer"},
                           headers={"Authorization": f"Bearer {user['key']}"}, body=body)
        answer = app(event, LambdaContext())
        case = (status, content_type, body[:20])
        assert answer["statusCode"] == status, (case, answer)
        assert answer["isBase64Encoded"] is True, case
        assert base64.b64decode(answer["body"]) == expected_body(status, body), case
        assert answer["headers"]["Content-Type"] == content_type, case


def test_every_media_type_and_status_class_comes_back_exactly_through_the_local_server(server, user):
    with requests.Session() as session:  # one kept-alive connection: a stray body would corrupt the next answer
        session.headers["Authorization"] = f"Bearer {user['key']}"
        for status, content_type, body in CASES:
            for method in ("POST", "HEAD"):
                response = session.request(method, server + answer_path(status, content_type), data=body,
                                           allow_redirects=False, timeout=10)
                case = (method, status, content_type, body[:20])
                assert response.status_code == status, case
                assert response.content == (b"" if method == "HEAD" else expected_body(status, body)), case
                assert response.headers["Content-Type"] == content_type, case


@pytest.mark.parametrize("result, reason", [
    ({"status": 200, "headers": {}, "body_b64": "not base64!"}, "body_b64"),
    ({"status": 200, "headers": [["Content-Type", "text/plain"]], "body_b64": ""}, "headers"),
    ({"status": 200, "headers": {"X-Split": "a\r\nSet-Cookie: x=1"}, "body_b64": ""}, "control character"),
    ({"status": 200, "headers": {"X-Bad\r\nName": "v"}, "body_b64": ""}, "header name"),
    ({"status": 200, "headers": {"X-Number": 1.5}, "body_b64": ""}, "must be a string"),
    ({"status": 99, "headers": {}, "body_b64": ""}, "status"),
    ({"status": 100, "headers": {}, "body_b64": ""}, "status"),
    ({"status": 600, "headers": {}, "body_b64": ""}, "status"),
    ({"status": True, "headers": {}, "body_b64": ""}, "status"),
    ({"status": "200", "headers": {}, "body_b64": ""}, "status"),
    ({"status": 200, "headers": {}, "body_b64": "", "webhooks": {"kind": "event"}}, "webhooks"),
])
def test_a_result_the_client_cannot_receive_is_a_plugin_error_and_never_billed(client, user, runtime, result,
                                                                               reason):
    runtime.invoke = lambda function, event: result
    response = client.http.get("/plugins/answer/v1/answer", headers={"Authorization": f"Bearer {user['key']}"})
    assert response.status_code == 502, response.body
    assert response.json_body["code"] == "plugin_error"
    assert reason in response.json_body["message"]
    usage = live_usage(client, user["token"])
    assert (usage["calls"], usage["billable"], usage["errors"]) == (1, 0, 1)


def test_a_plugin_header_never_replaces_the_marketplace_request_id(client, user):
    response = client.http.get("/plugins/answer/v1/answer?header=x-request-id:forged&header=X-Vendor:kept",
                               headers={"Authorization": f"Bearer {user['key']}"})
    assert response.headers["X-Request-Id"].startswith("req_")
    assert response.headers["X-Vendor"] == "kept"


def test_a_key_sent_in_two_carriers_reaches_the_plugin_in_neither(client, user, runtime):
    seen = []
    healthy = runtime.invoke

    def spy(function, event):
        seen.append(event["request"]["headers"])
        return healthy(function, event)

    runtime.invoke = spy
    key = user["key"]
    basic = base64.b64encode(f"AC1:{key}".encode()).decode()
    for headers in ({"Authorization": f"Bearer {key}", "X-Api-Key": key},
                    {"Authorization": f"Basic {basic}", "X-Api-Key": key}):
        assert client.http.get("/plugins/answer/v1/answer", headers=headers).status_code == 200
    assert seen and all(key not in json.dumps(headers) for headers in seen)
    assert seen[1]["authorization"] == "Basic " + base64.b64encode(b"AC1:").decode()


def test_two_different_keys_are_refused_and_reach_nothing(client, user, runtime):
    other = post(client, "/keys", {"name": "other", "mode": "live"}, user["token"]).json_body["api_key"]
    runtime.invoke = lambda function, event: pytest.fail("the plugin must not run")
    response = client.http.get("/plugins/answer/v1/answer",
                               headers={"Authorization": f"Bearer {user['key']}", "X-Api-Key": other})
    assert (response.status_code, response.json_body["code"]) == (401, "conflicting_credentials")
