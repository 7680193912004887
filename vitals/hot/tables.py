"""The hot store's tables as both backends write and read them.

One column list, one row builder and one upsert statement per table, so the SQLite and
PostgreSQL stores cannot drift apart; only the parameter placeholder differs (``?`` or
``%s``). Reads of samples differ on purpose (each backend's plan) and stay with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from vitals.hot.base import AcePointLike, ArchiveRecord
from vitals.names import fold_name

# Selected in PointRecord's field order, so ``PointRecord(*row)`` builds one.
POINT_RECORD_COLUMNS = "site, name, folded, id, data_type"
# Written by upsert_points, in the order of point_rows.
POINT_COLUMNS = (
    "site",
    "name",
    "folded",
    "data_type",
    "ace_point_id",
    "collect_enabled",
    "collect_interval",
    "ace_created",
    "ace_updated",
    "created_ms",
    "updated_ms",
)
SYNC_STATE_COLUMNS = ("site", "watermark_ms", "updated_ms")
ARCHIVE_COLUMNS = ("site", "day", "rows", "checksum", "key", "verified_at_ms")

PointRow = tuple[
    str, str, str, str | None, int | None, bool | None, int | None, str | None, str | None, int, int
]


def upsert_sql(
    table: str,
    columns: Sequence[str],
    *,
    key: Sequence[str],
    placeholder: str,
    keep: Sequence[str] = (),
) -> str:
    """Insert one row or, on a ``key`` conflict, update every column but ``key`` and ``keep``."""
    values = ", ".join([placeholder] * len(columns))
    updated = [c for c in columns if c not in key and c not in keep]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in updated)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def point_rows(site: str, points: Sequence[AcePointLike], *, now_ms: int) -> list[PointRow]:
    """One row per point, in the order of :data:`POINT_COLUMNS`."""
    return [
        (
            site,
            p.name,
            fold_name(p.name),
            p.point_type,
            p.point_id,
            None if p.collect_enabled is None else bool(p.collect_enabled),
            p.collect_interval,
            p.created,
            p.updated,
            now_ms,
            now_ms,
        )
        for p in points
    ]


LIST_SITES_SQL = "SELECT DISTINCT site FROM points ORDER BY site"


@dataclass(frozen=True)
class Statements:
    """The statements both backends run alike, in one backend's SQL style.

    ``placeholder`` is its parameter mark (``?`` or ``%s``); ``contains`` its test that
    the folded name holds the parameter as a literal substring (no LIKE wildcards).
    """

    placeholder: str
    contains: str

    @cached_property
    def upsert_points(self) -> str:
        """A point keeps its first-seen time; everything else follows ACE's listing."""
        return upsert_sql(
            "points",
            POINT_COLUMNS,
            key=("site", "name"),
            placeholder=self.placeholder,
            keep=("folded", "created_ms"),
        )

    @cached_property
    def set_watermark(self) -> str:
        """Set a site's watermark, replacing the one before."""
        return upsert_sql(
            "sync_state", SYNC_STATE_COLUMNS, key=("site",), placeholder=self.placeholder
        )

    @cached_property
    def record_archive(self) -> str:
        """Record a site-day's verified cold file, replacing the record before."""
        return upsert_sql(
            "archives", ARCHIVE_COLUMNS, key=("site", "day"), placeholder=self.placeholder
        )

    @cached_property
    def get_archive(self) -> str:
        """The archive row of one (site, day); :func:`archive_record` reads it."""
        mark = self.placeholder
        return f"SELECT {', '.join(ARCHIVE_COLUMNS)} FROM archives WHERE site = {mark} AND day = {mark}"

    def list_points(self, site: str, q: str | None, limit: int | None) -> tuple[str, list[object]]:
        """Query and parameters: a site's points by name, filtered by ``q``, at most ``limit``."""
        mark = self.placeholder
        sql = f"SELECT {POINT_RECORD_COLUMNS} FROM points WHERE site = {mark}"
        params: list[object] = [site]
        if q:
            sql += f" AND {self.contains.format(mark)}"
            params.append(q)
        sql += " ORDER BY name"
        if limit is not None:
            sql += f" LIMIT {mark}"
            params.append(limit)
        return sql, params


def archive_record(row: Sequence[Any]) -> ArchiveRecord:
    """The record of a row selected by :attr:`Statements.get_archive`.

    The day comes back as a ``date`` from PostgreSQL and as ISO text from SQLite.
    """
    site, day, rows, checksum, key, verified_at_ms = row
    return ArchiveRecord(
        site=site,
        day=day if isinstance(day, date) else date.fromisoformat(day),
        rows=int(rows),
        checksum=checksum,
        key=key,
        verified_at=datetime.fromtimestamp(verified_at_ms / 1000, tz=UTC),
    )
