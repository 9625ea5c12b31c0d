"""Our Stripe plugin vs localstripe (PyPI) on the same official-SDK flows, side by side in one run.

Three servers, all driven by the official ``stripe`` library (``StripeClient``, no retries,
keep-alive HTTP on 127.0.0.1) with the same code:

* **localstripe**: its own subprocess (one aiohttp process, state in memory), ``sk_test_`` key.
* **ours, standalone**: the Stripe plugin in the plugin SDK's ``serve`` mode
  (``python -m mocklib_plugin_sdk serve plugin_functions/stripe/chalicelib --state memory``,
  ``devstack.stripe_standin.StripeStandInProcess``), its own subprocess, state in memory:
  what a test suite points ``stripe.api_base`` at.
* **ours, through the marketplace**: the API on a real port (chalice's local server routed like
  API Gateway, in this process) on DynamoDB Local, the plugin published, approved and installed
  for a user, called with an ``mf_test_`` key through the gateway (identity, entitlement, rate
  limit, sandbox quota, metering) into the local runtime's sandboxed worker process, the
  plugin's state in the plugin-state table.

Output: a coverage table (which flows pass on each side), then the latency of customer create
and customer retrieve (p50/p95, calls/s, ratio to localstripe) measured in interleaved rounds
(every round runs a block of create + retrieve pairs on each server, in a rotating order, so
machine load hits all three alike), the DynamoDB round trips of a gateway call (every botocore
DynamoDB request made in this process while the measured calls run, by table and operation),
and where a gateway call's time goes (each stage timed where the gateway calls it).

The sandbox keys' own rate limit (25 calls/s per key, like Stripe's test mode) is raised for
this run (``MF_SANDBOX_RATE_LIMIT``): one sequential client makes more than that.

localstripe (``requirements-dev.txt``) listens on all interfaces of the chosen port and, by
its design, rewrites ``/tmp/localstripe.pickle`` with its whole store on every write.

    .venv/bin/python bench/stripe_vs_localstripe.py [--pairs 400] [--rounds 8] [--no-write]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import local_backend, percentile, write_section  # noqa: E402

PLUGINS = ROOT / "plugin_functions"  # --plugins: another copy of it (a snapshot, say)
HEADING = "Stripe plugin vs localstripe"
TARGET_STANDALONE = 1.0  # p50 <= localstripe's
TARGET_GATEWAY = 2.0  # p50 <= 2 x localstripe's
SIDES = ("localstripe", "standalone", "gateway")
LABELS = {"localstripe": "localstripe", "standalone": "ours, standalone (`serve`, memory)",
          "gateway": "ours, through the marketplace gateway"}


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
    # Transfers draw on the available balance; Stripe's test card for funds available at once.
    client.v1.payment_intents.create(params={"amount": 5000, "currency": "usd", "confirm": True,
                                             "payment_method": "pm_card_bypassPending",
                                             "payment_method_types": ["card"]})
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


# ---------------------------------------------------------------- latency, side by side

@dataclass
class Samples:
    create: list[float] = field(default_factory=list)
    retrieve: list[float] = field(default_factory=list)

    @property
    def pair(self) -> list[float]:
        """Each customer create + retrieve pair, end to end: what the targets are about."""
        return [create + retrieve for create, retrieve in zip(self.create, self.retrieve)]

    @property
    def both(self) -> list[float]:
        return self.create + self.retrieve


def pairs_block(client: Any, pairs: int, into: Samples | None) -> None:
    """Sequential customer create + retrieve pairs; per-call ms into ``into`` (None: warm-up)."""
    for _ in range(pairs):
        t0 = time.perf_counter()
        created = client.v1.customers.create(params={"email": f"tp-{_tag()}@example.com", "name": "Pair"})
        t1 = time.perf_counter()
        fetched = client.v1.customers.retrieve(created.id)
        t2 = time.perf_counter()
        assert fetched.id == created.id
        if into is not None:
            into.create.append((t1 - t0) * 1000)
            into.retrieve.append((t2 - t1) * 1000)


def client_for(key: str, url: str) -> Any:
    import stripe

    return stripe.StripeClient(key, base_addresses={"api": url}, max_network_retries=0)


def measure_rounds(servers: dict[str, tuple[str, str]], per_round: int, rounds: int, warm: Any,
                   go: Any) -> dict[str, Samples]:
    """In the client process: warm each server up (then ``warm``, and wait for ``go``), then the
    interleaved rounds (the order of the servers rotating each round)."""
    clients = {side: client_for(*server) for side, server in servers.items()}
    for client in clients.values():
        pairs_block(client, 30, None)  # connections open, workers and caches hot
    warm.set()
    go.wait()
    samples = {side: Samples() for side in SIDES}
    for round_no in range(rounds):
        for side in SIDES[round_no % 3:] + SIDES[:round_no % 3]:
            pairs_block(clients[side], per_round, samples[side])
    return samples


class GatewayProbe:
    """Where a gateway call's time goes, and its DynamoDB requests, while ``on``.

    Stages are timed by wrapping the methods the gateway calls on its collaborators (the same
    objects it holds); DynamoDB requests are counted at botocore's one request choke point
    (``BaseClient._make_api_call``), whichever library or thread makes them, so a write moved
    off the request path is still counted."""

    def __init__(self) -> None:
        self.on = False
        self.ms: dict[str, float] = defaultdict(float)
        self.trips: Counter[tuple[str, str]] = Counter()
        self.trip_ms: dict[tuple[str, str], float] = defaultdict(float)
        self._lock = threading.Lock()

    def wrap(self, owner: Any, method: str, stage: str) -> None:
        original = getattr(owner, method)
        probe = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                if probe.on:
                    with probe._lock:
                        probe.ms[stage] += (time.perf_counter() - began) * 1000

        setattr(owner, method, timed)

    def count_dynamodb(self) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        probe = self

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            began = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                if probe.on and client.meta.service_model.service_name == "dynamodb":
                    names = api_params.get("TableName") or ",".join(
                        api_params.get("RequestItems") or [i.get(next(iter(i)), {}).get("TableName", "?")
                                                           for i in api_params.get("TransactItems", [])])
                    key = (str(names), operation_name)
                    with probe._lock:
                        probe.trips[key] += 1
                        probe.trip_ms[key] += (time.perf_counter() - began) * 1000

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]


def instrument(container: Any) -> GatewayProbe:
    from chalicelib.runtime import channel

    probe = GatewayProbe()
    gateway = container.gateway
    probe.wrap(gateway, "handle", "handle")
    probe.wrap(container.auth, "authenticate_key", "identity")
    probe.wrap(container.entitlements, "plugin", "entitlement")
    probe.wrap(container.entitlements, "resolve", "entitlement")
    probe.wrap(container.limiter, "check", "rate limit")
    for owner in (gateway._quotas, gateway._slots, gateway._spend, getattr(gateway, "_sandbox_volume", None)):
        for method in ("admit", "refund", "acquire", "release", "charge"):
            if owner is not None and hasattr(owner, method):
                probe.wrap(owner, method, "quota")
    probe.wrap(container.runtime, "invoke", "worker")
    probe.wrap(channel, "execute_storage", "storage")
    probe.wrap(container.metering, "record", "metering")
    probe.count_dynamodb()
    return probe


def manifest(plugins: Path) -> dict[str, Any]:
    return dict(json.loads((plugins / "stripe/chalicelib/manifest.json").read_text()))


def plugin_alone_ms(plugins: Path, pairs: int) -> Samples:
    """The plugin's own code on the same calls, in this process on a memory store: no HTTP, no
    worker, no DynamoDB (what is left of a call once every transport is gone)."""
    from mocklib_plugin_sdk.host import PluginHost
    from mocklib_plugin_sdk.loader import load_plugin_dir
    from mocklib_plugin_sdk.protocol import decode_result, make_request_event
    from mocklib_plugin_sdk.state import InMemoryStateStore

    plugin_class, loaded = load_plugin_dir(plugins / "stripe/chalicelib")
    host = PluginHost(plugin_class, loaded, store=InMemoryStateStore())
    samples = Samples()
    headers = {"content-type": "application/x-www-form-urlencoded", "stripe-version": "2025-09-30.clover"}
    for i in range(pairs + 20):
        body = f"email=alone-{i}%40example.com&name=Pair".encode()
        t0 = time.perf_counter()
        created = decode_result(host.invoke(make_request_event(
            "POST", "/v1/customers", plugin="stripe", user_id="bench", headers=headers, body=body, sandbox=True)))
        t1 = time.perf_counter()
        customer = json.loads(created.body)["id"]
        fetched = decode_result(host.invoke(make_request_event(
            "GET", f"/v1/customers/{customer}", plugin="stripe", user_id="bench", headers=headers, sandbox=True)))
        t2 = time.perf_counter()
        assert created.status == 200 and fetched.status == 200, (created.status, fetched.status)
        if i >= 20:
            samples.create.append((t1 - t0) * 1000)
            samples.retrieve.append((t2 - t1) * 1000)
    host.close()
    return samples


# ---------------------------------------------------------------- the servers

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


@contextmanager
def standalone_server(plugins: Path) -> Iterator[str]:
    from devstack.stripe_standin import StripeStandInProcess

    class Standalone(StripeStandInProcess):
        def command(self) -> list[str]:
            command = super().command()
            return [*command[:4], str(plugins / "stripe/chalicelib"), *command[5:]]

    with tempfile.TemporaryDirectory() as logs:
        server = Standalone(state="memory", log_path=Path(logs) / "stripe-serve.log")
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def setup_marketplace(container: Any, stripe: dict[str, Any]) -> str:
    """Like bench/gateway.py setup(): publish + approve stripe, install it, a sandbox key."""
    from chalicelib.auth.principal import Principal

    dev = Principal(user_id="usr_dev", role="developer", via="jwt")
    container.catalog.create_plugin(dev, stripe)
    container.catalog.submit_version(dev, "stripe", stripe["version"])
    container.catalog.approve_version(Principal(user_id="usr_admin", role="admin", via="jwt"), "stripe",
                                      stripe["version"])
    user = container.auth.create_user(email="bench@example.com", password="correct horse battery", role="user")
    principal = Principal(user_id=user.user_id, role="user", via="jwt")
    container.installs.install(principal, plugin="stripe", accept_permissions=stripe["permissions"])
    return container.auth.create_key(principal, name="bench", mode="test")["api_key"]


@contextmanager
def gateway_server(plugins: Path) -> Iterator[tuple[str, str, Any]]:
    with local_backend(MF_PLUGIN_RUNTIME="local", MF_PLUGIN_SOURCE_ROOT=str(plugins),
                       MF_WEBHOOK_DISPATCH="manual", MF_SANDBOX_RATE_LIMIT="1000000/1") as built:
        built.plugin_state.create_table()
        key = setup_marketplace(built, manifest(plugins))
        from devstack.chalice_local import install as greedy_routes
        from devstack.server import ApiServer

        greedy_routes()
        from app import app

        try:
            with ApiServer(app, port=0, access_log=False) as server:
                yield server.url + "/plugins/stripe", key, built
        finally:
            built.runtime.close()


# ---------------------------------------------------------------- report

def stats_row(label: str, samples: list[float], base: list[float] | None, per: int = 1) -> str:
    """``per``: calls per sample (2 for a pair), for calls/s."""
    p50 = percentile(samples, 50)
    ratio = f"{p50 / percentile(base, 50):.2f}x" if base else ""
    rate = 1000 * per * len(samples) / sum(samples)
    return f"| {label} | {p50:.2f} | {percentile(samples, 95):.2f} | {rate:.0f} | {ratio} |"


def breakdown(probe: GatewayProbe, calls: int, total_ms: float) -> list[tuple[str, float]]:
    ms = {stage: value / calls for stage, value in probe.ms.items()}
    storage = ms.get("storage", 0.0)
    inner = sum(ms.get(s, 0.0) for s in ("identity", "entitlement", "rate limit", "quota", "worker", "metering"))
    return [
        ("HTTP server, chalice routing and the stripe client (call - gateway service)", total_ms - ms["handle"]),
        ("identity: API key -> principal (cache)", ms.get("identity", 0.0)),
        ("entitlement: install, plan, standing (cache)", ms.get("entitlement", 0.0)),
        ("rate limits (key's sandbox rate, plugin's rate; leased)", ms.get("rate limit", 0.0)),
        ("sandbox monthly quota, concurrency slots", ms.get("quota", 0.0)),
        ("worker: IPC + plugin code (sandboxed process)", ms.get("worker", 0.0) - storage),
        ("plugin storage, served by the gateway (DynamoDB)", storage),
        ("metering (hour counter)", ms.get("metering", 0.0)),
        ("gateway service, the rest (event, decode, headers)", ms["handle"] - inner),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=400, help="measured create + retrieve pairs per server")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds the pairs are split into")
    parser.add_argument("--plugins", type=Path, default=PLUGINS,
                        help="the folder holding stripe/chalicelib (default: plugin_functions/)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    plugins = args.plugins.resolve()

    if importlib.util.find_spec("localstripe") is None:
        sys.exit("localstripe is not installed in this environment: "
                 f"`{sys.executable} -m pip install -r requirements-dev.txt`.")
    from importlib.metadata import version

    with localstripe_server() as ls_url, standalone_server(plugins) as alone_url, \
            gateway_server(plugins) as (gw_url, key, built):
        servers = {"localstripe": ("sk_test_bench", ls_url), "standalone": ("mf_test_bench_standalone", alone_url),
                   "gateway": (key, gw_url)}
        clients = {side: client_for(*server) for side, server in servers.items()}
        flows = {side: run_flows(client) for side, client in clients.items()}
        # The measured calls come from a process of their own, as localstripe and the standalone
        # plugin run in theirs: the marketplace's server must not share its GIL with the client.
        # Only the gateway's calls reach this process, so its probe sees nothing else.
        probe = instrument(built)
        per_round = max(1, args.pairs // args.rounds)
        spawn = multiprocessing.get_context("spawn")
        with spawn.Manager() as manager, ProcessPoolExecutor(1, mp_context=spawn) as pool:
            warm, go = manager.Event(), manager.Event()
            running = pool.submit(measure_rounds, servers, per_round, args.rounds, warm, go)
            if not warm.wait(300):
                sys.exit(f"the client process did not warm up: {running.exception(timeout=5)}")
            probe.on = True
            go.set()
            samples = running.result()
            probe.on = False
    alone = plugin_alone_ms(plugins, min(args.pairs, 200))

    for side in SIDES:
        print(f"{side}: {sum(ok for ok, _ in flows[side])}/{len(FLOWS)} flows; "
              f"create p50 {percentile(samples[side].create, 50):.2f} ms, "
              f"retrieve p50 {percentile(samples[side].retrieve, 50):.2f} ms")

    mark = {True: "pass", False: "**fail**"}
    rows = []
    for index, (label, _) in enumerate(FLOWS):
        results = [flows[side][index] for side in ("standalone", "gateway", "localstripe")]
        why = "; ".join(f"{side}: `{reason}`" for side, (_, reason) in zip(("standalone", "gateway", "localstripe"),
                                                                          results) if reason)
        rows.append(f"| {label} | {' | '.join(mark[ok] for ok, _ in results)} | {why} |")
    passed = {side: sum(ok for ok, _ in flows[side]) for side in SIDES}

    base = samples["localstripe"]
    latency = []
    for kind, label in (("create", "create"), ("retrieve", "retrieve"), ("pair", "**create + retrieve pair**")):
        for side in SIDES:
            these = getattr(samples[side], kind)
            latency.append(stats_row(f"{label}: {LABELS[side]}", these,
                                     None if side == "localstripe" else getattr(base, kind), per=2 if kind == "pair" else 1))
    ratio_alone = percentile(samples["standalone"].pair, 50) / percentile(base.pair, 50)
    ratio_gateway = percentile(samples["gateway"].pair, 50) / percentile(base.pair, 50)
    met = {True: "met", False: "MISSED"}
    verdicts = [
        (f"standalone pair p50 <= localstripe's: **{met[ratio_alone <= TARGET_STANDALONE]}** "
         f"({ratio_alone:.2f}x)"),
        (f"through the gateway pair p50 <= 2 x localstripe's: **{met[ratio_gateway <= TARGET_GATEWAY]}** "
         f"({ratio_gateway:.2f}x)")]

    gw_calls = len(samples["gateway"].both)
    trips_total = sum(probe.trips.values()) / gw_calls
    trip_rows = "\n".join(
        f"| `{table}` | {op} | {n / gw_calls:.3f} | {probe.trip_ms[(table, op)] / n:.2f} |"
        for (table, op), n in sorted(probe.trips.items(), key=lambda item: -item[1]))
    mean_gw = sum(samples["gateway"].both) / gw_calls
    stage_rows = "\n".join(f"| {label} | {value:.2f} | {100 * value / mean_gw:.0f} % |"
                           for label, value in breakdown(probe, gw_calls, mean_gw))
    alone_p50 = percentile(alone.both, 50)

    source = "" if plugins == PLUGINS else f" --plugins {args.plugins}"
    body = f"""Command: `.venv/bin/python bench/stripe_vs_localstripe.py --pairs {args.pairs} --rounds {args.rounds}{source}`

