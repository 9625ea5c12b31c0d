"""``mocklib account`` and ``mocklib admin``: becoming a developer, the admins' user management
and refunds. :mod:`mocklib.cli` adds these groups to the root group."""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape

from mocklib.cli import EXIT_AUTH, CliError, State, _table, dollars_from_cents, emit_json, out, pass_state
from mocklib.config import config_path, read_config_file, write_config_file

ROLES = ("user", "developer", "admin")


def _user_rows(users: list[Mapping[str, Any]]) -> list[list[Any]]:
    return [[u.get("user_id"), u.get("email"), u.get("role"), u.get("status"), u.get("created_at"),
             u.get("disabled_reason")] for u in users]


def _show_user(state: State, user: Mapping[str, Any], verb: str) -> None:
    if state.as_json:
        emit_json(user)
        return
    out().print(f"{verb} {escape(str(user.get('email')))} ({escape(str(user.get('user_id')))}): "
                f"role {escape(str(user.get('role')))}, {escape(str(user.get('status')))}")


# --- account -------------------------------------------------------------------------------------
@click.group()
def account() -> None:
    """Your account."""


@account.command("become-developer")
@pass_state
def become_developer(state: State) -> None:
    """Become a developer (publish plugins) on this account; the new token is stored if you
    signed in with `mocklib login`."""
    with state.client() as mf:
        if mf.token is None:
            raise CliError("becoming a developer needs a signed-in session: run `mocklib login` first",
                           code="session_required", exit_code=EXIT_AUTH)
        result = mf.auth.become_developer()
    role = str(result.user.role)
    stored = state.config.source == "config file"
    if stored:
        path = config_path()
        write_config_file(path, {**read_config_file(path), "access_token": result.access_token, "role": role,
                                 "expires_at": int(time.time()) + int(result.get("expires_in") or 0)})
    if state.as_json:
        emit_json(result.user)
        return
    note = "the new token is stored" if stored else "sign in again (`mocklib login`) for a token with the role"
    out().print(f"{escape(str(result.user.email))} is now a {escape(role)}; {note}")


# --- admin users -----------------------------------------------------------------------------------
@click.group()
def admin() -> None:
    """Admin actions (an admin's signed-in session; every change is audited)."""


@admin.group()
def users() -> None:
    """List, search, disable, re-enable users, revoke their keys, change their roles."""


@users.command("list")
@click.option("--email", metavar="PREFIX", help="Only e-mail addresses starting with this.")
@click.option("--limit", type=click.IntRange(1, 100), default=50, show_default=True)
@click.option("--cursor", metavar="C", help="The next page: the cursor the previous page printed.")
@click.option("--all", "everything", is_flag=True, help="Every page.")
@pass_state
def users_list(state: State, email: str | None, limit: int, cursor: str | None, everything: bool) -> None:
    """Users by e-mail address."""
    with state.client() as mf:
        if everything:
            page: dict[str, Any] = {"users": mf.admin.all_users(email), "next_cursor": None}
        else:
            page = dict(mf.admin.users(email, limit=limit, cursor=cursor))
    if state.as_json:
        emit_json(page)
        return
    found = list(page.get("users") or [])
    if not found:
        out().print("No users found.")
        return
    out().print(_table("Users", ["ID", "E-mail", "Role", "Status", "Created", "Disabled because"], _user_rows(found)))
    if page.get("next_cursor"):
        out().print(f"More: --cursor {escape(str(page['next_cursor']))}")


@users.command("show")
@click.argument("user_id", metavar="ID")
@pass_state
def users_show(state: State, user_id: str) -> None:
    """One user and their API keys."""
    with state.client() as mf:
        found = mf.admin.user(user_id)
    if state.as_json:
        emit_json(found)
        return
    console = out()
    console.print(_table("User", ["ID", "E-mail", "Role", "Status", "Created", "Disabled because"],
                         _user_rows([found.user])))
    console.print(_table("API keys", ["ID", "Name", "Prefix", "Mode", "Scopes", "Status", "Last used"], (
        [k.key_id, k.name, k.prefix, k.mode, " ".join(k.get("scopes") or []), k.status, k.get("last_used_at")]
        for k in found.get("keys") or [])))


@users.command("disable")
@click.argument("user_id", metavar="ID")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@pass_state
def users_disable(state: State, user_id: str, reason: str) -> None:
    """Disable a user: their keys and sessions stop working."""
    with state.client() as mf:
        _show_user(state, mf.admin.disable_user(user_id, reason), "Disabled")


@users.command("enable")
@click.argument("user_id", metavar="ID")
@click.option("--reason", help="Why (kept in the audit log).")
@pass_state
def users_enable(state: State, user_id: str, reason: str | None) -> None:
    """Re-enable a user: their keys work again (they sign in again)."""
    with state.client() as mf:
        _show_user(state, mf.admin.enable_user(user_id, reason), "Enabled")


@users.command("revoke-keys")
@click.argument("user_id", metavar="ID")
@click.option("--reason", help="Why (kept in the audit log).")
@pass_state
def users_revoke_keys(state: State, user_id: str, reason: str | None) -> None:
    """Revoke every active API key of a user."""
    with state.client() as mf:
        result = mf.admin.revoke_keys(user_id, reason)
    if state.as_json:
        emit_json(result)
        return
    revoked = result.get("revoked") or []
    prefixes = ", ".join(str(k.get("prefix")) for k in revoked)
    out().print(f"Revoked {len(revoked)} key(s) of {escape(user_id)}" + (f": {escape(prefixes)}" if revoked else ""))


@users.command("set-role")
@click.argument("user_id", metavar="ID")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--reason", help="Why (kept in the audit log).")
@pass_state
def users_set_role(state: State, user_id: str, role: str, reason: str | None) -> None:
    """Change a user's role."""
    with state.client() as mf:
        _show_user(state, mf.admin.set_role(user_id, role, reason), "Changed")


# --- admin refunds ---------------------------------------------------------------------------------
@admin.command("refund")
@click.argument("invoice_id", metavar="INVOICE")
@click.option("--amount-cents", type=click.IntRange(1, 100_000_000), metavar="CENTS",
              help="Refund this much (in cents); without it, all that is left of the invoice.")
@click.option("--reason", required=True, help="Why (shown to the user, kept in the audit log).")
@pass_state
def refund(state: State, invoice_id: str, amount_cents: int | None, reason: str) -> None:
    """Refund a user's paid invoice (its Stripe id, in_...), in full or in part; the developers'
    shares of it are reversed."""
    body: dict[str, Any] = {"reason": reason, **({"amount_cents": amount_cents} if amount_cents else {})}
    with state.client() as mf:
        result = mf.request("POST", f"/admin/billing/invoices/{quote(invoice_id, safe='')}/refund", json=body)
    if state.as_json:
        emit_json(result)
        return
    out().print(f"Refunded {dollars_from_cents(result.get('amount_cents'))} of {escape(invoice_id)} "
                f"({escape(str(result.get('refund_id')))}); {dollars_from_cents(result.get('refunded_total_cents'))} "
                "refunded in all")
