"""Our Stripe plugin vs localstripe (PyPI) on the same official-SDK flows, in one run.

Both sides are driven by the official ``stripe`` library (``StripeClient``) with the same
flow functions. Ours runs the realistic way: the marketplace API on a real port (chalice's
local server, routed like API Gateway) on DynamoDB Local, the stripe plugin published,
approved and installed for a user, called with an ``mf_test_`` key through the gateway
(identity, entitlement, rate limit, metering) into the local runtime's isolated worker
process, with the plugin's state in the plugin-state table. localstripe runs as its own
subprocess (one aiohttp process, state in memory) on a free port, called with an
``sk_test_`` key.

Output: a coverage table (which flows pass on each side; a flow passes if it completes
and its assertions hold, any exception is a fail with its reason) and the throughput of
N sequential customer create + retrieve pairs against each, as calls/s and a ratio.

Needs localstripe, which is not a project dependency: ``pip install localstripe`` (PyPI)
into the same environment first; the script exits with a message if it is missing.
localstripe itself listens on all interfaces of the chosen port and, by its design,
rewrites ``/tmp/localstripe.pickle`` with its whole store on every write.

    .venv/bin/python bench/stripe_vs_localstripe.py [--pairs 300] [--no-write]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import local_backend, percentile, write_section  # noqa: E402

STRIPE = json.loads((ROOT / "plugin_functions/stripe/chalicelib/manifest.json").read_text())
HEADING = "Stripe plugin vs localstripe"


# ---------------------------------------------------------------- flows (official SDK only)

def _tag() -> str:
    return uuid.uuid4().hex[:10]


def flow_customer_crud(client: Any) -> None:
    created = client.v1.customers.create(params={"email": f"ada-{_tag()}@example.com", "name": "Ada"})
    assert created.id.startswith("cus_"), created.id
    fetched = client.v1.customers.retrieve(created.id)
    assert fetched.id == created.id and fetched.email == created.email
    updated = client.v1.customers.update(created.id, params={"name": "Ada Lovelace",
                                                             "metadata": {"tier": "gold"}})
    assert updated.name == "Ada Lovelace" and updated.metadata["tier"] == "gold"
    assert client.v1.customers.retrieve(created.id).name == "Ada Lovelace"


def flow_customer_pagination(client: Any) -> None:
    ids = {client.v1.customers.create(params={"description": f"page-{_tag()}"}).id for _ in range(7)}
    page = client.v1.customers.list(params={"limit": 3})
    assert len(page.data) == 3 and page.has_more, (len(page.data), page.has_more)
    seen = [c.id for c in page.auto_paging_iter()]
    assert len(seen) == len(set(seen)), "a customer came back twice"
    assert ids <= set(seen), f"{len(ids - set(seen))} of 7 new customers missing from the walk"


def flow_payment_method_attach(client: Any) -> None:
    customer = client.v1.customers.create(params={"email": f"pm-{_tag()}@example.com"})
    attached = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    assert attached.id.startswith("pm_") and attached.customer == customer.id
    assert attached.card.brand == "visa" and attached.card.last4 == "4242"
    listed = client.v1.payment_methods.list(params={"customer": customer.id, "type": "card"})
    assert attached.id in [pm.id for pm in listed.data]


def flow_payment_intent_capture(client: Any) -> None:
    customer = client.v1.customers.create(params={"email": f"pi-{_tag()}@example.com"})
    intent = client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "customer": customer.id, "payment_method": "pm_card_visa",
        "payment_method_types": ["card"], "capture_method": "manual"})
    assert intent.status == "requires_confirmation", intent.status
    intent = client.v1.payment_intents.confirm(intent.id)
    assert intent.status == "requires_capture", intent.status
    intent = client.v1.payment_intents.capture(intent.id)
    assert intent.status == "succeeded" and intent.amount == 2000, (intent.status, intent.amount)


def flow_declined_card(client: Any) -> None:
    import stripe

    try:
        client.v1.payment_intents.create(params={
            "amount": 1500, "currency": "usd", "payment_method": "pm_card_chargeDeclined",
            "payment_method_types": ["card"], "confirm": True})
    except stripe.CardError as error:
        assert error.code == "card_declined", error.code
        assert error.error is not None and error.error.decline_code, "no decline_code"
        return
    raise AssertionError("no CardError raised")


def flow_refund(client: Any) -> None:
    intent = client.v1.payment_intents.create(params={
        "amount": 3000, "currency": "usd", "payment_method": "pm_card_visa",
        "payment_method_types": ["card"], "confirm": True})
    assert intent.status == "succeeded", intent.status
    refund = client.v1.refunds.create(params={"payment_intent": intent.id})
    assert refund.id.startswith("re_") and refund.amount == 3000, (refund.id, refund.amount)
    assert refund.status == "succeeded", refund.status


def flow_idempotency(client: Any) -> None:
    import stripe

    key = f"bench-{uuid.uuid4()}"
    params = {"email": f"idem-{_tag()}@example.com"}
    first = client.v1.customers.create(params=params, options={"idempotency_key": key})
    again = client.v1.customers.create(params=params, options={"idempotency_key": key})
    assert again.id == first.id, f"replay made a new object ({first.id} then {again.id})"
    try:
        client.v1.customers.create(params={"email": f"other-{_tag()}@example.com"},
                                   options={"idempotency_key": key})
    except stripe.StripeError:
        return
    raise AssertionError("same key with different parameters was accepted")


def flow_connect_account(client: Any) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US",
                                                "email": f"acct-{_tag()}@example.com"})
    assert account.id.startswith("acct_"), account.id


def flow_transfer(client: Any) -> None:
    account = client.v1.accounts.create(params={"type": "express", "country": "US"})
    transfer = client.v1.transfers.create(params={"amount": 1000, "currency": "usd", "destination": account.id})
    assert transfer.id.startswith("tr_") and transfer.destination == account.id


def flow_webhook_endpoint(client: Any) -> None:
    endpoint = client.v1.webhook_endpoints.create(params={"url": "https://example.com/hooks/stripe",
                                                          "enabled_events": ["payment_intent.succeeded"]})
    assert endpoint.id.startswith("we_") and (endpoint.secret or "").startswith("whsec_")


def flow_checkout_session(client: Any) -> None:
    session = client.v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": "https://example.com/ok", "cancel_url": "https://example.com/no",
        "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 500,
                                                      "product_data": {"name": "Widget"}}}]})
    assert session.id.startswith("cs_"), session.id


def flow_subscription(client: Any) -> None:
    product = client.v1.products.create(params={"name": f"Plan {_tag()}"})
    price = client.v1.prices.create(params={"product": product.id, "unit_amount": 1000, "currency": "usd",
                                            "recurring": {"interval": "month"}})
    customer = client.v1.customers.create(params={"email": f"sub-{_tag()}@example.com"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    client.v1.customers.update(customer.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    subscription = client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})
    assert subscription.status == "active", subscription.status
    assert subscription["items"].data[0].price.id == price.id


FLOWS: list[tuple[str, Callable[[Any], None]]] = [
    ("customer create / retrieve / update", flow_customer_crud),
    ("customer list, auto_paging_iter over > limit", flow_customer_pagination),
    ("payment method `pm_card_visa` attach", flow_payment_method_attach),
    ("payment intent create + confirm + capture", flow_payment_intent_capture),
    ("declined card raises `CardError` with `decline_code`", flow_declined_card),
    ("refund of a succeeded payment intent", flow_refund),
    ("idempotency: same key replays, other params error", flow_idempotency),
    ("Connect account create", flow_connect_account),
    ("transfer create", flow_transfer),
    ("webhook endpoint create", flow_webhook_endpoint),
    ("checkout session create", flow_checkout_session),
    ("subscription create with a price", flow_subscription),
]


def describe(error: Exception) -> str:
    import stripe

    if isinstance(error, stripe.StripeError):
        if error.error is not None and error.error.message:
            message = error.error.message
        else:  # not a Stripe-shaped error body (e.g. a plain-text 404 for an unknown endpoint)
            message = f"body {str(error.http_body or '')[:40]!r}"
        message = message.split(": ", 1)[-1] if message.startswith("Request req_") else message
        text = f"{type(error).__name__} (HTTP {error.http_status}): {message}"
    else:
        text = f"{type(error).__name__}: {error}"
    text = " ".join(text.replace("|", "/").replace("`", "'").split())
    return text if len(text) <= 90 else text[:87] + "..."


def run_flows(client: Any) -> list[tuple[bool, str]]:
    results = []
    for _, flow in FLOWS:
        try:
            flow(client)
            results.append((True, ""))
        except Exception as error:  # a missing feature is a fail, not a crash
            results.append((False, describe(error)))
    return results


def throughput(client: Any, pairs: int) -> tuple[float, list[float]]:
    """Sequential customer create + retrieve pairs: calls/s (2 calls per pair) and per-call ms."""
    for _ in range(20):  # warm: connections open, worker and caches hot
        client.v1.customers.retrieve(client.v1.customers.create(params={"email": "warm@example.com"}).id)
    samples = []
    began = time.perf_counter()
    for i in range(pairs):
        t0 = time.perf_counter()
        created = client.v1.customers.create(params={"email": f"tp{i}@example.com", "name": f"Pair {i}"})
        t1 = time.perf_counter()
        fetched = client.v1.customers.retrieve(created.id)
        t2 = time.perf_counter()
        assert fetched.id == created.id
        samples += [(t1 - t0) * 1000, (t2 - t1) * 1000]
    return 2 * pairs / (time.perf_counter() - began), samples


# ---------------------------------------------------------------- the two servers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def localstripe_server() -> Iterator[str]:
    port = free_port()
    exe = shutil.which("localstripe", path=str(Path(sys.executable).parent)) or shutil.which("localstripe")
    command = [exe] if exe else [sys.executable, "-m", "localstripe"]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([*command, "--port", str(port), "--from-scratch"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    sys.exit(f"localstripe did not start on port {port}:\n{log.read().decode(errors='replace')}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def setup_marketplace(container: Any) -> str:
    """Like bench/gateway.py setup(): publish + approve stripe, install it, a sandbox key."""
    from chalicelib.auth.principal import Principal

    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    container.catalog.create_plugin(dev, STRIPE)
    container.catalog.submit_version(dev, "stripe", STRIPE["version"])
    container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "stripe",
                                      STRIPE["version"])
    user = container.auth.create_user(email="bench@example.com", password="correct horse battery", role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="stripe", accept_permissions=STRIPE["permissions"])
    return container.auth.create_key(principal, name="bench", mode="test")["api_key"]


def measure(client: Any, pairs: int) -> tuple[list[tuple[bool, str]], float, list[float]]:
    flows = run_flows(client)
    rate, samples = throughput(client, pairs)
    return flows, rate, samples


# ---------------------------------------------------------------- report

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    if importlib.util.find_spec("localstripe") is None:
        sys.exit("localstripe is not installed in this environment. It is not a project dependency: "
                 f"run `{sys.executable} -m pip install localstripe` (PyPI) and try again.")
    import stripe

    from importlib.metadata import version

    with localstripe_server() as ls_url:
        theirs_client = stripe.StripeClient("sk_test_bench", base_addresses={"api": ls_url}, max_network_retries=0)
        theirs = measure(theirs_client, args.pairs)
        print(f"localstripe: {sum(ok for ok, _ in theirs[0])}/{len(FLOWS)} flows, {theirs[1]:.0f} calls/s")

    with local_backend(MF_PLUGIN_RUNTIME="local", MF_PLUGIN_SOURCE_ROOT=str(ROOT / "plugin_functions"),
                       MF_WEBHOOK_DISPATCH="manual") as built:
        built.plugin_state.create_table()
        key = setup_marketplace(built)
        from devstack.chalice_local import install as greedy_routes
        from devstack.server import ApiServer

        greedy_routes()
        from app import app

        with ApiServer(app, port=0, access_log=False) as server:
            ours_client = stripe.StripeClient(key, base_addresses={"api": server.url + "/plugins/stripe"},
                                              max_network_retries=0)
            ours = measure(ours_client, args.pairs)
            print(f"ours: {sum(ok for ok, _ in ours[0])}/{len(FLOWS)} flows, {ours[1]:.0f} calls/s")
        built.runtime.close()

    mark = {True: "pass", False: "**fail**"}
    rows = []
    for (label, _), (ok_ours, why_ours), (ok_theirs, why_theirs) in zip(FLOWS, ours[0], theirs[0]):
        why = "; ".join(f"{side}: `{why}`" for side, why in (("ours", why_ours), ("localstripe", why_theirs)) if why)
        rows.append(f"| {label} | {mark[ok_ours]} | {mark[ok_theirs]} | {why} |")
    passed_ours, passed_theirs = sum(ok for ok, _ in ours[0]), sum(ok for ok, _ in theirs[0])
    ratio = ours[1] / theirs[1]
    body = f"""Command: `.venv/bin/python bench/stripe_vs_localstripe.py --pairs {args.pairs}` (needs
`pip install localstripe`, which is not a project dependency).

