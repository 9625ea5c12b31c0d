"""The local Stripe stand-in (our reference Stripe mock plugin, ``plugin_functions/stripe``) for tests.

``StripeStandIn`` runs ``python -m mocklib_plugin_sdk serve plugin_functions/stripe/chalicelib
--port 0 --state memory`` as a child process on 127.0.0.1 and talks to it with the official
``stripe`` library. Fixtures (registered for the whole suite by ``tests/conftest.py``):

* ``stripe_standin`` (session): one stand-in process per test session (per xdist worker);
* ``stripe_payments`` (function): a :class:`~chalicelib.payments.stripe_gateway.StripePayments`
  on it, webhook secret :data:`WEBHOOK_SECRET`.

API key: ``mf_test_<random hex>``, one per stand-in. Serve mode keys the state by a hash of the
credential, and only ``mf_test_...`` credentials count as sandbox there (``livemode: false``,
``cs_test_...`` sessions, like a Stripe test key); an ``sk_test_...`` key would work too but
be treated as *live* by the stand-in. The helper client and the adapter use the same key, so
they see the same objects.

The state lives as long as the process, i.e. the whole session: tests create fresh customers
and accounts and never assume an empty list.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import stripe

from devstack.stripe_standin import StripeStandInProcess

WEBHOOK_SECRET = "whsec_test_standin_0123456789abcdef"


def sign_event(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``payload``, as Stripe signs:
    ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`` (``timestamp`` defaults to now)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class StripeStandIn:
    """``with StripeStandIn() as standin: standin.client.v1.customers.create(...)``.

    The process is the dev stack's own (:class:`devstack.stripe_standin.StripeStandInProcess`),
    here with state in memory and its output in a temporary log."""

    def __init__(self, *, startup_timeout: float = 30.0, api_key: str | None = None) -> None:
        self.startup_timeout = startup_timeout
        self.api_key = api_key or "mf_test_" + secrets.token_hex(12)
        self._server: StripeStandInProcess | None = None
        self._log_path: Path | None = None
        self._client: stripe.StripeClient | None = None
        self._seq = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.url if self._server is not None else ""

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise RuntimeError("the stand-in is not running")
        return self._client

    def start(self) -> StripeStandIn:
        if self._server is not None:
            return self
        fd, name = tempfile.mkstemp(prefix="stripe-standin-", suffix=".log")
        os.close(fd)
        self._log_path = Path(name)
        self._server = StripeStandInProcess(state="memory", log_path=self._log_path,
                                            startup_timeout=self.startup_timeout)
        try:
            self._server.start()
        except BaseException:
            self.stop()
            raise
        # No retries in the helper client: a test helper failing should fail loudly and at once.
        self._client = stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, max_network_retries=0)
        return self

    def log_tail(self, lines: int = 30) -> str:
        return self._server.log_tail(lines) if self._server is not None else ""

    def running(self) -> bool:
        return self._server is not None and self._server.running()

    def stop(self, timeout: float = 10.0) -> None:
        server, self._server = self._server, None
        self._client = None
        if server is not None:
            server.stop(timeout)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def __enter__(self) -> StripeStandIn:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- helpers (mock-only test endpoints and look-ups) -----------------------------------------------
    def unique(self, prefix: str = "t") -> str:
        """A string not used before in this session (for ids, e-mails, idempotency keys)."""
        return f"{prefix}-{secrets.token_hex(4)}-{next(self._seq)}"

    def onboard(self, account_id: str) -> dict[str, Any]:
        """Stand in for the developer finishing the hosted onboarding behind an account link."""
        return self._post(f"/v1/test_helpers/accounts/{account_id}/onboard")

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """Stand in for the customer paying on the hosted Checkout page (a declining card raises
        ``stripe.CardError`` and leaves the session open)."""
        return self._post(f"/v1/test_helpers/checkout/sessions/{session_id}/complete",
                          payment_method=payment_method)

    def balance(self, currency: str = "usd") -> int:
        """The platform's available balance in ``currency`` (cents)."""
        balance = self.client.v1.balance.retrieve()
        return sum(entry.amount for entry in balance.available if entry.currency == currency)

    def fund(self, amount_cents: int) -> int:
        """Make the platform's available balance at least ``amount_cents`` (a captured charge of the
        difference with the card that bypasses the pending balance, as in Stripe's test mode: other
        card payments become available two days later); returns the available balance."""
        available = self.balance()
        while available < amount_cents:  # one charge is at most $999,999.99, as in Stripe
            intent = self.client.v1.payment_intents.create(params={
                "amount": min(amount_cents - available, 99_999_999), "currency": "usd",
                "payment_method": "pm_card_bypassPending", "confirm": True,
                "description": "stand-in: platform balance top-up"})
            if intent.status != "succeeded":
                raise RuntimeError(f"funding PaymentIntent {intent.id} is {intent.status}")
            available = self.balance()
        return available

    def events(self, type: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:  # noqa: A002
        """Up to ``limit`` events (of ``type`` if given; ``charge.*`` style prefixes work), newest first."""
        params: dict[str, Any] = {"limit": min(limit, 100)}
        if type is not None:
            params["type"] = type
        page = self.client.v1.events.list(params=params)  # type: ignore[arg-type]
        return [event.to_dict() for event in itertools.islice(page.auto_paging_iter(), limit)]

    def transfers(self, destination: str | None = None) -> list[dict[str, Any]]:
        """All transfers (to ``destination`` if given), newest first, through every page."""
        params: dict[str, Any] = {"limit": 100}
        if destination is not None:
            params["destination"] = destination
        page = self.client.v1.transfers.list(params=params)  # type: ignore[arg-type]
        return [transfer.to_dict() for transfer in page.auto_paging_iter()]

    def invoices(self, customer: str) -> list[dict[str, Any]]:
        """All invoices of ``customer``, newest first."""
        page = self.client.v1.invoices.list(params={"customer": customer, "limit": 100})
        return [invoice.to_dict() for invoice in page.auto_paging_iter()]

    def _post(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.raw_request("post", path, **params)
        return dict(self.client.deserialize(response, api_mode="V1").to_dict())


@pytest.fixture(scope="session")
def stripe_standin() -> Iterator[StripeStandIn]:
    """The Stripe stand-in for the whole session (shared state: use fresh customers/accounts)."""
    with StripeStandIn() as standin:
        yield standin


@pytest.fixture
def stripe_payments(stripe_standin: StripeStandIn) -> Any:
    """A ``StripePayments`` adapter on the session's stand-in, webhook secret :data:`WEBHOOK_SECRET`."""
    from chalicelib.payments.stripe_gateway import StripePayments

    return StripePayments(stripe_standin.api_key, api_base=stripe_standin.url, webhook_secret=WEBHOOK_SECRET)
