"""Per-point slices of rollup row groups cut by position, without a row mask.

Why: a month file's 1 h read of 3 points decodes ~27,000 rows (12 points a group) and
keeps ~2,200; the generic read (:func:`vitals.cold.point_reads.read_points`) then builds
a name mask, a window mask and a filtered copy of every column, casts the names to plain
strings and splits the result by point again: ~0.6 ms of a 1.2 ms read. Rollup writers
keep a group's rows of one point together (sorted by point, then bucket), so the rows of
a point are runs of one dictionary code: slicing those runs is zero-copy, and a kept
slice's names are one string repeated (``pa.repeat``; a dictionary cast per slice was
~50 us). Exactness does not rest on the sort: every run of a wanted code is kept in file
order, and the window is checked on every row read (all in it: slices kept whole, else
each slice filtered). Groups that may hold another interval, or names that are not one
dictionary per group, return ``None``: the caller takes the generic read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.cold.point_reads import READERS, FileIndex, FileRead, ReadCounters, file_index
from vitals.rollups.group_runs import GROUP_RUNS, GroupRuns, group_runs

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
        counters.add_file(index, groups)
    version = (index.path, index.mtime_ns, index.size)
    layouts = GROUP_RUNS.get_all(version, groups)
    names = [] if layouts is not None else ["point_name"]  # known runs: no names decoded
    with READERS.reader(index) as parquet:
        table = parquet.read_row_groups(
            groups, columns=[*names, "bucket_ts", *value_columns], use_threads=False
        )
    if table.num_rows != sum(index.group_rows[g] for g in groups):
        return None  # not the footer's rows: leave it to the generic read
    if layouts is None:
        layouts = _learn_runs(table.column("point_name"), version, groups, index)
        if layouts is None:
            return None
        table = table.drop_columns(["point_name"])
    runs = _point_runs(layouts, [index.group_rows[g] for g in groups], points)
    data = _times_as_ms(table, ts_columns)
    # one window check of every row read (a month read usually asks the whole file's
    # span): only when some row is outside is each point's slice filtered
    inside = _all_in_window(data.column("bucket"), item.start_ms, item.end_ms)
    out: dict[str, pa.Table] = {}
    for point in points:
        pieces = [data.slice(offset, length) for offset, length in runs[point]]
        found = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces or [data.slice(0, 0)])
        if not inside:
            found = _in_window(found, item.start_ms, item.end_ms)
        name = pa.repeat(pa.scalar(point, pa.string()), found.num_rows)
        out[point] = found.add_column(0, "point_name", name)
    return out


def _learn_runs(
    names: pa.ChunkedArray[Any],
    version: tuple[str, int, int],
    groups: Sequence[int],
    index: FileIndex,
) -> list[GroupRuns] | None:
    """Each group's run layout from its decoded names (kept for later reads).

    ``None`` when the names are not one dictionary chunk per group without nulls.
    """
    chunks = names.chunks
    if len(chunks) != len(groups):
        return None
    layouts: list[GroupRuns] = []
    for group, chunk in zip(groups, chunks, strict=True):
        layout = group_runs(chunk)
        if layout is None or len(chunk) != index.group_rows[group]:
            return None
        layouts.append(layout)
    for group, layout in zip(groups, layouts, strict=True):
        GROUP_RUNS.put(version, group, layout)
    return layouts


def _point_runs(
    layouts: Sequence[GroupRuns], group_rows: Sequence[int], points: Sequence[str]
) -> dict[str, list[tuple[int, int]]]:
    """Point -> (offset, length) of each run of its rows in the read table, in file order."""
    asked = frozenset(points)
    runs: dict[str, list[tuple[int, int]]] = {point: [] for point in points}
    base = 0
    for (run_names, run_ends), rows in zip(layouts, group_rows, strict=True):
        start = 0
        for name, end in zip(run_names, run_ends, strict=True):
            if name in asked:
                runs[name].append((base + start, end - start))
            start = end
        base += rows
    return runs


def _all_in_window(ts: pa.ChunkedArray[Any], start_ms: int, end_ms: int) -> bool:
    """Whether every bucket (int64 ms, no nulls) is in [start_ms, end_ms)."""
    if ts.null_count:
        return False
    bounds = cast(dict[str, Any], pc.min_max(ts).as_py())
    low, high = bounds["min"], bounds["max"]
    return low is None or (low >= start_ms and high < end_ms)


def _in_window(table: pa.Table, start_ms: int, end_ms: int) -> pa.Table:
    """Rows whose bucket (int64 ms) is in [start_ms, end_ms): the table itself when all are."""
    if _all_in_window(table.column("bucket"), start_ms, end_ms):
        return table
    ts = table.column("bucket")
    start, end = pa.scalar(start_ms, pa.int64()), pa.scalar(end_ms, pa.int64())
    keep = pc.and_(pc.greater_equal(ts, start), pc.less(ts, end))
    return table.filter(keep)


def _times_as_ms(table: pa.Table, ts_columns: frozenset[str]) -> pa.Table:
    """``bucket_ts`` (renamed ``bucket``) and sample times as int64 epoch ms, once a read.

    Millisecond timestamps are viewed as int64 (their stored value, no copy); another unit
    is converted by a cast.
    """
    columns: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        if (name == "bucket_ts" or name in ts_columns) and pa.types.is_timestamp(column.type):
            if str(cast(pa.TimestampType, column.type).unit) == "ms":
                column = pa.chunked_array([c.view(pa.int64()) for c in column.chunks], pa.int64())
            else:
                column = column.cast(_TS).cast(pa.int64())
        columns["bucket" if name == "bucket_ts" else name] = column
    return pa.table(columns)
