"""Metering: one atomic counter update per proxied call, per (plugin, user, mode, hour)."""
