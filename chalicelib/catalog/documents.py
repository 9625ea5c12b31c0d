"""What a plugin's page shows beyond its manifest: its README and its fidelity to the vendor's API.

A version's documents are ``{"readme": markdown | None, "fidelity": report | None}``:

* a version that came from a package gets them when its checks pass (``chalicelib/publishing``):
  the package's ``README.md`` and the checks' fidelity figure, stored with the version;
* a first-party version (no package: the platform's own plugins, which run from
  ``MF_PLUGIN_SOURCE_ROOT``) reads them from its project there: ``README.md`` and the
  ``spec/fidelity.json`` its own test suite measured (``bench/fidelity.py``).

The fidelity report is the SDK's (``mocklib_plugin_sdk.conformance``), reduced to its known,
bounded fields (``clean_report``) whatever its origin. The README is shown as Markdown, rendered
by the web app without any HTML of its own (frontend/src/js/markdown.js).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.conformance.measure import clean_report, summary

MAX_README_CHARS = 64 * 1024
MAX_FIDELITY_BYTES = 1024 * 1024
FIDELITY_FILE = Path("spec") / "fidelity.json"


def documents(readme: str | None, fidelity: Any) -> dict[str, Any]:
    """Stored documents: a README cut to its limit, a fidelity report cleaned (or None)."""
    text = readme[:MAX_README_CHARS] if isinstance(readme, str) and readme.strip() else None
    report = clean_report(fidelity)
    return {"readme": text, "fidelity": report}


def card_fidelity(docs: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a catalog card shows: the figures and the spec's version (None: not measured)."""
    report = (docs or {}).get("fidelity")
    return summary(report) if report else None


class SourceDocuments:
    """First-party plugins' documents, from their project folders (read once per file change)."""

    def __init__(self, source_root: str | None) -> None:
        self._root = Path(source_root).resolve() if source_root else None
        self._cache: dict[str, tuple[tuple[float, float], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> dict[str, Any] | None:
        if self._root is None or not name.replace("-", "").isalnum():
            return None
        project = self._root / name
        readme, fidelity = project / "README.md", project / FIDELITY_FILE
        stamp = (readme.stat().st_mtime if readme.is_file() else 0.0,
                 fidelity.stat().st_mtime if fidelity.is_file() else 0.0)
        if stamp == (0.0, 0.0):
            return None
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        text = readme.read_text(encoding="utf-8", errors="replace") if stamp[0] else None
        report = None
        if stamp[1] and fidelity.stat().st_size <= MAX_FIDELITY_BYTES:
            try:
                report = json.loads(fidelity.read_text(encoding="utf-8"))
            except ValueError:
                report = None
        built = documents(text, report)
        with self._lock:
            self._cache[name] = (stamp, built)
        return built
