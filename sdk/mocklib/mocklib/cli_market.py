"""``mocklib marketplace``, ``keys``, ``usage`` and ``payouts``."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import click
from rich.markup import escape

from mocklib.cli import (State, _plugin_cards, _table, dollars_from_cents, dollars_from_micros, emit_json, out,
                         pass_state)

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@click.group()
def marketplace() -> None:
    """Browse the marketplace's catalog."""


@marketplace.command("browse")
@click.option("--category", metavar="C")
@click.option("--sort", type=click.Choice(["popular", "trending", "rating", "newest", "price", "name"]), default="popular",
              show_default=True)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@pass_state
def marketplace_browse(state: State, category: str | None, sort: str, page: int, limit: int) -> None:
    """List plugins, optionally of one category."""
    with state.client(auth=False) as mf:
        found = mf.marketplace.search(category=category, sort=sort, page=page, limit=limit)
    _plugin_cards(f"Plugins{f' in {category}' if category else ''} by {sort}", found, state.as_json)


@marketplace.command("search")
@click.argument("query")
@click.option("--category", metavar="C")
@pass_state
def marketplace_search(state: State, query: str, category: str | None) -> None:
    """Full-text search over names, descriptions and tags."""
    with state.client(auth=False) as mf:
        found = mf.marketplace.search(query, category=category)
    _plugin_cards(f"Plugins matching {query!r}", found, state.as_json)


@marketplace.command("trending")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@pass_state
def marketplace_trending(state: State, limit: int) -> None:
    """The plugins with the most calls in the last 7 days (then the most installed)."""
    with state.client(auth=False) as mf:
        found = mf.marketplace.search(sort="trending", limit=limit)
    _plugin_cards("Trending plugins", found, state.as_json)


# --- keys -------------------------------------------------------------------------------------------
KEY_SCOPES = ("gateway", "usage:read", "installs:read", "installs:write", "licenses:read", "webhooks:read")
_RELATIVE = re.compile(r"^([1-9][0-9]{0,4})([dhm])$")


