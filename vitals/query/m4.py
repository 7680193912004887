"""M4 downsampling: at most ``max_points`` per series, every column's extremes kept.

The window is cut into ``max_points // 4`` equal columns (a chart's pixel columns); in
each, the samples at the first and last time and at the minimum and maximum value are
kept (Jugel et al., "M4", VLDB 2014), so a spike an average would hide is drawn. A
series with at most ``max_points`` samples is returned whole. Ties on an extreme keep
one of the tied samples; a sample that is several of the four is listed once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pyarrow as pa

from vitals.query.merge import PointRows, duckdb_cursor

# One GROUP BY gives each column's four samples directly (no join back to the rows).
_SQL = """
WITH k AS (
    SELECT p, min(ts) AS a, arg_min(v, ts) AS av, max(ts) AS z, arg_max(v, ts) AS zv,
        arg_min(ts, v) AS lo, min(v) AS lov, arg_max(ts, v) AS hi, max(v) AS hiv
    FROM rows GROUP BY p, (ts - $start) // $width
),
u AS (
    SELECT p, a AS ts, av AS v FROM k UNION ALL SELECT p, z, zv FROM k
    UNION ALL SELECT p, lo, lov FROM k UNION ALL SELECT p, hi, hiv FROM k
)
SELECT p, ts, any_value(v) AS v FROM u GROUP BY p, ts ORDER BY p, ts
"""


def column_width(start_ms: int, end_ms: int, max_points: int) -> int:
    """Milliseconds per M4 column: ``max_points // 4`` columns over the window."""
    columns = max(1, max_points // 4)
    return max(1, -(-(end_ms - start_ms) // columns))


def m4_points(
    rows: Mapping[str, PointRows], start_ms: int, end_ms: int, max_points: int
) -> dict[str, tuple[list[int], list[float | None]]]:
    """Per point (t, v) after M4 (or all samples when they fit)."""
    out: dict[str, tuple[list[int], list[float | None]]] = {}
    big: list[str] = []
    for name, point in rows.items():
        if len(point) <= max_points:
            out[name] = (
                cast(list[int], point.ts.to_pylist()),
                cast(list[float | None], point.value.to_pylist()),
            )
        else:
            big.append(name)
    if not big:
        return out
    parts: list[pa.Array[Any]] = [pa.repeat(pa.scalar(n, pa.string()), len(rows[n])) for n in big]
    table = pa.table(
        {
            "p": pa.chunked_array(parts, pa.string()),
            "ts": pa.chunked_array([rows[n].ts for n in big], pa.int64()),
            "v": pa.chunked_array([rows[n].value for n in big], pa.float64()),
        }
    )
    cursor = duckdb_cursor()
    try:
        cursor.register("rows", table)
        kept = cursor.sql(
            _SQL, params={"start": start_ms, "width": column_width(start_ms, end_ms, max_points)}
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
