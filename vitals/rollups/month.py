"""Month rollup files: a site-month's 15 min, 1 h and 1 d rollups in one Parquet file.

A year-long chart at 1 h reading day rollups opens 365 files (and, to prove each is
current, 365 cold-file footers): ~1.5 s before the caches are warm. A month file holds the
same rows for up to 31 days, so the same chart opens 12 files, and each day in it is
tied to the exact cold file version it describes by that file's version identity
(``ColdStore.identities``: inode/size/mtime locally, ETag/size on S3), which the
query engine compares against one directory listing, without opening any cold file.

Key: ``rollup_months/{site}/{YYYY}/{MM}.parquet`` (:func:`vitals.cold.keys.rollup_month_key`).
Columns and sort are those of the day rollups (``ROLLUP_SCHEMA``, sorted interval, point,
bucket), 15 min, 1 h and 1 d (``vitals.rollup.month_intervals`` lists them; files
written before the 15 min section lack the key and hold 1 h and 1 d). Key-value metadata
``vitals.rollup.month_days`` maps each
included day (ISO date) to the cold file identity its rows were built from. A day that is
missing from it, or whose cold file has changed since, is answered from its day rollup or
raw data instead: a stale month file is slow, never wrong. A day rollup of layout 1 (no M4
columns) is left out of a month file of layout 2 (counted as skipped): its aggregates come
from the day rollup until ``cold_rollups`` rebuilds it (docs/rollups.md, "Layout versions").
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
import time
from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

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
from vitals.cold.point_reads import (
    FileIndex,
    FileRead,
    file_index,
    parse_file_index,
    read_points,
)
from vitals.cold.store import ColdStore
from vitals.names import validate_site_name
from vitals.rollups.day import (
    META_SITE,
    META_SOURCE_IDENTITY,
    META_VERSION,
    ROLLUP_SCHEMA,
    ROLLUP_SCHEMA_VERSION,
    rollup_writer,
    write_rollup_groups,
)
from vitals.samples import day_bounds_ms

MONTH_INTERVALS_MS: tuple[int, ...] = (900_000, 3_600_000, 86_400_000)
# Month files written before the 15 min section hold these (no month_intervals key).
LEGACY_MONTH_INTERVALS_MS: tuple[int, ...] = (3_600_000, 86_400_000)
# 15 min: a 30-day chart read 24 day files (~50 us per column chunk, 6 groups x 5 columns
# each: ~55 ms); from the month section it reads 1-2 files. 1 h: was 8,192 rows (~11
# points per group, so a point decoded 11x its rows). Sizes measured in docs/benchmarks.md
# (issue 11, second pass).
MONTH_ROWS_PER_GROUP: dict[int, int] = {900_000: 16_384, 3_600_000: 8_192, 86_400_000: 16_384}
META_MONTH = b"vitals.rollup.month"
META_MONTH_DAYS = b"vitals.rollup.month_days"
# Comma-separated intervals (ms) the file holds rows of: a reader uses a month file only
# for the intervals it lists, so an older file without a section is never read as empty.
META_MONTH_INTERVALS = b"vitals.rollup.month_intervals"


@dataclass(frozen=True)
class Compaction:
    """What writing one month or year rollup file did (asset metadata)."""

    key: str
    days: int
    skipped_days: int  # days left out: no current source (a stale or missing rollup)
    rows: int
    bytes: int
    seconds: float


MonthCompaction = Compaction


# Rows per batch while writing a month file: the 15 min section of a 4,600-point month is
# 13.7 M rows, and sorting the whole month at once held ~6 GB; point batches of about
# this many rows keep it to a few hundred MB (docs/benchmarks.md, issue 11 second pass).
MONTH_BATCH_ROWS = 200_000
DaySource = pa.Table | FileIndex  # a day rollup table, or its file's footer (read in batches)


def month_file_bytes(
    site: str, year: int, month: int, days: dict[date, tuple[str, DaySource]]
) -> bytes:
    """Parquet bytes of one month file from per-day (cold identity, rollup) parts.

    Written interval by interval and, inside an interval, in batches of sorted point
    names, so only one batch of the month is in memory at a time.
    """
    validate_site_name(site)
    identities = {}
    for day, (identity, _source) in sorted(days.items()):
        if (day.year, day.month) != (year, month):
            raise ValueError(f"day {day} is not in month {year}-{month:02d}")
        identities[day.isoformat()] = identity
    schema = ROLLUP_SCHEMA.with_metadata(
        {
            META_VERSION: ROLLUP_SCHEMA_VERSION.encode(),
            META_SITE: site.encode(),
            META_MONTH: f"{year:04d}-{month:02d}".encode(),
            META_MONTH_DAYS: json.dumps(identities, sort_keys=True).encode(),
            META_MONTH_INTERVALS: ",".join(map(str, MONTH_INTERVALS_MS)).encode(),
        }
    )
    sources = [(day, source) for day, (_identity, source) in sorted(days.items())]
    names = sorted(set().union(*(_names_of(source) for _day, source in sources)))
    sink = io.BytesIO()
    with rollup_writer(sink, schema) as writer:
        wrote = False
        for interval in MONTH_INTERVALS_MS:
            per_point_rows = max(1, len(sources)) * (86_400_000 // interval)
            step = max(1, MONTH_BATCH_ROWS // per_point_rows)
            for first in range(0, len(names), step):
                batch = names[first : first + step]
                parts = [_batch_rows(day, s, interval, batch) for day, s in sources]
                table = pa.concat_tables(parts).sort_by(
                    [("point_name", "ascending"), ("bucket_ts", "ascending")]
                )
                if table.num_rows:
                    write_rollup_groups(writer, table, MONTH_ROWS_PER_GROUP)
                    wrote = True
        if not wrote:
            writer.write_table(ROLLUP_SCHEMA.empty_table().replace_schema_metadata(schema.metadata))
    return sink.getvalue()


def _names_of(source: DaySource) -> set[str]:
    """Point names a day rollup holds (a file: from its dictionary-encoded name column)."""
    if isinstance(source, pa.Table):
        return {str(name) for name in pc.unique(source.column("point_name")).to_pylist()}
    parquet = pq.ParquetFile(source.path, metadata=source.metadata, read_dictionary=["point_name"])
    column = parquet.read(columns=["point_name"])
    names: set[str] = set()
    for chunk in column.column("point_name").chunks:
        dictionary = cast("pa.DictionaryArray[Any, Any]", chunk).dictionary
        names.update(str(n) for n in dictionary.to_pylist())  # a superset is fine: batches filter
    return names


def _batch_rows(day: date, source: DaySource, interval: int, batch: list[str]) -> pa.Table:
    """One day's rows of ``batch`` at ``interval``, as ``ROLLUP_SCHEMA`` (unsorted)."""
    if isinstance(source, pa.Table):
        table = source.select(ROLLUP_SCHEMA.names).cast(ROLLUP_SCHEMA)
        keep = pc.and_(
            pc.equal(table.column("interval_ms"), pa.scalar(interval, pa.int64())),
            pc.is_in(table.column("point_name"), value_set=pa.array(batch, pa.string())),
        )
        return table.filter(keep)
    start, end = day_bounds_ms(day)
    table = read_points(
        FileRead(Path(source.path), start, end),
        batch,
        columns=ROLLUP_SCHEMA.names,
        ts_column="bucket_ts",
        interval_ms=interval,
        index=source,
    )
    return pa.table(
        [table.column(f.name).cast(f.type) for f in ROLLUP_SCHEMA], schema=ROLLUP_SCHEMA
    )


