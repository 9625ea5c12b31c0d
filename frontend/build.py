"""``python -m frontend.build --out frontend/dist [--api-url URL]``: the static site.

Copies ``frontend/src`` to ``--out`` with content-hashed names for every asset (``main.js`` ->
``main.<12 hex>.js``), rewriting the references to them: ES module imports (a module's hash
covers the hashed names of what it imports, so a change anywhere renames every module that
depends on it) and ``src``/``href`` in index.html. index.html keeps its name, and
``config.json`` (``{"api_url": ...}``) is written next to it, so the same assets work against
any API. The output is deterministic: the same sources and API URL give the same bytes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from frontend import SRC_DIR
from frontend.assets import HASH_LENGTH

DEFAULT_API_URL = "http://127.0.0.1:8000"
MARKER = ".frontend-build"  # marks a folder this script may empty; never uploaded
UNHASHED = frozenset({"index.html"})  # entry points: their names are the site's URLs
CONFIG_NAME = "config.json"

# import x from "./a.js" | export {x} from "./a.js" | import "./a.js" | import("./a.js")
_JS_IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])(\.{1,2}/[^"'\s]+)\2""")
_HTML_REF = re.compile(r"""\b(src|href)=(["'])([^"':#?]+)\2""")


class BuildError(Exception):
    """The sources cannot be built (a missing import, an import cycle, a reference outside src)."""


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    files: dict[str, str]  # source path -> built path (POSIX, relative)
    api_url: str


def _hashed_name(rel: PurePosixPath, content: bytes) -> PurePosixPath:
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    return rel.with_name(f"{rel.stem}.{digest}{rel.suffix}")


def _resolve(importer: PurePosixPath, spec: str) -> PurePosixPath:
    parts: list[str] = list(importer.parent.parts)
    for part in PurePosixPath(spec).parts:
        if part == "..":
            if not parts:
                raise BuildError(f"{importer}: {spec!r} points outside the sources")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return PurePosixPath(*parts)


def _relative(importer: PurePosixPath, target: PurePosixPath) -> str:
    """``target`` as a relative module specifier from ``importer`` (always ./ or ../)."""
    here = list(importer.parent.parts)
    there = list(target.parts)
    common = 0
    while common < len(here) and common < len(there) - 1 and here[common] == there[common]:
        common += 1
    ups = [".."] * (len(here) - common)
    spec = "/".join(ups + there[common:])
    return spec if ups else f"./{spec}"


class _Builder:
    def __init__(self, sources: dict[PurePosixPath, bytes]) -> None:
        self.sources = sources
        self.built: dict[PurePosixPath, tuple[PurePosixPath, bytes]] = {}
        self._visiting: list[PurePosixPath] = []

    def asset(self, rel: PurePosixPath) -> PurePosixPath:
        """The hashed name of ``rel``, building it (and what it imports) first."""
        if rel in self.built:
            return self.built[rel][0]
        if rel not in self.sources:
            raise BuildError(f"{self._visiting[-1] if self._visiting else 'index.html'} refers to {rel}, "
                             "which is not in the sources")
        if rel in self._visiting:
            cycle = " -> ".join(str(p) for p in [*self._visiting[self._visiting.index(rel):], rel])
            raise BuildError(f"import cycle: {cycle} (content hashes need an acyclic module graph)")
        self._visiting.append(rel)
        content = self.sources[rel]
        if rel.suffix in (".js", ".mjs"):
            content = self._rewrite_js(rel, content)
        self._visiting.pop()
        name = _hashed_name(rel, content)
        self.built[rel] = (name, content)
        return name

    def _rewrite_js(self, rel: PurePosixPath, content: bytes) -> bytes:
        def swap(match: re.Match[str]) -> str:
            prefix, quote, spec = match.groups()
            target = self.asset(_resolve(rel, spec))
            return f"{prefix}{quote}{_relative(rel, target)}{quote}"

        return _JS_IMPORT.sub(swap, content.decode("utf-8")).encode("utf-8")

    def html(self, rel: PurePosixPath, content: bytes) -> bytes:
        def swap(match: re.Match[str]) -> str:
            attr, quote, ref = match.groups()
            target = _resolve(rel, ref if ref.startswith(".") else f"./{ref}")
            if target not in self.sources or target.name in UNHASHED:
                return match.group(0)
            return f"{attr}={quote}{_relative(rel, self.asset(target))}{quote}"

        return _HTML_REF.sub(swap, content.decode("utf-8")).encode("utf-8")


def read_sources(src: Path) -> dict[PurePosixPath, bytes]:
    files = sorted(p for p in src.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts))
    return {PurePosixPath(p.relative_to(src).as_posix()): p.read_bytes() for p in files}


def config_document(api_url: str) -> bytes:
    return (json.dumps({"api_url": api_url.rstrip("/")}, indent=2, sort_keys=True) + "\n").encode("utf-8")


@dataclass(frozen=True)
class BuildPlan:
    outputs: dict[PurePosixPath, bytes]  # built path -> content
    names: dict[PurePosixPath, PurePosixPath]  # source path -> built path


def plan_build(sources: dict[PurePosixPath, bytes], api_url: str) -> BuildPlan:
    """Pure: every output file for these sources, and which source became which file."""
    if PurePosixPath("index.html") not in sources:
        raise BuildError("the sources have no index.html")
    builder = _Builder(sources)
    outputs: dict[PurePosixPath, bytes] = {}
    names: dict[PurePosixPath, PurePosixPath] = {}
    for rel, content in sources.items():
        if rel.name in UNHASHED:
            outputs[rel] = builder.html(rel, content) if rel.suffix == ".html" else content
            names[rel] = rel
    for rel in sources:  # every asset is published, referenced or not
        if rel.name not in UNHASHED and rel.name != CONFIG_NAME:
            builder.asset(rel)
    for rel, (name, content) in builder.built.items():
        outputs[name] = content
        names[rel] = name
    config = PurePosixPath(CONFIG_NAME)
    outputs[config] = config_document(api_url)
    names[config] = config
    return BuildPlan(outputs=dict(sorted(outputs.items())), names=dict(sorted(names.items())))


def _clear(out: Path) -> None:
    if not out.exists():
        return
    if any(out.iterdir()) and not (out / MARKER).exists():
        raise BuildError(f"{out} is not empty and was not written by the build; refusing to clear it")
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def build(out: Path, *, api_url: str = DEFAULT_API_URL, src: Path = SRC_DIR) -> BuildResult:
    """Write the site into ``out`` (emptied first, if an earlier build wrote it)."""
    plan = plan_build(read_sources(src), api_url)
    out = Path(out)
    _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m frontend.build; the folder is emptied on each build\n")
    for rel, content in plan.outputs.items():
        target = out / Path(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return BuildResult(out_dir=out, files={str(k): str(v) for k, v in plan.names.items()}, api_url=api_url.rstrip("/"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="frontend/dist", help="output folder (emptied first; default frontend/dist)")
    parser.add_argument("--api-url", default=DEFAULT_API_URL, help=f"the API base URL for config.json (default {DEFAULT_API_URL})")
    parser.add_argument("--src", default=str(SRC_DIR), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        result = build(Path(args.out), api_url=args.api_url, src=Path(args.src))
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    for source, built in sorted(result.files.items()):
        print(f"  {source:<28} -> {built}")
    print(f"built {len(result.files)} files into {result.out_dir} (api_url {result.api_url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
