"""The two places cold objects live: a local folder and an S3-compatible bucket.

Both take keys already validated by :mod:`vitals.cold.keys` and offer the same small
set of operations; :class:`resources.cold_store.ColdStoreResource` picks one from its
URL. Writes are atomic in both: a reader sees the old object or the new one, never a
half-written file (local: temp file in the same folder + fsync + ``os.replace``; S3/R2:
one PUT).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from vitals.cold.keys import validate_prefix


class ColdStoreError(RuntimeError):
    """The cold store could not be reached or refused an operation."""


class ColdKeyMissingError(KeyError):
    """No object under this key; the message names the key and the store."""

    def __init__(self, key: str, where: str) -> None:
        super().__init__(key)
        self.key = key
        self.where = where

    def __str__(self) -> str:
        return f"cold store object {self.key!r} does not exist in {self.where}"


class ColdBackend(Protocol):
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def identities(self, prefix: str) -> dict[str, str]: ...
    def delete(self, key: str) -> None: ...
    def local_copy(self, key: str) -> Path: ...
    def uri(self, key: str) -> str: ...


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a hidden temp file in the same folder, fsync it, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


class LocalFolderBackend:
    """Objects as files under one root folder (the embedded default)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(os.path.abspath(os.path.expanduser(str(root))))

    def path(self, key: str) -> Path:
        path = Path(os.path.normpath(self.root / key))
        if path == self.root or self.root not in path.parents:  # belt and braces
            raise ColdStoreError(f"cold store key {key!r} resolves outside {self.root}")
        return path

    def uri(self, key: str) -> str:
        return str(self.path(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            _write_atomically(self.path(key), data)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise ColdStoreError(
                f"cannot write cold store key {key!r} under {self.root}: {exc}"
            ) from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ColdKeyMissingError(key, str(self.root)) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def _walk(self, start: Path) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in filenames:
                if not filename.startswith("."):
                    yield (Path(dirpath) / filename).relative_to(self.root).as_posix()

    def list_keys(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        start = self.root / folder if folder else self.root
        if not start.is_dir():
            return []
        return sorted(key for key in self._walk(start) if key.startswith(prefix))

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> ``local:{inode}-{size}-{mtime_ns}`` (every atomic rewrite changes it)."""
        found: dict[str, str] = {}
        for key in self.list_keys(prefix):
            try:
                stat = self.path(key).stat()
            except FileNotFoundError:
                continue  # deleted between listing and stat
            found[key] = f"local:{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}"
        return found

    def delete(self, key: str) -> None:
        path = self.path(key)
        if path.is_dir():
            raise ColdStoreError(
                f"cold store key {key!r} is a folder under {self.root}, not an object"
            )
        path.unlink(missing_ok=True)

    def local_copy(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise ColdKeyMissingError(key, str(self.root))
        return path


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_SAFE_ETAG = re.compile(r"[^A-Za-z0-9-]")


class S3Backend:
    """Objects in an S3-compatible bucket (AWS S3, Cloudflare R2, moto in tests).

    The client comes from dagster-aws's ``S3Resource`` so credentials follow the standard
    AWS chain (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` env vars, profiles) and
    ``endpoint_url`` points it at R2 or a test server; the code path is the same for all.
    """

    def __init__(
        self, bucket: str, prefix: str, *, endpoint_url: str | None, cache_dir: Path
    ) -> None:
        from dagster_aws.s3 import S3Resource

        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.cache_dir = cache_dir
        self.client: Any = S3Resource(endpoint_url=endpoint_url).get_client()

    @property
    def where(self) -> str:
        endpoint = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{endpoint}"

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _fail(self, action: str, key: str, exc: Exception) -> ColdStoreError:
        return ColdStoreError(f"cold store could not {action} {key!r} in {self.where}: {exc}")

    def put_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("write", key, exc) from exc

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            return response["Body"].read()
        except ClientError as exc:
            if _client_error_code(exc) in _MISSING_CODES:
                raise ColdKeyMissingError(key, self.where) from None
            raise self._fail("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("read", key, exc) from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if _client_error_code(exc) in _MISSING_CODES:
                return None
            raise self._fail("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("look up", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def list_keys(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        validate_prefix(prefix)
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

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> ``s3:{etag}-{size}`` from the listing itself (no request per object)."""
        from botocore.exceptions import BotoCoreError, ClientError

        validate_prefix(prefix)
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

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", key, exc) from exc

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
        from botocore.exceptions import BotoCoreError, ClientError

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
        _write_atomically(cached, data)
        for stale in folder.iterdir():
            if stale != cached and not stale.name.startswith("."):
                stale.unlink(missing_ok=True)
        return cached
