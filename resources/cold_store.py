"""The cold store as a Dagster resource: its settings, and the library store they build.

The logic (URL rules, key validation, the local-folder and S3 backends) lives in
:class:`vitals.cold.store.ColdStore`; this resource holds the configuration Dagster
shows and checks, builds one store per process on first use, and offers the store's
methods under the same names so asset bodies can call them directly.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from vitals.cold.store import ColdStore


class ColdStoreResource(dg.ConfigurableResource["ColdStoreResource"]):
    """Objects (cold day files, raw pulls) in a local folder or an S3-compatible bucket.

    ``url`` is a folder path or ``s3://bucket/prefix``; ``s3_endpoint_url`` points the
    S3 client at Cloudflare R2 or a test server; ``cache_dir`` holds downloaded copies of
    S3 objects (default ``<VITALS_DATA_DIR>/cache/cold``).
    """

    url: str
    s3_endpoint_url: str | None = None
    cache_dir: str | None = None

    _store: ColdStore | None = PrivateAttr(default=None)

    @property
    def store(self) -> ColdStore:
        """The library store these settings describe (built once, on first use)."""
        if self._store is None:
            self._store = ColdStore(
                self.url,
                s3_endpoint_url=self.s3_endpoint_url,
                cache_dir=Path(self.cache_dir) if self.cache_dir else None,
            )
        return self._store

    @property
    def is_s3(self) -> bool:
        """Whether objects live in a bucket (``s3://``) rather than a local folder."""
        return self.store.is_s3

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (:meth:`ColdStore.put_bytes`)."""
        self.store.put_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes (:meth:`ColdStore.get_bytes`)."""
        return self.store.get_bytes(key)

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key`` (:meth:`ColdStore.exists`)."""
        return self.store.exists(key)

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix`` (:meth:`ColdStore.list_keys`)."""
        return self.store.list_keys(prefix)

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity under ``prefix`` (:meth:`ColdStore.identities`)."""
        return self.store.identities(prefix)

    def identity(self, key: str) -> str | None:
        """The version identity of one object, or ``None`` (:meth:`ColdStore.identity`)."""
        return self.store.identity(key)

    def delete(self, key: str) -> None:
        """Remove the object, idempotently (:meth:`ColdStore.delete`)."""
        self.store.delete(key)

    def local_copy(self, key: str) -> Path:
        """A local file with the object's bytes (:meth:`ColdStore.local_copy`)."""
        return self.store.local_copy(key)

    def uri(self, key: str) -> str:
        """Where the object lives (:meth:`ColdStore.uri`)."""
        return self.store.uri(key)
