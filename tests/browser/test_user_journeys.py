"""A user's stories in the browser, against the dev stack: sign up and log in; browse, search
with suggestions, filter and sort the catalog and open a plugin; install and configure a
plugin; create, rotate and revoke an API key and see the calls made with it; create a restricted
key (scopes, expiry, one plugin); become a developer on the same account; test a webhook
endpoint; the catalog on a phone."""
from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, Console, bearer, log_in, open_page, screenshot, sign_up
from tests.e2e.stack import DevStack

TWILIO_PERMISSIONS = ["storage:read", "storage:write", "webhooks:send"]


def email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


def cards(page: Page) -> list[str]:
    page.locator("#catalog-results .plugin-card").first.wait_for()
    return page.locator("#catalog-results .plugin-card .card-title").all_inner_texts()


def test_a_visitor_signs_up_logs_out_and_logs_in_again(page: Page, stack: DevStack, console: Console) -> None:
    address = email("newcomer")
    page.goto(stack.frontend_url)
    page.get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()

    page.get_by_label("E-mail").fill(address)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Choose a password of at least 10 characters.")).to_be_visible()  # checked before any request

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("use plugins").check()
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Plugin Marketplace")).to_be_visible()
    expect(page.get_by_text(f"{address} (user)")).to_be_visible()
    expect(page.get_by_role("link", name="My plugins")).to_be_visible()
    expect(page.get_by_role("link", name="Developer")).to_have_count(0)  # not a developer account

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="My plugins")).to_have_count(0)

    # A wrong password: the API's 401 is shown on the form. Chromium itself logs the failed
    # request as a console error; that one message, and only it, is expected.
    console.allow(r"Failed to load resource: the server responded with a status of 401")
    page.get_by_label("E-mail").fill(address)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("e-mail or password is wrong")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"{address} (user)")).to_be_visible()

    # A page that needs an account sends a visitor to log in, and back afterwards.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{stack.frontend_url}/#/keys")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("E-mail").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()


def test_a_visitor_browses_searches_filters_sorts_and_opens_a_plugin(page: Page, stack: DevStack) -> None:
    page.goto(stack.frontend_url)
    assert sorted(cards(page)) == sorted(["Echo", "Datadog (mock)", "GitHub", "SendGrid (mock)", "Stripe", "Twilio"])
    expect(page.locator("#result-count")).to_have_text("6 plugins")
    stripe = page.locator(".plugin-card", has_text="Stripe")
    expect(stripe).to_contain_text("$0.005 per call")
    expect(stripe).to_contain_text("1,000 free calls / month")
    expect(stripe.get_by_role("button", name="Install")).to_be_visible()
    screenshot(page, "catalog")

    # category filter, then sort by price (standard $0.001 before premium $0.005)
    page.get_by_label("Category").select_option("payments")
    expect(page.locator("#result-count")).to_have_text("1 plugin")
    assert cards(page) == ["Stripe"]
    assert "category=payments" in page.url
    page.get_by_label("Category").select_option("")
    page.get_by_label("Sort by").select_option("price")
    expect(page.locator("#result-count")).to_have_text("6 plugins")
    assert cards(page)[-1] == "Stripe"
    page.get_by_label("Sort by").select_option("popular")
    assert cards(page)[0] == "Echo"  # the demo user installed it: the most installs

    # a search that finds nothing shows the empty state, and a way back
    search = page.get_by_role("combobox", name="Search")
    search.fill("no-such-plugin-anywhere")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_text("No plugin matches this search.")).to_be_visible()
    page.get_by_role("button", name="Clear the search").click()
    expect(page.locator("#result-count")).to_have_text("6 plugins")

    # search submitted with Enter
    search.fill("echo")
    search.press("Enter")
    expect(page.locator("#result-count")).to_have_text("1 plugin for “echo”")

    # suggestions while typing, chosen with the keyboard
    search.fill("")
    search.press_sequentially("twil", delay=40)
    listbox = page.get_by_role("listbox", name="Suggestions")
    twilio = listbox.get_by_role("option", name="Twilio")
    expect(twilio).to_be_visible()  # (SendGrid too: it is tagged twilio)
    expect(search).to_have_attribute("aria-expanded", "true")
    for _ in range(listbox.get_by_role("option").count()):
        search.press("ArrowDown")
        if twilio.get_attribute("aria-selected") == "true":
            break
    expect(twilio).to_have_attribute("aria-selected", "true")
    expect(search).to_have_attribute("aria-activedescendant", twilio.get_attribute("id") or "")
    search.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Twilio")
    assert page.url.endswith("#/plugins/twilio")
    for title in ("About", "Pricing", "Permissions", "Endpoints", "Versions and changelog", "Reviews"):
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page.get_by_text("webhooks:send")).to_be_visible()
    expect(page.get_by_text("/plugins/twilio/v1", exact=False).first).to_be_visible()
    expect(page.get_by_text("No reviews yet.")).to_be_visible()
    expect(page.get_by_role("button", name="Install")).to_be_visible()
    screenshot(page, "plugin-detail")

    # a plugin with many endpoints shows a few and the rest on demand
    page.goto(f"{stack.frontend_url}/#/plugins/stripe")
    more = page.get_by_text("Show all", exact=False)
    expect(more).to_be_visible()
    more.click()
    expect(page.get_by_text("/checkout/sessions/{session_id}/expire")).to_be_visible()


