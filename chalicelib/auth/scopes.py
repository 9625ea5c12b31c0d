"""What an API key may do: a small, closed set of scopes (docs in README.md, "API keys and scopes").

A signed-in session (JWT) manages the account and may do everything its role allows. A key
carries scopes: a route names the one scope a key needs (``Api.route(..., scope=...)``), and a
route that names none is for sessions only: managing keys, billing and purchases, reviews,
developer and admin actions never take a key, so a key pasted into a CI config cannot reach them.
"""
from __future__ import annotations

SCOPES: dict[str, str] = {
    "gateway": "call installed plugins: /plugins/{name}/v{major}/...",
    "usage:read": "read usage and quotas: GET /usage, GET /usage/stats",
    "installs:read": "read installs: GET /plugins/installed, GET /plugins/installed/{name}",
    "installs:write": "install, uninstall, enable, disable, configure and upgrade plugins and set their "
                      "webhook endpoint (includes installs:read)",
    "licenses:read": "read licences: GET /licenses, GET /licenses/{plugin}",
    "webhooks:read": "read webhook delivery logs: GET /plugins/installed/{name}/webhook/deliveries",
}

# What a key created without explicit scopes carries. Sandbox keys also read their own usage,
# so a CI job can assert on the calls it made.
DEFAULT_SCOPES: dict[str, tuple[str, ...]] = {"test": ("gateway", "usage:read"), "live": ("gateway",)}

# The scopes that apply per plugin when a key names plugins: calling them and managing their installs.
PLUGIN_BOUND = frozenset({"gateway", "installs:write"})


def implied(scopes: tuple[str, ...] | frozenset[str]) -> frozenset[str]:
    """``x:write`` includes ``x:read``: what may change a thing may also read it."""
    found = set(scopes)
    found |= {scope.replace(":write", ":read") for scope in scopes if scope.endswith(":write")}
    return frozenset(found)


def ordered(scopes: tuple[str, ...] | list[str] | frozenset[str]) -> tuple[str, ...]:
    """The scopes in the documented order, each once."""
    wanted = set(scopes)
    return tuple(scope for scope in SCOPES if scope in wanted)
