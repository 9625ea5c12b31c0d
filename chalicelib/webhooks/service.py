"""Webhook delivery: plugins queue webhooks in their result's outbox (they have no
network); the platform delivers them, signs ``event`` webhooks with the install's
secret, retries with backoff and logs every attempt where the user can read it.

Delivery is at least once, as with every webhook sender: a receiver must tolerate a
repeat, which the ``X-MockFactory-Delivery`` id makes easy to spot.
"""
from __future__ import annotations

import base64
import heapq
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from pynamodb.exceptions import DoesNotExist

from chalicelib.core.clock import Clock, epoch_seconds, iso
from chalicelib.core.errors import InvalidInputError
from chalicelib.core.ids import new_id
from chalicelib.webhooks.records import AttemptMap, DeliveryRecord
from chalicelib.webhooks.signing import signature_header

RETRY_DELAYS_S = (1, 2, 4, 8, 16)  # after attempts 1..5; the 6th failure is final
TIMEOUT_S = 10
Key = tuple[str, str]


@dataclass(frozen=True)
class Target:
    """Where an install's ``event`` webhooks go (None: not configured, logged as skipped)."""

    user_id: str
    plugin: str
    sandbox: bool
    url: str | None
    secret: str | None


class Sender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: bytes) -> int: ...


class Dispatcher(Protocol):
    def submit(self, key: Key, delay_seconds: float) -> None: ...


def check_destination(url: str, *, allow_private: bool) -> None:
    """Refuse non-HTTP URLs and, unless allowed (the local stack), private addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("webhook URLs must be http(s)://host/...", code="invalid_webhook_url")
    if allow_private:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except OSError as exc:
        raise InvalidInputError(f"cannot resolve {parts.hostname}", code="invalid_webhook_url") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast:
            raise InvalidInputError(f"{parts.hostname} is not a public address", code="invalid_webhook_url")


class UrllibSender:
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    def post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        check_destination(url, allow_private=self._allow_private)
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


def _view(rec: DeliveryRecord) -> dict[str, Any]:
    body = base64.b64decode(rec.body_b64)
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "delivery_id": rec.delivery_id, "kind": rec.kind, "event_type": rec.event_type, "url": rec.url,
        "state": rec.state, "sandbox": rec.sandbox, "created_at": iso(rec.created_at),
        "request": {"headers": rec.headers, "body": text[:10_000] if text is not None else None},
        "attempts": [{"number": int(a.number), "at": iso(a.at), "status": int(a.status) if a.status else None,
                      "error": a.error} for a in rec.attempts or []],
    }


class WebhookService:
    def __init__(self, sender: Sender, clock: Clock) -> None:
        self._sender = sender
        self._clock = clock
        self.dispatcher: Dispatcher | None = None  # set by the wiring (it needs self.attempt)

    def enqueue(self, target: Target, entries: list[dict[str, Any]]) -> list[str]:
        ids = []
        for entry in entries[:100]:
            record = self._record(target, entry)
            record.save()
            ids.append(record.delivery_id)
            if record.state == "pending" and self.dispatcher is not None:
                self.dispatcher.submit((record.pk, record.sk), 0)
        return ids

    def _record(self, target: Target, entry: dict[str, Any]) -> DeliveryRecord:
        now = self._clock.now()
        delivery_id = new_id("whd")
        common: dict[str, Any] = dict(delivery_id=delivery_id, user_id=target.user_id, plugin=target.plugin,
                      sandbox=target.sandbox, created_at=now, due_state="PENDING", due_at=now, state="pending")
        key = DeliveryRecord.key(target.user_id, target.plugin, iso(now), delivery_id)
        if entry.get("kind") == "raw":
            return DeliveryRecord(*key, kind="raw", url=str(entry.get("url", "")),
                                  headers={str(k): str(v) for k, v in (entry.get("headers") or {}).items()},
                                  body_b64=str(entry.get("body_b64", "")), **common)
        event_type = str(entry.get("event_type", "event"))
        body = json.dumps({"id": new_id("whevt"), "type": event_type, "created": epoch_seconds(now),
                           "plugin": target.plugin, "livemode": not target.sandbox,
                           "data": entry.get("payload")}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "MockFactory-Webhooks/1",
                   "X-MockFactory-Event": event_type, "X-MockFactory-Delivery": delivery_id}
        record = DeliveryRecord(*key, kind="event", event_type=event_type, url=target.url, headers=headers,
                                body_b64=base64.b64encode(body).decode(), secret=target.secret, **common)
        if not target.url:
            record.state, record.due_state, record.due_at = "skipped", None, None
        return record

    def attempt(self, key: Key) -> None:
        try:
            record = DeliveryRecord.get(*key, consistent_read=True)
        except DoesNotExist:
            return
        if record.state != "pending":
            return
        now = self._clock.now()
        number = len(record.attempts or []) + 1
        headers, body = dict(record.headers), base64.b64decode(record.body_b64)
        if record.secret:
            headers["X-MockFactory-Signature"] = signature_header(record.secret, body, epoch_seconds(now))
        status, error = None, None
        try:
            status = self._sender.post(record.url or "", headers, body)
        except (OSError, InvalidInputError, ValueError) as exc:
            error = str(getattr(exc, "message", exc))[:500]
        record.attempts = [*(record.attempts or []), AttemptMap(number=number, at=now, status=status, error=error)]
        if status is not None and 200 <= status < 300:
            record.state, record.due_state, record.due_at = "delivered", None, None
        elif number > len(RETRY_DELAYS_S):
            record.state, record.due_state, record.due_at = "failed", None, None
        else:
            delay = RETRY_DELAYS_S[number - 1]
            record.due_at = now + timedelta(seconds=delay)
            if self.dispatcher is not None:
                self.dispatcher.submit(key, delay)
        record.save()

    def retry_due(self) -> int:
        """The sweeper (a schedule in AWS): attempt every pending delivery that is due."""
        due = list(DeliveryRecord.due.query("PENDING", DeliveryRecord.due_at <= self._clock.now()))
        for record in due:
            self.attempt((record.pk, record.sk))
        return len(due)

    def deliveries(self, user_id: str, plugin: str, limit: int = 50) -> dict[str, Any]:
        pk, _ = DeliveryRecord.key(user_id, plugin, "", "")
        rows = DeliveryRecord.query(pk, scan_index_forward=False, limit=limit, consistent_read=True)
        return {"deliveries": [_view(r) for r in rows]}
