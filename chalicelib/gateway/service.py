"""The call path of a proxied plugin call (DESIGN.md, "How a call flows"):

1 identify the caller by marketplace API key, 2 entitlement, 3 rate limit,
4 run the plugin through the runtime port, 5 meter the call (one atomic write),
6 answer with the plugin's response plus request id, usage and rate-limit headers.
"""
from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

from mocklib_plugin_sdk.errors import ProtocolError
from mocklib_plugin_sdk.protocol import DecodedResult, decode_result

from chalicelib.auth.service import AuthService
from chalicelib.billing.holding import Holding
from chalicelib.core.clock import Clock
from chalicelib.core.errors import (NotFoundError, PayloadTooLargeError, QuotaExceededError, RateLimitedError,
                                    UnauthenticatedError)
from chalicelib.core.periods import month_key
from chalicelib.gateway.credentials import extract
from chalicelib.gateway.entitlements import Entitlement, EntitlementResolver
from chalicelib.limits.quotas import LeasedQuota, QuotaStore, SlotStore, SpendStore
from chalicelib.limits.service import Limit, RateLimiter
from chalicelib.metering.service import MeteredCall, MeteringService, MonthUsage
from chalicelib.installs.model import Install
from chalicelib.metering.rating import UNLIMITED
from chalicelib.runtime.port import PluginFailure, PluginFunction, PluginRuntime

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024  # Lambda's 6 MB invoke payload, less base64 and envelope
_MAJOR = re.compile(r"^v(0|[1-9]\d{0,5})$")
# Not passed from a plugin's answer: hop-by-hop headers are the server's, X-Request-Id the marketplace's.
_NOT_PASSED = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
               "transfer-encoding", "upgrade", "content-length", "host", "x-request-id"}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class GatewayCall:
    method: str
    plugin: str
    version_segment: str  # "v1"
    path: str  # after the base path, "" or "a/b"
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_id: str


@dataclass(frozen=True)
class GatewayReply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class GatewayFailure(Exception):
    """A runtime failure, answered like a domain error but with the usage headers."""

    error: PluginFailure
    headers: dict[str, str] = field(default_factory=dict)


def invocation_context(install: Install, version: str, function: PluginFunction, *,
                       sandbox: bool, holding: Holding | None = None) -> dict[str, Any]:
    """The ``context`` of every protocol event (docs/PLUGIN_PROTOCOL.md section 1)."""
    licence = {"tier": holding.tier, "features": list(holding.features)} if holding else None
    return {"plugin": install.plugin, "version": version, "user_id": install.user_id, "sandbox": sandbox,
            "config": install.config, "licence": licence,
            "deadline_ms": int(time.time() * 1000) + function.timeout_seconds * 1000}


def quota_headers(limit: int, used: int) -> dict[str, str]:
    remaining = max(0, limit - used)
    headers = {"X-MockFactory-Quota-Limit": str(limit), "X-MockFactory-Quota-Remaining": str(remaining)}
    if remaining * 10 < limit or remaining < 10:
        headers["X-MockFactory-Quota-Warning"] = f"{remaining} of {limit} calls left this month"
    return headers


def _upgrade_hint(holding: Holding) -> tuple[str, dict[str, Any] | None]:
    plan = holding.upgrade
    if plan is None:
        return "Contact the plugin's developer for a larger plan.", None
    calls = "unlimited calls" if plan.included_calls == UNLIMITED else f"{plan.included_calls:,} calls a month"
    price = f"${plan.price_cents / 100:,.2f}" + (f"/{plan.interval}" if plan.interval else "")
    if holding.source == "subscription":  # one subscription per plugin: it changes, never a second
        hint = (f"Upgrade to {plan.name} ({price}, {calls}, prorated for the rest of this period): POST "
                f'/billing/subscriptions/{holding.plugin}/change {{"plan": "{plan.id}"}}.')
    else:
        hint = (f"Upgrade to {plan.name} ({price}, {calls}): POST /billing/checkout "
                f'{{"plugin": "{holding.plugin}", "plan": "{plan.id}"}}.')
    return hint, {"plan": plan.id, "name": plan.name, "price_cents": plan.price_cents, "interval": plan.interval,
                  "included_calls": plan.included_calls}


@dataclass(frozen=True)
class SandboxLimits:
    """Stripe's test mode has limits too, so a sandbox key is no way around going live."""

    rate: Limit = Limit(25, 1)  # calls per key
    monthly_calls: int = 100_000  # per (user, plugin)


