"""``mocklib plugin``: install, inspect, build, test and publish plugins."""
from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mocklib.cli import (EXIT_API, EXIT_NOT_FOUND, EXIT_USAGE, CliError, State, _plugin_cards, _table, _text,
                         dollars_from_micros, emit_json, out, pass_state, progress_console)
from mocklib.client import MockFactory
from mocklib.errors import PermissionDeniedError

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
MANIFEST_FILE = Path("chalicelib") / "manifest.json"
FINAL_STATUSES = frozenset({"checks_failed", "in_review", "approved", "deploying", "live", "deploy_failed",
                            "rejected"})
ACCEPTED_STATUSES = frozenset({"in_review", "approved", "deploying", "live"})
VALIDATE_CHECKS = ("manifest", "resources", "docs")
TEST_CHECKS = ("manifest", "tests", "contract", "network")


@click.group()
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


KEY_PLACEHOLDER = "YOUR_MF_TEST_KEY"
SNIPPET_LANGUAGES = ("python", "node", "curl")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _plain(text: str) -> str:
    """Third-party text for a terminal: no control characters (escape sequences) in it."""
    return _CONTROL.sub("", text)


def fill_snippet(template: str, base_url: str, key: str) -> str:
    return template.replace("{{BASE_URL}}", base_url).replace("{{API_KEY}}", key)


def _print_fidelity(console: Console, summary: Mapping[str, Any] | None, report: Mapping[str, Any] | None) -> None:
    """Coverage and conformance against the vendor's OpenAPI document (a card's summary and,
    when given, the full report's per-resource coverage)."""
    if not summary and not report:
        console.print("Fidelity: not measured (the plugin ships no vendor OpenAPI document)")
        return
    spec = (report or {}).get("spec") or {}
    cov = (report or {}).get("coverage") or {}
    conf = (report or {}).get("conformance") or {}
    title = (summary or {}).get("spec_title") or spec.get("title")
    version = (summary or {}).get("spec_version") or spec.get("version")
    implemented = (summary or {}).get("operations_implemented", cov.get("implemented"))
    total = (summary or {}).get("operations_total", cov.get("total"))
    line = f"Fidelity vs {escape(_text(title))} {escape(_text(version))}: {implemented}/{total} operations"
    valid = (summary or {}).get("responses_valid", conf.get("valid"))
    answers = (summary or {}).get("responses_total", conf.get("total"))
    if answers:
        line += f", {valid}/{answers} answers valid ({(summary or {}).get('conformance_percent', conf.get('percent'))} %)"
    else:
        line += ", conformance not measured"
    console.print(line)
    note = (summary or {}).get("spec_note") or spec.get("note")
    if note:
        console.print(f"  note: {escape(_plain(str(note)))}")
    measured = (summary or {}).get("measured_by") or (report or {}).get("measured_by")
    if measured:
        console.print(f"  measured by {escape(_plain(str(measured)))}")
    if cov.get("resources"):
        console.print(_table("Coverage per resource", ["Resource", "Implemented", "Operations"],
                             ([r.get("resource"), f"{r.get('implemented')}/{r.get('total')}",
                               ", ".join(r.get("operations") or [])] for r in cov["resources"])))


@plugin.command("info")
@click.argument("name")
@click.option("--lang", "languages", multiple=True, type=click.Choice(SNIPPET_LANGUAGES),
              help="show only these snippets (default: every one the plugin ships)")
@click.option("--with-key", is_flag=True, help="fill the snippets with the API key you configured "
              "(otherwise a placeholder: keys are secrets)")
@click.option("--readme/--no-readme", default=True, help="print the plugin's README")
@pass_state
def plugin_info(state: State, name: str, languages: tuple[str, ...], with_key: bool, readme: bool) -> None:
    """A plugin's details, how to call it (vendor SDK snippets), its fidelity, README and versions."""
    with state.client(auth=False) as mf:
        info = mf.plugins.info(name)
        base_url = mf.api_url + str(info.api.base_path)
        key = mf.api_key if with_key and mf.api_key else KEY_PLACEHOLDER
    if state.as_json:
        emit_json(info)
        return
    console = out()
    _print_info(console, info)
    _print_fidelity(console, info.get("fidelity"), info.get("fidelity_report"))
    snippets = (info.get("client") or {}).get("snippets") or {}
    console.print(f"Base URL: {escape(base_url)}  (your marketplace key is the vendor credential)")
    for lang in languages or SNIPPET_LANGUAGES:
        if snippets.get(lang):
            console.rule(f"{lang}")
            console.print(escape(_plain(fill_snippet(str(snippets[lang]), base_url, key))), soft_wrap=True)
    if snippets and key == KEY_PLACEHOLDER:
        console.print(f"Replace {KEY_PLACEHOLDER} with one of your keys (`mocklib keys list` shows their prefixes; "
                      "--with-key fills in the one you configured).")
    if readme and info.get("readme"):
        from rich.markdown import Markdown

        console.rule("README")
        console.print(Markdown(_plain(str(info["readme"]))))


def _print_info(console: Console, info: Any) -> None:
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
    console.print(_table("Versions", ["Version", "Status", "Published", "Changes"],
                         ([v["version"], v.get("status"), v.get("published_at"),
                           _plain("\n".join(v.get("changes") or []) or str(v.get("changelog") or ""))]
                          for v in info.versions)))


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
    fidelity = report.get("fidelity")
    if isinstance(fidelity, Mapping) and "error" in fidelity:
        console.print(f"Fidelity: {escape(str(fidelity['error']))}")
    elif isinstance(fidelity, Mapping):
        _print_fidelity(console, None, fidelity)


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
                            "min_score": submission.get("min_score"), "reasons": submission.get("reasons"),
                            "fidelity": submission.get("fidelity")}, "Marketplace checks")
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
