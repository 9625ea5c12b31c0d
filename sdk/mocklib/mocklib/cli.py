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

import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mocklib.client import MockFactory, __version__
from mocklib.config import (CliConfig, ConfigError, config_path, remove_config_file, resolve,
                            write_config_file)
from mocklib.errors import (APIConnectionError, APIError, AuthenticationError, MockFactoryError, NotFoundError,
                            PermissionDeniedError, PluginError, RateLimitError)

__all__ = ["cli", "main", "EXIT_FAILED", "EXIT_USAGE", "EXIT_AUTH", "EXIT_NOT_FOUND", "EXIT_API"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_API = 5

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MANIFEST_FILE = Path("chalicelib") / "manifest.json"
FINAL_STATUSES = frozenset({"checks_failed", "in_review", "approved", "rejected"})
ACCEPTED_STATUSES = frozenset({"in_review", "approved"})
VALIDATE_CHECKS = ("manifest", "resources", "docs")
TEST_CHECKS = ("manifest", "tests", "contract", "network")


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


# --- plugin ----------------------------------------------------------------------------------------
@cli.group()
def plugin() -> None:
    """Install, inspect, build, test and publish plugins."""


@plugin.command("list")
@pass_state
def plugin_list(state: State) -> None:
    """Your installed plugins."""
    with state.client() as mf:
        installs = mf.plugins.list_installed()
    if state.as_json:
        emit_json(installs)
        return
    if not installs:
        out().print("No plugins installed. Find some with `mocklib marketplace browse`.")
        return
    out().print(_table("Installed plugins", ["Plugin", "Version", "Base path", "Enabled", "Status", "Update"], (
        [i.plugin, i.version, i.base_path, i.enabled, i.plugin_status, i.get("update_available")]
        for i in installs)))


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


@plugin.command("search")
@click.argument("query")
@pass_state
def plugin_search(state: State, query: str) -> None:
    """Search the marketplace."""
    with state.client(auth=False) as mf:
        page = mf.marketplace.search(query)
    _plugin_cards(f"Plugins matching {query!r}", page, state.as_json)


@plugin.command("install")
@click.argument("name")
@click.option("--version", "version", metavar="V", help='"latest" (default), a major ("2") or an exact version.')
@pass_state
def plugin_install(state: State, name: str, version: str | None) -> None:
    """Install a plugin, accepting the permissions it declares."""
    with state.client() as mf:
        installed = mf.plugins.install(name, version=version)
    if state.as_json:
        emit_json(installed)
        return
    permissions = ", ".join(installed.get("granted_permissions") or []) or "none"
    out().print(f"Installed [bold]{escape(installed.plugin)}[/] {escape(_text(installed.version))}; "
                f"call it at {escape(state.config.api_url + installed.base_path)} (permissions: {escape(permissions)})")


@plugin.command("uninstall")
@click.argument("name")
@pass_state
def plugin_uninstall(state: State, name: str) -> None:
    """Uninstall a plugin."""
    with state.client() as mf:
        result = mf.plugins.uninstall(name)
    if state.as_json:
        emit_json(result)
    else:
        out().print(f"Uninstalled {escape(name)}")


@plugin.command("info")
@click.argument("name")
@pass_state
def plugin_info(state: State, name: str) -> None:
    """A plugin's details, endpoints and versions."""
    with state.client(auth=False) as mf:
        info = mf.plugins.info(name)
    if state.as_json:
        emit_json(info)
        return
    console = out()
    console.print(f"[bold]{escape(info.display_name)}[/] ({escape(info.name)}) {escape(_text(info.latest_version))}"
                  f" by {escape(_text(info.author.get('name')))}, {escape(info.category)}")
    console.print(escape(info.description))
    pricing = info.pricing
    console.print(f"Pricing: {escape(pricing.tier)}, {dollars_from_micros(pricing.per_call_price_micros)} per call "
                  f"after {pricing.free_tier_calls:,} free calls a month; rating {info.rating.average:.1f} "
                  f"({info.rating.count}), {info.install_count:,} installs")
    console.print(f"Permissions: {escape(', '.join(info.get('permissions') or []) or 'none')}")
    console.print(_table(f"Endpoints under {info.api.base_path}", ["Method", "Path", "Description"],
                         ([e["method"], e["path"], e.get("description")] for e in info.api.endpoints)))
    console.print(_table("Versions", ["Version", "Status", "Published"],
                         ([v["version"], v.get("status"), v.get("published_at")] for v in info.versions)))


# --- plugin development (the plugin developer kit runs locally) ----------------------------------------
def _devkit(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"mocklib_plugin_sdk.{module}")
    except ImportError as exc:
        raise CliError(f"this command needs the plugin developer kit: pip install 'mocklib[dev]' ({exc})",
                       code="devkit_missing") from exc


def _project(directory: str) -> Path:
    root = Path(directory)
    if not (root / MANIFEST_FILE).is_file():
        raise CliError(f"{root} is not a plugin project: {MANIFEST_FILE} is missing "
                       "(create one with `mocklib plugin init`)", code="not_a_project", exit_code=EXIT_USAGE)
    return root


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        document = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"cannot read {root / MANIFEST_FILE}: {exc}", code="invalid_manifest") from exc
    if not isinstance(document, dict):
        raise CliError(f"{root / MANIFEST_FILE} must hold a JSON object", code="invalid_manifest")
    return document


