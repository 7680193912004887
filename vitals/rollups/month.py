"""Month rollup files: a site-month's 1 h and 1 d rollups in one Parquet file.

A year-long chart at 1 h reading day rollups opens 365 files (and, to prove each is
current, 365 cold-file footers): ~1.5 s before the caches are warm. A month file holds the
same rows for up to 31 days, so the same chart opens 12 files, and each day in it is
tied to the exact cold file version it describes by that file's version identity
(``ColdStore.identities``: inode/size/mtime locally, ETag/size on S3), which the
query engine compares against one directory listing, without opening any cold file.

Key: ``rollup_months/{site}/{YYYY}/{MM}.parquet`` (:func:`vitals.cold.keys.rollup_month_key`).
Columns and sort are those of the day rollups (``ROLLUP_SCHEMA``, sorted interval, point,
bucket), 1 h and 1 d only. Key-value metadata ``vitals.rollup.month_days`` maps each
included day (ISO date) to the cold file identity its rows were built from. A day that is
missing from it, or whose cold file has changed since, is answered from its day rollup or
raw data instead: a stale month file is slow, never wrong. A day rollup of layout 1 (no M4
columns) is left out of a month file of layout 2 (counted as skipped): its aggregates come
from the day rollup until ``cold_rollups`` rebuilds it (docs/rollups.md, "Layout versions").
"""

from __future__ import annotations

import io
import json
import time
from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.cold.keys import (
    ROLLUP_MONTH_PREFIX,
    cold_day_key,
    cold_month_prefix,
    rollup_day_key,
    rollup_month_key,
)
from vitals.cold.point_reads import file_index
from vitals.cold.store import ColdStore
from vitals.names import validate_site_name
from vitals.rollups.day import (
    META_SITE,
    META_SOURCE_IDENTITY,
    META_VERSION,
    ROLLUP_SCHEMA,
    ROLLUP_SCHEMA_VERSION,
    write_rollup_parquet,
)

MONTH_INTERVALS_MS: tuple[int, ...] = (3_600_000, 86_400_000)
# 1 h: ~11 points of a 31-day month per group (a few points read a few groups of 12 files);
# 1 d: one larger section. Measured against the footer size: 3.4 M rows at 1 h for 4,600
# points make ~420 groups.
MONTH_ROWS_PER_GROUP: dict[int, int] = {3_600_000: 8_192, 86_400_000: 16_384}
META_MONTH = b"vitals.rollup.month"
META_MONTH_DAYS = b"vitals.rollup.month_days"


@dataclass(frozen=True)
class MonthCompaction:
    """What compacting one site-month did (asset metadata)."""

    key: str
    days: int
    skipped_days: int
    rows: int
    bytes: int
    seconds: float


def month_file_bytes(
    site: str, year: int, month: int, days: dict[date, tuple[str, pa.Table]]
) -> bytes:
    """Parquet bytes of one month file from per-day (cold identity, rollup table) parts."""
    validate_site_name(site)
    parts, identities = [], {}
    for day, (identity, table) in sorted(days.items()):
        if (day.year, day.month) != (year, month):
            raise ValueError(f"day {day} is not in month {year}-{month:02d}")
        mask = pc.is_in(
            table.column("interval_ms"), value_set=pa.array(MONTH_INTERVALS_MS, pa.int64())
        )
        parts.append(table.select(ROLLUP_SCHEMA.names).cast(ROLLUP_SCHEMA).filter(mask))
        identities[day.isoformat()] = identity
    table = pa.concat_tables(parts) if parts else ROLLUP_SCHEMA.empty_table()
    table = table.sort_by(
        [("interval_ms", "ascending"), ("point_name", "ascending"), ("bucket_ts", "ascending")]
    )
    table = table.replace_schema_metadata(
        {
            META_VERSION: ROLLUP_SCHEMA_VERSION.encode(),
            META_SITE: site.encode(),
            META_MONTH: f"{year:04d}-{month:02d}".encode(),
            META_MONTH_DAYS: json.dumps(identities, sort_keys=True).encode(),
        }
    )
    return write_rollup_parquet(table, MONTH_ROWS_PER_GROUP)


def month_day_identities(path: Path) -> dict[str, str]:
    """ISO day -> cold file identity for every day a month file holds (cached footer).

    An unreadable file holds no day: its days are answered from day rollups or raw data.
    """
    try:
        raw = file_index(path).key_values.get(META_MONTH_DAYS.decode())
    except (pa.ArrowInvalid, OSError):
        return {}
    if not raw:
        return {}
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def compact_rollup_month(
    cold_store: ColdStore, site: str, year: int, month: int
) -> MonthCompaction:
    """(Re)build one site-month's month file from its day rollups.

    A day is included only if its day rollup recorded the identity of the cold file it was
    built from and that identity is still the cold file's current one; others are counted
    as skipped (the engine reads their day rollups or raw data). Safe to run concurrently
    with archival: a cold file rewritten meanwhile has a new identity, so its stale rows
    are never used.
    """
    began = time.monotonic()
    key = rollup_month_key(site, year, month)
    cold_ids = cold_store.identities(cold_month_prefix(site, year, month))
    parts: dict[date, tuple[str, pa.Table]] = {}
    skipped = 0
    for number in range(1, monthrange(year, month)[1] + 1):
        day = date(year, month, number)
        identity = cold_ids.get(cold_day_key(site, day))
        if identity is None:
            continue
        rollup_key = rollup_day_key(site, day)
        if not cold_store.exists(rollup_key):
            skipped += 1
            continue
        day_file = io.BytesIO(cold_store.get_bytes(rollup_key))
        try:
            schema = pq.read_schema(day_file)
            recorded = (schema.metadata or {}).get(META_SOURCE_IDENTITY)
            if recorded is None or recorded.decode() != identity:
                skipped += 1
                continue
            if not set(ROLLUP_SCHEMA.names) <= set(schema.names):
                skipped += 1  # an older layout: rebuilt by cold_rollups (docs/rollups.md)
                continue
            # row-group statistics on interval_ms skip the 15 min section unread
            wanted = pc.field("interval_ms").isin(list(MONTH_INTERVALS_MS))
            parts[day] = (identity, pq.read_table(day_file, filters=wanted))
        except (pa.ArrowInvalid, OSError):
            skipped += 1  # an unreadable day rollup: the next cold_rollups run rebuilds it
    data = month_file_bytes(site, year, month, parts)
    if parts or cold_store.exists(key):
        cold_store.put_bytes(key, data)
    rows = pq.read_metadata(io.BytesIO(data)).num_rows
    return MonthCompaction(
        key=key,
        days=len(parts),
        skipped_days=skipped,
        rows=rows,
        bytes=len(data),
        seconds=round(time.monotonic() - began, 3),
    )


def warm_month_files(cold_store: ColdStore, *, months_per_site: int = 36) -> int:
    """Parse the footers of each site's newest month files into the process cache.

    Run once at API start-up (in the background) so the first year-long chart after a
    restart does not pay ~7 ms of footer parsing per month. Returns files warmed.
    """
    by_site: dict[str, list[str]] = {}
    for key in cold_store.list_keys(ROLLUP_MONTH_PREFIX):
        by_site.setdefault(key.split("/")[1], []).append(key)
    warmed = 0
    for keys in by_site.values():
        for key in sorted(keys)[-months_per_site:]:
            month_day_identities(cold_store.local_copy(key))
            warmed += 1
    return warmed
