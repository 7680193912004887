"""The cold store: day files, raw pulls, rollups and catalogues as objects by key.

One class over two backends chosen by ``url``: a folder path (the embedded default) or
``s3://bucket/prefix`` (production; ``s3_endpoint_url`` points at Cloudflare R2 in
production and at a loopback S3 server in tests, same code path). Every key is
validated here, once, before a backend sees it, so no key can escape the store's root.
The Dagster resource (:mod:`resources.cold_store`) only holds the settings and builds
one of these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vitals.cold.backends import ColdBackend, LocalFolderBackend
from vitals.cold.keys import validate_key, validate_prefix
from vitals.config import default_data_dir
from vitals.redact import redact_url


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``); refuses bad names."""
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket or not bucket.replace("-", "").replace(".", "").isalnum():
        raise ValueError(f"cold store URL {redact_url(url)!r} has no valid bucket name")
    prefix = prefix.strip("/")
    if prefix:
        validate_prefix(prefix + "/")
        prefix += "/"
    return bucket, prefix


def _open_backend(
    url: str, *, s3_endpoint_url: str | None, cache_dir: Path | None, s3_client: Any
) -> ColdBackend:
    """The backend for a store URL: a local folder, or ``s3://bucket/prefix``."""
    if not url or not url.strip():
        raise ValueError("cold store URL is empty: give a folder path or s3://bucket/prefix")
    if url.startswith("s3://"):
        bucket, prefix = split_s3_url(url)
        # boto3 is imported only for S3 stores (about 0.3 s): see vitals.cold.s3
        from vitals.cold.s3 import S3Backend, make_s3_client

        return S3Backend(
            bucket,
            prefix,
            client=s3_client if s3_client is not None else make_s3_client(s3_endpoint_url),
            cache_dir=cache_dir if cache_dir is not None else default_data_dir() / "cache" / "cold",
            endpoint_url=s3_endpoint_url,
        )
    if "://" in url and not url.startswith("file://"):
        raise ValueError(
            f"cold store URL {redact_url(url)!r}: only a folder path, file:// or s3:// is supported"
        )
    return LocalFolderBackend(url.removeprefix("file://"))


class ColdStore:
    """Objects (cold day files, raw pulls, rollups) in a local folder or an S3 bucket.

    ``cache_dir`` holds downloaded copies of S3 objects for readers that need a file
    (DuckDB); it defaults to ``<VITALS_DATA_DIR>/cache/cold``. ``s3_client`` hands down
    a ready boto3 S3 client; without one, a client is built on the standard AWS
    credential chain with ``s3_endpoint_url``. The URL is checked here, so a bad one
    fails when the store is built.
    """

    def __init__(
        self,
        url: str,
        *,
        s3_endpoint_url: str | None = None,
        cache_dir: Path | None = None,
        s3_client: Any = None,
    ) -> None:
        self.url = url
        self._backend = _open_backend(
            url, s3_endpoint_url=s3_endpoint_url, cache_dir=cache_dir, s3_client=s3_client
        )

    def __repr__(self) -> str:
        return f"ColdStore({redact_url(self.url)!r})"

    @property
    def is_s3(self) -> bool:
        """Whether objects live in a bucket (``s3://``) rather than a local folder."""
        return self.url.startswith("s3://")

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (replacing any older object)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"cold store data for {key!r} must be bytes, got {type(data).__name__}")
        self._backend.put_bytes(validate_key(key), bytes(data))

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; raises :class:`ColdKeyMissingError` naming the key if absent."""
        return self._backend.get_bytes(validate_key(key))

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        return self._backend.exists(validate_key(key))

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix`` (a string prefix, as in S3)."""
        return self._backend.list_keys(validate_prefix(prefix))

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``, from one listing.

        The identity changes whenever the object is rewritten (local: inode, size and
        mtime; S3/R2: ETag and size), so a derived file (a rollup) can record which
        version of a cold file it describes and a reader can check it without opening it.
        """
        return self._backend.identities(validate_prefix(prefix))

    def identity(self, key: str) -> str | None:
        """The version identity of one object, or ``None`` if absent."""
        return self._backend.identities(validate_key(key)).get(key)

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (idempotent)."""
        self._backend.delete(validate_key(key))

    def local_copy(self, key: str) -> Path:
        """A local file with the object's bytes (local: the file itself; S3: a cached download)."""
        return self._backend.local_copy(validate_key(key))

    def uri(self, key: str) -> str:
        """Where the object lives: a file path, or ``s3://bucket/prefix/key``."""
        return self._backend.uri(validate_key(key))
