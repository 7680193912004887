"""Per-point slices of rollup row groups cut by position, without a row mask.

Why: a month file's 1 h read of 3 points decodes ~27,000 rows (12 points a group) and
keeps ~2,200; the generic read (:func:`vitals.cold.point_reads.read_points`) then builds
a name mask, a window mask and a filtered copy of every column, casts the names to plain
strings and splits the result by point again: ~0.6 ms of a 1.2 ms read. Rollup writers
keep a group's rows of one point together (sorted by point, then bucket), so the rows of
a point are runs of one dictionary code: slicing those runs is zero-copy, and only the
few rows kept are cast. Exactness does not rest on the sort: every run of a wanted code
is kept in file order, and the window is checked on each slice (all in it: kept whole,
else filtered). Groups that may hold another interval, or names that are not one
dictionary per group, return ``None``: the caller takes the generic read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.cold.point_reads import FileIndex, FileRead, ReadCounters, file_index

_TS = pa.timestamp("ms", tz="UTC")


def read_point_slices(
    item: FileRead,
    points: Sequence[str],
    interval_ms: int,
    value_columns: Sequence[str],
    ts_columns: frozenset[str],
    *,
    counters: ReadCounters | None = None,
    index: FileIndex | None = None,
) -> dict[str, pa.Table] | None:
    """Point -> its rows (point_name, bucket, ``value_columns``) in the item's window.

    The same tables the generic read and split give (plain string names, int64 ms
    times, file types otherwise), or ``None`` when this path does not apply.
    """
    index = index if index is not None else file_index(item.path)
    if not index.group_intervals:
        return None
    groups = index.groups_for(points, interval_ms)
    if not groups or any(index.group_intervals[g] != (interval_ms, interval_ms) for g in groups):
        return None  # no group (the generic read builds the empty schema) or mixed intervals
    if counters is not None:
        counters.add(
            files=1,
            total=len(index.group_rows),
            read=len(groups),
            rows=sum(index.group_rows[g] for g in groups),
        )
    parquet = pq.ParquetFile(
        item.path, metadata=index.metadata, memory_map=False, read_dictionary=["point_name"]
    )
    table = _times_as_ms(
        parquet.read_row_groups(
            groups, columns=["point_name", "bucket_ts", *value_columns], use_threads=False
        ),
        ts_columns,
    )
    asked = frozenset(points)
    parts: dict[str, list[pa.Table]] = {point: [] for point in points}
    offset = 0
    for chunk in table.column("point_name").chunks:
        if not isinstance(chunk, pa.DictionaryArray) or chunk.null_count:
            return None
        names = chunk.dictionary.to_pylist()
        if not asked.intersection(names):
            offset += len(chunk)
            continue
        runs = pc.run_end_encode(chunk.indices)  # type: ignore[attr-defined]  # not in pyarrow-stubs
        start = 0
        for code, end in zip(runs.values.to_pylist(), runs.run_ends.to_pylist(), strict=True):
            name = names[code]
            if name in asked:
                parts[name].append(table.slice(offset + start, end - start))
            start = end
        offset += len(chunk)
    out: dict[str, pa.Table] = {}
    for point in points:
        pieces = parts[point] or [table.slice(0, 0)]
        found = _plain_names(pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces))
        out[point] = _in_window(found, item.start_ms, item.end_ms)
    return out


def _in_window(table: pa.Table, start_ms: int, end_ms: int) -> pa.Table:
    """Rows whose bucket (int64 ms) is in [start_ms, end_ms): the table itself when all are."""
    ts = table.column("bucket")
    bounds = cast(dict[str, Any], pc.min_max(ts).as_py())
    low, high = bounds["min"], bounds["max"]
    if low is not None and low >= start_ms and high < end_ms and ts.null_count == 0:
        return table
    start, end = pa.scalar(start_ms, pa.int64()), pa.scalar(end_ms, pa.int64())
    keep = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
    return table.filter(keep)


def _times_as_ms(table: pa.Table, ts_columns: frozenset[str]) -> pa.Table:
    """``bucket_ts`` (renamed ``bucket``) and sample times as int64 epoch ms, once a read."""
    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if (name == "bucket_ts" or name in ts_columns) and pa.types.is_timestamp(column.type):
            column = column.cast(_TS).cast(pa.int64())
        columns["bucket" if name == "bucket_ts" else name] = column
    return pa.table(columns)


def _plain_names(table: pa.Table) -> pa.Table:
    """A slice's names as plain strings (only the rows kept pay for the strings)."""
    column = table.column("point_name")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_large_string(column.type):
        column = column.cast(pa.string())
    return table.set_column(0, "point_name", column)
