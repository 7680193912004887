"""Merge the two tiers per point (hot wins) and aggregate into UTC buckets (Arrow).

Cold day files are sorted by (point_name, ts) and days do not overlap, so a point's cold
rows are already in time order when its per-file runs are taken in day order: no global
sort of millions of rows. Hot rows replace cold rows with the same (point, ts) key
(docs/design.md invariant 4). A defensive check re-sorts and de-duplicates a point whose cold
rows are not strictly increasing, so a malformed file can never produce duplicates.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

BUCKET_COLUMNS = ("bucket", "count", "sum", "min", "max", "last")


_conn_lock = threading.Lock()
_conn: duckdb.DuckDBPyConnection | None = None


def duckdb_cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on the process's long-lived in-memory DuckDB database (one per query)."""
    global _conn
    with _conn_lock:
        if _conn is None:
            _conn = duckdb.connect(":memory:")
            # footers of files read again (cold days aggregated in place) are kept; DuckDB
            # re-reads one whose modification time is newer than (or within 10 s of) the copy.
            # GLOBAL: a plain SET stays in this connection, and every query runs on a cursor
            # (its own connection), which read every footer again (year at 1 h from 365 raw
            # files: 0.50-0.54 -> 0.42-0.45 s, docs/benchmarks.md)
            _conn.execute("SET GLOBAL parquet_metadata_cache = true")
        return _conn.cursor()


@dataclass(frozen=True)
class PointRows:
    """One point's merged samples: int64 epoch ms ``ts`` (strictly increasing) and values."""

    ts: pa.Array[Any]
    value: pa.Array[Any]

    def __len__(self) -> int:
        return len(self.ts)


def collect_runs(tables: Iterable[pa.Table]) -> dict[str, list[pa.Table]]:
    """Split tables sorted by point_name into per-point (ts, value) pieces, in input order.

    Runs are found chunk by chunk (no copy of the names: a read's rows are cold in the
    CPU caches, and copying them cost more than finding the runs).
    """
    pieces: dict[str, list[pa.Table]] = {}
    for table in tables:
        if table.num_rows == 0:
            continue
        values = table.select(["ts", "value"])
        for name, start, end in _point_runs(table.column("point_name"), 0):
            pieces.setdefault(name, []).append(values.slice(start, end - start))
    return pieces


def _strictly_increasing(ts: pa.Array[Any]) -> bool:
    if len(ts) < 2:
        return True
    return bool(pc.all(pc.less(ts.slice(0, len(ts) - 1), ts.slice(1))).as_py())


def _sort_keep_last(ts: pa.Array[Any], value: pa.Array[Any]) -> tuple[pa.Array[Any], pa.Array[Any]]:
    """Sort by ts; on equal ts keep the row that came last in the input."""
    order = pa.array(range(len(ts)), pa.int64())
    table = pa.table({"ts": ts, "value": value, "row": order}).sort_by(
        [("ts", "ascending"), ("row", "ascending")]
    )
    stamps = table.column("ts").combine_chunks()
    n = len(stamps)
    if n > 1:
        keep = pa.concat_arrays(
            [pc.not_equal(stamps.slice(0, n - 1), stamps.slice(1)), pa.array([True])]
        )
        table = table.filter(keep)
    return table.column("ts").combine_chunks(), table.column("value").combine_chunks()


def merge_point(cold: Sequence[pa.Table], hot: Sequence[pa.Table]) -> PointRows:
    """One point's samples from both tiers, each key once; hot values win over cold."""
    cold_table = pa.concat_tables(cold) if cold else None
    hot_table = pa.concat_tables(hot) if hot else None
    if cold_table is not None:
        c_ts = cold_table.column("ts").combine_chunks()
        c_val = cold_table.column("value").combine_chunks()
        if not _strictly_increasing(c_ts):
            c_ts, c_val = _sort_keep_last(c_ts, c_val)
    if hot_table is not None:
        h_ts = hot_table.column("ts").combine_chunks()
        h_val = hot_table.column("value").combine_chunks()
        if not _strictly_increasing(h_ts):
            h_ts, h_val = _sort_keep_last(h_ts, h_val)
    if hot_table is None:
        if cold_table is None:
            return PointRows(pa.array([], pa.int64()), pa.array([], pa.float64()))
        return PointRows(c_ts, c_val)
    if cold_table is None or len(c_ts) == 0:
        return PointRows(h_ts, h_val)
    keep = pc.invert(pc.is_in(c_ts, value_set=h_ts))
    ts = pa.concat_arrays([c_ts.filter(keep), h_ts])
    value = pa.concat_arrays([c_val.filter(keep), h_val])
    order = pc.sort_indices(ts)
    return PointRows(ts.take(order), value.take(order))