GO_LIVE = ("For more, go live: create a live key (POST /keys {\"mode\": \"live\"}) and add a card "
           "(POST /billing/setup); live calls are billed past each plugin's free tier.")


def _month_reset(now: Any) -> tuple[str, int]:
    """The first moment of next month (ISO) and the seconds until then."""
    from datetime import datetime, timezone

    nxt = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc)
    return nxt.strftime("%Y-%m-%dT%H:%M:%SZ"), max(1, int((nxt - now).total_seconds()))


def usage_headers(usage: MonthUsage) -> dict[str, str]:
    headers = {"X-MockFactory-Calls-This-Month": str(usage.calls),
               "X-MockFactory-Mode": "sandbox" if usage.sandbox else "live"}
    if usage.free_calls_remaining is not None:
        headers["X-MockFactory-Free-Calls-Remaining"] = str(usage.free_calls_remaining)
    return headers


class GatewayService:
    def __init__(self, auth: AuthService, entitlements: EntitlementResolver, limiter: RateLimiter,
                 runtime: PluginRuntime, metering: MeteringService, clock: Clock, quotas: QuotaStore,
                 slots: SlotStore,
                 on_webhooks: Callable[[Entitlement, bool, list[dict[str, Any]]], None] | None = None,
                 spend: SpendStore | None = None, sandbox: SandboxLimits = SandboxLimits()) -> None:
        self._spend = spend or SpendStore()
        self._sandbox = sandbox
        self._quotas = quotas
        self._sandbox_volume = LeasedQuota(quotas)  # no money in it: leased, not a write per call
        self._slots = slots
        self._auth = auth
        self._entitlements = entitlements
        self._limiter = limiter
        self._runtime = runtime
        self._metering = metering
        self._clock = clock
        self._on_webhooks = on_webhooks

    def handle(self, call: GatewayCall) -> GatewayReply:
        match = _MAJOR.match(call.version_segment)
        if match is None:
            raise NotFoundError(f"'{call.version_segment}' is not a version; call /plugins/{call.plugin}/v1/...",
                                code="invalid_version_segment")
        plugin = self._entitlements.plugin(call.plugin)
        extracted = extract(call.headers, plugin.auth_header)
        if extracted.credential is None:
            raise UnauthenticatedError("send your marketplace API key (Authorization: Bearer mf_..., Basic, "
                                       "X-Api-Key or the plugin's own header)", code="missing_credentials")
        if extracted.conflicting:
            raise UnauthenticatedError("the request carries two different marketplace API keys; send one",
                                       code="conflicting_credentials")
        principal = self._auth.authenticate_key(extracted.credential)  # refuses an expired key
        principal.require_gateway(call.plugin)  # its scopes and plugins: refused before anything runs or counts
        entitlement = self._entitlements.resolve(principal.user_id, call.plugin, int(match.group(1)))
        decision = self._limiter.check(f"gw#{principal.user_id}#{call.plugin}", entitlement.rate_limit)
        if not decision.allowed:
            raise RateLimitedError(
                f"rate limit of {decision.limit} calls per {entitlement.rate_limit.window_seconds} s reached "
                f"for {call.plugin}", retry_after_seconds=max(1, decision.reset_at - int(time.time())),
                headers=decision.headers())
        if len(call.body) > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"request body is {len(call.body)} bytes; plugins accept at most "
                                       f"{MAX_BODY_BYTES}")
        if principal.sandbox:
            self._admit_sandbox(principal.key_id or principal.user_id, principal.user_id, call.plugin)
        quota = self._admit(principal.user_id, entitlement, principal.sandbox)
        spend = None if principal.sandbox else self._collectable(principal.user_id, entitlement, quota)
        try:
            slot = self._take_slot(principal.user_id, entitlement, quota)
        except RateLimitedError:
            if spend is not None:
                self._spend.refund(principal.user_id, spend[0], spend[1])
            raise
        event = self._event(call, entitlement, principal.sandbox, extracted.headers)
        began = time.perf_counter()
        failure: PluginFailure | None = None
        result: DecodedResult | None = None
        try:
            result = self._decode(entitlement.function, self._runtime.invoke(entitlement.function, event))
        except PluginFailure as exc:
            failure = exc
        finally:
            if slot is not None:
                self._slots.release(principal.user_id, call.plugin, slot)
        latency_ms = int((time.perf_counter() - began) * 1000)
        # Metered from the validated result only: what the client gets is what was counted.
        status = result.status if result is not None else None
        if quota is not None and (status is None or status >= 500):  # not billable: not counted either
            self._quotas.refund(principal.user_id, call.plugin, quota[0])
            quota = (quota[0], quota[1], quota[2] - 1)
        if spend is not None and (status is None or status >= 500):
            self._spend.refund(principal.user_id, spend[0], spend[1])
        usage = self._metering.record(
            MeteredCall(plugin=call.plugin, user_id=principal.user_id, sandbox=principal.sandbox,
                        status=status, latency_ms=latency_ms),
            free_tier_calls=entitlement.holding.allowance)
        # Vendor SDKs read their own X-RateLimit-* (GitHub's, say): a plugin's answer keeps
        # them, and the marketplace's limit travels under its own prefix.
        limit_headers = {name.replace("X-RateLimit-", "X-MockFactory-RateLimit-"): value
                         for name, value in decision.headers().items()}
        extra = {**usage_headers(usage), **limit_headers}
        if quota is not None:
            extra.update(quota_headers(quota[1], quota[2]))
        if result is None:
            assert failure is not None
            raise GatewayFailure(failure, extra)
        if result.webhooks and self._on_webhooks is not None:
            self._on_webhooks(entitlement, principal.sandbox, result.webhooks)
        return _reply(call.method, result, extra)

    @staticmethod
    def _decode(function: PluginFunction, raw: dict[str, Any]) -> DecodedResult:
        try:
            return decode_result(raw)
        except ProtocolError as exc:
            log.warning("plugin %s %s returned a malformed result: %s", function.plugin, function.version,
                        exc.message)
            raise PluginFailure(f"plugin {function.plugin} returned a malformed result: {exc.message}") from exc

    def _admit(self, user_id: str, entitlement: Entitlement, sandbox: bool) -> tuple[str, int, int] | None:
        """Count the call against the monthly quota of a live caller's plan: (month, limit, used)."""
        holding = entitlement.holding
        if sandbox or holding.monthly_calls == UNLIMITED:
            return None
        now = self._clock.now()
        month, limit = month_key(now), holding.monthly_calls
        used = self._quotas.admit(user_id, holding.plugin, month, limit)
        if used is None:
            hint, upgrade = _upgrade_hint(holding)
            resets = f"{now.year + now.month // 12}-{now.month % 12 + 1:02d}-01T00:00:00Z"
            raise QuotaExceededError(
                f"Monthly limit reached: {limit:,} calls on your {holding.tier} plan of {holding.plugin} "
                f"(resets {resets[:10]}). {hint}", code="quota_exceeded",
                details={"limit": limit, "used": limit, "plan": holding.plan, "resets_at": resets,
                         "upgrade": upgrade}, headers=quota_headers(limit, limit))
        return month, limit, used

    def _admit_sandbox(self, key_id: str, user_id: str, plugin: str) -> None:
        """A sandbox key's rate (per key) and monthly volume (per user and plugin): 429 ``sandbox_limit``."""
        rate = self._sandbox.rate
        decision = self._limiter.check(f"sbx#{key_id}", rate)
        if not decision.allowed:
            raise RateLimitedError(
                f"Sandbox keys make at most {rate.requests} calls per {rate.window_seconds} s. {GO_LIVE}",
                retry_after_seconds=max(1, decision.reset_at - int(time.time())), code="sandbox_limit",
                details={"limit": rate.requests, "window_seconds": rate.window_seconds, "scope": "key"},
                headers=decision.headers())
        now = self._clock.now()
        limit = self._sandbox.monthly_calls
        if not self._sandbox_volume.admit(user_id, f"sandbox#{plugin}", month_key(now), limit):
            resets, seconds = _month_reset(now)
            raise RateLimitedError(
                f"Sandbox keys make at most {limit:,} calls a month to each plugin (resets {resets[:10]}). {GO_LIVE}",
                retry_after_seconds=seconds, code="sandbox_limit",
                details={"limit": limit, "scope": "month", "resets_at": resets})

    def _collectable(self, user_id: str, entitlement: Entitlement,
                     quota: tuple[str, int, int] | None) -> tuple[str, int] | None:
        """Collect before you bill: a live call past the free tier needs a card on file, no invoice
        overdue and room under the spending cap. The spend it took (month, µ$), to give back if the
        call is not billable."""
        standing, holding = entitlement.standing, entitlement.holding

        def refuse(message: str, code: str, details: dict[str, Any]) -> None:
            if quota is not None:
                self._quotas.refund(user_id, holding.plugin, quota[0])
            raise QuotaExceededError(message, code=code, details=details)

        if standing.overdue:
            refuse(f"Your usage invoice is overdue: live calls are refused until it is paid. Pay it at "
                   f"{standing.pay_url or 'the link in GET /billing'} or with POST /billing/invoices/{{month}}/pay "
                   "after adding a card (POST /billing/setup).", "payment_overdue",
                   {"pay_url": standing.pay_url, "billing": "/billing", "add_payment_method": "/billing/setup"})
        if holding.allowance == UNLIMITED or holding.unit_price_micros <= 0:
            return None
        if self._metering.billable_so_far(holding.plugin, user_id) < holding.allowance:
            return None  # still within the free tier
        price = f"${holding.unit_price_micros / 1_000_000:,.4f}".rstrip("0").rstrip(".")
        if not standing.has_payment_method:
            refuse(f"You have used the {holding.allowance:,} free calls of {holding.plugin} this month; calls past "
                   f"them cost {price} each and need a payment method on file. Add a card: POST /billing/setup "
                   "(Stripe Checkout) or POST /billing/payment-method.", "payment_method_required",
                   {"free_calls": holding.allowance, "unit_price_micros": holding.unit_price_micros,
                    "add_payment_method": "/billing/setup", "payment_method": "/billing/payment-method"})
        if standing.spending_cap_cents:
            month = month_key(self._clock.now())
            spent = self._spend.charge(user_id, month, holding.unit_price_micros, standing.spending_cap_cents * 10_000)
            if spent is None:
                refuse(f"Your spending cap of ${standing.spending_cap_cents / 100:,.2f} this month is reached; "
                       "raise it with PUT /billing/spending-cap to keep calling.", "spending_cap_reached",
                       {"cap_cents": standing.spending_cap_cents, "spending_cap": "/billing/spending-cap"})
            return month, holding.unit_price_micros
        return None

    def _take_slot(self, user_id: str, entitlement: Entitlement, quota: tuple[str, int, int] | None) -> int | None:
        holding = entitlement.holding
        if holding.concurrency == UNLIMITED:
            return None
        deadline = self._clock.now() + timedelta(seconds=entitlement.function.timeout_seconds + 5)
        slot = self._slots.acquire(user_id, holding.plugin, holding.concurrency, deadline)
        if slot is None:
            if quota is not None:
                self._quotas.refund(user_id, holding.plugin, quota[0])
            hint, upgrade = _upgrade_hint(holding)
            raise RateLimitedError(
                f"{holding.concurrency} calls to {holding.plugin} are already in flight, the most your "
                f"{holding.tier} plan allows; retry when one finishes. {hint}", retry_after_seconds=1,
                code="concurrency_limited", details={"concurrency": holding.concurrency, "plan": holding.plan,
                                                     "upgrade": upgrade})
        return slot

    def _event(self, call: GatewayCall, entitlement: Entitlement, sandbox: bool,
               headers: dict[str, str]) -> dict[str, Any]:
        return {
            "protocol": 1, "type": "request",
            "request": {
                "method": call.method, "path": "/" + quote(unquote(call.path), safe=_PATH_SAFE),
                "query": call.query, "headers": headers,
                "body_b64": base64.b64encode(call.body).decode("ascii"), "request_id": call.request_id,
            },
            "context": invocation_context(entitlement.install, entitlement.version.version,
                                          entitlement.function, sandbox=sandbox, holding=entitlement.holding),
        }



def _reply(method: str, result: DecodedResult, extra: dict[str, str]) -> GatewayReply:
    """The plugin's answer as the client gets it. The marketplace's own headers win over a
    plugin's header of the same name in any case. A HEAD
    answer, a 204 and a 304 carry no body in HTTP: sent anyway, the bytes would be read as
    the start of the next response on a kept-alive connection."""
    ours = {name.lower() for name in extra}
    headers = {name: value for name, value in result.headers.items()
               if name.lower() not in _NOT_PASSED and name.lower() not in ours}
    headers.update(extra)
    body = b"" if method == "HEAD" or result.status in (204, 304) else result.body
    return GatewayReply(status=result.status, headers=headers, body=body)
