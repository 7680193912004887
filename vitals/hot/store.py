"""The hot store: recent samples per site in SQL, SQLite by default, PostgreSQL in production.

One class, two real backends behind the same methods (:mod:`vitals.hot.sqlite`,
:mod:`vitals.hot.postgres`), chosen by URL: a ``postgresql://`` URL selects PostgreSQL,
anything else is a SQLite file path (``sqlite:///path`` is accepted too). The backend
is opened on first use, when the schema is created or migrated forward
(:mod:`vitals.hot.schema`), so building a store never fails on an unreachable database.

Every argument is checked here, once, before a backend sees it. Point names are stored
exactly as ACE sends them; look-ups fold case (:func:`vitals.names.fold_name`). Samples
are keyed by (point, ts ms): writing a key again replaces its value, so every write is
idempotent and the last write wins (``docs/design.md``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import date, datetime

import pyarrow as pa

from vitals.hot.base import (
    AcePointLike,
    ArchiveRecord,
    HotBackend,
    PointRecord,
    UpsertResult,
    is_postgres_url,
)
from vitals.hot.catalogue_cache import CatalogueCache
from vitals.hot.postgres import PostgresHotStore
from vitals.hot.sqlite import SqliteHotStore
from vitals.names import (
    AmbiguousPointError,
    UnknownPointError,
    fold_name,
    validate_point_name,
    validate_site_name,
)
from vitals.redact import redact_url
from vitals.samples import MS_PER_DAY, check_sample_table, day_of_ms
from vitals.windows import check_window

_SHOWN_UNKNOWN = 20  # unknown names listed in one message


def open_backend(url: str) -> HotBackend:
    """The backend for ``url``, its schema created or migrated on open."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"hot store url must be a SQLite path or postgresql:// URL, got {url!r}")
    if is_postgres_url(url):
        return PostgresHotStore(url)
    path = url.removeprefix("sqlite:///")
    if "://" in path:
        raise ValueError(
            f"hot store url {redact_url(url)!r} is neither a SQLite file path "
            "nor a postgresql:// URL"
        )
    return SqliteHotStore(path)


