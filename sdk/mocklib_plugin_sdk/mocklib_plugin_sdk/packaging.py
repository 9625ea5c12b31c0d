"""The package a developer uploads to publish a plugin: a zip of the project.

``build_package`` is deterministic (sorted entries, fixed timestamps and
modes), so the same tree always gives the same bytes and the same digest.
``extract_package`` is what the marketplace runs on an upload it does not
trust: every entry is checked before anything is written (no absolute paths,
no ``..``, no links or devices, no duplicates, bounded sizes and counts) and
the bytes actually inflated are counted again while writing, because the sizes
a zip declares can lie. Extract into a fresh temporary folder: a package
refused half-way may leave files behind.

What goes into a package: everything in the project except ``vendor/`` (the
SDK is installed by the marketplace), ``__pycache__/``, ``*.pyc`` and every
dotfile or dot-folder (``.git/``, ``.venv/``, ``.pytest_cache/``, ...) but
``.chalice/``, itself without ``deployments/`` and ``venv/``.
"""
from __future__ import annotations

import io
import json
import os
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

MAX_PACKAGE_BYTES = 3 * 1024 * 1024
MAX_UNPACKED_BYTES = 20 * 1024 * 1024
MAX_FILES = 500
MAX_MANIFEST_BYTES = 256 * 1024
MANIFEST_NAME = "chalicelib/manifest.json"

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store
_FILE_MODE = stat.S_IFREG | 0o644
_DIR_MODE = stat.S_IFDIR | 0o755
_EXCLUDED_DIRS = frozenset({"__pycache__"})
_EXCLUDED_TOP_DIRS = frozenset({"vendor"})
_EXCLUDED_CHALICE_DIRS = frozenset({"deployments", "venv"})
_CHUNK = 64 * 1024


class PackageError(ValueError):
    """A project or package that cannot be packaged, read or extracted safely."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- building ----------------------------------------------------------------------------------


def _included(relative: PurePosixPath, is_dir: bool) -> bool:
    parts = relative.parts
    name = parts[-1]
    if name.startswith(".") and not (len(parts) == 1 and name == ".chalice" and is_dir):
        return False
    if is_dir and name in _EXCLUDED_DIRS:
        return False
    if is_dir and len(parts) == 1 and name in _EXCLUDED_TOP_DIRS:
        return False
    if is_dir and len(parts) == 2 and parts[0] == ".chalice" and name in _EXCLUDED_CHALICE_DIRS:
        return False
    return is_dir or not name.endswith(".pyc")


def included_path(relative: Path | PurePosixPath) -> bool:
    """Whether a file at ``relative`` (to the project) belongs in the package."""
    parts = PurePosixPath(Path(relative).as_posix()).parts
    if not parts:
        return False
    for end in range(1, len(parts)):
        if not _included(PurePosixPath(*parts[:end]), is_dir=True):
            return False
    return _included(PurePosixPath(*parts), is_dir=False)


def package_files(project_dir: Path) -> list[PurePosixPath]:
    """The project's files that go into its package, as sorted relative POSIX paths."""
    root = Path(project_dir)
    if not root.is_dir():
        raise PackageError(f"{root} is not a folder")
    found: list[PurePosixPath] = []
    for current, dirs, files in os.walk(root):
        base = PurePosixPath(Path(current).relative_to(root).as_posix())
        kept = []
        for name in dirs:
            relative = base / name if str(base) != "." else PurePosixPath(name)
            if not _included(relative, is_dir=True):
                continue
            if (Path(current) / name).is_symlink():
                raise PackageError(f"{relative}/ is a symbolic link; packages hold regular files only")
            kept.append(name)
        dirs[:] = sorted(kept)
        for name in files:
            relative = base / name if str(base) != "." else PurePosixPath(name)
            if not _included(relative, is_dir=False):
                continue
            path = Path(current) / name
            if path.is_symlink() or not path.is_file():
                raise PackageError(f"{relative} is not a regular file (symbolic link?); "
                                   "packages hold regular files only")
            found.append(relative)
    return sorted(found, key=str)


def build_package(project_dir: Path) -> bytes:
    """The project as a deterministic zip, within the package limits."""
    root = Path(project_dir)
    files = package_files(root)
    if PurePosixPath(MANIFEST_NAME) not in files:
        raise PackageError(f"{root} has no {MANIFEST_NAME}")
    if len(files) > MAX_FILES:
        raise PackageError(f"the project has {len(files)} files to package; the limit is {MAX_FILES}")
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative in files:
            total += (root / relative).stat().st_size  # before reading: a stray huge file stays on disk
            if total > MAX_UNPACKED_BYTES:
                raise PackageError(f"the project's files exceed {_mib(MAX_UNPACKED_BYTES)} unpacked")
            data = (root / relative).read_bytes()
            info = zipfile.ZipInfo(str(relative), date_time=_FIXED_DATE)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = _FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=9)
    package = buffer.getvalue()
    if len(package) > MAX_PACKAGE_BYTES:
        raise PackageError(f"the package is {_mib(len(package))} zipped; the limit is {_mib(MAX_PACKAGE_BYTES)}")
    return package


