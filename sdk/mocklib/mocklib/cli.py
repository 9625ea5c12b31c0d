"""``mocklib``: the MockFactory Marketplace from the command line.

    mocklib login --email me@example.com
    mocklib marketplace search stripe
    mocklib plugin install stripe
    mocklib keys create --name ci --mode test
    mocklib plugin init --name weather-api && mocklib plugin test weather-api
    mocklib plugin publish weather-api --version 1.0.1

Errors are one red line, ``Error [<code>]: <message>``, and the exit code says what kind:
1 refused or failed, 2 usage error, 3 authentication or configuration problem, 4 not found,
5 API or network failure. ``--json`` prints the API's answers as JSON for scripts.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mocklib.client import MockFactory, __version__
from mocklib.config import (CliConfig, ConfigError, config_path, remove_config_file, resolve,
                            write_config_file)
from mocklib.errors import (APIConnectionError, APIError, AuthenticationError, InsufficientScopeError,
                            MockFactoryError, NotFoundError, PermissionDeniedError, PluginError, RateLimitError)

__all__ = ["cli", "main", "EXIT_FAILED", "EXIT_USAGE", "EXIT_AUTH", "EXIT_NOT_FOUND", "EXIT_API"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_API = 5



# --- errors -------------------------------------------------------------------------------
class CliError(click.ClickException):
    """One red line on stderr and a meaningful exit code; never a traceback."""

    def __init__(self, message: str, *, code: str = "error", exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code
        setattr(self, "exit_code", exit_code)  # click declares it a ClassVar; click reads it per instance

    def show(self, file: IO[Any] | None = None) -> None:
        line = " ".join(self.message.split())  # one line, whatever the API said
        Console(stderr=file is None, file=file, highlight=False, soft_wrap=True).print(
            f"[bold red]Error \\[{escape(self.code)}]: {escape(line)}[/]")


def exit_code_for(error: MockFactoryError) -> int:
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return EXIT_AUTH
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, (APIError, PluginError, APIConnectionError, RateLimitError)):
        return EXIT_API
    return EXIT_FAILED


def from_api_error(error: MockFactoryError) -> CliError:
    message = error.message
    if isinstance(error, AuthenticationError):
        message += " (run `mocklib login`, or set MOCKFACTORY_API_KEY)"
    if isinstance(error, InsufficientScopeError):
        scope = error.required_scope
        message = error.api_message + (f" (run `mocklib login`, or use a key made with --scope {scope})" if scope
                                       else " (run `mocklib login`: API keys cannot do this)")
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        message += f" (retry in {error.retry_after:g} s)"
    if isinstance(error.details, list):
        problems = [f"{p.get('path')}: {p.get('message')}" for p in error.details
                    if isinstance(p, Mapping) and p.get("message")]
        if problems and not all(p in message for p in problems):
            message += " [" + "; ".join(problems[:5]) + "]"
    return CliError(message, code=error.code, exit_code=exit_code_for(error))


class MockGroup(click.Group):
    """The root group: every failure below it becomes a :class:`CliError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MockFactoryError as exc:
            raise from_api_error(exc) from exc
        except ConfigError as exc:
            raise CliError(str(exc), code="config_error", exit_code=EXIT_AUTH) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the promise is: no tracebacks, ever
            raise CliError(f"unexpected {type(exc).__name__}: {exc}", code="internal_error") from exc


# --- state ---------------------------------------------------------------------------------
@dataclass
class State:
    api_url: str | None
    as_json: bool
    _config: CliConfig | None = field(default=None, init=False)

    @property
    def config(self) -> CliConfig:
        if self._config is None:
            self._config = resolve(self.api_url)
        return self._config

    def client(self, *, auth: bool = True) -> MockFactory:
        config = self.config
        if auth and not config.has_credentials:
            raise CliError("not signed in: run `mocklib login --email ...`, or set MOCKFACTORY_API_KEY "
                           "or MOCKFACTORY_TOKEN", code="missing_credentials", exit_code=EXIT_AUTH)
        return MockFactory(config.api_key, api_url=config.api_url, token=config.token)


pass_state = click.make_pass_decorator(State)


def out() -> Console:
    return Console(highlight=False)


def progress_console() -> Console:
    """Spinners and progress go to stderr, so stdout stays clean for ``--json`` and pipes."""
    return Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def dollars_from_micros(micros: int | None) -> str:
    """Whole cents as $1,234.50; sub-cent prices exactly ($0.001, $0.0005)."""
    amount = int(micros or 0)
    value = Decimal(amount) / Decimal(1_000_000)
    return f"${value:,.2f}" if amount % 10_000 == 0 else f"${value.normalize():,f}"


def dollars_from_cents(cents: int | None) -> str:
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(_text(cell)) for cell in row))
    return table


def _plugin_cards(title: str, page: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(page)
        return
    plugins = page.get("plugins") or []
    if not plugins:
        out().print("No plugins found.")
        return
    out().print(_table(title, ["Plugin", "Name", "Category", "Rating", "Installs", "Tier", "Price/call", "Free calls"], (
        [p["name"], p.get("display_name"), p.get("category"),
         f"{p['rating']['average']:.1f} ({p['rating']['count']})", p.get("install_count"),
         p["pricing"]["tier"], dollars_from_micros(p["pricing"]["per_call_price_micros"]),
         p["pricing"]["free_tier_calls"]] for p in plugins)))
    pagination = page.get("pagination") or {}
    if pagination.get("pages", 1) > 1:
        out().print(f"Page {pagination.get('page')} of {pagination.get('pages')} ({pagination.get('total')} plugins)")


# --- root ---------------------------------------------------------------------------------------
@click.group(cls=MockGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--api-url", metavar="URL", help="The marketplace API (default: $MOCKFACTORY_API_URL, the "
              "config file, http://127.0.0.1:8000).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's answers as JSON.")
@click.version_option(__version__, prog_name="mocklib")
@click.pass_context
def cli(ctx: click.Context, api_url: str | None, as_json: bool) -> None:
    """The MockFactory Marketplace: plugins, keys, usage and publishing."""
    ctx.obj = State(api_url=api_url, as_json=as_json)


@cli.command()
@click.option("--email", required=True, help="Your account's e-mail address.")
@click.option("--password", prompt=True, hide_input=True, help="Prompted for when not given.")
@pass_state
def login(state: State, email: str, password: str) -> None:
    """Sign in and store the access token in the config file (mode 0600)."""
    api_url = state.config.api_url
    with MockFactory(api_url=api_url, token=None, api_key="") as mf:
        session = mf.auth.login(email, password)
    path = config_path()
    write_config_file(path, {"api_url": api_url, "access_token": session.access_token,
                             "email": session.user.email, "role": session.user.role,
                             "expires_at": int(time.time()) + int(session.get("expires_in") or 0)})
    if state.as_json:
        emit_json({"email": session.user.email, "role": session.user.role, "api_url": api_url,
                   "config": str(path)})
        return
    out().print(f"Signed in to {escape(api_url)} as [bold]{escape(session.user.email)}[/] "
                f"({escape(session.user.role)}); token stored in {escape(str(path))}")


@cli.command()
@pass_state
def logout(state: State) -> None:
    """Forget the stored access token."""
    path = config_path()
    removed = remove_config_file(path)
    if state.as_json:
        emit_json({"logged_out": removed, "config": str(path)})
    else:
        out().print(f"Signed out; removed {escape(str(path))}" if removed else "Not signed in; nothing to do")


@cli.command()
@pass_state
def whoami(state: State) -> None:
    """The account the CLI acts as."""
    with state.client() as mf:
        me = mf.auth.me()
    if state.as_json:
        emit_json(me)
        return
    out().print(f"{escape(me.email)} ({escape(me.role)}) at {escape(state.config.api_url)}, "
                f"credentials from {state.config.source}")


def _add_commands() -> None:
    # A group per module; they use the helpers above, so they are imported last.
    from mocklib.cli_accounts import account, admin
    from mocklib.cli_market import keys, marketplace, payouts, usage
    from mocklib.cli_plugin import plugin

    for command in (plugin, marketplace, keys, usage, payouts, account, admin):
        cli.add_command(command)


if __name__ != "__main__":  # run as a script, this copy hands over to the module proper (below)
    _add_commands()


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``mocklib`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="mocklib")
    raise SystemExit(0)  # cli.main exits itself in standalone mode; this is for the type checker


if __name__ == "__main__":
    from mocklib.cli import main as _main  # the module proper (its commands), not this __main__ copy

    _main()