The same code, written only against the official `stripe` library (`stripe=={version("stripe")}`,
`StripeClient`, no retries, keep-alive HTTP on 127.0.0.1), run against three servers: [localstripe](https://pypi.org/project/localstripe/) `{version("localstripe")}` (one
aiohttp process, in memory); our `stripe` plugin (`plugin_functions/stripe/`) standalone
(the plugin SDK's `serve` mode, its own process, state in memory: what a test suite points
`stripe.api_base` at); and the same plugin through the local marketplace (chalice's local
server in the bench's process, `mf_test_` key identity, entitlement, rate limits, sandbox
quota, metering on DynamoDB Local, the plugin in the local runtime's sandboxed worker process
with its state in DynamoDB Local). The sandbox keys' own limit of 25 calls/s per key is
raised for this run (`MF_SANDBOX_RATE_LIMIT`): one sequential client makes more than that.

| flow (official SDK) | ours, standalone | ours, gateway | localstripe | reason for a fail |
|---|---|---|---|---|
{chr(10).join(rows)}
| **passed** | **{passed["standalone"]}/{len(FLOWS)}** | **{passed["gateway"]}/{len(FLOWS)}** | **{passed["localstripe"]}/{len(FLOWS)}** | |

The declined-card flow uses Stripe's `pm_card_chargeDeclined` test token; localstripe's only
`pm_card_*` tokens are `pm_card_visa`, `pm_card_visa_chargeDeclined` and
`pm_card_chargeCustomerFail`, so it answers that token with a 404.

