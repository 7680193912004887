"""Reading the stored quality days: a site-day's rows, a series' summary, modes, flags.

The query layer reads ``quality/{site}/{YYYY}/{MM}/{DD}.parquet`` files (written by the
``point_quality`` asset); each read is cached by the file's version identity, so an
answer asking ``quality=true`` pays a dict lookup once a day's file has been read.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import date, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from vitals.quality.point_day import QUALITY_PREFIX, QUALITY_SCHEMA, quality_day_key, site_summary
from vitals.samples import day_of_ms

LATEST_LOOKBACK_DAYS = 7


class QualityReader(Protocol):
    """What reading quality files needs from the cold store."""

    def identities(self, prefix: str) -> dict[str, str]:
        """Key -> version identity for keys starting with ``prefix``."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes."""
        ...


_lock = threading.Lock()
_cache: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {}


def read_quality_day(cold: QualityReader, site: str, day: date) -> dict[str, dict[str, Any]] | None:
    """Point -> quality row of one site-day, or ``None`` when no file exists."""
    key = quality_day_key(site, day)
    identity = cold.identities(key).get(key)
    if identity is None:
        return None
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] == identity:
        return cached[1]
    table = pq.read_table(io.BytesIO(cold.get_bytes(key)))
    rows = {row["point_name"]: row for row in table.to_pylist()}
    with _lock:
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = (identity, rows)
    return rows


LATEST_TTL_S = 60.0  # a listing per site a minute at most (a LIST request on S3)
_latest: dict[tuple[str, str], tuple[float, date | None]] = {}


def _store_key(cold: QualityReader) -> str:
    """Where the store's quality files live (its URI), so two stores never share entries."""
    uri = getattr(cold, "uri", None)
    return str(uri(QUALITY_PREFIX + "store")) if callable(uri) else f"id:{id(cold)}"


def latest_quality_day(cold: QualityReader, site: str, until: date | None = None) -> date | None:
    """The newest day with a quality file, at most ``until``.

    Without ``until`` the answer is kept for ``LATEST_TTL_S`` per store and site: every
    plan asks it (inferred history modes), and a new day appears once a day.
    """
    if until is None:
        key = (_store_key(cold), site)
        with _lock:
            hit = _latest.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = _newest_day(cold, site, None)
        with _lock:
            _latest[key] = (time.monotonic() + LATEST_TTL_S, found)
        return found
    return _newest_day(cold, site, until)


def _newest_day(cold: QualityReader, site: str, until: date | None) -> date | None:
    newest: date | None = None
    for key in cold.identities(f"{QUALITY_PREFIX}{site}/"):
        parts = key[len(QUALITY_PREFIX) + len(site) + 1 :].removesuffix(".parquet").split("/")
        try:
            day = date(int(parts[0]), int(parts[1]), int(parts[2]))
        except (ValueError, IndexError):
            continue
        if (until is None or day <= until) and (newest is None or day > newest):
            newest = day
    return newest


def latest_inferred_modes(cold: QualityReader, site: str) -> dict[str, str]:
    """Point -> mode its newest quality day inferred from the data."""
    day = latest_quality_day(cold, site)
    rows = read_quality_day(cold, site, day) if day else None
    return {
        name: row["inferred_mode"] for name, row in (rows or {}).items() if row["inferred_mode"]
    }


def series_quality(
    cold: QualityReader, site: str, point: str, start_ms: int, end_ms: int
) -> dict[str, object]:
    """A point's quality over the UTC days of a window, from the stored quality days."""
    first, last = day_of_ms(start_ms), day_of_ms(end_ms - 1)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    found = []
    for day in days:
        rows = read_quality_day(cold, site, day)
        if rows is not None and point in rows:
            found.append(rows[point])
    coverage = [r["coverage"] for r in found if r["coverage"] is not None]
    return {
        "days": len(days),
        "days_reported": len(found),
        "coverage": round(sum(coverage) / len(coverage), 4) if coverage else None,
        "longest_gap_s": max((r["longest_gap_s"] for r in found), default=None),
        "stuck_s": max((r["stuck_s"] for r in found), default=None),
        "implausible": sum(r["implausible"] for r in found),
        "stale": found[-1]["stale"] if found else None,
        "stuck": any(r["stuck"] for r in found) if found else None,
    }


def quality_rows_json(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the API, sorted by point name."""
    return [rows[name] for name in sorted(rows)]


def summary_of_rows(rows: list[dict[str, Any]]) -> dict[str, float | int]:
    """The site-day figures of :func:`vitals.quality.point_day.site_summary` from rows."""
    return site_summary(pa.Table.from_pylist(rows, schema=QUALITY_SCHEMA))
