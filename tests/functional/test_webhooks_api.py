"""Webhooks: plugins' outboxes become signed, retried deliveries with a log the user reads;
plugins hear install lifecycle events."""
from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mocklib_plugin_sdk.signing import verify

from chalicelib.webhooks.records import DeliveryRecord
from tests.support import get, make_admin, post, publish, put, sign_up

HOOKY = json.loads((Path(__file__).resolve().parents[1] / "plugins/hooky/chalicelib/manifest.json").read_text())


class Receiver:
    """A real HTTP endpoint on 127.0.0.1 that answers with the statuses it is given."""

    def __init__(self, statuses: list[int]) -> None:
        self.requests: list[tuple[str, object, bytes]] = []
        self.statuses = statuses
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((self.path, self.headers, body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"


@pytest.fixture
def settings(settings):
    return replace(settings, plugin_source_root=str(Path(__file__).resolve().parents[1] / "plugins"))


@pytest.fixture
def receiver():
    found = Receiver([])
    yield found
    found.server.shutdown()


@pytest.fixture
def user(client, container):
    publish(client, sign_up(client, "developer")["access_token"], make_admin(container), HOOKY)
    token = sign_up(client)["access_token"]
    key = post(client, "/keys", {"name": "k", "mode": "live"}, token).json_body["api_key"]
    return {"token": token, "key": key}


def install(client, token):
    response = post(client, "/plugins/install", {"plugin": "hooky", "accept_permissions": ["webhooks:send"]}, token)
    assert response.status_code == 201, response.body


def deliveries(client, token):
    return get(client, "/plugins/installed/hooky/webhook/deliveries", token).json_body["deliveries"]


def test_an_outbox_event_is_delivered_signed_with_the_install_secret(client, container, user, receiver):
    install(client, user["token"])
    secret = put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, user["token"]).json_body["webhook"]["secret"]
    assert secret.startswith("whsec_")
    created = client.http.post("/plugins/hooky/v1/things", body=json.dumps({"id": "t1"}),
                               headers={"Authorization": f"Bearer {user['key']}", "Content-Type": "application/json"})
    assert created.status_code == 201
    assert container.webhooks.retry_due() >= 1
    path, headers, body = receiver.requests[-1]
    event = json.loads(body)
    assert (event["type"], event["data"], event["livemode"], event["plugin"]) == ("thing.created", {"id": "t1"}, True, "hooky")
    assert verify(secret, body, headers["X-MockFactory-Signature"])
    log = deliveries(client, user["token"])
    assert log[0]["state"] == "delivered" and log[0]["attempts"][0]["status"] == 200


def test_a_failing_endpoint_is_retried_with_backoff_and_every_attempt_logged(client, container, user, receiver):
    install(client, user["token"])
    put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, user["token"])
    receiver.statuses = [500, 503]
    sent = post(client, "/plugins/installed/hooky/webhook/test", None, user["token"]).json_body["delivery_id"]
    user_id = container.auth.authenticate_key(user["key"]).user_id
    record = next(r for r in DeliveryRecord.query(f"{user_id}#hooky") if r.delivery_id == sent)
    for _ in range(3):  # what the dispatcher's timer (or the AWS sweeper) does after each backoff
        container.webhooks.attempt((record.pk, record.sk))
    latest = next(d for d in deliveries(client, user["token"]) if d["delivery_id"] == sent)
    assert [a["status"] for a in latest["attempts"]] == [500, 503, 200]
    assert latest["state"] == "delivered"


def test_raw_vendor_webhooks_are_posted_exactly_as_the_plugin_built_them(client, container, user, receiver):
    install(client, user["token"])
    client.http.post("/plugins/hooky/v1/things", body=json.dumps({"id": "t2", "raw_to": receiver.url}),
                     headers={"Authorization": f"Bearer {user['key']}", "Content-Type": "application/json"})
    container.webhooks.retry_due()
    raw = [r for r in receiver.requests if r[2] == b'{"vendor": "format"}']
    assert raw and raw[0][1]["Vendor-Signature"] == "v=1"
    assert "X-MockFactory-Signature" not in raw[0][1]


def test_without_an_endpoint_events_are_logged_as_skipped(client, user):
    install(client, user["token"])
    log = deliveries(client, user["token"])
    assert [(d["event_type"], d["state"]) for d in log] == [("hooky.installed", "skipped")]


def test_plugins_receive_lifecycle_events_through_their_handler(client, runtime, user):
    install(client, user["token"])
    put(client, "/plugins/installed/hooky/config", {"config": {}}, user["token"])
    post(client, "/plugins/uninstall", {"plugin": "hooky"}, user["token"])
    lifecycle = [e["lifecycle"]["event"] for e in runtime.events if e["type"] == "lifecycle"]
    assert lifecycle == ["installed", "configuration_changed", "uninstalled"]


def test_another_user_cannot_read_your_deliveries(client, user):
    install(client, user["token"])
    stranger = sign_up(client)["access_token"]
    assert get(client, "/plugins/installed/hooky/webhook/deliveries", stranger).json_body["code"] == "plugin_not_installed"


def test_private_destinations_are_refused_outside_the_local_stack(client, container, user):
    install(client, user["token"])
    container.settings = replace(container.settings, webhooks_allow_private=False)
    response = put(client, "/plugins/installed/hooky/webhook", {"url": "http://127.0.0.1:9/x"}, user["token"])
    assert (response.status_code, response.json_body["code"]) == (400, "invalid_webhook_url")