_BUCKET_FIELDS: list[pa.Field[Any]] = [
    pa.field("point_name", pa.string()),
    pa.field("bucket", pa.int64()),
    pa.field("count", pa.int64()),
    pa.field("sum", pa.float64()),
    pa.field("min", pa.float64()),
    pa.field("max", pa.float64()),
    pa.field("last", pa.float64()),
    pa.field("last_ts", pa.int64()),
]
BUCKET_SCHEMA = pa.schema(_BUCKET_FIELDS)


def bucket_starts(ts: Any, interval_ms: int) -> Any:
    """``floor(ts / interval) * interval`` in exact int64 arithmetic (pre-1970 too).

    Arrow's integer divide truncates toward zero, so a negative remainder steps back one
    bucket.
    """
    width = pa.scalar(interval_ms, pa.int64())
    start = pc.multiply(pc.divide(ts, width), width)
    behind = pc.less(pc.subtract(ts, start), pa.scalar(0, pa.int64()))
    step = pc.if_else(behind, width, pa.scalar(0, pa.int64()))
    return pc.subtract(start, step)  # an Array for an Array, chunked for chunked


def _bucket_starts_from(stamps: pa.Array[Any], interval_ms: int, first: int) -> Any:
    """:func:`bucket_starts` of ``stamps`` whose smallest is ``first``.

    No stamp before 1970: the integer divide's truncation is the floor, two passes of
    the rows instead of six.
    """
    if first < 0:
        return bucket_starts(stamps, interval_ms)
    width = pa.scalar(interval_ms, pa.int64())
    return pc.multiply(pc.divide(stamps, width), width)


_AGGREGATES: dict[
    str, tuple[Any, str]
] = {  # bucket column -> Arrow hash aggregation of the raw rows
    "count": ([], "count_all"),
    "sum": ("value", "sum"),
    "min": ("value", "min"),
    "max": ("value", "max"),
    "last": ("value", "last"),
    "last_ts": ("ts", "max"),
}
_PACK = 2**40  # bucket offsets below this; point numbers above (fits int64 for < 2**22)


