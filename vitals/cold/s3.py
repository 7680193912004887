"""Cold objects in an S3-compatible bucket (AWS S3, Cloudflare R2, moto in tests).

Imported only for ``s3://`` stores: boto3 takes ~0.3 s to import, which a local-folder
store (the embedded default, the CLI) should not pay.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from typing_extensions import override

from vitals.cold.backends import ColdBackend, ColdKeyMissingError, ColdStoreError, write_atomically

# The retry policy dagster-aws's S3Resource gave the client before (standard mode, five
# attempts), kept so R2's occasional 5xx/throttling replies are retried as they were.
S3_MAX_ATTEMPTS = 5


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_SAFE_ETAG = re.compile(r"[^A-Za-z0-9-]")


def make_s3_client(endpoint_url: str | None) -> Any:
    """A boto3 S3 client on the standard AWS credential chain, retrying as dagster-aws did.

    Credentials come from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, a profile or
    an instance role; ``endpoint_url`` points the same code at Cloudflare R2 or a test
    server.
    """
    retries = {"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"}
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, config=Config(retries=retries)
    )


class S3Backend(ColdBackend):
    """Objects in an S3-compatible bucket (AWS S3, Cloudflare R2, moto in tests).

    ``client`` is a boto3 S3 client (:func:`make_s3_client`, or one handed down by the
    caller); ``endpoint_url`` only names the endpoint in messages.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        client: Any,
        cache_dir: Path,
        endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.cache_dir = cache_dir
        self.client = client

    @property
    def where(self) -> str:
        """The bucket, prefix and endpoint, for messages."""
        endpoint = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{endpoint}"

    @override
    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _fail(self, action: str, key: str, exc: Exception) -> ColdStoreError:
        return ColdStoreError(f"cold store could not {action} {key!r} in {self.where}: {exc}")

    @override
    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from exc

    @override
    def get_bytes(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            data: bytes = response["Body"].read()
        except ClientError as exc:
            if _client_error_code(exc) in _MISSING_CODES:
                raise ColdKeyMissingError(key, self.where) from None
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc
        return data

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(
                Bucket=self.bucket, Key=self.prefix + key
            )
        except ClientError as exc:
            if _client_error_code(exc) in _MISSING_CODES:
                return None
            raise self._fail("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("look up", key, exc) from exc
        return head

    @override
    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    @override
    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix, exc) from exc
        return sorted(keys)

    @override
    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> ``s3:{etag}-{size}`` from the listing itself (no request per object)."""
        found: dict[str, str] = {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    etag = str(item.get("ETag", "")).strip('"')
                    found[item["Key"][len(self.prefix) :]] = f"s3:{etag}-{item['Size']}"
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", prefix, exc) from exc
        return dict(sorted(found.items()))

    @override
    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", key, exc) from exc

    @override
    def local_copy(self, key: str) -> Path:
        """Download once into the cache; a changed object (new ETag or size) is fetched again."""
        head = self._head(key)
        if head is None:
            raise ColdKeyMissingError(key, self.where)
        folder = self.cache_dir / hashlib.sha256(self.uri(key).encode()).hexdigest()[:32]
        suffix = Path(key).suffix

        def cached_name(etag: str, size: int) -> Path:
            return folder / f"{_SAFE_ETAG.sub('', etag)}-{size}{suffix}"

        cached = cached_name(str(head.get("ETag", "")), int(head["ContentLength"]))
        if cached.is_file() and cached.stat().st_size == int(head["ContentLength"]):
            return cached
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            data = response["Body"].read()
        except ClientError as exc:
            if _client_error_code(exc) in _MISSING_CODES:
                raise ColdKeyMissingError(key, self.where) from None
            raise self._fail("download", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("download", key, exc) from exc
        if len(data) != int(response["ContentLength"]):
            raise ColdStoreError(
                f"download of {key!r} from {self.where} returned {len(data)} bytes, "
                f"expected {response['ContentLength']}"
            )
        cached = cached_name(str(response.get("ETag", "")), len(data))
        write_atomically(cached, data)
        for stale in folder.iterdir():
            if stale != cached and not stale.name.startswith("."):
                stale.unlink(missing_ok=True)
        return cached
