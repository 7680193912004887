"""Hot store records, errors and backend selection (no Dagster import).

Kept apart from :mod:`resources.hot_store` so worker processes and the query API can
open a backend without importing Dagster, and so both backends share one set of
records and errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import pyarrow as pa

from vitals.query import types as query_types
from vitals.redact import redact_url


@runtime_checkable
class AcePointLike(Protocol):
    """What the hot store needs from ``vitals.ace.client.AcePoint`` (duck-typed)."""

    name: str
    point_id: int | None
    point_type: str | None
    collect_enabled: bool
    collect_interval: int | None
    created: str | None
    updated: str | None


@dataclass(frozen=True)
class PointRecord:
    """One catalogued point; ``point_id`` is the hot store's own id, not ACE's."""

    site: str
    name: str
    folded: str
    point_id: int
    data_type: str | None


@dataclass(frozen=True)
class UpsertResult:
    """Outcome of one sample upsert.

    ``rows`` is the number of distinct (point, ts) keys written; ``unknown_points`` the
    number of samples skipped because their point is not in the site's catalogue.
    """

    rows: int
    unknown_points: int


@dataclass(frozen=True)
class ArchiveRecord:
    """A site-day written to the cold tier and verified by reading it back."""

    site: str
    day: date
    rows: int
    checksum: str
    key: str
    verified_at: datetime  # UTC


class UnknownPointError(query_types.UnknownPointError):
    """Point names that match nothing in a site's catalogue (HTTP 404)."""

    def __init__(self, site: str, names: Sequence[str]) -> None:
        self.site = site
        self.names = tuple(names)
        shown = ", ".join(repr(n) for n in self.names[:20])
        more = f" and {len(self.names) - 20} more" if len(self.names) > 20 else ""
        super().__init__(f"unknown point(s) for site {site!r}: {shown}{more}")


class AmbiguousPointError(query_types.AmbiguousPointError):
    """A name whose case-folded form matches more than one point (HTTP 409)."""

    def __init__(self, site: str, name: str, candidates: Sequence[str]) -> None:
        self.site = site
        self.name = name
        self.candidates = tuple(sorted(candidates))
        listed = ", ".join(repr(c) for c in self.candidates)
        super().__init__(
            f"point name {name!r} is ambiguous for site {site!r}: it matches {listed} "
            "when case is ignored; ask for one of them with its exact casing"
        )


class HotBackend(Protocol):
    """The methods each backend implements (arguments already validated)."""

    def schema_version(self) -> int: ...
    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int: ...
    def list_sites(self) -> list[str]: ...
    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]: ...
    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]: ...
    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult: ...
    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None
    ) -> pa.Table: ...
    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int: ...
    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int: ...
    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None: ...
    def latest_sample_ms(self, site: str) -> int | None: ...
    def get_watermark(self, site: str) -> int | None: ...
    def set_watermark(self, site: str, ts_ms: int) -> None: ...
    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None: ...
    def get_archive(self, site: str, day: date) -> ArchiveRecord | None: ...


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` selects the PostgreSQL backend."""
    return url.startswith(("postgresql://", "postgres://"))


def open_backend(url: str) -> HotBackend:
    """The backend for ``url`` (schema created or migrated on open)."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"hot store url must be a SQLite path or postgresql:// URL, got {url!r}")
    if is_postgres_url(url):
        from vitals.hot.postgres import PostgresHotStore

        return PostgresHotStore(url)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    if "://" in path:
        raise ValueError(
            f"hot store url {redact_url(url)!r} is neither a SQLite file path "
            "nor a postgresql:// URL"
        )
    from vitals.hot.sqlite import SqliteHotStore

    return SqliteHotStore(path)