**Latency**, same run: {per_round * args.rounds} sequential customer create + retrieve pairs per server
(after 30 warm-up pairs each), in {args.rounds} interleaved rounds of {per_round} pairs (the servers' order
rotating each round), from one client process of their own. Client-side time of each call
and of each pair (its create + its retrieve, what the targets compare); calls/s = calls / time
spent in them.

| call: server | p50 ms | p95 ms | calls/s | p50 / localstripe's |
|---|---|---|---|---|
{chr(10).join(latency)}

Targets: {verdicts[0]}; {verdicts[1]}.

**DynamoDB round trips per gateway call: {trips_total:.2f}** (every botocore DynamoDB request made
while the gateway's calls ran, any thread, counted at `BaseClient._make_api_call`):

| table | operation | per call | mean ms each |
|---|---|---|---|
{trip_rows}

What is left per call: the metering counter (one exact `ADD` per call, made once the plugin
answered, since the answer decides billable and errors and the `ADD` returns the usage headers'
totals) and the plugin's own storage. In the local runtime an invocation's plain writes to its
own partition reach DynamoDB as one `BatchWriteItem` when it ends (a conditional write, a query
over a written prefix or a delete goes at once), and a conditional put is one write, with no
read first; a sandbox key's monthly volume is admitted from leases (one conditional write per
1/1000 of the limit) rather than a write per call. The Stripe plugin's create makes three:
the claim of its idempotency key (a conditional write, so a concurrent retry sees it at once),
one get of the user's webhook endpoint index (every event needs the endpoints; this user has
one, made by the webhook flow above) and the batch of its writes; its list order needs no
stored counter. A retrieve is one get.

**Where a gateway call's time goes** (mean ms per call, create and retrieve together; each stage
timed where the gateway calls it; mean call {mean_gw:.2f} ms):

| stage | ms | share |
|---|---|---|
{stage_rows}

For scale: the plugin's own code on the same calls, in one process on a memory store (no
HTTP, no worker, no DynamoDB), takes p50 {alone_p50:.2f} ms a call (create {percentile(alone.create, 50):.2f},
retrieve {percentile(alone.retrieve, 50):.2f}).
"""
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
