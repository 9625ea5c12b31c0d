"""Stripe: a stateful mock of Stripe's v1 API that the official ``stripe`` library talks to.

Point the SDK at the gateway with ``stripe.api_base = <api_url> + "/plugins/stripe"``:
the SDK's own ``/v1`` prefix is the marketplace major segment, so this plugin sees
``/customers``, ``/payment_intents/...``. Standalone (``serve`` mode) the plugin
sees ``/v1/...`` and strips the prefix itself, so both setups work.

The resources live in ``stripe_mock/``, one module per resource, each a mixin over
``stripe_mock.base.StripeBase`` whose ``@endpoint`` methods the SDK's router collects
through the MRO. This module only composes them; ``app.py`` and the tests import
``StripePlugin`` from here.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING


def _load_package() -> type:
    """The SDK's loaders run this file by path, as a top-level module with a name of their own and
    not always with chalicelib/ on sys.path (app.py imports it as ``chalicelib.plugin``). The sibling
    package is then loaded by its location, under a name derived from this module's, so two
    plugins loaded in one process never share it."""
    directory = Path(__file__).with_name("stripe_mock")
    name = f"{__name__}__stripe_mock"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, directory / "__init__.py",
                                                      submodule_search_locations=[str(directory)])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {directory}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    plugin_class: type = importlib.import_module(f"{name}.plugin").StripePlugin
    return plugin_class


if TYPE_CHECKING or __package__:
    from .stripe_mock.plugin import StripePlugin
else:
    StripePlugin = _load_package()

__all__ = ["StripePlugin"]