def aggregate_rows(
    rows: dict[str, PointRows], interval_ms: int, columns: Sequence[str] | None = None
) -> pa.Table:
    """Per (point_name, bucket) count/sum/min/max/last/last_ts of merged raw rows.

    Sorted by point (in ``rows`` order), then bucket. ``columns`` (``bucket`` and some
    of the others) limits the table to point_name and those: an ``avg`` answer needs
    only count and sum, and each aggregate costs. Values are never null (sample
    invariant), so ``count`` counts rows.

    Point number and bucket are packed into one int64 key. When it is strictly
    increasing every bucket holds one sample (5 min data at 5 min): the buckets are the
    rows themselves, no aggregation. Otherwise one Arrow hash aggregation on the key,
    single-threaded so that input order is kept (a point's rows are strictly increasing
    in ts, so a bucket's ``last`` row is its latest sample), then one sort of the key.
    It replaced a DuckDB query that cost ~10 ms of CPU for 23,000 rows (registering the
    table and planning dominated).
    """
    wanted = [f.name for f in BUCKET_SCHEMA][1:] if columns is None else list(columns)
    unknown = [c for c in wanted if c != "bucket" and c not in _AGGREGATES]
    if unknown:
        raise ValueError(f"aggregate_rows: unknown bucket columns {unknown}")
    schema = pa.schema(
        [BUCKET_SCHEMA.field("point_name"), *(BUCKET_SCHEMA.field(c) for c in wanted)]
    )
    names = [name for name, point in rows.items() if len(point)]
    if not names:
        return schema.empty_table()
    counts = [len(rows[name]) for name in names]
    stamps = pa.chunked_array([rows[name].ts for name in names], pa.int64()).combine_chunks()
    values = pa.chunked_array([rows[name].value for name in names], pa.float64()).combine_chunks()
    # each point's ts increase: the extremes are its ends, and buckets follow ts
    first = min(cast(int, rows[name].ts[0].as_py()) for name in names)
    final = max(cast(int, rows[name].ts[-1].as_py()) for name in names)
    buckets = _bucket_starts_from(stamps, interval_ms, first)
    low = first - first % interval_ms  # Python's % floors: the first bucket's start
    if final - final % interval_ms - low >= _PACK or len(names) >= 2**22:
        return _aggregate_two_keys(names, counts, buckets, stamps, values, wanted, schema)
    # point * _PACK + (bucket - low) in one add: the per-point part repeated once
    shift = [pa.repeat(pa.scalar(i * _PACK - low, pa.int64()), n) for i, n in enumerate(counts)]
    key = pc.add(buckets, pa.concat_arrays(shift))
    if _strictly_increasing(key):
        single: dict[str, Any] = {
            "bucket": buckets,
            "count": pa.repeat(pa.scalar(1, pa.int64()), len(key)),
            "sum": pc.add(values, 0.0),  # as the hash sum: 0.0 + v (-0.0 becomes 0.0)
            "min": values,
            "max": values,
            "last": values,
            "last_ts": stamps,
        }
        name_column = pa.chunked_array(
            [
                pa.repeat(pa.scalar(name, pa.string()), n)
                for name, n in zip(names, counts, strict=True)
            ],
            pa.string(),
        )
        return pa.Table.from_arrays([name_column, *(single[c] for c in wanted)], schema=schema)
    runs = _sorted_key_runs(key)
    if runs is not None:
        stepped = _aggregate_runs(runs, buckets, stamps, values, wanted)
        point_names = pa.array(names, pa.string()).take(pc.shift_right(pc.take(key, runs[0]), 40))
        return pa.Table.from_arrays([point_names, *(stepped[c] for c in wanted)], schema=schema)
    raw = pa.table({"key": key, "value": values, "ts": stamps})
    aggs: list[Any] = [_AGGREGATES[c] for c in wanted if c != "bucket"]
    grouped = raw.group_by(["key"], use_threads=False).aggregate(aggs)
    grouped = grouped.take(pc.sort_indices(grouped.column("key")))
    keys = grouped.column("key")
    arrays: dict[str, Any] = {
        "bucket": pc.add(pc.bit_wise_and(keys, _PACK - 1), low),
        **_grouped_columns(grouped, wanted),
    }
    point_names = pa.array(names, pa.string()).take(pc.shift_right(keys, 40))
    return pa.Table.from_arrays([point_names, *(arrays[c] for c in wanted)], schema=schema)


# Buckets of at most this many rows are aggregated by stepping through their rows (one
# vectorised step per row position); wider ones go to Arrow's hash aggregation.
_MAX_STEPPED_RUN = 16


def _sorted_key_runs(key: pa.Array[Any]) -> tuple[pa.Array[Any], pa.Array[Any], int] | None:
    """(first row, row count, longest count) of each run of equal keys, if keys never decrease.

    Merged rows are in (point, ts) order, so the packed key is non-decreasing and each
    bucket is one run of rows: None (hash aggregation) only for runs too long to step.
    """
    encoded = pc.run_end_encode(key, run_end_type=pa.int64())  # type: ignore[attr-defined]  # absent from pyarrow-stubs
    keys, ends = encoded.values, encoded.run_ends
    if not _strictly_increasing(keys):
        return None
    starts = pa.concat_arrays([pa.array([0], pa.int64()), ends.slice(0, len(ends) - 1)])
    lengths = pc.subtract(ends, starts)
    longest = cast(int, pc.max(lengths).as_py())
    if longest > _MAX_STEPPED_RUN:
        return None
    return starts, lengths, longest