def month_day_identities(path: Path) -> dict[str, str]:
    """ISO day -> cold file identity for every day a month file holds (cached footer).

    An unreadable file holds no day: its days are answered from day rollups or raw data.
    """
    try:
        return index_month_days(file_index(path))
    except (pa.ArrowInvalid, OSError):
        return {}


def index_month_days(index: FileIndex) -> dict[str, str]:
    """:func:`month_day_identities` of a footer already parsed (e.g. of a private copy)."""
    raw = index.key_values.get(META_MONTH_DAYS.decode())
    return dict(parse_day_identities(raw)) if raw else {}


@functools.lru_cache(maxsize=256)
def parse_day_identities(raw: str) -> dict[str, str]:
    """The parsed ``month_days`` (or a year file's ``year_days``) JSON, kept.

    Every chart over a month asked it again.
    Callers get a copy (:func:`month_day_identities`), so the kept one never changes.
    """
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items() if isinstance(v, str)}


def month_intervals(path: Path) -> tuple[int, ...]:
    """Intervals (ms) a month file holds rows of (cached footer); none if unreadable.

    Files without the ``month_intervals`` key predate the 15 min section: 1 h and 1 d.
    """
    try:
        return index_month_intervals(file_index(path))
    except (pa.ArrowInvalid, OSError):
        return ()


