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
from chalicelib.limits.quotas import QuotaStore, SlotStore
from chalicelib.limits.service import RateLimiter
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
    hint = (f"Upgrade to {plan.name} ({price}, {calls}): POST /billing/checkout "
            f'{{"plugin": "{holding.plugin}", "plan": "{plan.id}"}}.')
    return hint, {"plan": plan.id, "name": plan.name, "price_cents": plan.price_cents, "interval": plan.interval,
                  "included_calls": plan.included_calls}


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
                 on_webhooks: Callable[[Entitlement, bool, list[dict[str, Any]]], None] | None = None) -> None:
        self._quotas = quotas
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
        quota = self._admit(principal.user_id, entitlement, principal.sandbox)
        slot = self._take_slot(principal.user_id, entitlement, quota)
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
