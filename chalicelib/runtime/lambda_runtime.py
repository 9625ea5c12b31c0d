"""``LambdaRuntime``: each plugin version is its own Lambda, invoked synchronously.

The boto3 ``lambda`` client is injected; build it with ``lambda_client_config``:

* ``retries={"total_max_attempts": 1}``: botocore retries a timed-out or
  throttled invoke by default, and a retried ``RequestResponse`` invoke runs
  the plugin a second time. Plugin calls are not idempotent (a retried "create
  charge" creates two charges, and both would be metered), so the gateway never
  retries: it answers 502/503/504 and the caller decides. Note that botocore's
  ``{"max_attempts": 1}`` counts *retries*, i.e. allows two attempts (tested).
* ``read_timeout`` = the largest manifest ``timeout_seconds`` plus a margin: the
  Lambda itself enforces each plugin's own timeout (its function configuration
  comes from the manifest), so the client only has to outwait the slowest one;
  the default 60 s would let a hung connection hold a gateway Lambda.
"""
from __future__ import annotations

import json
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from chalicelib.runtime.port import (PluginFailure, PluginFunction, PluginOutOfMemory, PluginRuntime,
                                     PluginTimedOut, PluginUnavailable)

READ_TIMEOUT_MARGIN_SECONDS = 5
# Lambda could not run the function now; nothing ran, so nothing is billed.
UNAVAILABLE_CODES = frozenset({"ResourceNotFoundException", "TooManyRequestsException", "ServiceException"})


def lambda_client_config(max_timeout_seconds: int) -> Config:
    """botocore config for the lambda client (see the module docstring for why)."""
    return Config(read_timeout=max_timeout_seconds + READ_TIMEOUT_MARGIN_SECONDS, connect_timeout=5,
                  retries={"total_max_attempts": 1})


class LambdaRuntime(PluginRuntime):
    def __init__(self, client: Any) -> None:
        self._client = client

    def invoke(self, function: PluginFunction, event: dict[str, Any]) -> dict[str, Any]:
        name = f"plugin {function.plugin} {function.version}"
        payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        try:
            response = self._client.invoke(FunctionName=function.function_name,
                                           InvocationType="RequestResponse", Payload=payload)
            raw = response["Payload"].read()
        except ReadTimeoutError as exc:
            raise PluginTimedOut(f"{name} did not answer within {function.timeout_seconds} s") from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in UNAVAILABLE_CODES:
                raise PluginUnavailable(f"{name} is unavailable ({code})") from exc
            raise PluginFailure(f"invoking {name} failed ({code or 'unknown error'})") from exc
        except ConnectionError as exc:
            raise PluginUnavailable(f"cannot reach the Lambda service for {name}") from exc
        except BotoCoreError as exc:
            raise PluginFailure(f"invoking {name} failed ({type(exc).__name__})") from exc

        if response.get("FunctionError"):
            raise _function_error(name, function, raw)
        try:
            result = json.loads(raw)
        except ValueError as exc:
            raise PluginFailure(f"{name} returned a malformed result (not JSON)") from exc
        status = result.get("status") if isinstance(result, dict) else None
        if isinstance(status, bool) or not isinstance(status, int):
            raise PluginFailure(f"{name} returned a malformed result (no integer status)")
        return result  # type: ignore[no-any-return]


def _function_error(name: str, function: PluginFunction, raw: bytes) -> PluginFailure:
    """Map Lambda's error payload (``{"errorType", "errorMessage", ...}``).

    The SDK turns every plugin exception into a result, so a FunctionError
    means the runtime itself failed: a timeout, OOM, or a broken handler.
    """
    try:
        error = json.loads(raw)
    except ValueError:
        error = None
    error = error if isinstance(error, dict) else {}
    error_type = str(error.get("errorType") or "")
    message = str(error.get("errorMessage") or "")
    if error_type == "Sandbox.Timedout" or "Task timed out" in message:
        return PluginTimedOut(f"{name} did not answer within {function.timeout_seconds} s")
    if error_type == "Runtime.OutOfMemory":
        return PluginOutOfMemory(f"{name} ran out of memory ({function.memory_limit_mb} MB)")
    return PluginFailure(f"{name} returned a malformed result ({error_type or 'function error'})")
