"""The contract probe: the child side of the ``contract`` check.

``mocklib_plugin_sdk.checks`` runs it sandboxed, as
``python -P -m mocklib_plugin_sdk.checks_contract --contract-probe PROJECT_DIR OUT_JSON``: it
sends one protocol request per declared endpoint through ``PluginHost`` and writes the answers
as JSON for the parent to judge. It imports only what the probe needs, not the checks
themselves (reports, conformance), so the sandboxed child loads little besides the plugin.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .errors import MethodNotAllowedError, NotFoundError
from .routing import RoutePattern

BODY_METHODS = ("POST", "PUT", "PATCH")


def fill_path(path: str) -> str:
    """A concrete path for a declared one: every parameter becomes ``test``."""
    pattern = RoutePattern.compile(path)
    parts = ["test" if segment.param is not None else (segment.literal or "") for segment in pattern.segments]
    return "/" + "/".join(parts)


def _contract_probe(project: Path) -> dict[str, Any]:
    """Runs inside the sandbox: one request per declared endpoint through ``PluginHost``."""
    from .host import PluginHost
    from .loader import load_plugin_dir
    from .protocol import decode_result, make_request_event
    from .settings import SdkSettings
    from .state import InMemoryStateStore

    if str(project) not in sys.path:
        sys.path.append(str(project))  # ``from chalicelib.x import y`` as on Lambda, without shadowing
    try:
        plugin_class, manifest = load_plugin_dir(project / "chalicelib")
        host = PluginHost(plugin_class, manifest, settings=SdkSettings(), store=InMemoryStateStore())
        router = plugin_class.router()
    except BaseException as exc:  # noqa: BLE001 - anything a plugin import does is a load error
        return {"load_error": f"{type(exc).__name__}: {exc}"}
    answers = []
    for index, declared in enumerate(manifest.document["api"]["endpoints"]):
        method, path = str(declared["method"]).upper(), str(declared["path"])
        concrete = fill_path(path)
        answer: dict[str, Any] = {"method": method, "path": path, "requested": concrete, "ok": False}
        answers.append(answer)
        try:
            router.resolve(method, concrete)
        except (NotFoundError, MethodNotAllowedError):
            answer["problem"] = "no such route: the plugin has no @endpoint for it"
            continue
        body = b"{}" if method in BODY_METHODS else b""
        headers = {"Content-Type": "application/json"} if body else {}
        event = make_request_event(method, concrete, plugin=manifest.name, user_id="usr_contract",
                                   version=manifest.version, headers=headers, body=body,
                                   request_id=f"req_contract_{index}")
        try:
            raw = host.invoke(event)
            json.dumps(raw)  # a result crosses a process boundary as JSON
            result = decode_result(raw)
        except Exception as exc:  # noqa: BLE001 - an invalid result is a finding, not a crash
            answer["problem"] = f"invalid protocol result: {type(exc).__name__}: {exc}"[:300]
            continue
        answer["status"] = result.status
        if not 100 <= result.status < 500:
            error = result.error or {}
            answer["problem"] = f"status {result.status}" + (
                f" ({error.get('code')}: {str(error.get('message', ''))[:200]})" if error else "")
            continue
        answer["ok"] = True
    host.close()
    return {"endpoints": answers}


def _probe_main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "--contract-probe":
        print("usage: python -m mocklib_plugin_sdk.checks_contract --contract-probe PROJECT_DIR OUT_JSON",
              file=sys.stderr)
        return 2
    answers = _contract_probe(Path(argv[1]))
    Path(argv[2]).write_text(json.dumps(answers), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1:]))