@pytest.mark.parametrize("url", ["http://example.com/a b", "http://example.com/\r\nX-Injected: 1", "http://exa mple.com/",
                                 "http://example.com:99999/", "http://example.com:port/", "https://user:pw@example.com/",
                                 "ftp://example.com/", "http:///nohost"])
def test_a_webhook_url_that_cannot_be_sent_as_it_is_is_refused(client, user, url):
    install(client, user["token"])
    response = put(client, "/plugins/installed/hooky/webhook", {"url": url}, user["token"])
    assert (response.status_code, response.json_body["code"]) == (400, "invalid_webhook_url"), response.body
    assert get(client, "/plugins/installed/hooky", user["token"]).json_body["webhook"]["url"] is None


def _force_endpoint(user_id: str, url: str) -> None:
    """An endpoint stored before URLs were checked this strictly (it bypasses the API's check)."""
    from chalicelib.installs.records import InstallRecord

    record = InstallRecord.get(*InstallRecord.key(user_id, "hooky"))
    record.update(actions=[InstallRecord.webhook_url.set(url)])


def test_one_users_undeliverable_endpoint_never_stops_the_others_deliveries(client, container, user, receiver):
    install(client, user["token"])
    put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, user["token"])
    _force_endpoint(container.auth.authenticate_key(user["key"]).user_id, "http://bad host/\r\nx")
    broken = post(client, "/plugins/installed/hooky/webhook/test", None, user["token"]).json_body["delivery_id"]
    other = sign_up(client)["access_token"]
    install(client, other)
    put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, other)
    sent = post(client, "/plugins/installed/hooky/webhook/test", None, other).json_body["delivery_id"]
    assert container.webhooks.retry_due() >= 1
    assert next(d for d in deliveries(client, other) if d["delivery_id"] == sent)["state"] == "delivered"
    failed = next(d for d in deliveries(client, user["token"]) if d["delivery_id"] == broken)
    assert failed["state"] == "failed" and "spaces or control characters" in failed["reason"]
    assert failed["attempts"] == []


def test_a_plugins_raw_webhook_that_cannot_be_sent_fails_with_its_reason(client, container, user, receiver):
    install(client, user["token"])
    created = client.http.post("/plugins/hooky/v1/things", body=json.dumps({"id": "t3", "raw_to": "http://x/ y"}),
                               headers={"Authorization": f"Bearer {user['key']}", "Content-Type": "application/json"})
    assert created.status_code == 201
    container.webhooks.retry_due()
    raw = next(d for d in deliveries(client, user["token"]) if d["kind"] == "raw")
    assert raw["state"] == "failed" and "spaces or control characters" in raw["reason"]


def test_a_receiver_failing_in_any_way_is_one_failed_attempt_and_the_sweep_goes_on(client, container, user, receiver):
    install(client, user["token"])
    put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, user["token"])
    first = post(client, "/plugins/installed/hooky/webhook/test", None, user["token"]).json_body["delivery_id"]
    second = post(client, "/plugins/installed/hooky/webhook/test", None, user["token"]).json_body["delivery_id"]
    sender, calls = container.webhooks._sender, []

    class Flaky:
        def post(self, url, headers, body):
            calls.append(url)
            if len(calls) == 1:
                raise RuntimeError("the receiver's TLS stack exploded")
            return sender.post(url, headers, body)

    container.webhooks._sender = Flaky()
    assert container.webhooks.retry_due() == 2
    log = {d["delivery_id"]: d for d in deliveries(client, user["token"])}
    states = sorted((log[first]["state"], log[second]["state"]))
    assert states == ["delivered", "pending"]
    errored = log[first] if log[first]["state"] == "pending" else log[second]
    assert "RuntimeError" in errored["attempts"][0]["error"]


def test_signing_secrets_are_derived_never_stored_and_rotate(client, container, user, receiver):
    from chalicelib.installs.records import InstallRecord

    install(client, user["token"])
    secret = put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url}, user["token"]).json_body[
        "webhook"]["secret"]
    assert get(client, "/plugins/installed/hooky", user["token"]).json_body["webhook"]["secret"] == secret
    post(client, "/plugins/installed/hooky/webhook/test", None, user["token"])
    user_id = container.auth.authenticate_key(user["key"]).user_id
    stored = [InstallRecord.get(*InstallRecord.key(user_id, "hooky")).attribute_values,
              *(r.attribute_values for r in DeliveryRecord.query(f"{user_id}#hooky"))]
    assert secret not in json.dumps(stored, default=str)
    container.webhooks.retry_due()
    _, headers, body = receiver.requests[-1]
    assert verify(secret, body, headers["X-MockFactory-Signature"])
    rotated = put(client, "/plugins/installed/hooky/webhook", {"url": receiver.url, "rotate_secret": True},
                  user["token"]).json_body["webhook"]["secret"]
    assert rotated.startswith("whsec_") and rotated != secret
    post(client, "/plugins/installed/hooky/webhook/test", None, user["token"])
    container.webhooks.retry_due()
    _, headers, body = receiver.requests[-1]
    assert verify(rotated, body, headers["X-MockFactory-Signature"])
    assert not verify(secret, body, headers["X-MockFactory-Signature"])
