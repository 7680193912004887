"""M4 downsampling: at most ``max_points`` per series, every column's extremes kept.

The window is cut into at most ``max_points // 4`` columns (a chart's pixel columns); in
each, the samples at the first and last time and the earliest samples holding the
minimum and the maximum value are kept (Jugel et al., "M4", VLDB 2014), so a spike an
average would hide is drawn. A sample that is several of the four is listed once. A
series with at most ``max_points`` samples is returned whole.

The column grid (:func:`m4_grid`) depends on the request only. When the equal-column
width is at least :data:`ALIGN_RATIO` times a stored rollup interval, the grid starts at
the bucket boundary at or before ``start`` and its width is rounded up to a multiple of
the coarsest such interval: every rollup bucket then lies in one column, and each
column's four samples combine from the rollup rows (``first``/``first_ts``,
``last``/``last_ts``, ``min``/``min_ts``, ``max``/``max_ts``) of the days rollups serve
and from raw samples of the others (edge days, hot days, missing, stale or old-layout
rollups). Combining uses the same order as the raw rule, so the answer equals M4 over
the raw samples on that grid. Otherwise the grid is ``max_points // 4`` equal columns
from ``start``, from raw samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.query.merge import PointRows, duckdb_cursor
from vitals.rollups.day import ROLLUP_INTERVALS_MS, read_rollup_rows

if TYPE_CHECKING:
    from vitals.query.engine import QueryEngine, ReadStats
    from vitals.query.plan import QueryPlan

# A rollup interval aligns the grid when the equal-column width is at least this many of
# them: rounding the width up then loses less than 1/ALIGN_RATIO of the columns (a year
# to 1,000 points: 1.46 d columns become 36 h on 1 h rollups, 244 columns of 250; 2 d on
# 1 d rollups would leave 183).
ALIGN_RATIO = 8
INTERVAL_NAMES = {ms: name for name, ms in ROLLUP_INTERVALS_MS.items()}
ROLLUP_READ = ("count", "min", "max", "last", "first", "first_ts", "last_ts", "min_ts", "max_ts")

# Per column: the earliest and latest sample, and the earliest sample holding the min and
# the max (a struct orders by value, then time; -0.0 and 0.0 compare equal). Raw rows and
# rollup rows (``rolled``) become parts of one shape, combined per column by the same order.
_SQL = """
WITH parts AS (
    SELECT p, (ts - $origin) // $width AS c, count(*) AS n,
        min(ts) AS a, arg_min(v, ts) AS av, max(ts) AS z, arg_max(v, ts) AS zv,
        arg_min(ts, {'v': v, 't': ts}) AS lo, min(v) AS lov,
        arg_max(ts, {'v': v, 'n': -ts}) AS hi, max(v) AS hiv
    FROM rows GROUP BY p, c
    UNION ALL
    SELECT point_name, (bucket - $origin) // $width, count,
        first_ts, "first", last_ts, "last", min_ts, "min", max_ts, "max"
    FROM rolled
),
k AS (
    SELECT p, min(a) AS a, arg_min(av, a) AS av, max(z) AS z, arg_max(zv, z) AS zv,
        arg_min(lo, {'v': lov, 't': lo}) AS lo, min(lov) AS lov,
        arg_max(hi, {'v': hiv, 'n': -hi}) AS hi, max(hiv) AS hiv
    FROM parts GROUP BY p, c
),
u AS (
    SELECT p, a AS ts, av AS v FROM k UNION ALL SELECT p, z, zv FROM k
    UNION ALL SELECT p, lo, lov FROM k UNION ALL SELECT p, hi, hiv FROM k
)
SELECT p, ts, any_value(v) AS v FROM u GROUP BY p, ts ORDER BY p, ts
"""


@dataclass(frozen=True)
class M4Grid:
    """Columns ``[origin + i * width, origin + (i + 1) * width)`` covering the window."""

    origin: int
    width: int
    columns: int
    interval_ms: int | None  # the rollup interval the grid is aligned to, or None

    def describe(self) -> dict[str, object]:
        """What an answer says about its grid (docs/query.md)."""
        return {
            "origin": self.origin,
            "width_ms": self.width,
            "columns": self.columns,
            "aligned_to": INTERVAL_NAMES.get(self.interval_ms or 0),
        }


def column_width(start_ms: int, end_ms: int, max_points: int) -> int:
    """Milliseconds per equal M4 column: ``max_points // 4`` columns over the window."""
    columns = max(1, max_points // 4)
    return max(1, -(-(end_ms - start_ms) // columns))


def m4_grid(start_ms: int, end_ms: int, max_points: int) -> M4Grid:
    """The column grid of an M4 answer (see the module docstring); at most N/4 columns."""
    most = max(1, max_points // 4)
    equal = column_width(start_ms, end_ms, max_points)
    for interval in sorted(ROLLUP_INTERVALS_MS.values(), reverse=True):
        if interval * ALIGN_RATIO <= equal:
            origin = start_ms - start_ms % interval  # floor (Python's % is a floor modulo)
            width = interval * -(-(end_ms - origin) // (most * interval))
            return M4Grid(origin, width, -(-(end_ms - origin) // width), interval)
    return M4Grid(start_ms, equal, -(-(end_ms - start_ms) // equal), None)


def m4_answer(
    engine: QueryEngine, plan: QueryPlan, stats: ReadStats
) -> tuple[dict[str, tuple[list[int], list[float | None]]], M4Grid]:
    """Per point (t, v) after M4 on the plan's grid, from rollups where they serve."""
    assert plan.max_points is not None
    grid = m4_grid(plan.start_ms, plan.end_ms, plan.max_points)
    if grid.interval_ms is None or not engine.use_rollups:
        rows = engine.read_raw(plan, stats)
        return m4_points(rows, grid, plan.max_points), grid
    rows, items, _days = engine.m4_inputs(plan, INTERVAL_NAMES[grid.interval_ms], stats)
    rolled = read_rollup_rows(
        items, plan.points, grid.interval_ms, counters=stats.counters, columns=ROLLUP_READ
    )
    rolled_table = pa.concat_tables(rolled) if rolled else None
    counts = _sample_counts(rows, rolled_table)
    # a series of at most max_points samples is returned whole: read its rollup days raw
    served = _names_of(rolled_table) if rolled_table is not None else set()
    whole = [n for n in plan.points if n in served and counts.get(n, 0) <= plan.max_points]
    found = m4_points(rows, grid, plan.max_points, rolled=rolled_table, skip=set(whole))
    if whole:
        raw = engine.read_raw(replace(plan, points=tuple(whole)), stats)
        found.update(m4_points(raw, grid, plan.max_points))
    return found, grid


def _names_of(table: pa.Table) -> set[str]:
    return set(cast(list[str], table.column("point_name").unique().to_pylist()))


def _sample_counts(rows: Mapping[str, PointRows], rolled: pa.Table | None) -> dict[str, int]:
    """Samples per point in the window: raw rows plus the rollup rows' counts."""
    counts = {name: len(point) for name, point in rows.items()}
    if rolled is not None and rolled.num_rows:
        grouped = rolled.group_by("point_name").aggregate([("count", "sum")])
        names = cast(list[str], grouped.column("point_name").to_pylist())
        totals = cast(list[int], grouped.column("count_sum").to_pylist())
        for name, total in zip(names, totals, strict=True):
            counts[name] = counts.get(name, 0) + int(total)
    return counts


def _empty_rolled() -> pa.Table:
    fields: list[pa.Field[Any]] = [
        pa.field("point_name", pa.string()),
        pa.field("bucket", pa.int64()),
    ]
    for name in ROLLUP_READ:
        kind = pa.int64() if name == "count" or name.endswith("_ts") else pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields).empty_table()


def m4_points(
    rows: Mapping[str, PointRows],
    grid: M4Grid,
    max_points: int,
    *,
    rolled: pa.Table | None = None,
    skip: set[str] | None = None,
) -> dict[str, tuple[list[int], list[float | None]]]:
    """Per point (t, v) after M4 on ``grid`` (or all samples when they fit).

    ``rolled``: rollup rows (point_name, bucket and :data:`ROLLUP_READ`) of days that
    ``rows`` do not hold; a point with rollup rows is always downsampled (the caller
    returns small ones whole). Points in ``skip`` are left out.
    """
    skip = skip or set()
    out: dict[str, tuple[list[int], list[float | None]]] = {}
    rolled_names = _names_of(rolled) if rolled is not None and rolled.num_rows else set()
    big: list[str] = []
    for name, point in rows.items():
        if name in skip:
            continue
        if len(point) <= max_points and name not in rolled_names:
            out[name] = (
                cast(list[int], point.ts.to_pylist()),
                cast(list[float | None], point.value.to_pylist()),
            )
        else:
            big.append(name)
    big += sorted(rolled_names - set(big) - skip - set(out))
    if not big:
        return out
    raw = [n for n in big if n in rows and len(rows[n])]
    parts: list[pa.Array[Any]] = [pa.repeat(pa.scalar(n, pa.string()), len(rows[n])) for n in raw]
    table = pa.table(
        {
            "p": pa.chunked_array(parts, pa.string()),
            "ts": pa.chunked_array([rows[n].ts for n in raw], pa.int64()),
            "v": pa.chunked_array([rows[n].value for n in raw], pa.float64()),
        }
    )
    rolled = _empty_rolled() if rolled is None else _keep_points(rolled, skip)
    cursor = duckdb_cursor()
    try:
        cursor.register("rows", table)
        cursor.register("rolled", rolled)
        kept = cursor.sql(
            _SQL, params={"origin": grid.origin, "width": grid.width}
        ).to_arrow_table()
    finally:
        cursor.close()
    names = kept.column("p").to_pylist()
    stamps = kept.column("ts").to_pylist()
    values = kept.column("v").to_pylist()
    for name in big:
        out[name] = ([], [])
    for name, ts, value in zip(names, stamps, values, strict=True):
        out[name][0].append(ts)
        out[name][1].append(value)
    return out


def _keep_points(table: pa.Table, skip: set[str]) -> pa.Table:
    """Rows of ``table`` whose point is not in ``skip``."""
    if not skip:
        return table
    mask = pc.invert(pc.is_in(table.column("point_name"), value_set=pa.array(sorted(skip))))
    return table.filter(mask)