The same flow functions, written only against the official `stripe` library (`stripe=={version("stripe")}`,
`StripeClient`, no retries), run in one process against both: our `stripe` plugin
(`plugin_functions/stripe/`) and [localstripe](https://pypi.org/project/localstripe/)
`{version("localstripe")}`. A flow passes if it completes and its assertions hold; any exception
is a fail (reason shown, truncated).

| flow (official SDK) | ours | localstripe | reason for a fail |
|---|---|---|---|
{chr(10).join(rows)}
| **passed** | **{passed_ours}/{len(FLOWS)}** | **{passed_theirs}/{len(FLOWS)}** | |

The declined-card flow uses Stripe's `pm_card_chargeDeclined` test token; localstripe's only
`pm_card_*` tokens are `pm_card_visa`, `pm_card_visa_chargeDeclined` and
`pm_card_chargeCustomerFail`, so it answers that token with a 404.

Throughput, same run: {args.pairs} sequential customer create + retrieve pairs (after 20 warm-up
pairs), one client, keep-alive HTTP on 127.0.0.1:

| | calls/s | p50 ms | p99 ms |
|---|---|---|---|
| ours (through the marketplace gateway) | {ours[1]:.0f} | {percentile(ours[2], 50):.2f} | {percentile(ours[2], 99):.2f} |
| localstripe | {theirs[1]:.0f} | {percentile(theirs[2], 50):.2f} | {percentile(theirs[2], 99):.2f} |

**Ratio ours / localstripe: {ratio:.2f}x.** Not like for like, by design: each of our calls goes
through the full marketplace path (chalice's local server routed like API Gateway, `mf_test_`
key identity, entitlement, rate limit, DynamoDB Local metering write) into the plugin running
in the local runtime's isolated worker process, whose state (objects, lists, idempotency
keys, events) lives in DynamoDB Local. localstripe is a single in-memory aiohttp process with
no auth or metering (it does pickle its whole store to `/tmp/localstripe.pickle` on every
write, so its create cost grows with its store).
"""
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