def _finding_text(finding: Any) -> str:
    if isinstance(finding, Mapping):
        where = finding.get("path") or finding.get("file") or finding.get("location")
        line = finding.get("line")
        message = finding.get("message") or finding.get("summary") or json.dumps(dict(finding), default=str)
        prefix = f"{where}:{line}: " if where and line else (f"{where}: " if where else "")
        return f"{prefix}{message}"
    return str(finding)


def _checks_table(checks: Sequence[Mapping[str, Any]], title: str = "Checks") -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("Check", "Result", "Points", "Summary"):
        table.add_column(column)
    for check in checks:
        passed = bool(check.get("passed"))
        blocking = bool(check.get("blocking"))
        result = "[green]pass[/]" if passed else ("[bold red]FAIL[/]" if blocking else "[yellow]warn[/]")
        table.add_row(escape(str(check.get("name") or check.get("id"))), result,
                      f"{check.get('points', 0)}/{check.get('max_points', 0)}", escape(_text(check.get("summary"))))
    return table


def _print_findings(console: Console, checks: Sequence[Mapping[str, Any]], limit: int = 10) -> None:
    for check in checks:
        findings = check.get("findings") or []
        if check.get("passed") or not findings:
            continue
        console.print(f"[bold]{escape(str(check.get('name') or check.get('id')))}[/]:")
        for finding in findings[:limit]:
            console.print(f"  - {escape(_finding_text(finding))}")
        if len(findings) > limit:
            console.print(f"  ... and {len(findings) - limit} more")


def _print_report(console: Console, report: Mapping[str, Any], title: str) -> None:
    checks = report.get("checks") or []
    console.print(_checks_table(checks, title))
    _print_findings(console, checks)
    if report.get("score") is not None:
        console.print(f"Score: {report.get('score')}/100 (at least {report.get('min_score')} to publish)")
    for reason in report.get("reasons") or []:
        console.print(f"[red]- {escape(str(reason))}[/]")


def _run_checks(root: Path, only: Sequence[str] | None, label: str) -> dict[str, Any]:
    checks = _devkit("checks")
    console = progress_console()
    try:
        with console.status(f"{label} {root} ..."):
            report = checks.run_checks(root, only=list(only) if only is not None else None,
                                       sandbox_required=False)  # the developer's own code, on their own machine
    except ValueError as exc:
        raise CliError(str(exc), code="invalid_project", exit_code=EXIT_USAGE) from exc
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


@plugin.command("init")
@click.option("--name", required=True, help="The plugin's name: lower-case letters, digits and '-'.")
@click.option("--language", default="python", show_default=True, type=click.Choice(["python"]))
@click.option("--dir", "directory", metavar="D", help="Where to create the project (default: ./NAME).")
@pass_state
def plugin_init(state: State, name: str, language: str, directory: str | None) -> None:
    """Create a new plugin project that passes every check as written."""
    scaffold = _devkit("scaffold")
    dest = Path(directory) if directory else Path(name)
    try:
        created = Path(scaffold.init_project(dest, name, language))
    except ValueError as exc:
        raise CliError(str(exc), code="invalid_project", exit_code=EXIT_USAGE) from exc
    if state.as_json:
        emit_json({"project": str(created), "name": name, "language": language})
        return
    out().print(f"Created {escape(name)} in {escape(str(created))}. Next: `mocklib plugin test {escape(str(created))}`,"
                f" then `mocklib plugin publish {escape(str(created))}`")


