"""Webhook delivery: plugins queue webhooks in their result's outbox (they have no
network); the platform delivers them, signs ``event`` webhooks with the install's
secret, retries with backoff and logs every attempt where the user can read it.

Delivery is at least once, as with every webhook sender: a receiver must tolerate a
repeat, which the ``X-MockFactory-Delivery`` id makes easy to spot.

Every URL and header here may be an attacker's (a user's endpoint, a plugin's raw
webhook): one that can never be sent is refused on input or marked ``failed`` with its
reason at once, and nothing one delivery does can stop the sweep over the others.
"""
from __future__ import annotations

import base64
import binascii
import heapq
import ipaddress
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from mocklib_plugin_sdk.protocol import HEADER_NAME, HEADER_VALUE_FORBIDDEN

from chalicelib.core.clock import Clock, epoch_seconds, iso
from chalicelib.core.errors import InvalidInputError
from chalicelib.core.ids import new_id
from chalicelib.installs.model import Install
from chalicelib.webhooks.repository import Attempt, Delivery, DeliveryRepository, Key
from chalicelib.webhooks.signing import EndpointSecrets, signature_header

logger = Logger(service="marketplace")
RETRY_DELAYS_S = (1, 2, 4, 8, 16)  # after attempts 1..5; the 6th failure is final
TIMEOUT_S = 10
MAX_URL_LENGTH = 2000
MAX_ENTRIES = 100
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")  # whitespace and control characters: never in a URL we send


@dataclass(frozen=True)
class Target:
    """Where an install's ``event`` webhooks go (no URL: logged as skipped), and which of
    its secrets signs them."""

    user_id: str
    plugin: str
    sandbox: bool
    url: str | None
    secret_version: int | None

    @classmethod
    def of(cls, install: Install, *, sandbox: bool) -> Target:
        return cls(install.user_id, install.plugin, sandbox, install.webhook_url, install.webhook_secret_version)


class Sender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: bytes) -> int: ...


class Dispatcher(Protocol):
    def submit(self, key: Key, delay_seconds: float) -> None: ...


def _invalid(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="invalid_webhook_url")


def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse what cannot be sent as it is (no http(s), no host, a bad port, whitespace or
    control characters, credentials in the URL) and, unless allowed (the local stack),
    hosts that resolve to private addresses."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"webhook URLs are at most {MAX_URL_LENGTH} characters")
    if _UNSENDABLE.search(url):
        raise _invalid("a webhook URL may not contain spaces or control characters (encode them as %20)")
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
        if hostname:
            hostname.encode("idna")
    except (ValueError, UnicodeError) as exc:  # "http://[abc/", a port of 99999, a host IDNA refuses
        raise _invalid(f"webhook URL has an invalid host or port: {exc}") from exc
    if parts.scheme not in ("http", "https") or not hostname:
        raise _invalid("webhook URLs must be http(s)://host/...")
    if parts.username is not None or parts.password is not None:
        raise _invalid("webhook URLs may not carry credentials; verify the signature header instead")
    if allow_private:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(hostname, port or 443)}
    except (OSError, UnicodeError) as exc:
        raise _invalid(f"cannot resolve {hostname}") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise _invalid(f"{hostname} is not a public address")


def _url_problem(url: str) -> str | None:
    """Why ``url`` can never be delivered to, or None: a plugin's raw URL, or an endpoint set
    before URLs were checked this strictly. Only the checks that need no DNS: a host that does
    not resolve now may later, and the sender checks addresses at every attempt."""
    try:
        check_destination(url, allow_private=True)
    except InvalidInputError as exc:
        return exc.message
    return None


def _header_problem(headers: dict[str, str]) -> str | None:
    for name, value in headers.items():
        if not HEADER_NAME.match(name) or HEADER_VALUE_FORBIDDEN.search(value):
            return f"the plugin's webhook has an invalid header {name[:40]!r}"
    return None


class UrllibSender:
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        check_destination(url, allow_private=self._allow_private)  # again: DNS may have changed
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 - checked above
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


class ThreadDispatcher:
    """Local stack: attempts run on a small pool; retries wait on a timer heap."""

    def __init__(self, attempt: Callable[[Key], None], workers: int = 4) -> None:
        self._attempt = attempt
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = 0
        self._cv = threading.Condition()
        threading.Thread(target=self._timer, daemon=True, name="webhook-timer").start()

    def submit(self, key: Key, delay_seconds: float) -> None:
        with self._cv:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay_seconds, self._seq, key))
            self._cv.notify()

    def _timer(self) -> None:
        while True:
            with self._cv:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cv.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, key = heapq.heappop(self._heap)
            self._pool.submit(self._attempt, key)


class LambdaDispatcher:
    """AWS: each first attempt runs in the API's ``webhook_dispatcher`` function, invoked
    asynchronously so the caller never waits; retries are picked up by the sweeper."""

    def __init__(self, client: Any, function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    def submit(self, key: Key, delay_seconds: float) -> None:
        if delay_seconds == 0:
            self._client.invoke(FunctionName=self._function_name, InvocationType="Event",
                                Payload=json.dumps({"key": list(key)}).encode())


def _view(delivery: Delivery) -> dict[str, Any]:
    try:
        text: str | None = delivery.body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "delivery_id": delivery.delivery_id, "kind": delivery.kind, "event_type": delivery.event_type,
        "url": delivery.url, "state": delivery.state, "reason": delivery.reason, "sandbox": delivery.sandbox,
        "created_at": iso(delivery.created_at),
        "request": {"headers": delivery.headers, "body": text[:10_000] if text is not None else None},
        "attempts": [{"number": a.number, "at": iso(a.at), "status": a.status, "error": a.error}
                     for a in delivery.attempts],
    }


