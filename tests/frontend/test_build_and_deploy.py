"""The frontend's build (hashed names, rewritten references, config.json, deterministic) and its
S3 deploy on moto (content types, cache headers, stale deletion, idempotence, invalidation)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import pytest
from moto import mock_aws

from frontend import SRC_DIR
from frontend.assets import IMMUTABLE, REVALIDATE, cache_control, content_type, is_hashed
from frontend.build import MARKER, BuildError, build, plan_build, read_sources
from frontend.deploy import deploy, main as deploy_main
from frontend.build import main as build_main

API = "https://api.example.com"
BUCKET = "mf-test-frontend"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- build -----------------------------------------------------------------------------------
def test_build_hashes_every_asset_and_rewrites_the_references(tmp_path: Path) -> None:
    result = build(tmp_path / "dist", api_url=API + "/")
    files = tree(tmp_path / "dist")
    assert set(files) - {MARKER} == set(result.files.values())
    assert result.files["index.html"] == "index.html" and result.files["config.json"] == "config.json"
    assets = [name for name in files if name not in ("index.html", "config.json", MARKER)]
    assert assets and all(is_hashed(name) for name in assets)
    assert len(assets) == len(list(SRC_DIR.rglob("*.js")) + list(SRC_DIR.rglob("*.css")) + list(SRC_DIR.rglob("*.svg")))

    index = files["index.html"].decode()
    for source in ("js/main.js", "css/app.css", "favicon.svg"):
        assert f'"./{result.files[source]}"' in index
    # every relative import of every module names a built, hashed file that exists
    for name in assets:
        if name.endswith(".js"):
            for spec in re.findall(r"""from\s*["'](\.{1,2}/[^"']+)["']""", files[name].decode()):
                target = (PurePosixPath(name).parent / spec).as_posix()
                resolved = str(Path("/" + target).resolve())[1:]
                assert resolved in files and is_hashed(resolved), (name, spec)
    assert json.loads(files["config.json"]) == {"api_url": API}


def test_build_is_deterministic_and_a_change_renames_its_importers(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "js").mkdir(parents=True)
    (src / "index.html").write_text('<script type="module" src="js/main.js"></script>')
    (src / "js" / "main.js").write_text('import { a } from "./a.js";\nconsole.log(a);\n')
    (src / "js" / "a.js").write_text("export const a = 1;\n")
    (src / "js" / "b.js").write_text("export const b = 2;\n")
    first = build(tmp_path / "one", api_url=API, src=src).files
    again = build(tmp_path / "two", api_url=API, src=src).files
    assert first == again and tree(tmp_path / "one") == tree(tmp_path / "two")

    (src / "js" / "a.js").write_text("export const a = 3;\n")
    changed = build(tmp_path / "one", api_url=API, src=src).files
    assert changed["js/a.js"] != first["js/a.js"]
    assert changed["js/main.js"] != first["js/main.js"]  # its import names the new a
    assert changed["js/b.js"] == first["js/b.js"]
    assert not (tmp_path / "one" / first["js/a.js"]).exists()  # the output folder is rebuilt from scratch


def test_build_refuses_cycles_missing_imports_and_foreign_folders(tmp_path: Path) -> None:
    sources = {PurePosixPath("index.html"): b'<script src="js/a.js"></script>',
               PurePosixPath("js/a.js"): b'import "./b.js";', PurePosixPath("js/b.js"): b'import "./a.js";'}
    with pytest.raises(BuildError, match="import cycle"):
        plan_build(sources, API)
    sources[PurePosixPath("js/b.js")] = b'import "./missing.js";'
    with pytest.raises(BuildError, match="missing.js"):
        plan_build(sources, API)
    foreign = tmp_path / "not-a-build"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="refusing to clear"):
        build(foreign)
    assert (foreign / "notes.txt").exists()


def test_build_cli_writes_the_site(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_main(["--out", str(tmp_path / "dist"), "--api-url", API]) == 0
    assert "config.json" in capsys.readouterr().out
    assert json.loads((tmp_path / "dist" / "config.json").read_text())["api_url"] == API


def test_the_sources_never_parse_api_text_as_html() -> None:
    code = "\n".join(p.read_text() for p in SRC_DIR.rglob("*.js"))
    assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write", code)
    assert len(read_sources(SRC_DIR)) > 5


def test_content_types_and_cache_rules() -> None:
    assert content_type("index.html") == "text/html; charset=utf-8"
    assert content_type("js/main.0123456789ab.js") == "text/javascript; charset=utf-8"
    assert content_type("css/app.0123456789ab.css") == "text/css; charset=utf-8"
    assert content_type("config.json") == "application/json; charset=utf-8"
    assert content_type("favicon.0123456789ab.svg") == "image/svg+xml"
    assert content_type("data.bin") == "application/octet-stream"
    assert cache_control("js/main.0123456789ab.js") == IMMUTABLE == "public, max-age=31536000, immutable"
    assert cache_control("index.html") == cache_control("config.json") == REVALIDATE == "no-cache"
    assert cache_control("js/main.js") == REVALIDATE  # not hashed: never cached for long


# --- deploy on moto ----------------------------------------------------------------------------
@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, boto3.client("cloudfront", region_name="us-east-1")


def objects(s3: Any, prefix: str = "") -> dict[str, dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"]) for o in listed}


def test_deploy_uploads_with_content_types_and_cache_headers(tmp_path: Path, aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    built = build(tmp_path / "dist", api_url="http://127.0.0.1:8000")
    report = deploy(tmp_path / "dist", BUCKET, s3, api_url=API)
    stored = objects(s3)
    assert set(stored) == set(built.files.values())  # the build marker is not uploaded
    for key, obj in stored.items():
        assert obj["ContentType"] == content_type(key), key
        assert obj["CacheControl"] == (IMMUTABLE if is_hashed(key) else REVALIDATE), key
    assert stored["index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert stored["index.html"]["CacheControl"] == "no-cache"
    assert json.loads(stored["config.json"]["Body"].read()) == {"api_url": API}  # --api-url rewrote it
    main_js = built.files["js/main.js"]
    assert stored[main_js]["CacheControl"] == "public, max-age=31536000, immutable"
    assert stored[main_js]["Body"].read() == (tmp_path / "dist" / main_js).read_bytes()
    keys = [u.key for u in report.plan.uploads]
    assert keys[-1] == "index.html" and keys[-2] == "config.json"  # after the assets it refers to


def test_deploy_is_idempotent_and_deletes_what_a_new_build_dropped(tmp_path: Path, aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    src = tmp_path / "src"
    (src / "js").mkdir(parents=True)
    (src / "index.html").write_text('<script type="module" src="js/main.js"></script>')
    (src / "js" / "main.js").write_text("console.log(1);\n")
    (src / "js" / "old.js").write_text("export const old = 1;\n")
    first = build(tmp_path / "dist", api_url=API, src=src).files
    s3.put_object(Bucket=BUCKET, Key="elsewhere/keep.txt", Body=b"outside the prefix")

    done = deploy(tmp_path / "dist", BUCKET, s3, prefix="site")
    assert len(done.plan.uploads) == 4 and done.plan.deletes == ()
    again = deploy(tmp_path / "dist", BUCKET, s3, prefix="/site/")
    assert again.plan.uploads == () and again.plan.deletes == () and not again.plan.changes
    assert sorted(again.plan.unchanged) == sorted(f"site/{name}" for name in first.values())

    (src / "js" / "old.js").unlink()
    (src / "js" / "main.js").write_text("console.log(2);\n")
    second = build(tmp_path / "dist", api_url=API, src=src).files
    report = deploy(tmp_path / "dist", BUCKET, s3, prefix="site")
    assert sorted(report.plan.deletes) == sorted([f"site/{first['js/old.js']}", f"site/{first['js/main.js']}"])
    assert [u.key for u in report.plan.uploads] == [f"site/{second['js/main.js']}", "site/index.html"]
    assert set(objects(s3, "site/")) == {f"site/{name}" for name in second.values()}
    assert "elsewhere/keep.txt" in objects(s3)  # other prefixes are not ours

    # a header changed by hand is put right, even though the body is the same
    s3.copy_object(Bucket=BUCKET, Key="site/index.html", CopySource={"Bucket": BUCKET, "Key": "site/index.html"},
                   MetadataDirective="REPLACE", ContentType="text/plain", CacheControl="max-age=600")
    fixed = deploy(tmp_path / "dist", BUCKET, s3, prefix="site")
    assert [u.key for u in fixed.plan.uploads] == ["site/index.html"]
    head = s3.head_object(Bucket=BUCKET, Key="site/index.html")
    assert (head["ContentType"], head["CacheControl"]) == ("text/html; charset=utf-8", "no-cache")


def test_deploy_invalidates_the_unhashed_paths_on_cloudfront(tmp_path: Path, aws: tuple[Any, Any]) -> None:
    s3, cloudfront = aws
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": "test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": f"{BUCKET}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
    })["Distribution"]["Id"]
    build(tmp_path / "dist", api_url=API)
    report = deploy(tmp_path / "dist", BUCKET, s3, cloudfront=cloudfront, distribution_id=distribution)
    assert report.invalidation_id
    assert report.plan.invalidation_paths == ("/", "/config.json", "/index.html")
    made = cloudfront.get_invalidation(DistributionId=distribution, Id=report.invalidation_id)["Invalidation"]
    assert sorted(made["InvalidationBatch"]["Paths"]["Items"]) == ["/", "/config.json", "/index.html"]
    nothing = deploy(tmp_path / "dist", BUCKET, s3, cloudfront=cloudfront, distribution_id=distribution)
    assert nothing.invalidation_id is None  # nothing changed, nothing to invalidate


def test_deploy_cli_builds_when_needed_and_uploads(tmp_path: Path, aws: tuple[Any, Any],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    s3, _ = aws
    dist = tmp_path / "dist"
    assert deploy_main(["--bucket", BUCKET, "--dist", str(dist), "--api-url", API, "--dry-run"]) == 0
    assert "would upload" in capsys.readouterr().out and objects(s3) == {}
    assert deploy_main(["--bucket", BUCKET, "--dist", str(dist), "--api-url", API]) == 0
    assert "0 deleted" in capsys.readouterr().out
    assert json.loads(objects(s3)["config.json"]["Body"].read()) == {"api_url": API}
