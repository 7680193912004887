"""Stored rollups: per point, per UTC day, count/sum/min/max/first/last at 15 min, 1 h and 1 d.

A year-long chart at 1 h should not decode 2 billion raw samples. Each site-day gets one
rollup file ``rollups/{site}/{YYYY}/{MM}/{DD}.parquet`` (``vitals.cold.keys.rollup_day_key``)
built from that day's consolidated samples. Buckets are ``floor(ts / interval) * interval``
in UTC, and every interval divides a day, so no bucket straddles two files. ``avg`` is
``sum / count``, so rollup answers equal aggregation from raw. Each row also names the
samples M4 keeps (first, last, and the earliest sample holding the min and the max), so
downsampling a year needs no raw read (:mod:`vitals.query.m4`). Layout and freshness
rules: docs/rollups.md.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cachetools import LRUCache

from vitals.cold.point_reads import FileRead, ReadCounters, file_index, map_in_pool, read_many
from vitals.cold.read import META_PREFIX, read_cold_bytes
from vitals.names import validate_site_name
from vitals.rollups.sorted_slices import read_point_slices
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

# 2: first, first_ts, min_ts, max_ts appended (M4 from rollups). Files of layout 1 hold a
# prefix of these columns: every aggregate still reads them; M4 reads those days raw.
ROLLUP_SCHEMA_VERSION = "2"
ROLLUP_INTERVALS_MS: dict[str, int] = {"15m": 900_000, "1h": 3_600_000, "1d": 86_400_000}
# Row-group targets per interval: 2,048 rows at 15 min and 1 h (a few points read little)
# and 16,384 at 1 d. 15 min groups were 16,384 rows (~170 points) to keep the footer small
# (265 groups, ~170 KB, parsed once per process), but then a 30-day chart of 6 points
# decoded 2.4 M rows to keep 14,000: half of its CPU (docs/benchmarks.md, issue 11).
ROLLUP_ROWS_PER_GROUP: dict[int, int] = {900_000: 2_048, 3_600_000: 2_048, 86_400_000: 16_384}
_TS = pa.timestamp("ms", tz="UTC")

_ROLLUP_FIELDS: list[pa.Field[Any]] = [
    pa.field("point_name", pa.string(), nullable=False),
    pa.field("interval_ms", pa.int64(), nullable=False),
    pa.field("bucket_ts", _TS, nullable=False),
    pa.field("count", pa.int64(), nullable=False),
    pa.field("sum", pa.float64(), nullable=False),
    pa.field("min", pa.float64(), nullable=False),
    pa.field("max", pa.float64(), nullable=False),
    pa.field("last", pa.float64(), nullable=False),
    pa.field("last_ts", _TS, nullable=False),
    # layout 2: the bucket's earliest sample, and the time of the earliest sample holding
    # the min / the max (ties: the earliest such sample; -0.0 and 0.0 are one value)
    pa.field("first", pa.float64(), nullable=False),
    pa.field("first_ts", _TS, nullable=False),
    pa.field("min_ts", _TS, nullable=False),
    pa.field("max_ts", _TS, nullable=False),
]
ROLLUP_SCHEMA = pa.schema(_ROLLUP_FIELDS)
_TS_COLUMNS = frozenset({"first_ts", "last_ts", "min_ts", "max_ts"})  # sample times
# Key-value metadata: the reader checks source_rows against the cold file's row count.
META_VERSION = b"vitals.rollup.schema_version"
META_SITE = b"vitals.site"
META_DATE = b"vitals.date"
META_SOURCE_ROWS = b"vitals.rollup.source_rows"
META_BUILT_AT = b"vitals.rollup.built_at"
META_SOURCE_CHECKSUM = b"vitals.rollup.source_key_checksum"
# The cold store's version identity of the cold file (``ColdStore.identity``): lets a
# reader check a rollup against a directory listing instead of opening the cold file.
META_SOURCE_IDENTITY = b"vitals.rollup.source_identity"
COLD_CHECKSUM_KEY = f"{META_PREFIX}key_checksum"  # written by vitals.cold.file into every cold file

_BUILD_SQL = """
SELECT point_name,
       iv AS interval_ms,
       ts - (((ts % iv) + iv) % iv) AS bucket,
       count(*) AS count,
       sum(value) AS sum,
       min(value) AS min,
       max(value) AS max,
       arg_max(value, ts) AS last,
       max(ts) AS last_ts,
       arg_min(value, ts) AS first,
       min(ts) AS first_ts,
       -- ties on the extreme: the earliest sample (a struct orders by value, then time)
       arg_min(ts, {'v': value, 't': ts}) AS min_ts,
       arg_max(ts, {'v': value, 'n': -ts}) AS max_ts