@plugin.command("validate")
@click.argument("directory", default=".", metavar="[DIR]")
@pass_state
def plugin_validate(state: State, directory: str) -> None:
    """Check the manifest, resources and docs (and the manifest against the API when signed in)."""
    root = _project(directory)
    report = _run_checks(root, VALIDATE_CHECKS, "Validating")
    remote: dict[str, Any] | None = None
    if state.config.has_credentials:
        with state.client() as mf:
            try:
                remote = mf.developer.validate_manifest(_read_manifest(root))
            except PermissionDeniedError as exc:  # e.g. a user (not developer) account: the local checks stand
                progress_console().print(f"[yellow]Skipped the marketplace's manifest check: {escape(exc.message)}[/]")
    if state.as_json:
        emit_json({"report": report, "api": remote})
    else:
        console = out()
        _print_report(console, report, f"Validation of {root}")
        if remote is not None:
            if remote.get("valid"):
                console.print("The marketplace accepts the manifest.")
            else:
                console.print(_table("The marketplace refuses the manifest", ["Path", "Problem"],
                                     ([p.get("path"), p.get("message")] for p in remote.get("problems") or [])))
    if not report.get("passed") or (remote is not None and not remote.get("valid")):
        raise CliError(f"{root} is not valid; see above", code="validation_failed")


@plugin.command("test")
@click.argument("directory", default=".", metavar="[DIR]")
@pass_state
def plugin_test(state: State, directory: str) -> None:
    """Run the plugin's tests, the contract and the network checks locally."""
    root = _project(directory)
    report = _run_checks(root, TEST_CHECKS, "Testing")
    if state.as_json:
        emit_json(report)
    else:
        _print_report(out(), report, f"Tests of {root}")
    if not report.get("passed"):
        raise CliError(f"{root} fails its checks; see above", code="checks_failed")


