"""Requests at the edge of HTTP get a 4xx with the API's error shape, never a 5xx, a dropped
connection or a body where HTTP allows none; over the local server and the test client."""
from __future__ import annotations

import json
import socket
from urllib.parse import quote

import pytest
import requests

from tests.support import ECHO_PLUGIN, get, make_admin, post, publish, put, sign_up


def test_a_head_answer_is_read_as_one_response_on_the_wire(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"HEAD /plugins/echo/v1/echo HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404")  # plugin_not_found: none is published here
    assert rest.startswith(b"HTTP/1.1 200"), rest[:80]  # the GET's answer follows right after the HEAD's headers


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "PATCH"])
def test_a_method_a_route_lacks_is_a_405_in_the_api_error_shape(server, method):
    response = requests.request(method, server + "/health", timeout=10)
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "method_not_allowed" and body["request_id"] == response.headers["X-Request-Id"]
    assert "GET" in response.headers["Allow"]


def test_a_path_no_route_matches_is_a_404_in_the_api_error_shape(server):
    for method in ("GET", "POST", "HEAD"):
        response = requests.request(method, server + "/no/such/route", timeout=10)
        assert response.status_code == 404
        if method != "HEAD":
            assert response.json()["code"] == "route_not_found"


def test_an_integer_too_long_to_read_is_malformed_json(client):
    body = b'{"email": "a@example.com", "password": ' + b"9" * 5000 + b"}"
    response = client.http.post("/auth/login", body=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json_body["code"]) == (400, "malformed_json")


def test_a_path_parameter_no_resource_could_have_is_not_found(client, container):
    token = sign_up(client)["access_token"]
    name = "p" * 300  # and a 1,100-byte one: 275 four-byte characters
    emoji = "\U0001F600" * 275
    for method, path in (("POST", f"/plugins/installed/{name}/webhook/test"),
                         ("GET", f"/marketplace/plugins/{name}"),
                         ("GET", f"/plugins/installed/{quote(emoji)}")):
        response = client.http.request(method, path, headers={"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"}, body=b"{}")
        assert (response.status_code, response.json_body["code"]) == (404, "not_found"), (path[:40], response.body)


def test_a_refusal_to_head_through_the_test_client_has_no_body(client, container):
    publish(client, sign_up(client, "developer")["access_token"], make_admin(container), ECHO_PLUGIN)
    response = client.http.request("HEAD", "/plugins/echo/v1/echo", headers={})
    assert response.status_code == 401 and response.body == b""
    assert json.loads(client.http.get("/health").body)["status"] == "ok"


def test_inputs_the_fuzzer_found_are_refused_with_a_4xx(client, container):
    admin = make_admin(container)
    token = sign_up(client)["access_token"]
    assert get(client, "/admin/audit?limit=%C2%B2", admin).status_code == 200  # "²".isdigit(), but no int
    for period in ("2026-11-01%0A", "0000-01-01", "%D9%A2%D9%A0%D9%A2%D9%A6-11-01"):
        response = get(client, f"/admin/payouts?period={period}", admin)
        assert (response.status_code, response.json_body["code"]) == (400, "validation_failed"), period
    response = post(client, "/admin/payouts/run", {"period": "2026-11-01\n"}, admin)
    assert response.status_code == 400, response.body
    surrogate = b'{"email": "s@example.com", "password": "\\ud800 and more text"}'
    for path in ("/auth/signup", "/auth/login", "/licenses/verify"):
        response = post(client, path, surrogate)
        assert (response.status_code, response.json_body["code"]) == (400, "malformed_json"), path
    publish(client, sign_up(client, "developer")["access_token"], admin, ECHO_PLUGIN)
    post(client, "/plugins/install", {"plugin": "echo", "accept_permissions": ECHO_PLUGIN["permissions"]}, token)
    for url in ("http://[abc/", "http://[notip]/x"):
        response = put(client, "/plugins/installed/echo/webhook", {"url": url}, token)
        assert (response.status_code, response.json_body["code"]) == (400, "invalid_webhook_url"), url
