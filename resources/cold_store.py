"""The cold store: day files and raw pulls as objects in a local folder or S3 / R2.

One resource, two backends chosen by ``url``: a folder path (the embedded default) or
``s3://bucket/prefix`` (production, through dagster-aws; ``s3_endpoint_url`` points at
Cloudflare R2 in production and at a loopback S3 server in tests, same code path).
Every key is validated before use so no key can escape the store's root.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from vitals.cold.backends import (
    ColdBackend,
    ColdKeyMissingError,
    ColdStoreError,
    LocalFolderBackend,
    S3Backend,
)
from vitals.cold.keys import InvalidKeyError, validate_key, validate_prefix
from vitals.redact import redact_url

__all__ = [
    "ColdKeyMissingError",
    "ColdStoreError",
    "ColdStoreResource",
    "InvalidKeyError",
    "open_cold_backend",
]


def _split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket or "/" in bucket or not bucket.replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"cold store URL {redact_url(url)!r} has no valid bucket name")
    prefix = prefix.strip("/")
    if prefix:
        validate_prefix(prefix + "/")
        prefix += "/"
    return bucket, prefix


def open_cold_backend(url: str, *, s3_endpoint_url: str | None, cache_dir: Path) -> ColdBackend:
    """The backend for a cold store URL: a local folder, or ``s3://bucket/prefix``."""
    if not url or not url.strip():
        raise ValueError("cold store URL is empty: give a folder path or s3://bucket/prefix")
    if url.startswith("s3://"):
        bucket, prefix = _split_s3_url(url)
        return S3Backend(bucket, prefix, endpoint_url=s3_endpoint_url, cache_dir=cache_dir)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(
            f"cold store URL {redact_url(url)!r}: only a folder path, file:// or s3:// is supported"
        )
    return LocalFolderBackend(url.removeprefix("file://"))


class ColdStoreResource(dg.ConfigurableResource):
    """Objects (cold day files, raw pulls) in a local folder or an S3-compatible bucket.

    ``cache_dir`` holds downloaded copies of S3 objects for readers that need a file
    (DuckDB); it defaults to ``<VITALS_DATA_DIR>/cache/cold``.
    """

    url: str
    s3_endpoint_url: str | None = None
    cache_dir: str | None = None

    _backend: ColdBackend | None = PrivateAttr(default=None)

    def _store(self) -> ColdBackend:
        if self._backend is None:
            if self.cache_dir:
                cache = Path(self.cache_dir)
            else:
                from vitals.config import load_settings

                cache = load_settings().data_dir / "cache" / "cold"
            self._backend = open_cold_backend(
                self.url, s3_endpoint_url=self.s3_endpoint_url, cache_dir=cache
            )
        return self._backend

    @property
    def is_s3(self) -> bool:
        return self.url.startswith("s3://")

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (replacing any older object)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"cold store data for {key!r} must be bytes, got {type(data).__name__}")
        self._store().put_bytes(validate_key(key), bytes(data))

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; raises :class:`ColdKeyMissingError` naming the key if absent."""
        return self._store().get_bytes(validate_key(key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self._store().exists(validate_key(key))

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix`` (a string prefix, as in S3)."""
        return self._store().list_keys(validate_prefix(prefix))

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``, from one listing.

        The identity changes whenever the object is rewritten (local: inode, size and
        mtime; S3/R2: ETag and size), so a derived file (a rollup) can record which
        version of a cold file it describes and a reader can check it without opening it.
        """
        return self._store().identities(validate_prefix(prefix))

    def identity(self, key: str) -> str | None:
        """The version identity of one object, or ``None`` if absent."""
        return self.identities(validate_key(key)).get(key)

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (idempotent)."""
        self._store().delete(validate_key(key))

    def local_copy(self, key: str) -> Path:
        """A local file with the object's bytes (local: the file itself; S3: a cached download)."""
        return self._store().local_copy(validate_key(key))

    def uri(self, key: str) -> str:
        """Where the object lives: a file path, or ``s3://bucket/prefix/key``."""
        return self._store().uri(validate_key(key))