def _expiry(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``30d``/``12h``/``90m`` from now, as the moment; a date or date-time as given (the API checks it)."""
    if value is None:
        return None
    relative = _RELATIVE.match(value.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        delta = timedelta(days=amount) if unit == "d" else timedelta(hours=amount) if unit == "h" else \
            timedelta(minutes=amount)
        return (datetime.now(timezone.utc) + delta).isoformat(timespec="seconds").replace("+00:00", "Z")
    if not re.match(r"^\d{4}-\d{2}-\d{2}", value.strip()):
        raise click.BadParameter("expected 30d, 12h, 90m, a date (2026-12-31) or a date-time")
    return value.strip()


@click.group()
def keys() -> None:
    """Your marketplace API keys."""


def _show_secret(state: State, key: Mapping[str, Any], verb: str) -> None:
    if state.as_json:
        emit_json(key)
        return
    console = out()
    console.print(f"{verb} {escape(str(key.get('mode')))} key {escape(str(key.get('key_id')))} "
                  f"({escape(str(key.get('name')))}). It is shown this once; store it now:")
    click.echo(str(key.get("api_key")))


@keys.command("create")
@click.option("--name", default="default", show_default=True)
@click.option("--mode", type=click.Choice(["test", "live"]), default="test", show_default=True,
              help="test keys see a sandbox and are never billed.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE", type=click.Choice(KEY_SCOPES),
              help=f"A restricted key with only these scopes (repeat it): {', '.join(KEY_SCOPES)}. Default: "
                   "test keys call plugins and read usage, live keys only call plugins.")
@click.option("--plugin", "plugins", multiple=True, metavar="NAME",
              help="Limit calls and install changes to this plugin (repeat it).")
@click.option("--expires", metavar="WHEN", callback=_expiry,
              help="When the key stops working: 30d, 12h, 90m, a date (2026-12-31) or a date-time.")
@pass_state
def keys_create(state: State, name: str, mode: str, scopes: tuple[str, ...], plugins: tuple[str, ...],
                expires: str | None) -> None:
    """Create an API key (its secret is shown once)."""
    with state.client() as mf:
        key = mf.keys.create(name, mode, scopes=list(scopes) or None, plugins=list(plugins) or None, expires=expires)
    _show_secret(state, key, "Created")


@keys.command("list")
@pass_state
def keys_list(state: State) -> None:
    """Your keys (prefixes only; secrets are never shown again)."""
    with state.client() as mf:
        found = mf.keys.list()
    if state.as_json:
        emit_json(found)
        return
    out().print(_table("API keys", ["ID", "Name", "Prefix", "Mode", "Scopes", "Plugins", "Status", "Created",
                                    "Last used", "Expires"], (
        [k.key_id, k.name, k.prefix, k.mode, " ".join(k.get("scopes") or []),
         ", ".join(k.get("plugins") or []) or "all", k.status, k.created_at, k.get("last_used_at"),
         k.get("expires_at") or "never"] for k in found)))


@keys.command("rotate")
@click.argument("key_id", metavar="ID")
@pass_state
def keys_rotate(state: State, key_id: str) -> None:
    """Replace a key with a new secret; the old one stops working."""
    with state.client() as mf:
        key = mf.keys.rotate(key_id)
    _show_secret(state, key, f"Rotated {key_id} into")


@keys.command("revoke")
@click.argument("key_id", metavar="ID")
@pass_state
def keys_revoke(state: State, key_id: str) -> None:
    """Revoke a key."""
    with state.client() as mf:
        key = mf.keys.revoke(key_id)
    if state.as_json:
        emit_json(key)
    else:
        out().print(f"Revoked {escape(key.key_id)} ({escape(key.name)})")


# --- usage and payouts ------------------------------------------------------------------------------
def _month(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not MONTH.match(value):
        raise click.BadParameter("expected YYYY-MM, e.g. 2026-11")
    return value


@click.command()
@click.option("--month", metavar="YYYY-MM", callback=_month, help="Default: this month (UTC).")
@pass_state
def usage(state: State, month: str | None) -> None:
    """Calls per installed plugin, free calls left and plan quotas."""
    with state.client() as mf:
        report = mf.usage.get(month)
        stats = mf.usage.stats(month)
    if state.as_json:
        emit_json({"usage": report, "stats": stats})
        return
    quota = {row["plugin"]: row for row in stats.get("plugins") or []}
    rows = []
    for row in report.get("plugins") or []:
        plan = quota.get(row["plugin"], {})
        limit = (plan.get("quota") or {}).get("limit")
        rows.append([row["plugin"], row["live"]["calls"], row["live"]["billable"], row["live"]["errors"],
                     row["live"]["free_calls_remaining"], row["sandbox"]["calls"], plan.get("plan"),
                     "unlimited" if limit in (None, -1) else f"{plan['quota']['used']:,}/{limit:,}"])
    if not rows:
        out().print(f"No plugins installed; nothing used in {report.get('month')}.")
        return
    out().print(_table(f"Usage in {report.get('month')}", ["Plugin", "Live calls", "Billable", "Errors",
                                                           "Free left", "Sandbox calls", "Plan", "Quota"], rows))


@click.command()
@pass_state
def payouts(state: State) -> None:
    """Developer earnings: this period's revenue, projected payout, next payout date, history."""
    with state.client() as mf:
        board = mf.developer.earnings()
    if state.as_json:
        emit_json(board)
        return
    console = out()
    period = board.current_period
    console.print(f"Period {escape(period.period)} (ends {escape(period.ends)}): {period.calls:,} calls, revenue "
                  f"{dollars_from_micros(period.revenue_micros)}, your share {dollars_from_micros(period.share_micros)}")
    console.print(f"Projected payout: [bold]{dollars_from_cents(board.projected_payout_cents)}[/] on "
                  f"{escape(board.next_payout_date)} (balances under $50 roll over)")
    console.print(f"Lifetime: {board.lifetime.calls:,} calls, paid {dollars_from_cents(board.lifetime.paid_cents)}")
    history = board.get("payouts") or []
    if history:
        console.print(_table("Payouts", ["Period", "Status", "Amount", "Rail", "Paid"], (
            [p["period"], p["status"], dollars_from_cents(p["amount_cents"]), p.get("rail"), p.get("paid_at")]
            for p in history)))
    else:
        console.print("No payouts yet.")