FROM samples CROSS JOIN (SELECT unnest($intervals) AS iv)
GROUP BY ALL
ORDER BY interval_ms, point_name, bucket
"""


class RollupError(ValueError):
    """A rollup that cannot be built or written as asked (names the site/day/value)."""


def build_rollup_table(samples: pa.Table) -> pa.Table:
    """Aggregate one day's sample table (one value per key) into a rollup table.

    The input is a sample table (``SAMPLE_SCHEMA``) holding one value per (point, ts), as a
    cold day file does. Output rows are sorted (interval_ms, point_name, bucket_ts).
    """
    if samples.schema.remove_metadata() != SAMPLE_SCHEMA.remove_metadata():
        missing = set(SAMPLE_SCHEMA.names) - set(samples.column_names)
        if missing:
            raise RollupError(f"rollup input lacks columns {sorted(missing)}")
        samples = samples.select(SAMPLE_SCHEMA.names).cast(SAMPLE_SCHEMA)
    conn = duckdb.connect()
    try:
        conn.register("samples", samples)
        result = conn.sql(
            _BUILD_SQL, params={"intervals": list(ROLLUP_INTERVALS_MS.values())}
        ).to_arrow_table()
    finally:
        conn.close()
    return pa.table(
        {
            "point_name": result.column("point_name").cast(pa.string()),
            "interval_ms": result.column("interval_ms").cast(pa.int64()),
            "bucket_ts": result.column("bucket").cast(pa.int64()).cast(_TS),
            "count": result.column("count").cast(pa.int64()),
            "sum": result.column("sum"),
            "min": result.column("min"),
            "max": result.column("max"),
            "last": result.column("last"),
            "last_ts": result.column("last_ts").cast(pa.int64()).cast(_TS),
            "first": result.column("first"),
            "first_ts": result.column("first_ts").cast(pa.int64()).cast(_TS),
            "min_ts": result.column("min_ts").cast(pa.int64()).cast(_TS),
            "max_ts": result.column("max_ts").cast(pa.int64()).cast(_TS),
        },
        schema=ROLLUP_SCHEMA,
    )


def _group_bounds(table: pa.Table, target_rows: dict[int, int]) -> list[int]:
    """Row offsets where row groups end, never splitting a point.

    A group ends at every interval change, and at the first point boundary past the
    interval's target rows inside its section.
    """
    if table.num_rows == 0:
        return []
    sections = pc.run_end_encode(table.column("interval_ms").combine_chunks())  # type: ignore[attr-defined]  # not in pyarrow-stubs
    bounds: list[int] = []
    start = 0
    for interval, section_end in zip(
        sections.values.to_pylist(), sections.run_ends.to_pylist(), strict=True
    ):
        target = target_rows.get(interval, 2_048)
        names = table.column("point_name").slice(start, section_end - start).combine_chunks()
        group_start = start
        point_runs = pc.run_end_encode(names)  # type: ignore[attr-defined]  # not in pyarrow-stubs
        for run_end in point_runs.run_ends.to_pylist():
            if start + run_end - group_start >= target:
                bounds.append(start + run_end)
                group_start = start + run_end
        if not bounds or bounds[-1] != section_end:
            bounds.append(section_end)
        start = section_end
    return bounds


def rollup_file_bytes(
    table: pa.Table,
    site: str,
    day: date,
    *,
    source_checksum: str | None = None,
    source_identity: str | None = None,
) -> bytes:
    """Parquet bytes of one site-day rollup, sorted (interval, point, bucket).

    Row groups hold one interval each and are cut at point boundaries, so a query at one
    interval for a few points reads a few small groups (layout: docs/rollups.md).

    ``source_checksum`` is the cold file's ``vitals.key_checksum`` the rollup was built
    from; readers then trust the rollup only for that exact cold file. Raises RollupError
    if a bucket lies outside ``day`` or the table is not a rollup table.
    """
    validate_site_name(site)
    if table.schema.names != ROLLUP_SCHEMA.names or table.schema.types != ROLLUP_SCHEMA.types:
        raise RollupError(
            f"rollup table for {site} {day} has schema {table.schema}, not ROLLUP_SCHEMA"
        )
    if any(column.null_count for column in table.columns):
        raise RollupError(f"rollup table for {site} {day} has nulls")
    table = table.cast(ROLLUP_SCHEMA)
    day_start, day_end = day_bounds_ms(day)
    if table.num_rows:
        stamps = table.column("bucket_ts").cast(pa.int64())
        low, high = pc.min(stamps).as_py(), pc.max(stamps).as_py()
        if low < day_start or high >= day_end:
            raise RollupError(f"rollup for {site} {day} holds buckets outside that UTC day")
    table = table.sort_by(
        [("interval_ms", "ascending"), ("point_name", "ascending"), ("bucket_ts", "ascending")]
    )
    day_rows = table.filter(pc.equal(table.column("interval_ms"), pa.scalar(86_400_000)))
    source_rows = int(pc.sum(day_rows.column("count")).as_py() or 0)
    table = table.replace_schema_metadata(
        {
            META_VERSION: ROLLUP_SCHEMA_VERSION.encode(),
            META_SITE: site.encode(),
            META_DATE: day.isoformat().encode(),
            META_SOURCE_ROWS: str(source_rows).encode(),
            META_BUILT_AT: datetime.now(UTC).isoformat().encode(),
            **({META_SOURCE_CHECKSUM: source_checksum.encode()} if source_checksum else {}),
            **({META_SOURCE_IDENTITY: source_identity.encode()} if source_identity else {}),
        }
    )
    return write_rollup_parquet(table, ROLLUP_ROWS_PER_GROUP)


def write_rollup_parquet(table: pa.Table, rows_per_group: dict[int, int]) -> bytes:
    """Parquet bytes of a rollup table sorted (interval, point, bucket), schema metadata kept.

    One interval per row group, groups cut at point boundaries near ``rows_per_group``;
    statistics only on the two pruning columns, dictionary-encoded names, zstd.
    """
    sink = io.BytesIO()
    with rollup_writer(sink, table.schema) as writer:
        write_rollup_groups(writer, table, rows_per_group)
        if table.num_rows == 0:
            writer.write_table(table)
    return sink.getvalue()


def rollup_writer(sink: io.BytesIO, schema: pa.Schema) -> pq.ParquetWriter:
    """The Parquet writer every rollup file is written with (month files stream into it)."""
    # Sample times rise by about one interval from row to row within a point: delta
    # encoded they cost a few bits a row instead of ~2.5 bytes (docs/rollups.md).
    delta = {name: "DELTA_BINARY_PACKED" for name in _TS_COLUMNS if name in schema.names}
    return pq.ParquetWriter(
        sink,
        schema,
        compression="zstd",
        compression_level=3,
        use_dictionary=["point_name"],  # type: ignore[arg-type]  # stubs: bool only; pyarrow takes column names too
        column_encoding=delta,
        write_statistics=["point_name", "interval_ms"],
        write_page_index=False,
        store_schema=True,
    )


def write_rollup_groups(
    writer: pq.ParquetWriter, table: pa.Table, rows_per_group: dict[int, int]
) -> None:
    """Write a sorted rollup table as row groups cut by :func:`_group_bounds`."""
    start = 0
    for end in _group_bounds(table, rows_per_group):
        writer.write_table(table.slice(start, end - start), row_group_size=end - start)
        start = end


def rollup_bytes_from_cold(
    cold_bytes: bytes, site: str, day: date, *, source_identity: str | None = None
) -> bytes:
    """The rollup file for one cold day file's bytes, tied to it by its key checksum.

    ``source_identity``, when given, ties it also to the cold store's identity of that
    file version.
    """
    parquet = pq.ParquetFile(io.BytesIO(cold_bytes))
    checksum = (parquet.schema_arrow.metadata or {}).get(COLD_CHECKSUM_KEY.encode())
    table = build_rollup_table(read_cold_bytes(cold_bytes))
    return rollup_file_bytes(
        table,
        site,
        day,
        source_checksum=checksum.decode() if checksum else None,
        source_identity=source_identity,
    )


def rollup_identity(rollup_path: Path) -> str | None:
    """The cold file version identity a rollup file was built from, if it recorded one."""
    return file_index(rollup_path).key_values.get(META_SOURCE_IDENTITY.decode())


def rollup_matches_cold(rollup_path: Path, cold_path: Path) -> bool:
    """Whether a rollup file provably describes the current cold file of its day.

    Both must agree on the row count; when both carry the cold key checksum it must be
    equal (it covers values too), otherwise the rollup must be at least as new as the
    cold file. Anything else means "compute from raw" (correctness first). (A caller
    holding the cold file's current identity can skip opening it: :func:`rollup_identity`.)
    """
    rollup_meta = file_index(rollup_path).key_values
    cold = file_index(cold_path)
    raw_rows = rollup_meta.get(META_SOURCE_ROWS.decode())
    if raw_rows is None or not raw_rows.isdigit() or int(raw_rows) != cold.num_rows:
        return False
    rollup_sum = rollup_meta.get(META_SOURCE_CHECKSUM.decode())
    cold_sum = cold.key_values.get(COLD_CHECKSUM_KEY)
    if rollup_sum and cold_sum:
        return rollup_sum == cold_sum
    return rollup_path.stat().st_mtime_ns >= cold_path.stat().st_mtime_ns


# What the bucket aggregates read (every layout holds them).
VALUE_COLUMNS = ("count", "sum", "min", "max", "last")
# What M4 reads besides count/min/max/last (layout 2 on): the four samples' times.
M4_COLUMNS = ("first", "first_ts", "last_ts", "min_ts", "max_ts")
READABLE_COLUMNS = (*VALUE_COLUMNS, *M4_COLUMNS)


def has_m4_columns(path: Path) -> bool:
    """Whether a rollup (day or month) file holds the M4 columns (layout 2 on; cached footer).

    Files of layout 1 answer every aggregate but not M4: their days are read raw.
    """
    names = set(file_index(path).metadata.schema.names)
    return all(column in names for column in M4_COLUMNS)


ROLLUP_CACHE_ROWS = 1_000_000


SliceKey = tuple[str | int, ...]  # (path, mtime_ns, size, interval, start, end, columns)
Slices = dict[str, pa.Table]  # point -> its rows of one file read


def _slices_rows(slices: Slices) -> int:
    """An entry's weight in the cache: its rows (an empty slice still takes a place)."""
    return sum(max(1, table.num_rows) for table in slices.values())


class _SliceCache:
    """Process-wide LRU of decoded day-rollup slices: per file read, its points' slices.

    A chart that slides its window re-reads the same day files for the same points; reading
    a handful of row groups from 365 files costs ~1 s, a cache hit about a microsecond.
    The key holds the file's mtime and size, so a rewritten rollup file is never served
    stale. Bounded by rows (about 60 bytes each), not entries: slices are kept as copies of
    their own rows (a zero-copy slice held its whole decoded row group alive, ~85 points
    of a day file for the one asked, so the bound said nothing about memory).

    Only day rollups are kept (:func:`read_rollup_rows`). Month files were kept too, and
    for uncached answers (unique point sets: the API's response cache takes the repeats)
    that cost more than it saved: a year at 1 h from 12 month files, interleaved with and
    without it, 30.4 vs 26.7 ms CPU (the puts, and ~500 MB of decoded groups held alive
    and freed by eviction instead of reused), while a miss there costs ~0.8 ms a file.

    One entry per (file version, interval, window, columns) holding a dict point -> slice.
    Entries are never changed in place: a read of more points stores a new dict.
    ``cachetools.LRUCache`` with a lock (the API reads from threads).
    """

    def __init__(self, max_rows: int) -> None:
        self._entries: LRUCache[SliceKey, Slices] = LRUCache(
            maxsize=max_rows, getsizeof=_slices_rows
        )
        # one file read's points merge up to this many rows, else the newest replace them
        # (a month file read for ever new point sets must not grow into the whole cache)
        self._per_entry = max(1, max_rows // 16)
        self._lock = threading.Lock()

    def get(self, key: SliceKey) -> Slices:
        """The cached slices of one file read (maybe not all points asked; may be empty)."""
        with self._lock:
            return self._entries.get(key) or {}

    def put(self, key: SliceKey, slices: Slices) -> None:
        """Keep the slices of one file read beside those cached for it already.

        Evicts the least recently used beyond the row bound; an entry larger than the
        whole bound is not kept.
        """
        slices = {point: _own_rows(table) for point, table in slices.items()}
        with self._lock:
            held = self._entries.get(key)
            merged = slices
            if held is not None and _slices_rows(held) + _slices_rows(slices) <= self._per_entry:
                merged = {**held, **slices}
            with contextlib.suppress(ValueError):  # cachetools: "value too large"
                self._entries[key] = merged

    def clear(self) -> None:
        """Forget every slice (benchmarks measure cold reads with it)."""
        with self._lock:
            self._entries.clear()


def _own_rows(table: pa.Table) -> pa.Table:
    """A copy of a table's rows in buffers of their own (a slice shares its source's)."""
    if table.num_rows == 0:
        return table.schema.empty_table()
    return pa.Table.from_arrays(
        [pa.concat_arrays(column.chunks) for column in table.columns], schema=table.schema
    )


ROLLUP_SLICES = _SliceCache(ROLLUP_CACHE_ROWS)


def _split_points(table: pa.Table, points: Sequence[str], empty: pa.Table) -> dict[str, pa.Table]:
    """Per-point slices of a table sorted by point_name (empty tables for absent points)."""
    out = {point: empty for point in points}
    if table.num_rows:
        runs = pc.run_end_encode(table.column("point_name").combine_chunks())  # type: ignore[attr-defined]  # not in pyarrow-stubs
        start = 0
        for name, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            if name in out:
                out[name] = table.slice(start, end - start)
            start = end
    return out


def _ts_as_ms(table: pa.Table) -> pa.Table:
    """The ``*_ts`` sample times as int64 epoch ms, like ``bucket``."""
    for index, name in enumerate(table.column_names):
        if name in _TS_COLUMNS and pa.types.is_timestamp(table.schema.field(name).type):
            column = table.column(name).cast(_TS).cast(pa.int64())
            table = table.set_column(index, name, column)
    return table


def read_rollup_rows(
    items: Sequence[FileRead],
    points: Sequence[str],
    interval_ms: int,
    *,
    counters: ReadCounters | None = None,
    columns: Sequence[str] = VALUE_COLUMNS,
) -> list[pa.Table]:
    """Rollup rows of ``points`` at ``interval_ms`` whose bucket start is in each item's window.

    Columns: point_name, bucket (int64 ms), then ``columns`` (of count, sum, min, max,
    last by default; also first and the ``*_ts`` times, int64 ms, of layout-2 files:
    :data:`M4_COLUMNS`). Decoding is most of a read's cost, so an answer that needs
    only ``avg`` reads count and sum alone (~half the work of all five).
    Slices of day rollups already decoded by this process come from :data:`ROLLUP_SLICES`
    (month files are read each time: see :class:`_SliceCache`).
    """
    if interval_ms not in ROLLUP_INTERVALS_MS.values():
        raise RollupError(f"no stored rollup at interval {interval_ms} ms")
    unknown = [c for c in columns if c not in READABLE_COLUMNS]
    if unknown or not columns:
        raise RollupError(
            f"rollup columns must be some of {', '.join(READABLE_COLUMNS)}: {unknown}"
        )
    wanted = tuple(c for c in READABLE_COLUMNS if c in columns)
    read_columns = ["point_name", "interval_ms", "bucket_ts", *wanted]
    out_columns = ["point_name", "bucket", *wanted]
    keys: list[SliceKey] = []
    slices: list[Slices] = []  # per item: point -> its slice, once known
    to_read: dict[tuple[str, ...], list[int]] = {}
    keep: list[bool] = []  # day rollups only (see _SliceCache)
    for position, item in enumerate(items):
        index = file_index(item.path)
        key = (
            index.path,
            index.mtime_ns,
            index.size,
            interval_ms,
            item.start_ms,
            item.end_ms,
            ",".join(wanted),
        )
        keep.append(META_DATE.decode() in index.key_values)
        cached = ROLLUP_SLICES.get(key) if keep[-1] else {}
        found = {point: cached[point] for point in points if point in cached}
        missing = tuple(point for point in points if point not in found)
        if missing:
            to_read.setdefault(missing, []).append(position)
        keys.append(key)
        slices.append(found)
    for missing, positions in to_read.items():

        def read_item(item: FileRead, missing: tuple[str, ...] = missing) -> dict[str, pa.Table]:
            # slices cut by position where the groups allow (vitals.rollups.sorted_slices)
            found = read_point_slices(
                item, missing, interval_ms, wanted, _TS_COLUMNS, counters=counters
            )
            if found is not None:
                return found
            (table,) = read_many(
                [item],
                missing,
                columns=read_columns,
                ts_column="bucket_ts",
                interval_ms=interval_ms,  # prunes groups and filters rows
                counters=counters,
            )
            table = _ts_as_ms(table.drop_columns(["interval_ms"]).rename_columns(out_columns))
            return _split_points(table, missing, table.slice(0, 0))

        per_item = map_in_pool(read_item, [items[p] for p in positions])
        for position, parts in zip(positions, per_item, strict=True):
            if keep[position]:
                ROLLUP_SLICES.put(keys[position], parts)
            slices[position].update(parts)
    return [pa.concat_tables([found[point] for point in points]) for found in slices]
