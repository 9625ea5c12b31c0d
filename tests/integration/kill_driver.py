"""The child side of the SIGKILL proof (``test_money_kills.py``): one run of the invoices or the
payouts job, in a process of its own, on the DynamoDB Local tables and the Stripe stand-in the test
shares with it, killed with SIGKILL at a chosen point.

The job is the real one (``chalicelib.jobs.invoices`` / ``chalicelib.jobs.payouts`` on a
``Container``); only its clock is fixed and its Stripe client is the stripe library's own
``RequestsClient`` with one addition: before or after the n-th request that matches the kill point,
the process SIGKILLs itself. "After" means Stripe answered: e.g. after ``POST /v1/transfers`` the
transfer exists and the job never learnt its id. A kill point with no request (``request=None``)
with a delay is also the test's to make: it kills the child from outside after the delay, anywhere
in the job, DynamoDB writes included.

Children are forked from a forkserver that imported this module once, so a run costs a fork, not
an interpreter start.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import stripe

from chalicelib import jobs
from chalicelib.core.clock import FixedClock
from chalicelib.core.settings import Settings
from chalicelib.payments.stripe_gateway import StripePayments
from chalicelib.wiring import Container


@dataclass(frozen=True)
class KillPoint:
    """SIGKILL ``when`` ("before" / "after") the ``nth`` Stripe request starting with ``request``
    (``"POST /v1/transfers"``; ``""`` is any request); with ``outside_s`` the test also kills the
    child from outside that many seconds after it started, wherever it is (whichever comes first).
    ``when="never"``: the run goes to the end."""

    when: str = "after"
    request: str = ""
    nth: int = 1
    outside_s: float | None = None

    def describe(self) -> str:
        if self.when == "never":
            return "runs to the end"
        at_stripe = f"{self.when} Stripe request #{self.nth} matching {self.request or 'any'!r}"
        if self.outside_s is not None:
            return f"SIGKILL from outside at {self.outside_s * 1000:.0f} ms, or {at_stripe}"
        return f"SIGKILL {at_stripe}"


class KillingHttpClient(stripe.RequestsClient):
    """The stripe library's HTTP client, SIGKILLing its own process at the kill point."""

    def __init__(self, point: KillPoint, report: Connection) -> None:
        super().__init__(timeout=30)
        self._point = point
        self._report = report
        self._seen = 0

    # RequestsClient's own signature (stripe's typing has it differ from HTTPClient's)
    def request(self, method: str, url: str, headers: Mapping[str, str] | None,  # type: ignore[override]
                post_data: Any = None) -> tuple[bytes, int, Mapping[str, str]]:
        name = f"{method.upper()} {urlsplit(url).path}"
        hit = self._point.when != "never" and name.startswith(self._point.request)
        if hit:
            self._seen += 1
            hit = self._seen == self._point.nth
        if hit and self._point.when == "before":
            self._die(f"before {name}")
        answer = super().request(method, url, headers, post_data)
        if hit:
            self._die(f"after {name} answered {answer[1]}")
        return answer

    def _die(self, where: str) -> None:
        self._report.send(("killed", where))  # a pipe write: done before the signal lands
        os.kill(os.getpid(), signal.SIGKILL)


def run_job(job: str, argument: str, now: str, environ: dict[str, str], stripe_url: str, stripe_key: str,
            point: KillPoint, report: Connection) -> None:
    """One run of ``job`` ("invoices" with a month, "payouts" with a period) at ``now``."""
    os.environ.update(environ)
    payments = StripePayments(stripe_key, api_base=stripe_url, webhook_secret="whsec_kills",
                              http_client=KillingHttpClient(point, report))
    c = Container(Settings.from_env(environ), clock=FixedClock(datetime.fromisoformat(now)), payments=payments)
    report.send(("started", None))
    if job == "invoices":
        result = jobs.invoices(c, argument)
        report.send(("done", {"invoices": len(result["invoices"]), "resumed": len(result["resumed"])}))
    else:
        result = jobs.payouts(c, argument)
        report.send(("done", {"payouts": [(p["developer_id"], p["status"]) for p in result["payouts"]],
                              "retried": len(result["retried"])}))
