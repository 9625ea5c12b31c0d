"""The HTTP transport: one ``requests.Session``, timeouts, typed errors, retries.

Retry rules (:func:`retry_delay` decides, pure; :class:`Transport` sleeps and repeats):

* **429** is retried for every method: the API refused the call before doing anything.
  ``Retry-After`` is honoured; when it asks for more than ``max_retry_after`` seconds the
  error is raised at once instead (its ``retry_after`` says when to come back): blocking a
  caller for minutes inside one SDK call is worse than telling it.
* **5xx and dropped connections** are retried only for idempotent methods (GET, HEAD, PUT,
  DELETE, OPTIONS). A POST or PATCH that got a 502/504, or whose connection broke after
  the request went out, may already have run in the plugin (a customer created, a card
  charged), so repeating it could do it twice; the caller decides.
* **Connection failures before anything was sent** (refused, DNS, connect timeout) are
  retried for every method: the server never saw the request.

Delays grow exponentially (``base_delay * 2**attempt``, capped at ``max_delay``) with
"equal jitter" (half fixed, half random), so many clients retrying at once spread out.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests  # type: ignore[import-untyped, unused-ignore]
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from mocklib.errors import (APIConnectionError, APITimeoutError, MockFactoryError, RateLimitError,
                            error_from_response)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0


def backoff(policy: RetryPolicy, attempt: int, rand: Callable[[], float]) -> float:
    ceiling = min(policy.max_delay, policy.base_delay * (2.0 ** attempt))
    return ceiling / 2 + rand() * ceiling / 2


def retry_delay(policy: RetryPolicy, method: str, attempt: int, error: MockFactoryError, *,
                sent: bool = True, rand: Callable[[], float] = random.random) -> float | None:
    """Seconds to wait before retry number ``attempt + 1`` after ``error``, or None to give up.
    ``sent`` is False when the request provably never reached the server."""
    if attempt >= policy.max_retries:
        return None
    idempotent = method.upper() in IDEMPOTENT_METHODS
    if isinstance(error, RateLimitError):
        if error.retry_after is None:
            return backoff(policy, attempt, rand)
        if error.retry_after > policy.max_retry_after:
            return None
        return error.retry_after + rand() * min(1.0, error.retry_after * 0.1)
    if isinstance(error, APIConnectionError):
        return backoff(policy, attempt, rand) if (idempotent or not sent) else None
    if error.status is not None and error.status >= 500 and idempotent:
        return backoff(policy, attempt, rand)
    return None


def _reason(exc: Exception) -> str:
    """The innermost cause in a few words ("[Errno 111] Connection refused"), not urllib3's repr."""
    reason: Any = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    return str(reason).rsplit(": ", 1)[-1].strip() or type(exc).__name__


def _never_sent(exc: Exception) -> bool:
    """True when the connection failed before the request could be written."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason: Any = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        for name, value in self.headers.items():
            if name.lower() == "content-type":
                return value
        return ""

    def decoded(self) -> Any:
        """JSON when the body is JSON, text otherwise, None when empty."""
        if not self.body:
            return None
        if "json" in self.content_type.lower() or self.body[:1] in (b"{", b"["):
            try:
                return json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                pass
        try:
            return self.body.decode("utf-8")
        except UnicodeDecodeError:
            return self.body


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [_query_value(v) for v in value]
    return value


@dataclass
class Transport:
    session: Any  # requests.Session (untyped without types-requests)
    user_agent: str
    timeout: float
    policy: RetryPolicy
    sleep: Callable[[float], None] = field(default=time.sleep)
    rand: Callable[[], float] = field(default=random.random)

    def request(self, method: str, url: str, *, credential: str | None, json_body: Any = None,
                params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                data: bytes | None = None, timeout: float | None = None,
                max_retries: int | None = None) -> Response:
        method = method.upper()
        sent_headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if credential:
            sent_headers["Authorization"] = f"Bearer {credential}"
        body = data
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode("utf-8")
            sent_headers["Content-Type"] = "application/json"
        sent_headers.update(headers or {})
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        policy = self.policy if max_retries is None else RetryPolicy(
            max_retries, self.policy.base_delay, self.policy.max_delay, self.policy.max_retry_after)
        attempt = 0
        while True:
            outcome, sent = self._once(method, url, sent_headers, body, query,
                                       self.timeout if timeout is None else timeout)
            if isinstance(outcome, Response):
                return outcome
            delay = retry_delay(policy, method, attempt, outcome, sent=sent, rand=self.rand)
            if delay is None:
                raise outcome
            self.sleep(delay)
            attempt += 1

    def _once(self, method: str, url: str, headers: dict[str, str], body: bytes | None,
              query: dict[str, Any], timeout: float) -> tuple[Response | MockFactoryError, bool]:
        try:
            raw = self.session.request(method, url, headers=headers, data=body, params=query,
                                       timeout=timeout, allow_redirects=False)
        except requests.exceptions.Timeout as exc:
            never_sent = _never_sent(exc)
            timed_out = APITimeoutError(f"no answer from {url} within {timeout:g} s", code="timeout",
                                        details={"connect": never_sent})
            timed_out.__cause__ = exc
            return timed_out, not never_sent
        except requests.exceptions.RequestException as exc:
            never_sent = _never_sent(exc)
            failed = APIConnectionError(f"cannot reach {url}: {_reason(exc)}", code="connection_error",
                                        details={"connect": never_sent})
            failed.__cause__ = exc
            return failed, not never_sent
        response = Response(status=int(raw.status_code), headers=dict(raw.headers), body=bytes(raw.content))
        if response.status >= 400:
            return error_from_response(response.status, response.body, response.headers), True
        return response, True
