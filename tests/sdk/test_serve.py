"""Standalone serve mode over real HTTP: routing, caller identity, webhook delivery, CLI."""
from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mocklib_plugin_sdk import (InMemoryStateStore, Plugin, PluginServer, Request, Response, SdkSettings,
                                endpoint, load_plugin_dir, requires_auth)
from mocklib_plugin_sdk.signing import sign, verify
from tests.sdk.support import ECHO_DIR, SDK_ROOT, echo_manifest, manifest

FAST_RETRIES = (0.0, 0.05, 0.1)


def fetch(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def echo_server():
    plugin_class, _ = load_plugin_dir(ECHO_DIR)
    with PluginServer(plugin_class, echo_manifest(), store=InMemoryStateStore(), settings=SdkSettings()) as server:
        yield server


def test_serve_answers_real_http_with_the_path_as_is_and_query_values_kept(echo_server):
    status, headers, body = fetch("GET", f"{echo_server.url}/echo/a%2Fb?expand[]=x&expand[]=y&empty=")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    echoed = json.loads(body)
    assert echoed["path"] == "/echo/a%2Fb"
    assert echoed["query"] == {"expand[]": ["x", "y"], "empty": [""]}


def test_the_gateway_prefix_is_accepted_and_stripped(echo_server):
    status, _, body = fetch("GET", f"{echo_server.url}/plugins/echo/v1/echo")
    assert (status, json.loads(body)["path"]) == (200, "/echo")


def test_binary_request_bodies_arrive_byte_exact(echo_server):
    payload = bytes(range(256)) * 4
    status, _, body = fetch("POST", f"{echo_server.url}/echo", payload, {"Content-Type": "application/octet-stream"})
    echoed = json.loads(body)
    assert status == 200
    assert base64.b64decode(echoed["body_b64"]) == payload
    assert echoed["body"] is None


def test_the_credential_is_stripped_and_state_isolates_per_key(echo_server):
    key_a = {"Authorization": "Bearer sk_live_a", "X-Other": "kept"}
    key_b = {"Authorization": "Basic " + base64.b64encode(b"sk_live_b:").decode()}  # Stripe's carrier
    sandbox = {"X-Api-Key": "mf_test_a"}
    for _ in range(3):
        _, _, last_a = fetch("GET", f"{echo_server.url}/echo", headers=key_a)
    _, _, last_b = fetch("GET", f"{echo_server.url}/echo", headers=key_b)
    _, _, last_sandbox = fetch("GET", f"{echo_server.url}/echo", headers=sandbox)
    _, _, anonymous = fetch("GET", f"{echo_server.url}/echo")
    echoed_a = json.loads(last_a)
    assert "authorization" not in echoed_a["headers"]
    assert echoed_a["headers"]["x-other"] == "kept"
    assert "x-api-key" not in json.loads(last_sandbox)["headers"]
    assert echoed_a["calls"] == 3
    assert json.loads(last_b)["calls"] == 1
    assert (json.loads(last_sandbox)["calls"], json.loads(last_sandbox)["sandbox"]) == (1, True)
    assert json.loads(anonymous)["calls"] == 1


def test_concurrent_callers_never_see_each_others_state(echo_server):
    def caller(index: int) -> list[int]:
        headers = {"Authorization": f"Bearer sk_live_thread_{index}"}
        return [json.loads(fetch("GET", f"{echo_server.url}/echo", headers=headers)[2])["calls"]
                for _ in range(5)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(caller, range(6)))
    assert results == [[1, 2, 3, 4, 5]] * 6


def test_keep_alive_connections_serve_many_requests_and_unknown_paths_are_json_404(echo_server):
    connection = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=10)
    try:
        for index in range(3):
            connection.request("POST", "/echo", body=f"n={index}".encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            assert json.loads(response.read())["body"] == f"n={index}"
        connection.request("GET", "/nowhere")
        missing = connection.getresponse()
        assert (missing.status, json.loads(missing.read())["error"]["code"]) == (404, "not_found")
    finally:
        connection.close()


def test_internal_health_endpoint_reports_the_plugin(echo_server):
    status, _, body = fetch("GET", f"{echo_server.url}/_mf/health")
    assert (status, json.loads(body)) == (200, {"plugin": "echo", "version": "1.0.0", "healthy": True})


# -- webhooks: delivered in the background, signed, retried --------------------------


class Shopfront(Plugin):
    @endpoint("POST", "/customers")
    @requires_auth
    def create(self, request: Request) -> Response:
        data = request.json()
        customer = {"id": self.sdk.generate_id("cus_"), "email": data["email"]}
        self.sdk.webhooks.send("customer.created", customer)
        if data.get("vendor_url"):
            body = json.dumps({"type": "customer.created", "data": customer}).encode()
            self.sdk.webhooks.deliver(data["vendor_url"], body, {"Content-Type": "application/json",
                                                                 "Vendor-Signature": "sig-by-plugin"})
        return Response.json(customer, status=201)


SHOP_MANIFEST = manifest("shop", ("webhooks",), ("webhooks:send",))


def shop_server(webhook_url: str | None, **kwargs: Any) -> PluginServer:
    return PluginServer(Shopfront, SHOP_MANIFEST, store=InMemoryStateStore(), settings=SdkSettings(),
                        webhook_url=webhook_url, webhook_secret="whsec_test", retry_delays=FAST_RETRIES, **kwargs)


def create_customer(server: PluginServer, **extra: Any) -> tuple[int, bytes]:
    status, _, body = fetch("POST", f"{server.url}/customers", json.dumps({"email": "a@b.com", **extra}).encode(),
                           {"Authorization": "Bearer sk_test_1", "Content-Type": "application/json"})
    return status, body


def test_requires_auth_refuses_calls_without_a_credential():
    with shop_server(None) as server:
        status, _, body = fetch("POST", f"{server.url}/customers", b'{"email": "x@y.z"}')
        assert (status, json.loads(body)["error"]["code"]) == (401, "unauthorized")


def test_event_webhooks_are_signed_and_retried_until_the_receiver_accepts(receiver_factory):
    receiver = receiver_factory(fail_first=1)
    with shop_server(receiver.url) as server:
        status, body = create_customer(server)
        assert status == 201
        assert server.deliverer.wait_idle(5)
        (delivery,) = server.deliverer.deliveries()
    assert delivery["state"] == "delivered"
    assert [a.get("status") for a in delivery["attempts"]] == [500, 200]
    sent = receiver.requests[-1]
    event = json.loads(sent["body"])
    assert event["type"] == "customer.created"
    assert event["data"] == json.loads(body)
    assert event["plugin"] == "shop" and event["livemode"] is True
    assert sent["headers"]["x-mockfactory-event"] == "customer.created"
    assert verify("whsec_test", sent["body"], sent["headers"]["x-mockfactory-signature"])
    assert not verify("whsec_other", sent["body"], sent["headers"]["x-mockfactory-signature"])


def test_raw_webhooks_are_posted_exactly_as_the_plugin_built_them(receiver_factory):
    platform, vendor = receiver_factory(), receiver_factory()
    with shop_server(platform.url) as server:
        create_customer(server, vendor_url=vendor.url)
        assert server.deliverer.wait_idle(5)
        states = sorted((d["kind"], d["state"]) for d in server.deliverer.deliveries())
        assert states == [("event", "delivered"), ("raw", "delivered")]
        _, _, log = fetch("GET", f"{server.url}/_mf/deliveries")
        assert len(json.loads(log)["deliveries"]) == 2
    (sent,) = vendor.requests
    assert sent["headers"]["vendor-signature"] == "sig-by-plugin"
    assert "x-mockfactory-signature" not in sent["headers"]
    assert json.loads(sent["body"])["type"] == "customer.created"


def test_a_receiver_that_keeps_failing_ends_in_the_failed_state_after_every_retry(receiver_factory):
    receiver = receiver_factory(fail_first=99)
    with shop_server(receiver.url) as server:
        create_customer(server)
        assert server.deliverer.wait_idle(5)
        (delivery,) = server.deliverer.deliveries()
    assert delivery["state"] == "failed"
    assert len(delivery["attempts"]) == len(FAST_RETRIES)


def test_event_webhooks_without_a_configured_endpoint_are_logged_as_skipped():
    with shop_server(None) as server:
        create_customer(server)
        (delivery,) = server.deliverer.deliveries()
    assert delivery["state"] == "skipped"


def test_signatures_expire_and_bind_the_body():
    header = sign("s3cret", b"{}", timestamp=1_000)
    assert verify("s3cret", b"{}", header, now=1_100)
    assert not verify("s3cret", b"{}", header, now=1_000 + 301)
    assert not verify("s3cret", b"{ }", header, now=1_100)
    assert not verify("s3cret", b"{}", "garbage", now=1_100)


# -- the command line ----------------------------------------------------------------


def test_python_m_serve_runs_a_plugin_folder_and_stops_cleanly_on_sigterm():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SDK_ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("MF_PLUGIN_STATE_TABLE", None)
    process = subprocess.Popen([sys.executable, "-m", "mocklib_plugin_sdk", "serve", str(ECHO_DIR), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert "serving echo 1.0.0 at " in line, (line, process.stderr.read() if process.stderr else "")
        url = line.strip().rsplit(" ", 1)[-1]
        status, _, body = fetch("GET", f"{url}/plugins/echo/v1/echo?via=cli")
        assert status == 200
        assert json.loads(body)["query"] == {"via": ["cli"]}
    finally:
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == 0
