"""Hot store records and the backend protocol, shared by both backends and the store.

The backends import this module; only :mod:`vitals.hot.store`, which chooses a backend
by URL, imports them, so no import runs back up.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import pyarrow as pa


class AcePointLike(Protocol):
    """What the catalogue keeps of a point as ACE lists it (``AcePoint``, duck-typed)."""

    @property
    def name(self) -> str:
        """The point's name exactly as ACE sends it."""
        ...

    @property
    def point_id(self) -> int | None:
        """ACE's own id of the point."""
        ...

    @property
    def point_type(self) -> str | None:
        """ACE's data type of the point (kept as the record's ``data_type``)."""
        ...

    @property
    def collect_enabled(self) -> bool | None:
        """Whether ACE collects the point."""
        ...

    @property
    def collect_interval(self) -> int | None:
        """ACE's collection interval in seconds."""
        ...

    @property
    def created(self) -> str | None:
        """When ACE created the point (its own text)."""
        ...

    @property
    def updated(self) -> str | None:
        """When ACE last changed the point (its own text)."""
        ...


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


class HotBackend(Protocol):
    """What each backend implements; :class:`vitals.hot.store.HotStore` validates first.

    Sites, names and windows reach a backend already checked, windows as half-open
    ``[start_ms, end_ms)`` epoch-ms ranges, names as stored (exact case).
    """

    def schema_version(self) -> int:
        """The database's schema version."""
        ...

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """Insert or update catalogue rows; returns how many were written."""
        ...

    def list_sites(self) -> list[str]:
        """Sites with a catalogue, sorted."""
        ...

    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]:
        """Points by name whose folded name holds the folded ``q`` literally."""
        ...

    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]:
        """Points whose folded name is one of ``folded``, by name."""
        ...

    def catalogue_version(self) -> Hashable | None:
        """A value that changes whenever the catalogue may have changed, or ``None``.

        Only for a backend that can tell without a round trip's cost (SQLite:
        ``PRAGMA data_version``); ``None`` makes every name look-up ask the database.
        """
        ...

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Write a checked sample table; idempotent on (point, ts), the last write wins."""
        ...

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None
    ) -> pa.Table:
        """Samples in the window sorted by (point_name, ts); None reads every point."""
        ...

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Number of samples in the window."""
        ...

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Delete the window's samples in one transaction; returns how many."""
        ...

    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None:
        """Earliest sample time in ``[from_ms, before_ms)``, by index seeks, not a scan."""
        ...

    def latest_sample_ms(self, site: str) -> int | None:
        """Time of the site's newest sample."""
        ...

    def get_watermark(self, site: str) -> int | None:
        """The site's sync watermark."""
        ...

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """Set the site's sync watermark."""
        ...

    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None:
        """Record a verified cold file for a site-day (replacing an older record)."""
        ...

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """The archive record of a site-day."""
        ...


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` selects the PostgreSQL backend."""
    return url.startswith(("postgresql://", "postgres://"))
