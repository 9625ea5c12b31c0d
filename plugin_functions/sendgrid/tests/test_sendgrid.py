"""The sendgrid plugin, driven by the official ``sendgrid`` SDK through the marketplace gateway.

``SendGridAPIClient(api_key=<marketplace key>, host=gateway.base_url)``: the SDK adds
``/v3/...`` itself and sends ``Authorization: Bearer <key>``, which the gateway takes as
the marketplace credential and strips. A few validation details are also checked
directly through the plugin host (``call``), which takes milliseconds.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from python_http_client.exceptions import BadRequestsError, HTTPError, NotFoundError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (Bcc, Category, Cc, CustomArg, From, Mail, MailSettings, Personalization,
                                   SandBoxMode, To)


def client(gateway, key: str | None = None) -> SendGridAPIClient:
    return SendGridAPIClient(api_key=key or gateway.live_key, host=gateway.base_url)


def simple_mail(to: str = "ada@example.com", subject: str = "Hello") -> Mail:
    return Mail(from_email=From("sender@example.com", "Sender"), to_emails=To(to), subject=subject,
                plain_text_content="plain body", html_content="<p>html body</p>")


def sent(sg: SendGridAPIClient) -> list[dict]:
    return json.loads(sg.client.mock.sent.get().body)["mails"]


def errors_of(excinfo) -> list[dict]:
    return excinfo.value.to_dict["errors"]


class Receiver:
    """A tiny local HTTP server standing in for the user's Event Webhook endpoint."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.end_headers()
                with outer.arrived:
                    outer.requests.append((dict(self.headers), body))
                    outer.arrived.notify_all()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sendgrid/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.requests) >= count, timeout), \
                f"expected {count} webhook deliveries, got {len(self.requests)}"
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    built = Receiver()
    yield built
    built.close()


# --- through the gateway, with the official SDK ------------------------------------------------
def test_a_mail_sent_with_the_sdk_is_accepted_stored_and_readable_through_email_activity(gateway):
    sg = client(gateway)
    message = simple_mail()
    personalization = Personalization()
    personalization.add_to(To("bob@example.com"))
    personalization.add_cc(Cc("carol@example.com"))
    personalization.add_bcc(Bcc("dave@example.com"))
    personalization.add_custom_arg(CustomArg("order", "o-42"))
    personalization.subject = "Your order"
    message.add_personalization(personalization)
    message.add_category(Category("receipts"))

    response = sg.send(message)

    assert response.status_code == 202
    assert response.body in (b"", "")
    x_message_id = response.headers["X-Message-Id"]
    assert len(x_message_id) == 22

    # Read back exactly what was sent (mock-only endpoint).
    [stored] = sent(sg)
    assert stored["x_message_id"] == x_message_id
    assert stored["request"] == message.get()
    assert json.loads(sg.client.mock.sent._(x_message_id).get().body)["request"]["categories"] == ["receipts"]

    # Email Activity: one record per recipient, newest first within the send.
    second = sg.send(simple_mail("erin@example.com", "Second"))
    assert second.status_code == 202
    activity = json.loads(sg.client.messages.get(query_params={"limit": 10}).body)["messages"]
    # (Mail.add_personalization puts the new personalization before the one Mail() made.)
    assert [m["to_email"] for m in activity] == ["erin@example.com", "ada@example.com", "dave@example.com",
                                                 "carol@example.com", "bob@example.com"]
    assert all(m["status"] == "delivered" and m["from_email"] == "sender@example.com" for m in activity)
    assert activity[0]["msg_id"].startswith(second.headers["X-Message-Id"] + ".")
    assert {m["subject"] for m in activity[2:5]} == {"Your order"}
    assert activity[1]["subject"] == "Hello"

    only_bob = json.loads(sg.client.messages.get(query_params={"limit": 10,
                                                               "query": 'to_email="bob@example.com"'}).body)
    [bob] = only_bob["messages"]
    assert bob["msg_id"].startswith(x_message_id + ".")
    assert json.loads(sg.client.messages.get(query_params={"limit": 2}).body)["messages"] == activity[:2]

    details = json.loads(sg.client.messages._(bob["msg_id"]).get().body)
    assert details["to_email"] == "bob@example.com"
    assert details["categories"] == ["receipts"]
    assert json.loads(details["unique_args"]) == {"order": "o-42"}
    assert [e["event_name"] for e in details["events"]] == ["processed", "delivered"]

    with pytest.raises(NotFoundError) as missing:
        sg.client.messages._("nope.filter0.0").get()
    assert missing.value.status_code == 404
    assert errors_of(missing)[0]["message"] == "message not found"
    with pytest.raises(BadRequestsError) as bad_query:
        sg.client.messages.get(query_params={"limit": 10, "query": "to_email LIKE 'x'"})
    assert errors_of(bad_query)[0]["field"] == "query"


