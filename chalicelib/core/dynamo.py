"""Binding PynamoDB table models to a stage and an endpoint, and creating their tables.

The models are the one source of table schema: the dev stack, the tests and infra/
all create or check tables from them.
"""
from __future__ import annotations

from collections.abc import Iterable

from pynamodb.connection import Connection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


def _with_subclasses(model: type[Model]) -> list[type[Model]]:
    found = [model]
    for sub in model.__subclasses__():
        found.extend(_with_subclasses(sub))
    return found


def bind_models(models: Iterable[type[Model]], *, prefix: str, region: str, host: str | None) -> None:
    for model in models:
        model.Meta.table_name = f"{prefix}{model.Meta.base_name}"
        model.Meta.region = region
        model.Meta.host = host
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


def transaction(model: type[Model], *, client_request_token: str | None = None) -> TransactWrite:
    """A TransactWrite on the endpoint ``model`` is bound to (tables of one stage share it)."""
    connection = Connection(region=model.Meta.region, host=model.Meta.host)
    return TransactWrite(connection=connection, client_request_token=client_request_token)
