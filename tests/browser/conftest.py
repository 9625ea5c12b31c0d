"""Browser tests: the frontend served by the dev stack, driven by Playwright in Debian's Chromium.

One dev stack per test module (``stack``), one browser per session (``browser``), a fresh
browser context per test (``page``: its own sessionStorage, so its own session). Every
console error and uncaught page error fails the test, unless the test declared that exact
message beforehand with ``console.allow(...)`` (a deliberate 4xx it shows as an error state).
Screenshots of the main pages go to ``test-artifacts/screenshots/``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from devstack import REPO_ROOT
from devstack.dynamodb import free_port
from tests.e2e.stack import DevStack

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests use Debian's Chromium. Run the bootstrap "
                    "(make bootstrap, i.e. bash scripts/bootstrap.sh), which installs it with apt-get.")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    where = tmp_path_factory.mktemp("browser-stack")
    started = DevStack(where / "state", free_port(), free_port(), log=where / "devstack.log",
                       frontend_port=free_port()).start()
    try:
        yield started
    finally:
        if started.process is not None and started.process.poll() is None:
            started.process.send_signal(2)  # SIGINT: the stack stops its children in order
            try:
                started.process.wait(timeout=20)
            except Exception:  # noqa: BLE001 - still running: kill it
                started.kill()


class Console:
    """Console errors and page errors of a page; ``allow`` declares one expected message."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Tolerate one console error matching ``pattern`` (a regex), e.g. the browser's own
        "Failed to load resource: ... status of 401" for a wrong password the page shows."""
        self._allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        text = message.text
        for i, pattern in enumerate(self._allowed):
            if pattern.search(text):
                del self._allowed[i]
                return
        location = message.location
        self.errors.append(f"console.error: {text} ({location.get('url')}:{location.get('lineNumber')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def console() -> Console:
    return Console()


def open_page(browser: Browser, console: Console, **context_options: object) -> Page:
    context = browser.new_context(**{"viewport": DESKTOP, **context_options})  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    return page


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    opened = open_page(browser, console)
    yield opened
    opened.context.close()
    assert not console.errors, "errors in the browser console:\n" + "\n".join(console.errors)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("() => window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the sticky header mid-page
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- people ------------------------------------------------------------------------------------
def sign_up(stack: DevStack, email: str, role: str = "user") -> str:
    """An account made through the API (the UI sign-up has its own test); its access token."""
    answer = requests.post(f"{stack.url}/auth/signup", json={"email": email, "password": PASSWORD, "role": role},
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["access_token"])


def log_in(page: Page, stack: DevStack, email: str, password: str = PASSWORD, *, next_route: str = "") -> None:
    page.goto(f"{stack.frontend_url}/#/login" + (f"?next={next_route}" if next_route else ""))
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