def test_a_user_installs_configures_disables_and_uninstalls_a_plugin(page: Page, stack: DevStack) -> None:
    address = email("installer")
    token = sign_up(stack, address)
    log_in(page, stack, address)

    twilio = page.locator(".plugin-card", has_text="Twilio")
    twilio.get_by_role("button", name="Install").click()
    dialog = page.get_by_role("dialog", name="Install Twilio?")
    for permission in TWILIO_PERMISSIONS:
        expect(dialog).to_contain_text(permission)
    dialog.get_by_role("button", name="Accept and install").click()
    expect(twilio.get_by_role("button", name="Installed")).to_be_disabled()
    expect(page.get_by_role("status").filter(has_text="Twilio is installed")).to_be_visible()
    installed = requests.get(f"{stack.url}/plugins/installed/twilio", headers=bearer(token), timeout=10).json()
    assert installed["granted_permissions"] == TWILIO_PERMISSIONS

    page.get_by_role("link", name="My plugins").click()
    card = page.locator(".install-card[data-plugin=twilio]")
    expect(card).to_contain_text("Enabled")
    expect(card).to_contain_text("Usage this month")
    card.get_by_role("button", name="Configure").click()
    token_field = card.get_by_label("auth token")  # generated from Twilio's config schema
    token_field.fill("my-twilio-token")
    card.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings of Twilio saved")).to_be_visible()
    config = requests.get(f"{stack.url}/plugins/installed/twilio", headers=bearer(token), timeout=10).json()["config"]
    assert config == {"auth_token": "my-twilio-token"}
    screenshot(page, "my-plugins")

    card.get_by_role("button", name="Disable Twilio").click()
    expect(card).to_contain_text("Disabled")
    card.get_by_role("button", name="Enable Twilio").click()
    expect(card).to_contain_text("Enabled")

    card.get_by_role("button", name="Uninstall Twilio").click()
    page.get_by_role("dialog", name="Uninstall Twilio?").get_by_role("button", name="Uninstall").click()
    expect(page.get_by_text("You have not installed any plugin yet.")).to_be_visible()
    assert requests.get(f"{stack.url}/plugins/installed", headers=bearer(token), timeout=10).json()["installs"] == []


def call_echo(stack: DevStack, key: str) -> int:
    return requests.get(f"{stack.url}/plugins/echo/v1/echo", headers=bearer(key), timeout=10).status_code


