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
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import stripe

REPO_ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = REPO_ROOT / "plugin_functions" / "stripe" / "chalicelib"
HOST = "127.0.0.1"
WEBHOOK_SECRET = "whsec_test_standin_0123456789abcdef"
_SERVING = re.compile(r"serving \S+ \S+ at (http://\S+)")
# Settings that would make the child deterministic (fixed clock: webhook timestamps and
# ``created`` would not move) or put its state in DynamoDB instead of memory.
_CHILD_ENV_DROP = ("MF_PLUGIN_DETERMINISTIC", "MF_PLUGIN_EPOCH", "MF_PLUGIN_SEED", "MF_PLUGIN_STATE_TABLE",
                   "MF_DYNAMODB_ENDPOINT")


def sign_event(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``payload``, as Stripe signs:
    ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`` (``timestamp`` defaults to now)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the stand-in if the test process dies, even by SIGKILL (no orphan servers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class StripeStandIn:
    """``with StripeStandIn() as standin: standin.client.v1.customers.create(...)``."""

    def __init__(self, *, startup_timeout: float = 30.0, api_key: str | None = None) -> None:
        self.startup_timeout = startup_timeout
        self.api_key = api_key or "mf_test_" + secrets.token_hex(12)
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._client: stripe.StripeClient | None = None
        self._seq = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            raise RuntimeError("the stand-in is not running")
        return self._client

    def start(self) -> StripeStandIn:
        if self._process is not None:
            return self
        fd, name = tempfile.mkstemp(prefix="stripe-standin-", suffix=".log")
        self._log_path = Path(name)
        env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "mocklib_plugin_sdk", "serve", str(PLUGIN_DIR), "--host", HOST,
                 "--port", "0", "--state", "memory"],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and any children
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        finally:
            os.close(fd)
        try:
            self.url = self._wait_ready()
        except BaseException:
            self.stop()
            raise
        # No retries in the helper client: a test helper failing should fail loudly and at once.
        self._client = stripe.StripeClient(self.api_key, base_addresses={"api": self.url}, max_network_retries=0)
        return self

    def _wait_ready(self) -> str:
        deadline = time.monotonic() + self.startup_timeout
        assert self._process is not None
        url = ""
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Stripe stand-in exited with code {self._process.returncode}:\n"
                                   f"{self.log_tail()}")
            if not url:
                match = _SERVING.search(self.log_tail(200))
                url = match.group(1) if match else ""
            if url and self._answers(url):
                return url
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Stripe stand-in did not answer within {self.startup_timeout:.0f}s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    @staticmethod
    def _answers(url: str) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP(S)_PROXY
        try:
            with opener.open(url + "/_mf/health", timeout=1.0) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError:
            return True  # it answers
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        self._client = None
        if process is not None:
            if process.poll() is None:
                self._signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(process, signal.SIGKILL)
                    process.wait(timeout=timeout)
            # Whatever the server started is in its group; make sure nothing outlives it.
            self._signal_group(process, signal.SIGKILL)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        try:
            os.killpg(process.pid, sig)  # the group id is the child's pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass

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
        """Make the platform balance at least ``amount_cents`` (a captured card charge for the
        difference, as Stripe's test mode needs too); returns the available balance."""
        available = self.balance()
        missing = amount_cents - available
        if missing > 0:
            intent = self.client.v1.payment_intents.create(params={
                "amount": missing, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
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