def _set_version(root: Path, version: str) -> dict[str, Any]:
    if not SEMVER.match(version):
        raise CliError(f"--version {version!r} is not a semantic version like 1.2.3", code="invalid_version",
                       exit_code=EXIT_USAGE)
    manifest = _read_manifest(root)
    manifest["version"] = version
    name = manifest.get("name")
    api = manifest.get("api")
    if isinstance(api, dict) and isinstance(name, str):
        api["base_path"] = f"/plugins/{name}/v{version.split('.')[0]}"  # the gateway path follows the major
    (root / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _submission_rows(submission: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    checks = submission.get("checks") or []
    return [c for c in checks if isinstance(c, Mapping)]


def _print_submission(console: Console, submission: Mapping[str, Any]) -> None:
    status = str(submission.get("status"))
    colour = "green" if status in ACCEPTED_STATUSES else ("red" if status in FINAL_STATUSES else "yellow")
    console.print(f"Submission {escape(str(submission.get('submission_id')))}: {escape(str(submission.get('plugin')))}"
                  f" {escape(str(submission.get('version')))} is [bold {colour}]{escape(status)}[/]")
    _print_report(console, {"checks": _submission_rows(submission), "score": submission.get("score"),
                            "min_score": submission.get("min_score"), "reasons": submission.get("reasons")},
                  "Marketplace checks")
    if submission.get("review_notes"):
        console.print(f"Review notes: {escape(str(submission['review_notes']))}")


def _wait_for(mf: MockFactory, submission_id: str, *, interval: float, timeout: float,
              sleep: Callable[[float], None] = time.sleep) -> Any:
    deadline = time.monotonic() + timeout
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                  console=progress_console(), transient=True) as progress:
        task = progress.add_task("queued", total=None)
        while True:
            submission = mf.developer.submission(submission_id)
            status = str(submission.get("status"))
            done = sum(1 for c in _submission_rows(submission) if c.get("passed") is not None)
            progress.update(task, description=f"{status} ({done} checks reported)")
            if status in FINAL_STATUSES:
                return submission
            if time.monotonic() >= deadline:
                raise CliError(f"submission {submission_id} is still {status} after {timeout:g} s; follow it with "
                               f"`mocklib plugin logs {submission.get('plugin')} --submission {submission_id}`",
                               code="wait_timeout", exit_code=EXIT_API)
            sleep(interval)


@plugin.command("publish")
@click.argument("directory", default=".", metavar="[DIR]")
@click.option("--version", "version", metavar="V", help="Set the manifest's version (semver) first.")
@click.option("--skip-checks", is_flag=True, help="Do not run the checks locally first (the marketplace runs them anyway).")
@click.option("--no-wait", is_flag=True, help="Submit and return; do not wait for the marketplace's checks.")
@click.option("--poll-interval", default=2.0, show_default=True, type=click.FloatRange(min=0.05), hidden=True)
@click.option("--wait-timeout", default=900.0, show_default=True, type=click.FloatRange(min=1), hidden=True)
@pass_state
def plugin_publish(state: State, directory: str, version: str | None, skip_checks: bool, no_wait: bool,
                   poll_interval: float, wait_timeout: float) -> None:
    """Check, package and submit a plugin; wait for the marketplace's verdict."""
    root = _project(directory)
    with state.client() as mf:  # missing credentials fail before the slow local checks
        submission = _publish(state, mf, root, version, skip_checks, no_wait, poll_interval, wait_timeout)
    if state.as_json:
        emit_json(submission)
    else:
        _print_submission(out(), submission)
    status = str(submission.get("status"))
    if not no_wait and status not in ACCEPTED_STATUSES:
        raise CliError(f"submission {submission.get('submission_id')} is {status}", code=status)


def _publish(state: State, mf: MockFactory, root: Path, version: str | None, skip_checks: bool, no_wait: bool,
             poll_interval: float, wait_timeout: float) -> Any:
    if version is not None:
        _set_version(root, version)
    console = out()
    if not skip_checks:
        report = _run_checks(root, None, "Checking")
        if not state.as_json:
            _print_report(console, report, f"Local checks of {root}")
        if not report.get("passed"):
            raise CliError("the local checks fail; fix them (or --skip-checks to let the marketplace judge)",
                           code="checks_failed")
    packaging = _devkit("packaging")
    try:
        package: bytes = packaging.build_package(root)
    except ValueError as exc:  # packaging.PackageError
        raise CliError(str(exc), code="package_error") from exc
    created = mf.developer.submit(base64.b64encode(package).decode("ascii"))
    submission = created.get("submission", created)
    submission_id = str(submission.get("submission_id"))
    if not state.as_json:
        console.print(f"Submitted {escape(str(submission.get('plugin')))} {escape(str(submission.get('version')))}"
                      f" ({len(package):,} bytes) as {escape(submission_id)}")
    if no_wait:
        return submission
    return _wait_for(mf, submission_id, interval=poll_interval, timeout=wait_timeout)


@plugin.command("logs")
@click.argument("name")
@click.option("--submission", "submission_id", metavar="ID", help="A given submission (default: the newest).")
@pass_state
def plugin_logs(state: State, name: str, submission_id: str | None) -> None:
    """The checks log of the plugin's latest submission."""
    with state.client() as mf:
        if submission_id is None:
            found = mf.developer.submissions(plugin=name)
            if not found:
                raise CliError(f"no submissions of {name}", code="submission_not_found", exit_code=EXIT_NOT_FOUND)
            submission_id = str(found[0].get("submission_id"))
        submission = mf.developer.submission(submission_id)
    if state.as_json:
        emit_json(submission)
        return
    console = out()
    console.print(f"Submission {escape(submission_id)}: {escape(str(submission.get('plugin')))} "
                  f"{escape(str(submission.get('version')))}, {escape(str(submission.get('status')))}")
    log = submission.get("log")
    if isinstance(log, list):
        log = "\n".join(_finding_text(line) for line in log)
    click.echo(log or "(no log yet)")


# --- marketplace -----------------------------------------------------------------------------------
@cli.group()
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
@cli.group()
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
@pass_state
def keys_create(state: State, name: str, mode: str) -> None:
    """Create an API key (its secret is shown once)."""
    with state.client() as mf:
        key = mf.keys.create(name, mode)
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
    out().print(_table("API keys", ["ID", "Name", "Prefix", "Mode", "Status", "Created", "Last used"], (
        [k.key_id, k.name, k.prefix, k.mode, k.status, k.created_at, k.get("last_used_at")] for k in found)))


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


@cli.command()
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


@cli.command()
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


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``mocklib`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="mocklib")
    raise SystemExit(0)  # cli.main exits itself in standalone mode; this is for the type checker


if __name__ == "__main__":
    main()
