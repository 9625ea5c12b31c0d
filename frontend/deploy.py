"""``python -m frontend.deploy --bucket B [--prefix P] [--api-url URL] [--dist DIR] [--distribution-id ID]``

Uploads the built site (``python -m frontend.build``) to S3 with the right ``Content-Type`` per
extension and ``Cache-Control`` per file (``frontend.assets``: a year, immutable, for the
hashed assets; ``no-cache`` for index.html and config.json), deletes objects under the prefix
that the build no longer has, and optionally invalidates the CloudFront paths that are not
hashed. ``--api-url`` rewrites config.json on the way up, so one build serves any stage.

Plan, then execute: :func:`plan_deploy` is pure (local files + what the bucket holds -> the
uploads and deletes); :func:`execute` performs a plan with an injected boto3 client. Running
it twice uploads nothing the second time. Order keeps the live site whole: hashed assets
first, then config.json, then index.html (which refers to them), and only then deletions.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontend.assets import cache_control, content_type, is_hashed
from frontend.build import CONFIG_NAME, DEFAULT_API_URL, build, config_document


@dataclass(frozen=True)
class LocalFile:
    key: str
    body: bytes
    content_type: str
    cache_control: str

    @property
    def md5(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class RemoteObject:
    key: str
    etag: str  # without quotes; the MD5 of the body for single-part uploads
    content_type: str | None = None  # known only where the bodies match (read with HEAD)
    cache_control: str | None = None


@dataclass(frozen=True)
class DeployPlan:
    uploads: tuple[LocalFile, ...]
    deletes: tuple[str, ...]
    unchanged: tuple[str, ...]
    invalidation_paths: tuple[str, ...]

    @property
    def changes(self) -> bool:
        return bool(self.uploads or self.deletes)


@dataclass(frozen=True)
class DeployReport:
    plan: DeployPlan
    invalidation_id: str | None


def _prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def local_files(dist: Path, *, prefix: str = "", api_url: str | None = None) -> list[LocalFile]:
    """Every file of the build (dotfiles such as the build marker excluded), keyed under ``prefix``."""
    dist = Path(dist)
    if not (dist / "index.html").is_file():
        raise FileNotFoundError(f"{dist} has no index.html: build it first (python -m frontend.build --out {dist})")
    files = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        rel = path.relative_to(dist).as_posix()
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        body = config_document(api_url) if rel == CONFIG_NAME and api_url else path.read_bytes()
        files.append(LocalFile(key=_prefix(prefix) + rel, body=body, content_type=content_type(rel),
                               cache_control=cache_control(rel)))
    return files


def _upload_order(item: LocalFile) -> tuple[int, str]:
    name = item.key.rsplit("/", 1)[-1]
    if is_hashed(name):
        return (0, item.key)
    return (2 if name == "index.html" else 1, item.key)


def plan_deploy(files: list[LocalFile], remote: dict[str, RemoteObject], *, prefix: str = "") -> DeployPlan:
    """Pure: what to upload (new or different body or headers), what to delete, what to invalidate."""
    uploads: list[LocalFile] = []
    unchanged: list[LocalFile] = []
    for item in files:
        there = remote.get(item.key)
        same = (there is not None and there.etag == item.md5 and there.content_type == item.content_type
                and there.cache_control == item.cache_control)
        (unchanged if same else uploads).append(item)
    wanted = {item.key for item in files}
    deletes = tuple(sorted(key for key in remote if key not in wanted))
    # Only names that are not hashed can be stale in a CDN; "/" is the root object (index.html).
    touched = [item.key for item in uploads if not is_hashed(item.key)] + [k for k in deletes if not is_hashed(k)]
    paths = sorted({f"/{key}" for key in touched} | ({f"/{_prefix(prefix)}"} if f"{_prefix(prefix)}index.html" in touched else set()))
    return DeployPlan(uploads=tuple(sorted(uploads, key=_upload_order)), deletes=deletes,
                      unchanged=tuple(item.key for item in unchanged), invalidation_paths=tuple(paths))


def remote_objects(s3: Any, bucket: str, files: list[LocalFile], *, prefix: str = "") -> dict[str, RemoteObject]:
    """What the bucket holds under ``prefix``; headers are read only where the body already matches."""
    md5 = {item.key: item.md5 for item in files}
    found: dict[str, RemoteObject] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=_prefix(prefix)):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"].strip('"')
            if md5.get(key) == etag:
                head = s3.head_object(Bucket=bucket, Key=key)
                found[key] = RemoteObject(key, etag, head.get("ContentType"), head.get("CacheControl"))
            else:
                found[key] = RemoteObject(key, etag)
    return found


def execute(plan: DeployPlan, s3: Any, bucket: str, *, cloudfront: Any = None,
            distribution_id: str | None = None) -> DeployReport:
    for item in plan.uploads:
        s3.put_object(Bucket=bucket, Key=item.key, Body=item.body, ContentType=item.content_type,
                      CacheControl=item.cache_control)
    for start in range(0, len(plan.deletes), 1000):  # DeleteObjects takes at most 1,000 keys
        batch = plan.deletes[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
    invalidation_id = None
    if distribution_id and plan.invalidation_paths:
        if cloudfront is None:
            raise ValueError("a distribution id needs a CloudFront client")
        answer = cloudfront.create_invalidation(DistributionId=distribution_id, InvalidationBatch={
            "Paths": {"Quantity": len(plan.invalidation_paths), "Items": list(plan.invalidation_paths)},
            "CallerReference": f"mf-frontend-{time.time_ns()}",  # one invalidation per deploy that changed something
        })
        invalidation_id = str(answer["Invalidation"]["Id"])
    return DeployReport(plan=plan, invalidation_id=invalidation_id)


def deploy(dist: Path, bucket: str, s3: Any, *, prefix: str = "", api_url: str | None = None,
           cloudfront: Any = None, distribution_id: str | None = None, dry_run: bool = False) -> DeployReport:
    files = local_files(dist, prefix=prefix, api_url=api_url)
    plan = plan_deploy(files, remote_objects(s3, bucket, files, prefix=prefix), prefix=prefix)
    if dry_run:
        return DeployReport(plan=plan, invalidation_id=None)
    return execute(plan, s3, bucket, cloudfront=cloudfront, distribution_id=distribution_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frontend.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="", help="key prefix in the bucket (default: the bucket's root)")
    parser.add_argument("--dist", default="frontend/dist", help="the build to upload (built first if missing)")
    parser.add_argument("--api-url", help="write config.json with this API URL (default: the build's own)")
    parser.add_argument("--distribution-id", help="CloudFront distribution to invalidate (index.html, config.json)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)

    import boto3

    dist = Path(args.dist)
    if not (dist / "index.html").exists():
        built = build(dist, api_url=args.api_url or DEFAULT_API_URL)
        print(f"built {len(built.files)} files into {dist}")
    s3 = boto3.client("s3")
    cloudfront = boto3.client("cloudfront") if args.distribution_id else None
    report = deploy(dist, args.bucket, s3, prefix=args.prefix, api_url=args.api_url, cloudfront=cloudfront,
                    distribution_id=args.distribution_id, dry_run=args.dry_run)
    plan = report.plan
    verb = "would " if args.dry_run else ""
    for item in plan.uploads:
        print(f"  {verb}upload  s3://{args.bucket}/{item.key}  ({item.content_type}; {item.cache_control})")
    for key in plan.deletes:
        print(f"  {verb}delete  s3://{args.bucket}/{key}")
    print(f"{len(plan.uploads)} uploaded, {len(plan.deletes)} deleted, {len(plan.unchanged)} unchanged"
          + (f"; invalidation {report.invalidation_id} for {', '.join(plan.invalidation_paths)}"
             if report.invalidation_id else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