def test_a_user_creates_a_key_calls_a_plugin_sees_the_usage_then_rotates_and_revokes_it(page: Page, stack: DevStack) -> None:
    address = email("keys")
    token = sign_up(stack, address)
    assert requests.post(f"{stack.url}/plugins/install", json={"plugin": "echo", "accept_permissions": [
        "licensing:read", "storage:read", "storage:write"]}, headers=bearer(token), timeout=10).status_code == 201
    log_in(page, stack, address)

    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("You have no API key yet.")).to_be_visible()
    page.get_by_label("Name").fill("laptop")
    page.get_by_label("Mode").select_option("test")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Key “laptop”")
    expect(secret).to_be_visible()
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    key = secret.input_value()
    assert key.startswith("mf_test_")
    row = page.locator("table.keys-table tbody tr", has_text="laptop")
    expect(row).to_contain_text(key[:12])
    expect(row).to_contain_text("active")
    screenshot(page, "api-keys")

    page.reload()  # shown once: gone after a reload, only the prefix remains
    expect(page.locator("table.keys-table tbody tr", has_text="laptop")).to_be_visible()
    expect(page.get_by_text("Copy it now")).to_have_count(0)
    assert key not in page.content()

    assert [call_echo(stack, key) for _ in range(3)] == [200, 200, 200]
    page.get_by_role("link", name="My plugins").click()
    echo = page.locator(".install-card[data-plugin=echo]")
    expect(echo.locator("[data-metric=sandbox-calls]")).to_have_text("3")
    expect(echo.locator("[data-metric=live-calls]")).to_have_text("0")
    assert call_echo(stack, key) == 200
    page.get_by_role("button", name="Refresh usage").click()
    expect(echo.locator("[data-metric=sandbox-calls]")).to_have_text("4")

    page.get_by_role("link", name="API keys").click()
    row = page.locator("table.keys-table tbody tr", has_text="laptop").filter(has_text="active")
    row.get_by_role("button", name="Rotate").click()
    page.get_by_role("dialog").get_by_role("button", name="Rotate").click()
    expect(page.get_by_role("heading", name="Your rotated key")).to_be_visible()
    rotated = page.get_by_label("Key “laptop”").input_value()
    assert rotated.startswith("mf_test_") and rotated != key
    assert call_echo(stack, key) == 401
    assert call_echo(stack, rotated) == 200

    active = page.locator("table.keys-table tbody tr", has_text="laptop").filter(has_text="active")
    expect(active).to_have_count(1)
    active.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("table.keys-table tbody tr", has_text="laptop").filter(has_text="active")).to_have_count(0)
    expect(page.locator("table.keys-table tbody tr", has_text="revoked")).to_have_count(2)
    assert call_echo(stack, rotated) == 401


def test_a_user_creates_a_restricted_key_that_installs_one_plugin_and_cannot_manage_the_account(
        page: Page, stack: DevStack) -> None:
    address = email("restricted")
    token = sign_up(stack, address)
    log_in(page, stack, address)
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("— call installed plugins", exact=False)).to_be_visible()  # the scopes the API offers

    page.get_by_label("Name").fill("ci-installer")
    page.get_by_label("gateway", exact=True).check()
    page.get_by_label("installs:write", exact=True).check()
    page.get_by_label("Limit to plugins").fill("Echo!")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a plugin name")  # checked before any request
    page.get_by_label("Limit to plugins").fill("echo")
    expiry = (datetime.now(timezone.utc) + timedelta(days=30)).date()
    page.get_by_label("Expires on").fill(expiry.isoformat())
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Your new key")).to_be_visible()
    expect(page.locator(".secret-panel")).to_contain_text("Scopes: gateway, installs:write · only echo · expires")
    key = page.get_by_label("Key “ci-installer”").input_value()
    row = page.locator("table.keys-table tbody tr", has_text="ci-installer")
    expect(row.locator("[data-cell=scopes]")).to_contain_text("gateway")
    expect(row.locator("[data-cell=scopes]")).to_contain_text("installs:write")
    expect(row.locator("[data-cell=plugins]")).to_have_text("echo")
    expect(row.locator("[data-cell=expires]")).not_to_have_text("never")
    screenshot(page, "api-keys-restricted")

    echo_permissions = ["licensing:read", "storage:read", "storage:write"]
    installed = requests.post(f"{stack.url}/plugins/install", json={"plugin": "echo", "accept_permissions": echo_permissions},
                              headers=bearer(key), timeout=10)
    assert installed.status_code == 201, installed.text
    assert call_echo(stack, key) == 200
    other = requests.post(f"{stack.url}/plugins/install", json={"plugin": "twilio", "accept_permissions": TWILIO_PERMISSIONS},
                          headers=bearer(key), timeout=10)
    assert (other.status_code, other.json()["code"]) == (403, "plugin_not_allowed")
    managing = requests.post(f"{stack.url}/keys", json={"name": "sneaky", "mode": "live"}, headers=bearer(key), timeout=10)
    assert (managing.status_code, managing.json()["code"]) == (403, "insufficient_scope")
    assert [k["name"] for k in requests.get(f"{stack.url}/keys", headers=bearer(token), timeout=10).json()["keys"]] \
        == ["ci-installer"]


