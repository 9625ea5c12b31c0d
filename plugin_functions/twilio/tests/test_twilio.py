"""The twilio plugin driven by the official ``twilio`` SDK through the marketplace gateway
over real HTTP (fixture ``gateway``): the marketplace key is the AuthToken.
"""
from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

ACCOUNT = "AC" + "a" * 32
OTHER_ACCOUNT = "AC" + "b" * 32
FROM = "+15005550006"


class GatewayHttpClient(TwilioHttpClient):
    """Sends every request the SDK builds for https://<product>.twilio.com to the gateway."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=30)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        for prefix in ("https://api.twilio.com",):
            if url.startswith(prefix):
                url = self.base_url + url[len(prefix):]
        return super().request(method, url, *args, **kwargs)


def twilio_client(gateway, key: str, account: str = ACCOUNT) -> Client:
    return Client(account, key, http_client=GatewayHttpClient(gateway.base_url))


class Receiver:
    """A local endpoint collecting the status callbacks the gateway delivers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        received = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                received.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                 "form": dict(parse_qsl(body, keep_blank_values=True))})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    built = Receiver()
    yield built
    built.server.shutdown()
    built.server.server_close()


def twilio_error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call()
    return caught.value


def test_messages_are_sent_fetched_advanced_listed_with_paging_and_signed_callbacks(gateway, receiver):
    # The plugin never sees the AuthToken (the gateway strips the marketplace key), so
    # callbacks are signed with the install's auth_token setting: set it to the key.
    principal = gateway.container.auth.authenticate_key(gateway.live_key)
    gateway.container.installs.configure(principal, "twilio", {"auth_token": gateway.live_key})
    client = twilio_client(gateway, gateway.live_key)

    callback = f"{receiver.url}/sms-status?tenant=1"
    message = client.messages.create(to="+15558675310", from_=FROM, body="Hello from the mock",
                                      status_callback=callback)
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.to, message.from_, message.body) == (
        "queued", "+15558675310", FROM, "Hello from the mock")
    assert message.account_sid == ACCOUNT
    assert message.direction == "outbound-api"
    assert message.date_created is not None and message.date_sent is None

    # Each fetch moves it one step: queued -> sent -> delivered, then it stays delivered.
    assert client.messages(message.sid).fetch().status == "sent"
    delivered = client.messages(message.sid).fetch()
    assert delivered.status == "delivered" and delivered.date_sent is not None
    assert client.messages(message.sid).fetch().status == "delivered"

    # Each callback is its own delivery (retried on its own): they may arrive in any order.
    callbacks = receiver.wait_for(3)
    assert sorted(c["form"]["MessageStatus"] for c in callbacks) == ["delivered", "queued", "sent"]
    validator = RequestValidator(gateway.live_key)
    for delivered_callback in callbacks:
        form = delivered_callback["form"]
        assert delivered_callback["path"] == "/sms-status?tenant=1"
        assert (form["MessageSid"], form["SmsSid"], form["AccountSid"], form["To"], form["From"]) == (
            message.sid, message.sid, ACCOUNT, "+15558675310", FROM)
        assert form["ApiVersion"] == "2010-04-01"
        assert validator.validate(callback, form, delivered_callback["headers"]["X-Twilio-Signature"])
    assert not validator.validate(callback, {**callbacks[0]["form"], "To": "+1999"},
                                  callbacks[0]["headers"]["X-Twilio-Signature"])

    # Paging as Twilio does: newest first, page_size, next_page_uri.
    sids = [message.sid] + [client.messages.create(to=f"+1555000000{i}", from_=FROM, body=f"n{i}").sid
                            for i in range(4)]
    newest_first = list(reversed(sids))
    first = client.messages.page(page_size=2)
    assert [m.sid for m in first] == newest_first[:2]
    assert first.next_page_url is not None and "PageToken=" in first.next_page_url
    second = first.next_page()
    assert [m.sid for m in second] == newest_first[2:4]
    third = second.next_page()
    assert [m.sid for m in third] == newest_first[4:]
    assert third.next_page() is None
    assert [m.sid for m in client.messages.list(page_size=2)] == newest_first
    assert [m.sid for m in client.messages.list(limit=3, page_size=2)] == newest_first[:3]
    assert [m.sid for m in client.messages.list(to="+15550000002")] == [sids[3]]

    # Redaction and deletion.
    assert client.messages(message.sid).update(body="").body == ""
    assert client.messages(message.sid).delete() is True
    gone = twilio_error(lambda: client.messages(message.sid).fetch())
    assert (gone.status, gone.code) == (404, 20404)
    assert len(client.messages.list()) == 4


