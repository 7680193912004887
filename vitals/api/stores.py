"""The stores the API serves from, built from the library (no Dagster resources).

``open_hot_store`` and ``open_cold_store`` are the API's only constructors of stores;
``vitals.hot.store.HotStore`` and ``vitals.cold.store.ColdStore`` replace the interim
classes below when they land (point these two functions at them and delete the rest).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from vitals.cold.backends import ColdBackend, LocalFolderBackend, S3Backend
from vitals.cold.keys import validate_key, validate_prefix
from vitals.hot.base import (
    AmbiguousPointError,
    HotBackend,
    PointRecord,
    UnknownPointError,
    open_backend,
)
from vitals.names import fold_name
from vitals.redact import redact_url


class InterimHotStore:
    """The hot store's read side over :func:`vitals.hot.base.open_backend` (interim)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._backend: HotBackend | None = None

    def _store(self) -> HotBackend:
        if self._backend is None:  # opened on first use: a broken store fails a request
            self._backend = open_backend(self.url)
        return self._backend

    def schema_version(self) -> int:
        """The database's schema version."""
        return self._store().schema_version()

    def list_sites(self) -> list[str]:
        """Sites with a catalogue, sorted."""
        return self._store().list_sites()

    def list_points(
        self, site: str, q: str | None = None, limit: int | None = None
    ) -> list[PointRecord]:
        """Points of a site sorted by name; ``q`` is a case-insensitive substring."""
        return self._store().list_points(site, fold_name(q) if q else None, limit)

    def resolve_points(self, site: str, names: Sequence[str]) -> list[PointRecord]:
        """Names in any casing to catalogued points: exact name first, else one folded match."""
        folded = {name: fold_name(name) for name in names}
        matches: dict[str, list[PointRecord]] = {}
        for record in self._store().points_by_folded(site, sorted(set(folded.values()))):
            matches.setdefault(record.folded, []).append(record)
        resolved: dict[int, PointRecord] = {}
        unknown: list[str] = []
        for name in names:
            candidates = matches.get(folded[name], [])
            exact = [c for c in candidates if c.name == name]
            if not exact and len(candidates) > 1:
                raise AmbiguousPointError(site, name, [c.name for c in candidates])
            if exact or candidates:
                record = (exact or candidates)[0]
                resolved.setdefault(record.point_id, record)
            else:
                unknown.append(name)
        if unknown:
            raise UnknownPointError(site, unknown)
        return list(resolved.values())

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None = None
    ) -> pa.Table:
        """Samples in [start_ms, end_ms) sorted by (point_name, ts)."""
        return self._store().read_samples(site, start_ms, end_ms, point_names)


class InterimColdStore:
    """The cold store's read side over :mod:`vitals.cold.backends` (interim)."""

    def __init__(self, backend: ColdBackend) -> None:
        self._backend = backend

    def list_keys(self, prefix: str) -> list[str]:
        """Sorted keys starting with ``prefix``."""
        return self._backend.list_keys(validate_prefix(prefix))

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``."""
        return self._backend.identities(validate_prefix(prefix))

    def local_copy(self, key: str) -> Path:
        """A local file with the object's bytes (S3: a cached download)."""
        return self._backend.local_copy(validate_key(key))


def open_hot_store(url: str) -> InterimHotStore:
    """The hot store at ``url`` (a SQLite path or a postgresql:// URL)."""
    return InterimHotStore(url)


def open_cold_store(url: str, *, s3_endpoint_url: str | None, cache_dir: Path) -> InterimColdStore:
    """The cold store at ``url``: a folder, ``file://`` or ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"cold store URL {redact_url(url)!r} has no bucket name")
        prefix = prefix.strip("/")
        prefix = validate_prefix(prefix + "/") if prefix else ""
        backend: ColdBackend = S3Backend(
            bucket, prefix, endpoint_url=s3_endpoint_url, cache_dir=cache_dir
        )
    elif "://" in url and not url.startswith("file://"):
        raise ValueError(
            f"cold store URL {redact_url(url)!r}: only a folder path, file:// or s3:// is supported"
        )
    else:
        backend = LocalFolderBackend(url.removeprefix("file://"))
    return InterimColdStore(backend)