def test_invalid_mail_raises_the_sdks_bad_request_error_with_sendgrid_errors_and_sandbox_mode_sends_nothing(
        gateway):
    sg = client(gateway)

    with pytest.raises(BadRequestsError) as empty:
        sg.send({})
    assert empty.value.status_code == 400
    assert [e["field"] for e in errors_of(empty)] == ["personalizations", "from.email", "subject", "content"]
    assert all("help" not in e for e in errors_of(empty))  # the document types help as an object
    assert errors_of(empty)[0]["message"] == ("The personalizations field is required and must have at least one "
                                              "personalization.")

    with pytest.raises(BadRequestsError) as bad_address:
        sg.send(simple_mail("ada@localhost"))
    assert errors_of(bad_address) == [{
        "message": "Does not contain a valid address.", "field": "personalizations.0.to.0.email"}]

    duplicate = simple_mail("ada@example.com")
    duplicate.personalizations[0].add_cc(Cc("ADA@example.com"))
    with pytest.raises(HTTPError) as dup:
        sg.send(duplicate)
    assert dup.value.status_code == 400 and errors_of(dup)[0]["field"] == "personalizations.0"

    bad_sender = {**simple_mail().get(), "from": {"email": "nobody"}}  # From("nobody") would be a name
    with pytest.raises(BadRequestsError) as sender:
        sg.send(bad_sender)
    assert [e["field"] for e in errors_of(sender)] == ["from.email"]
    assert sent(sg) == []  # nothing invalid was ever stored

    # Sandbox mode: validated (still 400 when invalid), then 202 (SendGrid's document) with nothing sent.
    sandboxed = simple_mail()
    sandboxed.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
    response = sg.send(sandboxed)
    assert response.status_code == 202
    assert "X-Message-Id" not in response.headers
    invalid_sandboxed = simple_mail("zed@localhost")
    invalid_sandboxed.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
    with pytest.raises(BadRequestsError):
        sg.send(invalid_sandboxed)
    assert sent(sg) == []
    assert json.loads(sg.client.messages.get(query_params={"limit": 10}).body) == {"messages": []}

    # Unknown routes answer in SendGrid's shape too.
    with pytest.raises(NotFoundError) as unknown:
        sg.client.no.such.thing.get()
    assert errors_of(unknown) == [{"message": "resource not found", "field": None}]