class WebhookService:
    def __init__(self, repository: DeliveryRepository, sender: Sender, secrets: EndpointSecrets,
                 clock: Clock) -> None:
        self._repo = repository
        self._sender = sender
        self._secrets = secrets
        self._clock = clock
        self.dispatcher: Dispatcher | None = None  # set by the wiring (it needs self.attempt)

    def secret(self, user_id: str, plugin: str, version: int | None) -> str | None:
        """The signing secret number ``version`` of an install (None: it has none yet)."""
        return self._secrets.secret(user_id, plugin, version) if version is not None else None

    def enqueue(self, target: Target, entries: list[dict[str, Any]]) -> list[str]:
        ids = []
        for entry in entries[:MAX_ENTRIES]:
            delivery = self._delivery(target, entry)
            self._repo.add(delivery)
            ids.append(delivery.delivery_id)
            if delivery.state == "pending" and self.dispatcher is not None:
                self.dispatcher.submit(delivery.key, 0)
        return ids

    def _delivery(self, target: Target, entry: dict[str, Any]) -> Delivery:
        now = self._clock.now()
        common: dict[str, Any] = dict(delivery_id=new_id("whd"), user_id=target.user_id, plugin=target.plugin,
                                      sandbox=target.sandbox, created_at=now, state="pending", due_at=now)
        if entry.get("kind") == "raw":
            url = str(entry.get("url", ""))
            raw_headers = entry.get("headers")
            headers = ({str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {})
            body = _raw_body(entry.get("body_b64"))
            delivery = Delivery(kind="raw", url=url, headers=headers, body=body or b"", **common)
            problem = _url_problem(url) or _header_problem(headers) or \
                (None if body is not None else "the plugin's webhook body is not valid base64")
            return delivery.settled("failed", reason=problem) if problem else delivery
        event_type = str(entry.get("event_type", "event"))
        body = json.dumps({"id": new_id("whevt"), "type": event_type, "created": epoch_seconds(now),
                           "plugin": target.plugin, "livemode": not target.sandbox,
                           "data": entry.get("payload")}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "MockFactory-Webhooks/1",
                   "X-MockFactory-Event": event_type, "X-MockFactory-Delivery": common["delivery_id"]}
        delivery = Delivery(kind="event", event_type=event_type, url=target.url, headers=headers, body=body,
                            secret_version=target.secret_version, **common)
        if not target.url:
            return delivery.settled("skipped")
        problem = _url_problem(target.url)
        return delivery.settled("failed", reason=problem) if problem else delivery

    def attempt(self, key: Key) -> None:
        delivery = self._repo.get(key)
        if delivery is None or delivery.state != "pending":
            return
        now = self._clock.now()
        number = len(delivery.attempts) + 1
        status, error = None, None
        try:
            headers = dict(delivery.headers)
            secret = self.secret(delivery.user_id, delivery.plugin, delivery.secret_version)
            if secret is not None:
                headers["X-MockFactory-Signature"] = signature_header(secret, delivery.body, epoch_seconds(now))
            status = self._sender.post(delivery.url or "", headers, delivery.body)
        except InvalidInputError as exc:
            error = exc.message
        except Exception as exc:  # noqa: BLE001 - whatever the URL or the receiver did, it is this attempt's failure
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts = (*delivery.attempts, Attempt(number=number, at=now, status=status, error=error))
        if status is not None and 200 <= status < 300:
            updated = replace(delivery, attempts=attempts).settled("delivered")
        elif number > len(RETRY_DELAYS_S):
            updated = replace(delivery, attempts=attempts).settled("failed", reason=error or f"HTTP {status}")
        else:
            delay = RETRY_DELAYS_S[number - 1]
            updated = replace(delivery, attempts=attempts, due_at=now + timedelta(seconds=delay))
            if self.dispatcher is not None:
                self.dispatcher.submit(key, delay)
        if not self._repo.update(updated):
            logger.info("webhook attempt raced another one; the other's record stands",
                        extra={"delivery_id": delivery.delivery_id})

    def retry_due(self) -> int:
        """The sweeper (a schedule in AWS): attempt every pending delivery that is due. One
        delivery's trouble is logged and never stops the others."""
        due = self._repo.due(self._clock.now())
        for delivery in due:
            try:
                self.attempt(delivery.key)
            except Exception:  # noqa: BLE001 - e.g. the table throttled this write: the next sweep retries it
                logger.exception("webhook attempt failed", extra={"delivery_id": delivery.delivery_id})
        return len(due)

    def deliveries(self, user_id: str, plugin: str, limit: int = 50) -> dict[str, Any]:
        return {"deliveries": [_view(d) for d in self._repo.recent(user_id, plugin, limit)]}


def _raw_body(value: Any) -> bytes | None:
    if value in (None, ""):
        return b""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
