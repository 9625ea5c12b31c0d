"""The one wiring place: builds services lazily, once per container; tests replace it."""
from __future__ import annotations

import os
import threading
from functools import cached_property

from chalicelib.core.clock import Clock, SystemClock
from chalicelib.core.dynamo import bind_models
from chalicelib.core.settings import Settings


class Container:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        from chalicelib.tables import TABLES

        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        bind_models(TABLES, prefix=settings.table_prefix, region=settings.region,
                    host=settings.dynamodb_endpoint)

    @cached_property
    def auth(self):  # type: ignore[no-untyped-def]
        from chalicelib.auth.repository import AuthRepository
        from chalicelib.auth.service import AuthService, KeyCache
        from chalicelib.auth.tokens import TokenIssuer

        tokens = TokenIssuer(self.settings.jwt_keys, issuer=self.settings.jwt_issuer,
                             audience=self.settings.jwt_audience,
                             ttl_seconds=self.settings.access_token_ttl_seconds, clock=self.clock)
        return AuthService(AuthRepository(), tokens, self.clock, KeyCache(self.settings.key_cache_ttl_seconds))

    @cached_property
    def catalog(self):  # type: ignore[no-untyped-def]
        from chalicelib.catalog.index import CatalogIndex
        from chalicelib.catalog.repository import CatalogRepository
        from chalicelib.catalog.service import CatalogService

        repository = CatalogRepository()
        index = CatalogIndex(repository, background=self.settings.index_background_refresh)
        return CatalogService(repository, index, self.clock)

    @cached_property
    def installs(self):  # type: ignore[no-untyped-def]
        from chalicelib.installs.repository import InstallRepository
        from chalicelib.installs.service import InstallService

        return InstallService(InstallRepository(), self.catalog, self.clock)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(Settings.from_env(os.environ))
    return _container


def set_container(new: Container | None) -> None:
    """Tests and the dev stack install their own container (or None to rebuild from env)."""
    global _container
    _container = new