def test_the_event_webhook_receives_processed_delivered_and_bounce_batches_after_each_send(gateway, receiver):
    sg = client(gateway)
    assert json.loads(sg.client.user.webhooks.event.settings.get().body)["enabled"] is False

    with pytest.raises(BadRequestsError) as no_url:
        sg.client.user.webhooks.event.settings.patch(request_body={"enabled": True})
    assert errors_of(no_url)[0]["field"] == "url"

    settings = sg.client.user.webhooks.event.settings.patch(request_body={
        "enabled": True, "url": receiver.url, "processed": True, "delivered": True, "bounce": True})
    assert settings.status_code == 200
    assert json.loads(settings.body)["url"] == receiver.url
    assert json.loads(sg.client.user.webhooks.event.settings.get().body)["delivered"] is True

    message = simple_mail()
    message.add_to(To("ghost@nowhere.invalid"))
    message.add_custom_arg(CustomArg("campaign", "spring"))
    x_message_id = sg.send(message).headers["X-Message-Id"]

    [(headers, body)] = receiver.wait_for(1)
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "SendGrid Event API"
    events = json.loads(body)
    assert [(e["event"], e["email"]) for e in events] == [
        ("processed", "ada@example.com"), ("delivered", "ada@example.com"),
        ("processed", "ghost@nowhere.invalid"), ("bounce", "ghost@nowhere.invalid")]
    for event in events:
        assert event["sg_message_id"].startswith(x_message_id + ".")
        assert isinstance(event["timestamp"], int) and event["sg_event_id"]
        assert event["campaign"] == "spring"
    assert events[0]["sg_message_id"] == events[1]["sg_message_id"] != events[2]["sg_message_id"]
    ghost = json.loads(sg.client.messages.get(
        query_params={"limit": 5, "query": 'to_email="ghost@nowhere.invalid"'}).body)["messages"]
    assert ghost[0]["status"] == "not_delivered"

    # Only the flagged event types are posted; sandbox-mode sends post nothing.
    sg.client.user.webhooks.event.settings.patch(request_body={"processed": False})
    sandboxed = simple_mail("zed@example.com")
    sandboxed.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
    sg.send(sandboxed)
    sg.send(simple_mail("finn@example.com"))
    _, second = receiver.wait_for(2)[1]
    assert [(e["event"], e["email"]) for e in json.loads(second)] == [("delivered", "finn@example.com")]

    # The test endpoint posts a sample batch to any URL.
    assert sg.client.user.webhooks.event.test.post(request_body={"url": receiver.url}).status_code == 204
    _, sample = receiver.wait_for(3)[2]
    assert json.loads(sample)[0]["event"] == "processed"


def test_sent_mail_is_private_to_each_user_and_separate_between_sandbox_and_live_keys(gateway):
    from chalicelib.auth.principal import Principal

    container = gateway.container
    other = container.auth.create_user(email="other-sendgrid@example.com", password="correct horse battery",
                                       role="user")
    principal = Principal(user_id=other.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="sendgrid",
                               accept_permissions=["storage:read", "storage:write", "webhooks:send"])
    other_key = container.auth.create_key(principal, name="live", mode="live")["api_key"]

    live, sandbox, stranger = client(gateway), client(gateway, gateway.test_key), client(gateway, other_key)
    live_id = live.send(simple_mail("live@example.com")).headers["X-Message-Id"]
    sandbox_id = sandbox.send(simple_mail("sandbox@example.com")).headers["X-Message-Id"]

    assert [m["x_message_id"] for m in sent(live)] == [live_id]
    assert [m["x_message_id"] for m in sent(sandbox)] == [sandbox_id]
    assert sent(stranger) == []
    assert json.loads(stranger.client.messages.get(query_params={"limit": 10}).body) == {"messages": []}
    [live_record] = json.loads(live.client.messages.get(query_params={"limit": 10}).body)["messages"]
    with pytest.raises(NotFoundError):
        stranger.client.messages._(live_record["msg_id"]).get()
    with pytest.raises(NotFoundError):
        sandbox.client.mock.sent._(live_id).get()

    # Webhook settings are per user and mode as well.
    live.client.user.webhooks.event.settings.patch(request_body={"enabled": True, "url": "http://127.0.0.1:9/x"})
    assert json.loads(sandbox.client.user.webhooks.event.settings.get().body)["enabled"] is False
    assert json.loads(stranger.client.user.webhooks.event.settings.get().body)["url"] == ""


