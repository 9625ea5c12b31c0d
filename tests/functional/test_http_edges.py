"""Requests at the edge of HTTP get a 4xx with the API's error shape, never a 5xx, a dropped
connection or a body where HTTP allows none; over the local server and the test client."""
from __future__ import annotations

import json
import socket

import pytest
import requests

from tests.support import ECHO_PLUGIN, make_admin, post, publish, sign_up


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
    name = "p" * 1100
    for method, path in (("POST", f"/plugins/installed/{name}/webhook/test"),
                         ("GET", f"/marketplace/plugins/{name}"),
                         ("GET", f"/plugins/installed/{name}")):
        response = client.http.request(method, path, headers={"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"}, body=b"{}")
        assert (response.status_code, response.json_body["code"]) == (404, "not_found"), (path[:40], response.body)


def test_a_refusal_to_head_through_the_test_client_has_no_body(client, container):
    publish(client, sign_up(client, "developer")["access_token"], make_admin(container), ECHO_PLUGIN)
    response = client.http.request("HEAD", "/plugins/echo/v1/echo", headers={})
    assert response.status_code == 401 and response.body == b""
    assert json.loads(client.http.get("/health").body)["status"] == "ok"