def _check_epoch_ms(label: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int (epoch ms), got {value!r}")


def _unknown_points(site: str, names: Sequence[str]) -> UnknownPointError:
    shown = ", ".join(repr(n) for n in names[:_SHOWN_UNKNOWN])
    more = f" and {len(names) - _SHOWN_UNKNOWN} more" if len(names) > _SHOWN_UNKNOWN else ""
    return UnknownPointError(f"unknown point(s) for site {site!r}: {shown}{more}")


def _ambiguous_point(site: str, name: str, candidates: Sequence[str]) -> AmbiguousPointError:
    listed = ", ".join(repr(c) for c in sorted(candidates))
    return AmbiguousPointError(
        f"point name {name!r} is ambiguous for site {site!r}: it matches {listed} "
        "when case is ignored; ask for one of them with its exact casing"
    )


class HotStore:
    """Recent samples per site in SQL (SQLite file or PostgreSQL), one interface."""

    def __init__(self, url: str) -> None:
        self.url = url  # may hold a password: never shown (see __repr__)
        self._opened: HotBackend | None = None
        self._catalogues = CatalogueCache()  # name look-ups without SQL (see _matches)

    def __repr__(self) -> str:
        return f"HotStore(url={redact_url(self.url)!r})"

    @property
    def is_local(self) -> bool:
        """Whether the store is a SQLite file on this host (no network between us and it)."""
        return not is_postgres_url(self.url)

    def _backend(self) -> HotBackend:
        if self._opened is None:
            self._opened = open_backend(self.url)
        return self._opened

    def _window(self, site: str, start_ms: int, end_ms: int) -> None:
        validate_site_name(site)
        check_window(start_ms, end_ms, subject=f"hot store site {site!r}", allow_empty=True)

    def schema_version(self) -> int:
        """The database's schema version (equal to the code's after opening)."""
        return self._backend().schema_version()

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """Insert or update the site's point catalogue; returns how many were written."""
        validate_site_name(site)
        for point in points:
            validate_point_name(point.name)
        return self._backend().upsert_points(site, points)

    def list_sites(self) -> list[str]:
        """Sites with a catalogue, sorted."""
        return self._backend().list_sites()

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
        return self._backend().list_points(site, folded_q, limit)

    def resolve_points(self, site: str, names: Sequence[str]) -> list[PointRecord]:
        """Resolve names in any casing to catalogued points, in the order asked.

        A name that matches a point exactly resolves to it. Otherwise its case-folded
        form must match exactly one point: none raises :class:`UnknownPointError` (all
        unknown names in one message), several raise :class:`AmbiguousPointError`
        naming every candidate. A point asked for twice is returned once.
        """
        validate_site_name(site)
        if isinstance(names, str):
            raise TypeError("names must be a sequence of point names, not one string")
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"point names must be strings, got {name!r}")
        folded = {name: fold_name(name) for name in names}
        matches = self._matches(site, sorted(set(folded.values())))
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
                raise _ambiguous_point(site, name, [c.name for c in candidates])
            if record.point_id not in seen:
                seen.add(record.point_id)
                resolved.append(record)
        if unknown:
            raise _unknown_points(site, unknown)
        return resolved

    def catalogue_token(self) -> Hashable | None:
        """A value that moves whenever any catalogue may have changed; ``None``: unknown.

        Cheap where the backend can tell (SQLite), so callers may keep what they derived
        from resolved names (the API's plans) while it stays equal.
        """
        return self._backend().catalogue_version()

    def warm_catalogue_probe(self) -> None:
        """Open the backend and its catalogue probe now (the API does it before requests)."""
        self._backend().catalogue_version()

    def _matches(self, site: str, folded: list[str]) -> dict[str, list[PointRecord]]:
        """Folded name -> its points, in name order.

        From the site's snapshot when the backend can prove it current
        (:mod:`vitals.hot.catalogue_cache`), else from the database.
        """
        backend = self._backend()
        version = backend.catalogue_version()
        if version is not None:
            held = self._catalogues.site(
                site, version, lambda: backend.list_points(site, None, None)
            )
            return held.matches(folded)
        matches: dict[str, list[PointRecord]] = {}
        for record in backend.points_by_folded(site, folded):
            matches.setdefault(record.folded, []).append(record)
        return matches

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Write a sample table; idempotent on (point, ts), the last write wins.

        Names must match the catalogue exactly (ACE sends exact names); rows of other
        points are skipped and counted in ``unknown_points``.
        """
        validate_site_name(site)
        check_sample_table(samples)
        return self._backend().upsert_samples(site, samples)

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
        self._window(site, start_ms, end_ms)
        if isinstance(point_names, str):
            raise TypeError("point_names must be a sequence of names, not one string")
        return self._backend().read_samples(site, start_ms, end_ms, point_names)

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Number of samples of the site in [start_ms, end_ms)."""
        self._window(site, start_ms, end_ms)
        return self._backend().count_samples(site, start_ms, end_ms)

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """Delete the site's samples in [start_ms, end_ms) in one transaction."""
        self._window(site, start_ms, end_ms)
        return self._backend().delete_samples(site, start_ms, end_ms)

    def days_with_samples(self, site: str, before_ms: int) -> list[date]:
        """UTC days holding samples of the site earlier than ``before_ms``, ascending.

        Probes day by day (one index seek per point per probe) instead of scanning the
        samples, so it costs the number of non-empty days, not the number of rows.
        """
        validate_site_name(site)
        _check_epoch_ms("before_ms", before_ms)
        backend = self._backend()
        days: list[date] = []
        cursor = -(2**62)
        while True:
            found = backend.next_sample_ms(site, cursor, before_ms)
            if found is None:
                return days
            days.append(day_of_ms(found))
            cursor = (found // MS_PER_DAY + 1) * MS_PER_DAY

    def latest_sample_ms(self, site: str) -> int | None:
        """Timestamp of the site's newest sample, or None when it has none."""
        validate_site_name(site)
        return self._backend().latest_sample_ms(site)

    def get_watermark(self, site: str) -> int | None:
        """The site's sync watermark (epoch ms) or None before the first sync."""
        validate_site_name(site)
        return self._backend().get_watermark(site)

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """Set the site's sync watermark (exactly; moving it back is allowed and safe)."""
        validate_site_name(site)
        _check_epoch_ms("watermark", ts_ms)
        self._backend().set_watermark(site, ts_ms)

    def record_archive(self, site: str, day: date, *, rows: int, checksum: str, key: str) -> None:
        """Record that a site-day's cold file was written and verified (replaces older)."""
        validate_site_name(site)
        if not isinstance(day, date) or isinstance(day, datetime):
            raise TypeError(f"day must be a datetime.date, got {day!r}")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"archive rows must be a non-negative int, got {rows!r}")
        if not checksum or not key:
            raise ValueError(f"archive checksum and key are required, got {checksum!r}, {key!r}")
        self._backend().record_archive(site, day, rows, checksum, key)

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """The archive record of a site-day, or None if it was never archived."""
        validate_site_name(site)
        return self._backend().get_archive(site, day)