def test_calls_move_through_their_statuses_and_report_completion(gateway, receiver):
    client = twilio_client(gateway, gateway.live_key)

    call = client.calls.create(to="+15558675310", from_=FROM, url="https://example.com/twiml",
                               status_callback=f"{receiver.url}/call-status")
    assert call.sid.startswith("CA") and call.status == "queued"
    assert [client.calls(call.sid).fetch().status for _ in range(4)] == [
        "ringing", "in-progress", "completed", "completed"]
    done = client.calls(call.sid).fetch()
    assert done.start_time is not None and done.end_time is not None and int(done.duration) >= 1

    # By default Twilio only calls back on completion; no auth_token configured: unsigned.
    [completed] = receiver.wait_for(1)
    assert completed["path"] == "/call-status"
    assert (completed["form"]["CallSid"], completed["form"]["CallStatus"]) == (call.sid, "completed")
    assert "X-Twilio-Signature" not in completed["headers"]

    # A queued call can be canceled; an ended one cannot be changed.
    other = client.calls.create(to="+15558675311", from_=FROM, twiml="<Response><Say>Hi</Say></Response>",
                                status_callback=f"{receiver.url}/every",
                                status_callback_event=["initiated", "ringing", "answered", "completed"])
    assert client.calls(other.sid).update(status="canceled").status == "canceled"
    ended = twilio_error(lambda: client.calls(other.sid).update(status="completed"))
    assert (ended.status, ended.code) == (400, 21220)
    every = [r for r in receiver.wait_for(3) if r["path"] == "/every"]
    assert sorted(r["form"]["CallStatus"] for r in every) == ["canceled", "queued"]

    assert [c.sid for c in client.calls.list(page_size=1)] == [other.sid, call.sid]
    missing_url = twilio_error(lambda: client.calls.create(to="+15558675310", from_=FROM))
    assert (missing_url.status, missing_url.code) == (400, 21205)
    bad_to = twilio_error(lambda: client.calls.create(to="nope", from_=FROM, url="https://example.com/x"))
    assert (bad_to.status, bad_to.code) == (400, 21211)


def test_errors_come_back_in_twilios_shape(gateway):
    client = twilio_client(gateway, gateway.live_key)

    invalid_to = twilio_error(lambda: client.messages.create(to="12345", from_=FROM, body="x"))
    assert (invalid_to.status, invalid_to.code) == (400, 21211)
    assert "12345" in invalid_to.msg
    magic = twilio_error(lambda: client.messages.create(to="+15005550001", from_=FROM, body="x"))
    assert magic.code == 21211
    unsubscribed = twilio_error(lambda: client.messages.create(to="+15005550004", from_=FROM, body="x"))
    assert unsubscribed.code == 21610
    no_body = twilio_error(lambda: client.messages.create(to="+15558675310", from_=FROM))
    assert (no_body.status, no_body.code) == (400, 21602)
    no_from = twilio_error(lambda: client.messages.create(to="+15558675310", body="x"))
    assert no_from.code == 21603
    too_long = twilio_error(lambda: client.messages.create(to="+15558675310", from_=FROM, body="x" * 1601))
    assert too_long.code == 21617

    not_found = twilio_error(lambda: client.messages("SM" + "0" * 32).fetch())
    assert (not_found.status, not_found.code) == (404, 20404)
    assert twilio_error(lambda: client.calls("CA" + "0" * 32).fetch()).code == 20404

    # The AccountSid in the path must be the Basic user.
    sent = client.messages.create(to="+15558675310", from_=FROM, body="mine")
    mismatch = twilio_error(lambda: client.api.v2010.accounts(OTHER_ACCOUNT).messages(sent.sid).fetch())
    assert (mismatch.status, mismatch.code) == (401, 20003)
    # Another AccountSid of the same marketplace user is a separate account.
    other_account = twilio_client(gateway, gateway.live_key, OTHER_ACCOUNT)
    assert other_account.messages.list() == []
    assert twilio_error(lambda: other_account.messages(sent.sid).fetch()).code == 20404

    # A key that is not a marketplace key never reaches the plugin: the gateway answers 401
    # (in its own error shape), and the SDK still raises TwilioRestException.
    stranger = twilio_client(gateway, "not-a-marketplace-key")
    assert twilio_error(lambda: stranger.messages(sent.sid).fetch()).status == 401