def test_a_user_becomes_a_developer_on_the_same_account(page: Page, stack: DevStack) -> None:
    address = email("maker")
    sign_up(stack, address)
    log_in(page, stack, address)
    page.goto(f"{stack.frontend_url}/#/developer")
    expect(page.get_by_text("This page is for developer accounts; you are signed in as user.")).to_be_visible()

    page.goto(f"{stack.frontend_url}/#/signup")
    expect(page.get_by_role("heading", name="Become a developer")).to_be_visible()
    page.get_by_role("button", name="Become a developer").click()

    expect(page.get_by_role("heading", name="Developer dashboard")).to_be_visible()
    expect(page.get_by_text(f"{address} (developer)")).to_be_visible()
    expect(page.get_by_role("link", name="Developer", exact=True)).to_be_visible()
    login = requests.post(f"{stack.url}/auth/login", json={"email": address, "password": PASSWORD}, timeout=10)
    assert login.json()["user"]["role"] == "developer"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that answers 200 and keeps what it got."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mockfactory"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    started.thread.start()
    yield started
    started.server.shutdown()
    started.server.server_close()


def test_a_user_points_a_plugin_webhook_at_their_endpoint_and_sends_a_test_event(
        page: Page, stack: DevStack, receiver: Receiver) -> None:
    address = email("hooks")
    token = sign_up(stack, address)
    assert requests.post(f"{stack.url}/plugins/install", json={"plugin": "twilio", "accept_permissions": TWILIO_PERMISSIONS},
                         headers=bearer(token), timeout=10).status_code == 201
    log_in(page, stack, address)
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_label("Plugin")).to_have_value("twilio")
    expect(page.get_by_text("No webhook sent to you by this plugin yet.")).to_be_visible()

    page.get_by_label("Webhook URL").fill(receiver.url)
    page.get_by_role("button", name="Save endpoint").click()
    expect(page.locator("#webhook-secret")).to_contain_text("Signing secret: whsec_")
    page.get_by_role("button", name="Send test event").click()

    delivery = page.locator(".delivery").first
    expect(delivery).to_have_attribute("data-state", "delivered", timeout=20_000)
    expect(delivery).to_contain_text("mockfactory.test")
    expect(delivery).to_contain_text("HTTP 200")
    expect(page.get_by_role("status").filter(has_text="Test event delivered: HTTP 200.")).to_be_visible()
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got["headers"]["x-mockfactory-event"] == "mockfactory.test"
    assert "x-mockfactory-signature" in got["headers"]
    assert got["body"]["data"] == {"plugin": "twilio", "version": "1.0.0"}
    delivery.get_by_text("Request sent").click()
    expect(delivery.locator("pre")).to_contain_text("X-MockFactory-Delivery")
    screenshot(page, "webhooks")


def test_the_catalog_on_a_phone_sized_screen(browser: Browser, stack: DevStack, console: Console) -> None:
    page = open_page(browser, console, viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True,
                     device_scale_factor=2)
    try:
        page.goto(stack.frontend_url)
        assert len(cards(page)) == 6
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways on a phone: {width}px wide"
        box = page.locator(".plugin-card").first.bounding_box()
        assert box is not None and box["width"] > 300  # one card per row
        nav = page.get_by_role("navigation", name="Main")
        menu = page.get_by_role("button", name="Menu")
        expect(nav).to_be_hidden()
        expect(menu).to_have_attribute("aria-expanded", "false")
        screenshot(page, "catalog-phone", full_page=False)
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(nav.get_by_role("link", name="Sign up")).to_be_visible()
        screenshot(page, "catalog-phone-menu", full_page=False)
        nav.get_by_role("link", name="Catalog").click()
        expect(nav).to_be_hidden()

        # keyboard: on a fresh load the first Tab reaches the skip link, which moves focus to the content
        page.reload()
        cards(page)
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
        assert page.url.rstrip("/").endswith(str(stack.info["frontend_url"]).rstrip("/")) or page.url.endswith("#/")
        assert len(cards(page)) == 6  # still the catalog: the skip link does not touch the router's hash
    finally:
        page.context.close()
    assert not console.errors, "errors in the browser console:\n" + "\n".join(console.errors)
