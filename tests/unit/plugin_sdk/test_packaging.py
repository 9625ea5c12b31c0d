"""The plugin package format (mocklib_plugin_sdk.packaging): deterministic builds and
an extraction that refuses every unsafe or oversized upload."""
from __future__ import annotations

import io
import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest

from mocklib_plugin_sdk.packaging import (MAX_FILES, MAX_PACKAGE_BYTES, MAX_UNPACKED_BYTES, PackageError,
                                          build_package, extract_package, read_manifest)
from mocklib_plugin_sdk.scaffold import init_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = init_project(tmp_path_factory.mktemp("packaging") / "packed", "packed")
    # Things a working copy accumulates that must never be uploaded.
    for junk in ("vendor/mocklib_plugin_sdk/__init__.py", "chalicelib/__pycache__/plugin.cpython-311.pyc",
                 "chalicelib/stale.pyc", ".git/config", ".venv/bin/python", ".pytest_cache/v/x",
                 ".chalice/deployments/dev.json", ".chalice/venv/lib.py", ".env", "tests/.hidden"):
        path = root / junk
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("junk", encoding="utf-8")
    return root


def _zip(*entries: tuple[str, bytes] | tuple[str, bytes, int]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names; we want them
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for entry in entries:
                info = zipfile.ZipInfo(entry[0])
                info.create_system = 3
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (entry[2] if len(entry) == 3 else stat.S_IFREG | 0o644) << 16
                archive.writestr(info, entry[1])
    return buffer.getvalue()


MANIFEST_ENTRY = ("chalicelib/manifest.json", b'{"name": "x"}')


def test_a_package_round_trips_the_project_without_junk(project: Path, tmp_path: Path) -> None:
    extract_package(build_package(project), tmp_path)

    unpacked = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert unpacked == [".chalice/config.json", "README.md", "app.py", "chalicelib/__init__.py",
                        "chalicelib/manifest.json", "chalicelib/plugin.py", "requirements.txt",
                        "tests/conftest.py", "tests/test_packed.py"]
    for name in unpacked:
        assert (tmp_path / name).read_bytes() == (project / name).read_bytes()


def test_packages_are_deterministic(project: Path) -> None:
    first = build_package(project)
    os.utime(project / "app.py", (1_000_000_000, 1_000_000_000))

    assert build_package(project) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        names = archive.namelist()
        assert names == sorted(names)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_manifest_is_read_without_extracting(project: Path) -> None:
    assert read_manifest(build_package(project))["name"] == "packed"


@pytest.mark.parametrize(("entries", "message"), [
    ([("README.md", b"hi")], "has no chalicelib/manifest.json"),
    ([("chalicelib/manifest.json", b"{not json")], "not valid JSON"),
    ([("chalicelib/manifest.json", b"[1, 2]")], "must hold a JSON object"),
    ([("chalicelib/manifest.json", b'{"n": ' + b"9" * 5000 + b"}")], "not valid JSON"),
    ([("chalicelib/manifest.json", b"[" * 100_000)], "not valid JSON"),
])
def test_read_manifest_refuses_a_missing_or_malformed_manifest(entries: list[tuple[str, bytes]],
                                                               message: str) -> None:
    with pytest.raises(PackageError, match=message):
        read_manifest(_zip(*entries))


def test_a_project_without_a_manifest_cannot_be_packaged(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("", encoding="utf-8")

    with pytest.raises(PackageError, match="no chalicelib/manifest.json"):
        build_package(tmp_path)


def test_a_project_with_a_symlink_cannot_be_packaged(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    extract_package(build_package(project), copy)
    (copy / "chalicelib" / "secrets.txt").symlink_to("/etc/passwd")

    with pytest.raises(PackageError, match="secrets.txt is not a regular file"):
        build_package(copy)


def test_a_project_with_too_many_files_cannot_be_packaged(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    extract_package(build_package(project), copy)
    for index in range(MAX_FILES):
        (copy / f"data_{index}.txt").write_text("x", encoding="utf-8")

    with pytest.raises(PackageError, match=f"the limit is {MAX_FILES}"):
        build_package(copy)


@pytest.mark.parametrize(("entry", "message"), [
    (("../evil.py", b"x"), r"outside the package \('..'\)"),
    (("chalicelib/../../evil.py", b"x"), r"outside the package \('..'\)"),
    (("/etc/cron.d/evil", b"x"), "is an absolute path"),
    (("C:/evil.py", b"x"), "is an absolute path"),
    (("chalicelib\\..\\evil.py", b"x"), "backslashes"),
    (("chalicelib/link", b"/etc/passwd", stat.S_IFLNK | 0o777), "is a symbolic link"),
    (("chalicelib/fifo", b"", stat.S_IFIFO | 0o644), "not a regular file or folder"),
])
def test_unsafe_entries_are_refused_before_anything_is_written(entry: tuple[str, bytes] | tuple[str, bytes, int],
                                                               message: str, tmp_path: Path) -> None:
    dest = tmp_path / "dest"

    with pytest.raises(PackageError, match=message):
        extract_package(_zip(MANIFEST_ENTRY, entry), dest)
    assert list(dest.rglob("*")) == []
    assert not (tmp_path / "evil.py").exists()


def test_duplicate_entries_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="appears more than once"):
        extract_package(_zip(MANIFEST_ENTRY, ("app.py", b"a"), ("app.py", b"b")), tmp_path)


def test_a_file_that_is_also_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="both a file and a folder"):
        extract_package(_zip(MANIFEST_ENTRY, ("lib", b"a"), ("lib/x.py", b"b")), tmp_path)


def test_a_package_over_the_zipped_limit_is_refused(tmp_path: Path) -> None:
    noise = os.urandom(MAX_PACKAGE_BYTES)  # incompressible

    with pytest.raises(PackageError, match="the limit is 3.0 MiB zipped"):
        extract_package(_zip(MANIFEST_ENTRY, ("noise.bin", noise)), tmp_path)


def test_a_zip_bomb_is_refused(tmp_path: Path) -> None:
    bomb = _zip(MANIFEST_ENTRY, ("zeros.bin", bytes(MAX_UNPACKED_BYTES + 1)))
    assert len(bomb) < 100_000

    with pytest.raises(PackageError, match="unpacks to more than 20.0 MiB"):
        extract_package(bomb, tmp_path)


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    entries = [(f"f{index}.txt", b"") for index in range(MAX_FILES)]

    with pytest.raises(PackageError, match=f"holds {MAX_FILES + 1} files; the limit is {MAX_FILES}"):
        extract_package(_zip(MANIFEST_ENTRY, *entries), tmp_path)


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\x00" * 40])
def test_garbage_is_refused_as_not_a_zip(data: bytes, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="not a valid zip file"):
        extract_package(data, tmp_path)
    with pytest.raises(PackageError, match="not a valid zip file"):
        read_manifest(data)


def test_a_truncated_package_is_refused(project: Path, tmp_path: Path) -> None:
    package = build_package(project)

    with pytest.raises(PackageError, match="not a valid zip file"):
        extract_package(package[: len(package) // 2], tmp_path)


def test_corrupted_file_contents_are_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(*MANIFEST_ENTRY)
        archive.writestr("app.py", b"print('the original bytes')")
    corrupted = buffer.getvalue().replace(b"original", b"tampered")

    with pytest.raises(PackageError, match="corrupt"):
        extract_package(corrupted, tmp_path)


def test_package_errors_are_value_errors_with_a_message() -> None:
    error = PackageError("the package is not a valid zip file")
    assert isinstance(error, ValueError)
    assert error.message == str(error) == "the package is not a valid zip file"


def test_a_built_package_stays_within_every_limit(project: Path) -> None:
    package = build_package(project)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        assert len(archive.infolist()) <= MAX_FILES
        assert sum(info.file_size for info in archive.infolist()) <= MAX_UNPACKED_BYTES
        assert json.loads(archive.read("chalicelib/manifest.json"))["runtime"]["handler"] == "plugin:PackedPlugin"
    assert len(package) <= MAX_PACKAGE_BYTES