# --- validation details, straight through the plugin host ---------------------------------------
def _send(call, body, **kwargs):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return call("POST", "/v3/mail/send", headers={"Content-Type": "application/json"}, body=raw, **kwargs)


def test_content_subject_and_attachment_rules_follow_sendgrid(call):
    base = {"personalizations": [{"to": [{"email": "a@example.com"}]}], "from": {"email": "s@example.com"}}

    def fields(body):
        result = _send(call, body)
        assert result.status == 400
        return [e["field"] for e in result.json()["errors"]]

    assert fields({**base, "subject": "x", "content": [{"type": "text/html", "value": "h"},
                                                       {"type": "text/plain", "value": "p"}]}) == ["content"]
    assert fields({**base, "subject": "x", "content": [{"type": "text/plain", "value": ""}]}) == ["content.0.value"]
    assert fields({**base, "subject": "x", "content": [{"type": "text/plain", "value": "p"}],
                   "attachments": [{"type": "text/plain"}]}) == ["attachments.0.content", "attachments.0.filename"]
    assert fields({**base, "subject": "x", "content": [{"type": "text/plain", "value": "p"}],
                   "reply_to": {"email": "nope"}}) == ["reply_to.email"]
    assert fields({"personalizations": [{}], "from": {"email": "s@example.com"}, "subject": "x",
                   "content": [{"type": "text/plain", "value": "p"}]}) == ["personalizations.0.to"]
    assert _send(call, b"{not json").json() == {"errors": [{"message": "Bad Request", "field": None}]}

    # A template replaces subject and content; per-personalization subjects and senders count.
    assert _send(call, {**base, "template_id": "d-123"}).status == 202
    assert _send(call, {"personalizations": [{"to": [{"email": "a@example.com"}], "subject": "s",
                                              "from": {"email": "p@example.com"}}],
                        "content": [{"type": "text/plain", "value": "p"}]}).status == 202


def test_wrong_methods_answer_405_in_sendgrid_shape(call):
    result = call("PUT", "/v3/mail/send")
    assert result.status == 405
    assert result.json() == {"errors": [{"message": "method not allowed", "field": None}]}
    assert "POST" in result.headers["Allow"]


# --- how the marketplace teaches it: the page's example and mocklib's aliases -------------------
def run_example(gateway, manifest, language="python"):
    """The plugin page's example (manifest client.snippets), filled as the page fills it, run as is."""
    import contextlib
    import io

    code = manifest["client"]["snippets"][language].replace("{{BASE_URL}}", gateway.base_url)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.replace("{{API_KEY}}", gateway.live_key), "example", "exec"), {})  # noqa: S102
    return out.getvalue()


def test_the_python_example_on_the_plugin_page_sends_a_mail_that_is_stored(gateway, manifest):
    status, message_id = run_example(gateway, manifest).split()
    assert status == "202"
    assert [m["x_message_id"] for m in sent(client(gateway))] == [message_id]


def test_mocklib_sends_mail_and_reads_activity_through_the_manifests_aliases(gateway):
    from mocklib import MockFactory

    with MockFactory(gateway.live_key, api_url=gateway.api_url) as mf:
        mf.sendgrid.mail.send(personalizations=[{"to": [{"email": "ada@example.com"}]}],
                              subject="Hi", content=[{"type": "text/plain", "value": "Hello"}],
                              asm={"group_id": 42}, **{"from": {"email": "me@example.com"}})
        [activity] = mf.sendgrid.messages.list(limit=10)["messages"]
        assert (activity["to_email"], activity["status"]) == ("ada@example.com", "delivered")
        message = mf.sendgrid.messages.get(activity["msg_id"])
        # The unsubscribe group the mail named is read back (SendGrid's Email Activity).
        assert (message.to_email, message.asm_group_id, message.api_key_id) == ("ada@example.com", 42,
                                                                               "MockFactoryKey")
