"""Where submitted packages are kept, and how an approved one is deployed.

* ``ArtifactStore``: the package bytes, by key. ``dir:/path`` on the local stack, ``s3://bucket/prefix``
  in AWS (the artifacts bucket from infra/).
* ``LocalDeployer``: the local runtime runs an approved package from ``<root>/<plugin>/<version>/``,
  extracted once, atomically (a temporary folder renamed into place), so a half-extracted
  package is never run and deploying twice is a no-op.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from mocklib_plugin_sdk.packaging import extract_package

from chalicelib.core.errors import ConfigurationError


class ArtifactStore(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...


class DirectoryStore(ArtifactStore):
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"artifact key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class S3Store(ArtifactStore):
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self._bucket, Key=self._key(key), Body=data,
                                ContentType="application/zip", ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        return bytes(self._client.get_object(Bucket=self._bucket, Key=self._key(key))["Body"].read())


def open_store(spec: str, region: str) -> ArtifactStore:
    if spec.startswith("dir:"):
        return DirectoryStore(Path(spec[4:]))
    if spec.startswith("s3://"):
        import boto3

        bucket, _, prefix = spec[5:].partition("/")
        return S3Store(boto3.client("s3", region_name=region), bucket, prefix)
    raise ConfigurationError("MF_ARTIFACT_STORE must be 'dir:/path' or 's3://bucket/prefix'")


class LocalDeployer:
    def __init__(self, root: Path) -> None:
        self.root = str(root)

    def deploy(self, plugin: str, version: str, package: bytes) -> None:
        target = Path(self.root) / plugin / version
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=target.parent))
        try:
            extract_package(package, staging)
            staging.rename(target)
        except OSError:
            if not target.exists():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
