"""Learning to call a plugin where it is found, in the browser against the dev stack: the catalog
card and the page show the plugin's fidelity to the vendor's API with the spec's version; the page
renders the developer's README safely and gives vendor SDK examples with the base URL, which a
signed-in user fills with a sandbox key created there, and that key then calls the plugin."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from mocklib import MockFactory
from tests.browser.conftest import bearer, log_in, screenshot, sign_up
from tests.e2e.stack import DevStack

PLUGINS = Path(__file__).resolve().parents[2] / "plugin_functions"
EVIL_README = """# Hello <script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
[click me](javascript:window.pwned=3) and [docs](https://example.com/docs) ![logo](https://example.com/x.png)
[upper](JaVaScRiPt:window.pwned=4) [data](data:text/html,<script>window.pwned=5</script>) <javascript:window.pwned=6>
[quote](https://example.com/q"onmouseover="window.pwned=7) <a href="javascript:window.pwned=8">raw link</a>

```"><img src=x onerror="window.pwned=9">
fenced <b>not bold</b>
```

| a | b |
|---|---|
| `x` | **y** |

Fields such as asm_group_id and bounce_type stay as written, _this_ is emphasis.
"""


def test_a_visitor_sees_the_fidelity_readme_and_examples_then_fills_them_with_a_new_sandbox_key(
        page: Page, stack: DevStack) -> None:
    measured = json.loads((PLUGINS / "twilio" / "spec" / "fidelity.json").read_text())
    coverage, conformance = measured["coverage"], measured["conformance"]
    percent = f"{conformance['percent']:g}"  # as JavaScript prints a number: 100, 97.3
    figures = (f"{coverage['implemented']}/{coverage['total']} operations · {percent} % of "
               f"{conformance['total']} answers valid · vs Twilio REST API 2010-04-01")

    page.goto(stack.frontend_url)

    def card(name: str):
        return page.locator(".plugin-card").filter(has=page.get_by_role("link", name=name, exact=True))

    expect(card("Twilio").locator(".fidelity")).to_have_text(f"Fidelity: {figures}")
    expect(card("Stripe").locator(".fidelity")).to_contain_text("(older spec)")
    expect(card("Echo").locator(".fidelity")).to_have_count(0)  # no vendor spec, no figure

    page.goto(f"{stack.frontend_url}/#/plugins/twilio")
    expect(page.locator(".fidelity-figures")).to_have_text(f"Fidelity: {figures}")
    table = page.get_by_role("table", name="Operations implemented per resource")
    expect(table.get_by_role("row", name="Message")).to_contain_text(
        f"{coverage['resources'][0]['implemented']} / {coverage['resources'][0]['total']}")
    base = f"{stack.url}/plugins/twilio/v1"
    expect(page.locator("#base-url")).to_have_text(base)
    python = page.get_by_role("region", name="Call it").locator("code[data-language=python]")
    expect(python).to_contain_text(f'client.api.base_url = "{base}"')
    expect(python).to_contain_text('"YOUR_MF_TEST_KEY"')
    expect(page.locator(".snippets code[data-language=node]")).to_contain_text("require(\"twilio\")")
    readme = page.locator("details.readme")
    readme.locator("summary").click()
    expect(readme.get_by_role("heading", name="Pointing the official SDK at the marketplace")).to_be_visible()
    screenshot(page, "plugin-call-it-and-fidelity")

    # Stripe's spec is older than today's API: the page says so beside the figure and in full; its
    # examples (Node included) point the official libraries at the marketplace; its changes per version.
    page.goto(f"{stack.frontend_url}/#/plugins/stripe")
    expect(page.locator(".fidelity-figures")).to_contain_text("vs Stripe API 2023-08-16 (older spec)")
    expect(page.locator(".notice").filter(has_text="older than today's Stripe API")).to_be_visible()
    stripe_base = f"{stack.url}/plugins/stripe/v1"
    expect(page.locator(".snippets code[data-language=node]")).to_contain_text(f'"{stripe_base}"), init)')
    expect(page.locator(".snippets code[data-language=curl]")).to_contain_text('-u "YOUR_MF_TEST_KEY:"')
    expect(page.locator("ol.versions")).to_contain_text("Signed webhook endpoints (Stripe-Signature)")

    # Signed in: the page names the sandbox keys by prefix, and fills the examples with a new one.
    email = f"learner-{uuid.uuid4().hex[:8]}@example.com"
    token = sign_up(stack, email)
    log_in(page, stack, email, next_route="/plugins/twilio")
    expect(page.locator("#key-prefixes")).to_contain_text("You have no sandbox key yet")
    page.get_by_role("button", name="Create a test key for these examples").click()
    expect(page.locator(".key-note .notice")).to_contain_text("shown only on this page")
    example = page.locator(".snippets code[data-language=python]").inner_text()
    key = example.split('Client("AC00000000000000000000000000000000", "')[1].split('"')[0]
    assert key.startswith("mf_test_")

    # That key, from the page, calls the plugin (installed from the page) through mocklib's aliases.
    page.locator("#install-button").click()
    page.get_by_role("dialog", name="Install Twilio?").get_by_role("button", name="Accept and install").click()
    expect(page.get_by_role("link", name="Installed — manage")).to_be_visible()
    with MockFactory(key, api_url=stack.url) as mf:
        sent = mf.twilio.messages.create(to="+15558675310", from_="+15005550006", body="from the page's key")
    assert sent.status == "queued"
    keys = requests.get(f"{stack.url}/keys", headers=bearer(token), timeout=10).json()["keys"]
    assert [k["name"] for k in keys] == ["examples: twilio"]


def test_a_readme_is_rendered_without_its_html_scripts_or_javascript_links(page: Page, stack: DevStack) -> None:
    page.goto(f"{stack.frontend_url}/#/plugins/echo")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Echo")
    # The very module the page uses (its hashed name from what the page loaded), on hostile text.
    rendered = page.evaluate("""async (text) => {
        const url = performance.getEntriesByType("resource").map((e) => e.name).find((n) => /\\/markdown\\.[0-9a-f]+\\.js$/.test(n));
        const { renderMarkdown } = await import(url);
        const box = document.createElement("div");
        box.append(...renderMarkdown(text));
        document.body.append(box);
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { html: box.innerHTML, pwned: window.pwned || 0,
                 links: [...box.querySelectorAll("a")].map((a) => a.getAttribute("href")),
                 images: box.querySelectorAll("img").length, scripts: box.querySelectorAll("script").length,
                 handlers: box.querySelectorAll("[onerror], [onmouseover]").length,
                 headings: [...box.querySelectorAll("h3")].map((h) => h.textContent),
                 cells: [...box.querySelectorAll("td")].map((td) => td.innerHTML),
                 emphasis: [...box.querySelectorAll("em")].map((e) => e.textContent),
                 code_languages: [...box.querySelectorAll("pre code")].map((c) => c.dataset.language) };
    }""", EVIL_README)

    assert rendered["pwned"] == 0 and rendered["scripts"] == 0 and rendered["images"] == 0
    # Only http(s) links survive, whatever the case or the scheme; an attribute cannot be broken out of.
    assert rendered["links"] == ["https://example.com/docs", 'https://example.com/q"onmouseover="window.pwned=7']
    assert rendered["headings"] == ["Hello <script>window.pwned = 1</script>"]  # shown as text
    assert rendered["cells"] == ["<code>x</code>", "<strong>y</strong>"]
    assert rendered["emphasis"] == ["this"] and "asm_group_id and bounce_type" in rendered["html"]
    assert rendered["handlers"] == 0 and "&lt;img src=x" in rendered["html"]  # the tag shown as text
    assert "&lt;a href=" in rendered["html"] and "&lt;b&gt;not bold&lt;/b&gt;" in rendered["html"]
    assert rendered["code_languages"] == ['"><img src=x onerror="window.pwned=9">']  # an attribute value, inert
