"""Hot store: recent samples in SQL, SQLite by default, PostgreSQL in production.

One Dagster resource, two real backends behind the same methods
(:mod:`vitals.hot.sqlite`, :mod:`vitals.hot.postgres`), chosen by ``url``: a
``postgresql://`` URL selects PostgreSQL, anything else is a SQLite file path
(``sqlite:///path`` is accepted too). The schema is created or migrated forward on
first use (:mod:`vitals.hot.schema`).

Point names are stored exactly as ACE sends them; look-ups fold case
(:func:`vitals.names.fold_name`). Samples are keyed by (point, ts ms): writing a key
again replaces its value, so every write is idempotent and the last write wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import PrivateAttr

from vitals.hot.arrow import check_sample_table
from vitals.hot.base import (
    AcePointLike,
    AmbiguousPointError,
    ArchiveRecord,
    HotBackend,
    PointRecord,
    UnknownPointError,
    UpsertResult,
    is_postgres_url,
    open_backend,
)
from vitals.hot.schema import HotSchemaError
from vitals.names import fold_name, validate_point_name, validate_site_name
from vitals.redact import redact_url
from vitals.samples import MS_PER_DAY, day_of_ms

__all__ = [
    "AcePointLike",
    "AmbiguousPointError",
    "ArchiveRecord",
    "HotSchemaError",
    "HotStoreResource",
    "PointRecord",
    "UnknownPointError",
    "UpsertResult",
    "is_postgres_url",
    "open_backend",
    "resolved_setting",
]


def resolved_setting(value: str, field: str) -> str:
    """The value behind a field bound as ``dg.EnvVar`` when the resource is used directly.

    Inside a run Dagster resolves the variable; called outside Dagster (the CLI, the
    HTTP API, tests) the field still holds the variable's name, which must never be
    taken for the value (a SQLite file called ``VITALS_HOT_STORE``).
    """
    if not isinstance(value, dg.EnvVar):
        return value
    resolved = value.get_value()
    if not resolved:
        raise ValueError(f"{field} is bound to ${value.env_var_name}, which is not set")
    return resolved


def _check_window(start_ms: int, end_ms: int) -> None:
    for label, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{label} must be an int (epoch ms), got {value!r}")
    if start_ms > end_ms:
        raise ValueError(f"window start {start_ms} is after its end {end_ms}")


class HotStoreResource(dg.ConfigurableResource):
    """Recent samples per site in SQL (SQLite file or PostgreSQL), one interface."""

    url: str  # may hold a password: bind as dg.EnvVar("VITALS_HOT_STORE")

    _backend: HotBackend | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Never show the URL's password (reprs end up in logs and tracebacks)."""
        for name, value in super().__repr_args__():
            masked = name == "url" and isinstance(value, str) and not isinstance(value, dg.EnvVar)
            yield name, (redact_url(value) if masked else value)

    def _store(self) -> HotBackend:
        if self._backend is None:
            self._backend = open_backend(resolved_setting(self.url, "hot store url"))
        return self._backend

    def schema_version(self) -> int:
        """The database's schema version (equal to the code's after opening)."""
        return self._store().schema_version()

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """Insert or update the site's point catalogue; returns how many were written."""
        validate_site_name(site)
        for point in points:
            validate_point_name(point.name)
        return self._store().upsert_points(site, points)

    def list_sites(self) -> list[str]:
        """Sites with a catalogue, sorted."""
        return self._store().list_sites()

    def list_points(
        self, site: str, q: str | None = None, limit: int | None = None
    ) -> list[PointRecord]:
        """Points of a site sorted by name; ``q`` is a case-insensitive literal substring."""
        validate_site_name(site)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise ValueError(f"limit must be a positive int, got {limit!r}")
        folded_q = fold_name(q) if q else None
        return self._store().list_points(site, folded_q, limit)

    def resolve_points(self, site: str, names: Sequence[str]) -> list[PointRecord]:
        """Resolve names in any casing to catalogued points, in the order asked.

        A name that matches a point exactly resolves to it. Otherwise its case-folded
        form must match exactly one point: none raises :class:`UnknownPointError` (all
        unknown names in one message), several raise :class:`AmbiguousPointError`
        naming every candidate.
        """
        validate_site_name(site)
        if isinstance(names, str):
            raise TypeError("names must be a sequence of point names, not one string")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"point names must be strings, got {name!r}")
        folded = {name: fold_name(name) for name in names}
        matches: dict[str, list[PointRecord]] = {}
        for record in self._store().points_by_folded(site, sorted(set(folded.values()))):
            matches.setdefault(record.folded, []).append(record)
        resolved: list[PointRecord] = []
        seen: set[int] = set()
        unknown: list[str] = []
        for name in names:
            candidates = matches.get(folded[name], [])
            exact = [c for c in candidates if c.name == name]
            if exact:
                record = exact[0]
            elif len(candidates) == 1:
                record = candidates[0]
            elif not candidates:
                unknown.append(name)
                continue
            else:
                raise AmbiguousPointError(site, name, [c.name for c in candidates])
            if record.point_id not in seen:
                seen.add(record.point_id)
                resolved.append(record)
        if unknown:
            raise UnknownPointError(site, unknown)
        return resolved

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Write a sample table; idempotent on (point, ts), the last write wins.

        Names must match the catalogue exactly (ACE sends exact names); rows of other
        points are skipped and counted in ``unknown_points``.
        """
        validate_site_name(site)
        check_sample_table(samples)
        return self._store().upsert_samples(site, samples)

    def read_samples(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        point_names: Sequence[str] | None = None,
    ) -> pa.Table:
        """Samples in [start_ms, end_ms) as a sample table sorted by (point_name, ts).

        ``point_names`` are exact stored names (resolve user input first); names not in
        the catalogue simply match nothing.
        """
        validate_site_name(site)
        _check_window(start_ms, end_ms)
        if isinstance(point_names, str):
            raise TypeError("point_names must be a sequence of names, not one string")
        return self._store().read_samples(site, start_ms, end_ms, point_names)

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Number of samples of the site in [start_ms, end_ms)."""
        validate_site_name(site)
        _check_window(start_ms, end_ms)
        return self._store().count_samples(site, start_ms, end_ms)

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Delete the site's samples in [start_ms, end_ms) in one transaction."""
        validate_site_name(site)
        _check_window(start_ms, end_ms)
        return self._store().delete_samples(site, start_ms, end_ms)

    def days_with_samples(self, site: str, before_ms: int) -> list[date]:
        """UTC days holding samples of the site earlier than ``before_ms``, ascending.

        Probes day by day (one index seek per point per probe) instead of scanning the
        samples, so it costs the number of non-empty days, not the number of rows.
        """
        validate_site_name(site)
        if isinstance(before_ms, bool) or not isinstance(before_ms, int):
            raise TypeError(f"before_ms must be an int (epoch ms), got {before_ms!r}")
        store = self._store()
        days: list[date] = []
        cursor = -(2**62)
        while True:
            found = store.next_sample_ms(site, cursor, before_ms)
            if found is None:
                return days
            days.append(day_of_ms(found))
            cursor = (found // MS_PER_DAY + 1) * MS_PER_DAY

    def latest_sample_ms(self, site: str) -> int | None:
        """Timestamp of the site's newest sample, or None when it has none."""
        validate_site_name(site)
        return self._store().latest_sample_ms(site)

    def get_watermark(self, site: str) -> int | None:
        """The site's sync watermark (epoch ms) or None before the first sync."""
        validate_site_name(site)
        return self._store().get_watermark(site)

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """Set the site's sync watermark (exactly; moving it back is allowed and safe)."""
        validate_site_name(site)
        if isinstance(ts_ms, bool) or not isinstance(ts_ms, int):
            raise TypeError(f"watermark must be an int (epoch ms), got {ts_ms!r}")
        self._store().set_watermark(site, ts_ms)

    def record_archive(self, site: str, day: date, *, rows: int, checksum: str, key: str) -> None:
        """Record that a site-day's cold file was written and verified (replaces older)."""
        validate_site_name(site)
        if not isinstance(day, date) or isinstance(day, datetime):
            raise TypeError(f"day must be a datetime.date, got {day!r}")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"archive rows must be a non-negative int, got {rows!r}")
        if not checksum or not key:
            raise ValueError(f"archive checksum and key are required, got {checksum!r}, {key!r}")
        self._store().record_archive(site, day, rows, checksum, key)

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """The archive record of a site-day, or None if it was never archived."""
        validate_site_name(site)
        return self._store().get_archive(site, day)
