"""Where submitted packages (and what is derived from them) are kept.

``ArtifactStore`` is the port: bytes by key. ``dir:/path`` on the local stack (``DirectoryStore``),
``s3://bucket/prefix`` in AWS (``S3Store``, the artifacts bucket from infra/). Keys in use:

* ``<plugin>/<version>/<submission>.zip``: the package as submitted (evidence: never rewritten);
* ``results/<submission>.json``: what the checks function reported (hostile data, read bounded);
* ``deployments/<plugin>/<version>/<submission>.zip``: the Lambda code built from the package.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from chalicelib.core.errors import ConfigurationError


class ArtifactError(Exception):
    """The store could not be read or written (the vendor's error is its ``__cause__``)."""


class ArtifactTooLarge(ArtifactError):
    pass


class ArtifactStore(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def find(self, key: str, *, max_bytes: int) -> bytes | None:
        """The object at ``key``, None if there is none; ArtifactTooLarge past ``max_bytes``
        (checked before reading: the object may have been written by untrusted code)."""


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

    def find(self, key: str, *, max_bytes: int) -> bytes | None:
        path = self._path(key)
        if not path.is_file():
            return None
        if path.stat().st_size > max_bytes:
            raise ArtifactTooLarge(f"{key} is over {max_bytes} bytes")
        return path.read_bytes()


class S3Store(ArtifactStore):
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self._client = client
        self.bucket = bucket
        self._prefix = prefix.strip("/")

    def object_key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def put(self, key: str, data: bytes) -> None:
        content_type = "application/json" if key.endswith(".json") else "application/zip"
        self._client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data,
                                ContentType=content_type, ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return bytes(self._client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise ArtifactError(f"cannot read {key}: {exc}") from exc

    def find(self, key: str, *, max_bytes: int) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self.object_key(key))
            if int(head["ContentLength"]) > max_bytes:
                raise ArtifactTooLarge(f"{key} is {head['ContentLength']} bytes; at most {max_bytes} are read")
            # The version read is the version measured: a writer cannot swap in a larger one meanwhile.
            version = {"VersionId": head["VersionId"]} if head.get("VersionId") else {}
            body = self._client.get_object(Bucket=self.bucket, Key=self.object_key(key), **version)["Body"]
            data = bytes(body.read(max_bytes + 1))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise ArtifactError(f"cannot read {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise ArtifactError(f"cannot read {key}: {exc}") from exc
        if len(data) > max_bytes:
            raise ArtifactTooLarge(f"{key} is over {max_bytes} bytes")
        return data

    def presigned(self, method: str, key: str, *, seconds: int) -> str:
        """A URL that allows exactly one operation on exactly one object, signed by this role:
        what the checks function gets instead of any permission of its own."""
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        return str(self._client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": self.object_key(key)}, ExpiresIn=seconds))


def open_store(spec: str, region: str) -> ArtifactStore:
    if spec.startswith("dir:"):
        return DirectoryStore(Path(spec[4:]))
    if spec.startswith("s3://"):
        import boto3
        from botocore.config import Config

        bucket, _, prefix = spec[5:].partition("/")
        # SigV4 on the regional endpoint: presigned URLs must work through the VPC's S3 gateway endpoint.
        config = Config(signature_version="s3v4", s3={"addressing_style": "virtual"})
        return S3Store(boto3.client("s3", region_name=region, config=config), bucket, prefix)
    raise ConfigurationError("MF_ARTIFACT_STORE must be 'dir:/path' or 's3://bucket/prefix'")
