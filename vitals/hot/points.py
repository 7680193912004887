"""The point catalogue's rows as both backends write and read them.

One column list, one row builder and one upsert statement, so the SQLite and
PostgreSQL catalogues cannot drift apart; only the parameter placeholder differs.
"""

from __future__ import annotations

from collections.abc import Sequence

from vitals.hot.base import AcePointLike
from vitals.names import fold_name

# Selected in PointRecord's field order, so ``PointRecord(*row)`` builds one.
POINT_RECORD_COLUMNS = "site, name, folded, id, data_type"

_WRITTEN_COLUMNS = (
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
# Everything but the key and the first-seen time follows ACE's latest listing.
_UPDATED_COLUMNS = (
    "data_type",
    "ace_point_id",
    "collect_enabled",
    "collect_interval",
    "ace_created",
    "ace_updated",
    "updated_ms",
)

PointRow = tuple[
    str, str, str, str | None, int | None, bool | None, int | None, str | None, str | None, int, int
]


def point_rows(site: str, points: Sequence[AcePointLike], *, now_ms: int) -> list[PointRow]:
    """One row per point, in the column order of :func:`upsert_points_sql`."""
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


def upsert_points_sql(placeholder: str) -> str:
    """Insert-or-update of one point row, with the backend's parameter ``placeholder``."""
    values = ", ".join([placeholder] * len(_WRITTEN_COLUMNS))
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in _UPDATED_COLUMNS)
    return (
        f"INSERT INTO points ({', '.join(_WRITTEN_COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT (site, name) DO UPDATE SET {updates}"
    )