# -- reading -------------------------------------------------------------------------------------


def _open(data: bytes) -> zipfile.ZipFile:
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageError(f"the package is {_mib(len(data))}; the limit is {_mib(MAX_PACKAGE_BYTES)} zipped")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise PackageError(f"the package is not a valid zip file ({exc})") from exc


def _entry_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The entry's relative path, or PackageError for anything that could escape ``dest``."""
    name = info.filename
    shown = name[:200]
    if not name or "\x00" in name:
        raise PackageError(f"entry {shown!r} has an empty or binary name")
    if "\\" in name:
        raise PackageError(f"entry {shown!r} uses backslashes; zip paths are separated by '/'")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackageError(f"entry {shown!r} is an absolute path")
    parts = [p for p in name.rstrip("/").split("/")]
    if any(p == ".." for p in parts):
        raise PackageError(f"entry {shown!r} points outside the package ('..')")
    if any(p in ("", ".") for p in parts):
        raise PackageError(f"entry {shown!r} has an empty or '.' path segment")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise PackageError(f"entry {shown!r} is a symbolic link; packages hold regular files only")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise PackageError(f"entry {shown!r} is not a regular file or folder")
    if info.flag_bits & 0x1:
        raise PackageError(f"entry {shown!r} is encrypted")
    return PurePosixPath(*parts)


def _checked_entries(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    infos = archive.infolist()
    files = [info for info in infos if not info.is_dir()]
    if len(files) > MAX_FILES:
        raise PackageError(f"the package holds {len(files)} files; the limit is {MAX_FILES}")
    entries = []
    seen: set[str] = set()
    declared = 0
    for info in infos:
        path = _entry_path(info)
        key = str(path)
        if key in seen and not info.is_dir():
            raise PackageError(f"entry {key!r} appears more than once")
        seen.add(key)
        declared += info.file_size
        if declared > MAX_UNPACKED_BYTES:
            raise PackageError(f"the package unpacks to more than {_mib(MAX_UNPACKED_BYTES)}")
        entries.append((info, path))
    # A file and a folder of the same name (``a`` and ``a/b``) cannot both be extracted.
    folders = {str(parent) for _, path in entries for parent in path.parents if str(parent) != "."}
    for info, path in entries:
        if not info.is_dir() and str(path) in folders:
            raise PackageError(f"entry {str(path)!r} is both a file and a folder")
    return entries


def extract_package(data: bytes, dest: Path) -> None:
    """Unpack ``data`` into ``dest`` after checking every entry; PackageError on any problem."""
    destination = Path(dest)
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with _open(data) as archive:
        entries = _checked_entries(archive)
        written = 0
        try:
            for info, path in entries:
                target = root.joinpath(*path.parts)
                if root not in target.resolve().parents and target.resolve() != root:
                    raise PackageError(f"entry {str(path)!r} points outside the package")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink():
                    raise PackageError(f"entry {str(path)!r} would write through a symbolic link")
                with archive.open(info) as source, open(target, "wb") as sink:
                    while True:
                        chunk = source.read(_CHUNK)
                        if not chunk:
                            break
                        written += len(chunk)
                        if written > MAX_UNPACKED_BYTES:
                            raise PackageError(f"the package unpacks to more than {_mib(MAX_UNPACKED_BYTES)}")
                        sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise PackageError(f"the package is corrupt ({exc})") from exc


def read_manifest(data: bytes) -> dict[str, Any]:
    """``chalicelib/manifest.json`` of a package, without extracting anything else."""
    with _open(data) as archive:
        try:
            info = archive.getinfo(MANIFEST_NAME)
        except KeyError:
            raise PackageError(f"the package has no {MANIFEST_NAME}") from None
        _entry_path(info)
        if info.file_size > MAX_MANIFEST_BYTES:
            raise PackageError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
        try:
            with archive.open(info) as source:
                raw = source.read(MAX_MANIFEST_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise PackageError(f"the package is corrupt ({exc})") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PackageError(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a 4,301-digit number, nesting without end
        raise PackageError(f"{MANIFEST_NAME} is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(document, dict):
        raise PackageError(f"{MANIFEST_NAME} must hold a JSON object, not {type(document).__name__}")
    return document


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


__all__ = ["MAX_FILES", "MAX_PACKAGE_BYTES", "MAX_UNPACKED_BYTES", "PackageError", "build_package",
           "extract_package", "included_path", "package_files", "read_manifest"]