def index_month_intervals(index: FileIndex) -> tuple[int, ...]:
    """:func:`month_intervals` of a footer already parsed (e.g. of a private copy)."""
    raw = index.key_values.get(META_MONTH_INTERVALS.decode())
    if raw is None:
        return LEGACY_MONTH_INTERVALS_MS
    held = tuple(int(part) for part in raw.split(",") if part.strip().isdigit())
    return tuple(interval for interval in held if interval in MONTH_INTERVALS_MS)


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
    parts: dict[date, tuple[str, DaySource]] = {}
    skipped = 0
    # the day rollups' bytes as checked, in a private folder: read point batch by batch
    # (a rollup rewritten meanwhile in the store cannot mix into this month file)
    with tempfile.TemporaryDirectory(prefix="vitals-month-") as folder:
        for number in range(1, monthrange(year, month)[1] + 1):
            day = date(year, month, number)
            identity = cold_ids.get(cold_day_key(site, day))
            if identity is None:
                continue
            rollup_key = rollup_day_key(site, day)
            if not cold_store.exists(rollup_key):
                skipped += 1
                continue
            data = cold_store.get_bytes(rollup_key)
            try:
                if not _includable(pq.read_schema(io.BytesIO(data)), identity):
                    skipped += 1
                    continue
                path = Path(folder) / f"{day.isoformat()}.parquet"
                path.write_bytes(data)
                # parsed here (an unreadable file is skipped, not met mid-write), uncached
                parts[day] = (identity, parse_file_index(path))
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


def _includable(day_rollup_schema: pa.Schema, cold_identity: str) -> bool:
    """Whether a day rollup goes into its month file.

    Only if built from the current cold file (its recorded identity is that file's) and
    of the current layout (an older one is rebuilt by ``cold_rollups``, docs/rollups.md).
    """
    recorded = (day_rollup_schema.metadata or {}).get(META_SOURCE_IDENTITY)
    if recorded is None or recorded.decode() != cold_identity:
        return False
    return set(ROLLUP_SCHEMA.names) <= set(day_rollup_schema.names)


@dataclass(frozen=True)
class MonthCoverage:
    """Days of a site-month with a current day rollup, and days its month file holds.

    The month file's days count only for their current cold file (the ``rollup_months``
    asset check compares the two).
    """

    key: str
    current_days: tuple[date, ...]  # day rollups a compaction now would include
    in_file: tuple[date, ...]  # days the month file holds for their current cold file

    @property
    def missing(self) -> tuple[date, ...]:
        """Days with a current day rollup that the month file lacks (or holds stale)."""
        held = set(self.in_file)
        return tuple(day for day in self.current_days if day not in held)


def month_coverage(cold_store: ColdStore, site: str, year: int, month: int) -> MonthCoverage:
    """Compare a month file with the day rollups a fresh compaction would include.

    Reads one cold listing, each day rollup's footer and the month file's footer: cheap
    next to a compaction. A day missing from the month file is answered from its day
    rollup (slower, never wrong), so a gap means "compaction lags", not "wrong answers".
    """
    key = rollup_month_key(site, year, month)
    cold_ids = cold_store.identities(cold_month_prefix(site, year, month))
    current: list[date] = []
    for number in range(1, monthrange(year, month)[1] + 1):
        day = date(year, month, number)
        identity = cold_ids.get(cold_day_key(site, day))
        rollup_key = rollup_day_key(site, day)
        if identity is None or not cold_store.exists(rollup_key):
            continue
        try:
            schema = pq.read_schema(cold_store.local_copy(rollup_key))
        except (pa.ArrowInvalid, OSError):
            continue  # unreadable: compaction would skip it too
        if _includable(schema, identity):
            current.append(day)
    held: dict[str, str] = {}
    if cold_store.exists(key):
        held = month_day_identities(cold_store.local_copy(key))
    in_file = tuple(
        date.fromisoformat(iso)
        for iso, identity in sorted(held.items())
        if cold_ids.get(cold_day_key(site, date.fromisoformat(iso))) == identity
    )
    return MonthCoverage(key=key, current_days=tuple(current), in_file=in_file)


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