def _aggregate_runs(
    runs: tuple[pa.Array[Any], pa.Array[Any], int],
    buckets: pa.Array[Any],
    stamps: pa.Array[Any],
    values: pa.Array[Any],
    wanted: Sequence[str],
) -> dict[str, Any]:
    """Bucket columns of contiguous runs, exactly as the single-threaded hash aggregation.

    Step ``k`` folds each run's ``k``-th row into its accumulators, so every bucket's
    sum is ``((0.0 + v0) + v1) + ...`` in row order, as Arrow's grouped sum adds; min,
    max and last (the run's final row: ts increases within a point) follow. For 15 min
    buckets of 5 min rows it cost ~1/3 of the hash aggregation and its sort.
    """
    starts, lengths, longest = runs
    ends = pc.subtract(pc.add(starts, lengths), 1)
    out: dict[str, Any] = {"bucket": pc.take(buckets, starts), "count": lengths}
    if "last" in wanted:
        out["last"] = pc.take(values, ends)
    if "last_ts" in wanted:
        out["last_ts"] = pc.take(stamps, ends)
    folds = [c for c in ("sum", "min", "max") if c in wanted]
    if folds:
        first = pc.take(values, starts)
        acc: dict[str, Any] = {
            "sum": pc.add(pa.scalar(0.0, pa.float64()), first),
            "min": first,
            "max": first,
        }
        for k in range(1, longest):
            offset = pa.scalar(k, pa.int64())
            inside = pc.greater(lengths, offset)
            row = pc.take(values, pc.min_element_wise(pc.add(starts, offset), ends))
            for column in folds:
                if column == "sum":
                    step = pc.add(acc["sum"], row)
                elif column == "min":
                    step = pc.min_element_wise(acc["min"], row)
                else:
                    step = pc.max_element_wise(acc["max"], row)
                acc[column] = pc.if_else(inside, step, acc[column])
        out.update((column, acc[column]) for column in folds)
    return out


def _grouped_columns(grouped: pa.Table, wanted: Sequence[str]) -> dict[str, Any]:
    """Bucket columns by name from a hash aggregation's output (Arrow's own names)."""
    out: dict[str, Any] = {}
    for column in wanted:
        if column == "bucket":
            continue
        source, function = _AGGREGATES[column]
        out[column] = grouped.column(function if not source else f"{source}_{function}")
    return out


def _aggregate_two_keys(
    names: list[str],
    counts: list[int],
    buckets: Any,
    stamps: pa.Array[Any],
    values: pa.Array[Any],
    wanted: Sequence[str],
    schema: pa.Schema,
) -> pa.Table:
    """The general aggregation, for keys too wide to pack (buckets over ~35 years)."""
    point = pa.concat_arrays([pa.repeat(pa.scalar(i, pa.int32()), n) for i, n in enumerate(counts)])
    raw = pa.table({"point": point, "bucket": buckets, "value": values, "ts": stamps})
    aggs: list[Any] = [_AGGREGATES[c] for c in wanted if c != "bucket"]
    grouped = raw.group_by(["point", "bucket"], use_threads=False).aggregate(aggs)
    grouped = grouped.sort_by([("point", "ascending"), ("bucket", "ascending")])
    arrays = {"bucket": grouped.column("bucket"), **_grouped_columns(grouped, wanted)}
    point_names = pa.array(names, pa.string()).take(grouped.column("point"))
    return pa.Table.from_arrays([point_names, *(arrays[c] for c in wanted)], schema=schema)


_COLD_AGG_SQL = """
SELECT point_name, ts - (((ts % ?) + ?) % ?) AS bucket, count(*)::BIGINT AS count,
       sum(value) AS sum, min(value) AS min, max(value) AS max, arg_max(value, ts) AS last
FROM (SELECT point_name::VARCHAR AS point_name, epoch_ms(ts) AS ts, value
      FROM read_parquet(?) WHERE point_name IN ({marks}))
{window}
GROUP BY ALL
ORDER BY point_name, bucket
"""


