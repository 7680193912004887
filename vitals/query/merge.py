"""Merge the two tiers per point (hot wins) and aggregate into UTC buckets with DuckDB.

Cold day files are sorted by (point_name, ts) and days do not overlap, so a point's cold
rows are already in time order when its per-file runs are taken in day order: no global
sort of millions of rows. Hot rows replace cold rows with the same (point, ts) key
(docs/design.md invariant 4). A defensive check re-sorts and de-duplicates a point whose cold
rows are not strictly increasing, so a malformed file can never produce duplicates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

BUCKET_COLUMNS = ("bucket", "count", "sum", "min", "max", "last")

_AGG_SQL = """
SELECT point_name,
       ts - (((ts % $iv) + $iv) % $iv) AS bucket,
       count(*)::BIGINT AS count,
       sum(value) AS sum,
       min(value) AS min,
       max(value) AS max,
       arg_max(value, ts) AS last,
       max(ts) AS last_ts
FROM raw_rows
GROUP BY ALL
"""

_conn_lock = threading.Lock()
_conn: duckdb.DuckDBPyConnection | None = None


def duckdb_cursor() -> duckdb.DuckDBPyConnection:
    """A cursor on the process's long-lived in-memory DuckDB database (one per query)."""
    global _conn
    with _conn_lock:
        if _conn is None:
            _conn = duckdb.connect(":memory:")
        return _conn.cursor()


@dataclass(frozen=True)
class PointRows:
    """One point's merged samples: int64 epoch ms ``ts`` (strictly increasing) and values."""

    ts: pa.Array[Any]
    value: pa.Array[Any]

    def __len__(self) -> int:
        return len(self.ts)


def collect_runs(tables: Iterable[pa.Table]) -> dict[str, list[pa.Table]]:
    """Split tables sorted by point_name into per-point (ts, value) pieces, in input order."""
    pieces: dict[str, list[pa.Table]] = {}
    for table in tables:
        if table.num_rows == 0:
            continue
        runs = pc.run_end_encode(table.column("point_name").combine_chunks())  # type: ignore[attr-defined]  # absent from pyarrow-stubs
        start = 0
        for name, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            pieces.setdefault(name, []).append(
                table.slice(start, end - start).select(["ts", "value"])
            )
            start = end
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


def aggregate_rows(rows: dict[str, PointRows], interval_ms: int) -> pa.Table:
    """Per (point_name, bucket) count/sum/min/max/last/last_ts of merged raw rows."""
    names: list[pa.Array[Any]] = []
    stamps: list[pa.Array[Any]] = []
    values: list[pa.Array[Any]] = []
    for name, point in rows.items():
        if len(point):
            names.append(pa.repeat(pa.scalar(name, pa.string()), len(point)))
            stamps.append(point.ts)
            values.append(point.value)
    fields: list[pa.Field[Any]] = [
        pa.field("point_name", pa.string()),
        pa.field("bucket", pa.int64()),
        pa.field("count", pa.int64()),
        pa.field("sum", pa.float64()),
        pa.field("min", pa.float64()),
        pa.field("max", pa.float64()),
        pa.field("last", pa.float64()),
        pa.field("last_ts", pa.int64()),
    ]
    schema = pa.schema(fields)
    if not names:
        return schema.empty_table()
    raw_rows = pa.table(
        {
            "point_name": pa.chunked_array(names),
            "ts": pa.chunked_array(stamps),
            "value": pa.chunked_array(values),
        }
    )
    cursor = duckdb_cursor()
    try:
        cursor.register("raw_rows", raw_rows)
        result: pa.Table = cursor.sql(_AGG_SQL, params={"iv": interval_ms}).to_arrow_table()
    finally:
        cursor.close()
    return result.cast(schema)


def by_point_sorted(tables: Sequence[pa.Table]) -> dict[str, pa.Table]:
    """Bucket tables (from raw and rollups, disjoint buckets) per point, sorted by bucket."""
    if not tables:
        return {}
    combined = pa.concat_tables([t.select(["point_name", *BUCKET_COLUMNS]) for t in tables])
    combined = combined.sort_by([("point_name", "ascending"), ("bucket", "ascending")])
    return {name: pa.concat_tables(parts) for name, parts in collect_bucket_runs(combined).items()}


def collect_bucket_runs(table: pa.Table) -> dict[str, list[pa.Table]]:
    """Like :func:`collect_runs` but keeps every bucket column."""
    out: dict[str, list[pa.Table]] = {}
    if table.num_rows == 0:
        return out
    runs = pc.run_end_encode(table.column("point_name").combine_chunks())  # type: ignore[attr-defined]  # absent from pyarrow-stubs
    start = 0
    for name, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
        out.setdefault(name, []).append(
            table.slice(start, end - start).select(list(BUCKET_COLUMNS))
        )
        start = end
    return out
