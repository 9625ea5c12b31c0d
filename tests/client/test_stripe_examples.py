"""The Stripe plugin page's examples (its manifest's ``client.snippets``), filled as the page and
``mocklib plugin info`` fill them, run as they are against the marketplace over HTTP, and the
client SDK's ``mf.stripe.charges`` alias (``client.resources``, indexed forms): the other reference
plugins check theirs in their own suites; Stripe's are checked here."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess

import pytest

from mocklib import MockFactory
from tests.client.conftest import load_manifest


def filled(language: str, base_url: str, key: str) -> str:
    template = load_manifest("stripe")["client"]["snippets"][language]
    return template.replace("{{BASE_URL}}", base_url).replace("{{API_KEY}}", key)


def test_the_python_example_creates_a_customer_and_confirms_a_payment_with_the_official_library(
        marketplace, account, monkeypatch):
    import stripe

    # The example configures the library module-wide; put it back afterwards.
    monkeypatch.setattr(stripe, "api_key", stripe.api_key)
    monkeypatch.setattr(stripe, "api_base", stripe.api_base)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(filled("python", f"{marketplace.api_url}/plugins/stripe/v1", account.test_key),  # noqa: S102
                     "example", "exec"), {})
    customer_id, status = out.getvalue().split()
    assert customer_id.startswith("cus_") and status == "succeeded"


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on this machine")
def test_the_curl_example_creates_a_customer_and_a_payment(marketplace, account):
    script = filled("curl", f"{marketplace.api_url}/plugins/stripe/v1", account.test_key)
    run = subprocess.run(["bash", "-euc", script.replace("curl ", "curl -sf ")], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    decoder, text, answers = json.JSONDecoder(), run.stdout.strip(), []
    while text:
        answer, end = decoder.raw_decode(text)
        answers.append(answer)
        text = text[end:].strip()
    assert [(a["object"], a.get("status")) for a in answers] == [("customer", None), ("payment_intent", "succeeded")]


def test_mocklib_creates_a_charge_through_the_manifests_charges_alias(marketplace, account):
    with MockFactory(account.test_key, api_url=marketplace.api_url) as mf:
        charge = mf.stripe.charges.create(amount=2000, currency="usd", source="tok_visa",
                                          metadata={"order": "A1"}, expand=["balance_transaction"])
        assert (charge.object, charge.amount, charge.status, charge.metadata.order) == (
            "charge", 2000, "succeeded", "A1")
        assert charge.balance_transaction.object == "balance_transaction"  # the indexed list arrived as one
        assert mf.stripe.charges.get(charge.id).id == charge.id