def test_state_is_per_user_and_sandbox_is_separate_from_live(gateway):
    from chalicelib.auth.principal import Principal

    live = twilio_client(gateway, gateway.live_key)
    # The other way to aim the SDK: replace the Api domain's base URL.
    sandbox = Client(ACCOUNT, gateway.test_key)
    sandbox.api.base_url = gateway.base_url
    sent = live.messages.create(to="+15558675310", from_=FROM, body="live one")

    assert sandbox.messages.list() == []
    assert twilio_error(lambda: sandbox.messages(sent.sid).fetch()).code == 20404
    in_sandbox = sandbox.messages.create(to="+15558675310", from_=FROM, body="sandbox one")
    assert [m.sid for m in sandbox.messages.list()] == [in_sandbox.sid]
    assert [m.sid for m in live.messages.list()] == [sent.sid]

    container = gateway.container
    user = container.auth.create_user(email="second@example.com", password="another horse battery",
                                      role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="twilio",
                               accept_permissions=["storage:read", "storage:write", "webhooks:send"])
    second_key = container.auth.create_key(principal, name="live", mode="live")["api_key"]
    second = twilio_client(gateway, second_key)  # same AccountSid, different marketplace user

    assert second.messages.list() == []
    assert twilio_error(lambda: second.messages(sent.sid).fetch()).code == 20404
    theirs = second.messages.create(to="+15558675399", from_=FROM, body="second user")
    assert [m.sid for m in second.messages.list()] == [theirs.sid]
    assert [m.sid for m in live.messages.list()] == [sent.sid]


# --- straight through the plugin host (no gateway): fast checks of the edges ------------
def basic(user: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode(),
            "Content-Type": "application/x-www-form-urlencoded"}


def test_requests_without_the_basic_account_user_are_refused_with_20003(call):
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    refused = call("GET", path)
    assert refused.status == 401
    assert refused.json() == {"code": 20003, "message": "Authentication Error - No credentials provided",
                              "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
    assert call("GET", path, headers=basic(OTHER_ACCOUNT)).json()["code"] == 20003
    # An API key SID (SK...) as the user may act on the account of the path, as on Twilio.
    assert call("GET", path, headers=basic("SK" + "c" * 32)).status == 200


def test_unknown_paths_are_twilio_404s(call):
    result = call("GET", f"/2010-04-01/Accounts/{ACCOUNT}/Recordings.json", headers=basic(ACCOUNT))
    assert result.status == 404
    assert result.json()["code"] == 20404


def test_messages_stay_under_the_plugins_own_storage_prefix(call, store):
    created = call("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", headers=basic(ACCOUNT),
                   body=b"To=%2B15558675310&From=%2B15005550006&Body=hi", user="usr_a", sandbox=True)
    assert created.status == 201, created.body
    assert created.json()["status"] == "queued"
    assert created.webhooks == []  # no StatusCallback, nothing queued
    assert all(pk.startswith("twilio#") for pk in store._partitions)
    assert store.get("twilio#sandbox#usr_a", "messages#" + created.json()["sid"]) is not None


def test_deterministic_mode_repeats_sids_and_dates(plugin_dir):
    from _mf_plugin_testing import load_plugin_class
    from mocklib_plugin_sdk import InMemoryStateStore, PluginHost, SdkSettings, reset_deterministic_state
    from mocklib_plugin_sdk.protocol import decode_result, make_request_event

    plugin_class, manifest = load_plugin_class(plugin_dir)

    def run() -> list[dict]:
        reset_deterministic_state()
        host = PluginHost(plugin_class, manifest, settings=SdkSettings(deterministic=True, seed="42"),
                          store=InMemoryStateStore())
        try:
            seen = []
            for user in ("usr_a", "usr_b", "usr_a"):
                event = make_request_event("POST", f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json",
                                           plugin="twilio", user_id=user, version=manifest["version"],
                                           headers=basic(ACCOUNT),
                                           body=b"To=%2B15558675310&From=%2B15005550006&Body=hi")
                seen.append(decode_result(host.invoke(event)).json())
            return seen
        finally:
            host.close()
            reset_deterministic_state()

    first, second = run(), run()
    assert [m["sid"] for m in first] == [m["sid"] for m in second]
    assert len({m["sid"] for m in first}) == 3
    assert first[0]["date_created"] == first[1]["date_created"] == "Thu, 01 Jan 2026 00:00:00 +0000"
    assert first[2]["date_created"] == "Thu, 01 Jan 2026 00:00:01 +0000"


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


def test_the_python_example_on_the_plugin_page_sends_a_message(gateway, manifest):
    sid, status = run_example(gateway, manifest).split()
    assert sid.startswith("SM") and status == "queued"


def test_mocklib_sends_and_reads_messages_through_the_manifests_aliases(gateway):
    from mocklib import MockFactory

    with MockFactory(gateway.live_key, api_url=gateway.api_url) as mf:
        message = mf.twilio.messages.create(to="+15558675310", from_=FROM, body="Hello from mocklib")
        assert (message.status, message.to, message["from"], message.body) == (
            "queued", "+15558675310", FROM, "Hello from mocklib")
        assert mf.twilio.messages.get(message.sid).sid == message.sid
        assert [m["sid"] for m in mf.twilio.messages.list()["messages"]] == [message.sid]
        call = mf.twilio.calls.create(to="+15558675310", from_=FROM, url="https://example.com/twiml")
        assert call.sid.startswith("CA") and mf.twilio.calls.update(call.sid, status="canceled").status == "canceled"
        assert {"calls", "messages"} <= set(mf.twilio.resources())
