"""Binding PynamoDB table models to a stage and an endpoint, creating their tables, and
running transactions.

The models are the one source of table schema: the dev stack, the tests and infra/
all create or check tables from them.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


def _with_subclasses(model: type[Model]) -> list[type[Model]]:
    found = [model]
    for sub in model.__subclasses__():
        found.extend(_with_subclasses(sub))
    return found


def bind_models(models: Iterable[type[Model]], *, prefix: str, region: str, host: str | None) -> None:
    for model in models:
        binding = (f"{prefix}{model.Meta.base_name}", region, host)  # type: ignore[attr-defined]
        if (model.Meta.table_name, getattr(model.Meta, "region", None), getattr(model.Meta, "host", None)) == binding:
            continue  # already bound here: keep the cached connections (building one is slow)
        model.Meta.table_name, model.Meta.region, model.Meta.host = binding
        # PynamoDB caches a connection per class (discriminator subclasses too).
        for cls in _with_subclasses(model):
            cls._connection = None


def create_tables(models: Iterable[type[Model]]) -> list[str]:
    created = []
    for model in models:
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
            created.append(model.Meta.table_name)
    return created


@lru_cache(maxsize=8)
def _connection(region: str | None, host: str | None) -> Connection:
    # Building a botocore client costs tens of milliseconds: one per endpoint, reused.
    return Connection(region=region, host=host)


M = TypeVar("M", bound=Model)


def find(model: type[M], key: tuple[str, str], *, consistent: bool = True) -> M | None:
    """The item at ``key`` (hash, range), or None."""
    try:
        return model.get(key[0], key[1], consistent_read=consistent)
    except DoesNotExist:
        return None


def condition_failed(exc: PynamoDBException) -> bool:
    """Did a single-item write fail (only) on its condition?"""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def failed_conditions(exc: TransactWriteError) -> list[bool]:
    """Per transaction item, in order: did its condition fail?"""
    return [bool(r and r.code == "ConditionalCheckFailed") for r in (exc.cancellation_reasons or [])]


def _retryable(exc: TransactWriteError) -> bool:
    return any(r is not None and r.code in _RETRYABLE for r in (exc.cancellation_reasons or []))


def run_transaction(model: type[Model], build: Callable[[TransactWrite], None], *,
                    client_request_token: str | None = None, attempts: int = 8) -> None:
    """Run ``build(tx)`` as one TransactWriteItems on ``model``'s endpoint.

    Two transactions touching one item at once (e.g. a plugin's install counter) make
    DynamoDB cancel one with ``TransactionConflict``; that one is retried with jittered
    backoff. A failed condition is final and re-raised for the caller to interpret.
    """
    for attempt in range(attempts):
        tx = TransactWrite(connection=_connection(model.Meta.region, model.Meta.host),
                           client_request_token=client_request_token)
        try:
            with tx:
                build(tx)
            return
        except TransactWriteError as exc:
            if attempt == attempts - 1 or not _retryable(exc) or any(failed_conditions(exc)):
                raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