def aggregate_cold_files(
    paths: Sequence[str],
    points: Sequence[str],
    interval_ms: int,
    start_ms: int,
    end_ms: int,
    *,
    clip: bool = True,
) -> pa.Table:
    """Buckets of ``points`` over whole cold day files, aggregated by DuckDB where they lie.

    For days with no hot rows of the asked points (nothing can replace a cold row) and
    no usable rollup: the samples never become Arrow tables in this process, DuckDB
    prunes row groups by the ``point_name`` statistics and aggregates on its own threads,
    as bare DuckDB over the same files does. Sound because every cold file is verified
    when written (``vitals.cold.verify``: only its site and day, (point, ts) order, no
    duplicate keys), so no per-point merge is needed. Same columns as
    :func:`aggregate_rows` but ``last_ts`` (which no answer uses), sorted by point then
    bucket; [start_ms, end_ms) clips the range's first and last day (``clip=False``:
    the files lie wholly inside it, no row is tested).
    """
    if not paths or not points:
        return BUCKET_SCHEMA.empty_table()
    cursor = duckdb_cursor()
    try:
        # one placeholder per point: an IN list of values prunes row groups by their
        # point_name statistics (an IN over unnest() became a join that did not)
        window = "WHERE ts >= ? AND ts < ?" if clip else ""
        sql = _COLD_AGG_SQL.format(marks=", ".join("?" for _ in points), window=window)
        params = [interval_ms] * 3 + [list(paths), *points]
        params += [start_ms, end_ms] if clip else []
        result: pa.Table = cursor.sql(sql, params=params).to_arrow_table()
    finally:
        cursor.close()
    return result.cast(BUCKET_SCHEMA.remove(BUCKET_SCHEMA.get_field_index("last_ts")))


def by_point_sorted(
    tables: Sequence[pa.Table], columns: Sequence[str] = BUCKET_COLUMNS
) -> dict[str, pa.Table]:
    """Bucket tables (from raw and rollups, disjoint buckets) per point, sorted by bucket.

    Each table holds its points in runs (rollup reads: one run per point; raw aggregates:
    sorted by point). The tables are cut into runs of one point; when each run is in
    bucket order and a point's runs do not overlap (always, for real reads), a point is
    its runs in order of their first bucket (a sort of ~30 runs in Python, not of the
    rows), zero-copy slices. Otherwise one stable sort on a packed (point number,
    bucket) key does it. Either way the result is what a stable sort by bucket of each
    point's rows, in table order, gives. Nothing is copied on the common path: freshly
    decoded rollup rows are cold in the CPU caches, and copying a year of names and
    buckets cost more than all the rest.
    """
    kept = [table for table in tables if table.num_rows]
    if not kept:
        return {}
    pieces: list[tuple[str, int, int]] = []
    offset = 0
    for table in kept:
        pieces.extend(_point_runs(table.column("point_name"), offset))
        offset += table.num_rows
    # "default": tables that differ only in nullability (rollup files against raw
    # aggregates) still join; other type differences fail as before
    values = pa.concat_tables(
        [table.select(list(columns)) for table in kept], promote_options="default"
    )
    ordered = _runs_in_order(pieces, values.column("bucket"))
    if ordered is None:
        numbers: dict[str, int] = {}
        for name, _start, _end in pieces:
            numbers.setdefault(name, len(numbers))
        values = values.take(_point_bucket_order(pieces, numbers, values.column("bucket")))
        out: dict[str, pa.Table] = {}
        offset = 0
        counts = dict.fromkeys(numbers, 0)
        for name, start, end in pieces:
            counts[name] += end - start
        for name in numbers:  # numbered in first-seen order: the sorted order
            out[name] = values.slice(offset, counts[name])
            offset += counts[name]
        return out
    return {
        name: values.slice(spans[0][0], spans[0][1] - spans[0][0])
        if len(spans) == 1
        else pa.concat_tables([values.slice(start, end - start) for start, end in spans])
        for name, spans in ordered
    }


