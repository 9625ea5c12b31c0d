"""The Stripe mock as a package: one module per resource, composed into ``StripePlugin``.

See ``plugin.py`` for how the mixins are put together and the README for the layout.
"""