_Span = tuple[int, int]


def _point_runs(names: pa.ChunkedArray[Any], offset: int) -> list[tuple[str, int, int]]:
    """(name, start, end) of each run of one point name, chunk by chunk, from ``offset``.

    Runs never span chunks (nor tables): that only makes more runs, never wrong ones.
    Dictionary-encoded names are run on their codes, the names looked up once a chunk.
    """
    pieces: list[tuple[str, int, int]] = []
    for chunk in names.chunks:
        if not len(chunk):
            continue
        if isinstance(chunk, pa.DictionaryArray) and not chunk.null_count:
            encoded = pc.run_end_encode(chunk.indices)  # type: ignore[attr-defined]  # absent from pyarrow-stubs
            words = chunk.dictionary.to_pylist()
            run_names = [words[code] for code in encoded.values.to_pylist()]
        else:
            if isinstance(chunk, pa.DictionaryArray):
                chunk = chunk.cast(pa.string())
            encoded = pc.run_end_encode(chunk)  # type: ignore[attr-defined]  # absent from pyarrow-stubs
            run_names = encoded.values.to_pylist()
        start = 0
        for name, end in zip(run_names, encoded.run_ends.to_pylist(), strict=True):
            pieces.append((name, offset + start, offset + end))
            start = end
        offset += len(chunk)
    return pieces


def _runs_in_order(
    pieces: list[tuple[str, int, int]], bucket: pa.ChunkedArray[Any]
) -> list[tuple[str, list[_Span]]] | None:
    """Per point (first seen first) its runs by first bucket, or None if that is not sorted.

    Sorted means: every run strictly increasing in bucket, and each of a point's runs
    ending before the next one starts.
    """
    n = len(bucket)
    if n > 1:
        steps_up: Any = pc.less(bucket.slice(0, n - 1), bucket.slice(1))
        steps_up = steps_up.combine_chunks()  # chunked in, chunked out
        if not pc.all(steps_up).as_py():
            downs = pc.indices_nonzero(pc.invert(steps_up)).to_pylist()
            run_last = {end - 1 for _, _, end in pieces}
            if not run_last.issuperset(downs):
                return None
    edges = cast(
        list[int],
        bucket.take(
            pa.array([start for _, start, _ in pieces] + [end - 1 for _, _, end in pieces])
        ).to_pylist(),
    )
    first, last = edges[: len(pieces)], edges[len(pieces) :]
    by_point: dict[str, list[int]] = {}
    for i, (name, _start, _end) in enumerate(pieces):
        by_point.setdefault(name, []).append(i)
    ordered: list[tuple[str, list[_Span]]] = []
    for name, runs in by_point.items():
        runs.sort(key=first.__getitem__)
        if any(last[a] >= first[b] for a, b in itertools.pairwise(runs)):
            return None
        ordered.append((name, [(pieces[i][1], pieces[i][2]) for i in runs]))
    return ordered


def _point_bucket_order(
    pieces: list[tuple[str, int, int]], numbers: dict[str, int], bucket: pa.ChunkedArray[Any]
) -> Any:
    """Stable sort indices by (point number, bucket), on one packed int64 when it fits.

    It always fits for real ranges (bucket spans below 2**40 ms, < 2**22 points).
    """
    point = pa.concat_arrays(
        [
            pa.repeat(pa.scalar(numbers[name], pa.int64()), end - start)
            for name, start, end in pieces
        ]
    )
    stamps = bucket.combine_chunks()
    lo, hi = pc.min_max(stamps).values()
    if hi.as_py() - lo.as_py() < 2**40 and len(numbers) < 2**22:
        packed = pc.add(pc.multiply(point, 2**40), pc.subtract(stamps, lo))
        return pc.sort_indices(packed)  # stable: equal keys keep their input order
    keys = pa.table({"point": point, "bucket": stamps})
    return pc.sort_indices(keys, sort_keys=[("point", "ascending"), ("bucket", "ascending")])
