"""Turning merged rows and buckets into chart series: auto interval, aggregates, gap filling.

Semantics (documented in docs/rollups.md, "Query semantics"):
- bucket start = floor(ts / interval) * interval in UTC epoch ms; ``avg`` = sum / count;
  ``last`` = the value at the largest ts in the bucket.
- Without ``fill`` a series lists only buckets that hold samples.
- With ``fill`` ("previous" or "linear") a series lists every bucket from its first to its
  last real bucket. An empty bucket is filled only when its two real neighbours are at
  most ``max_gap_ms`` apart (bucket start to bucket start; ``None`` = no limit); other empty
  buckets are listed with ``None`` so a chart draws a break. Nothing is invented before the
  first or after the last real bucket. ``fill`` is refused for raw queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.query.merge import PointRows
from vitals.query.types import INTERVALS_MS, SeriesResult

AUTO_MAX_BUCKETS = 2000


def choose_auto_interval(start_ms: int, end_ms: int, *, max_buckets: int = AUTO_MAX_BUCKETS) -> str:
    """The finest interval whose bucket count over [start, end) stays <= ``max_buckets``.

    Falls back to the coarsest interval ("1d") when even that exceeds the budget.
    """
    span = end_ms - start_ms
    for name, width in sorted(INTERVALS_MS.items(), key=lambda item: item[1]):
        first = start_ms - start_ms % width
        if (end_ms - 1 - first) // width + 1 <= max_buckets and span > 0:
            return name
    return "1d"


# The bucket columns each aggregate is computed from (avg = sum / count).
_AGG_COLUMNS: dict[str, tuple[str, ...]] = {
    "avg": ("count", "sum"),
    "min": ("min",),
    "max": ("max",),
    "last": ("last",),
}


def bucket_columns(aggs: Sequence[str]) -> tuple[str, ...]:
    """``bucket`` and the bucket columns ``aggs`` need (all of them for an unknown aggregate).

    Reading only these is what makes an ``avg`` answer from rollups cheap: decoding
    columns is most of a rollup read.
    """
    wanted: set[str] = set()
    for agg in aggs:
        wanted.update(_AGG_COLUMNS.get(agg, ("count", "sum", "min", "max", "last")))
    return ("bucket", *(c for c in ("count", "sum", "min", "max", "last") if c in wanted))


def raw_series(point: str, rows: PointRows) -> SeriesResult:
    """Raw samples of one point as a series with values under ``"v"``."""
    stamps = cast(list[int], rows.ts.to_pylist())
    return SeriesResult(point=point, t=stamps, values={"v": rows.value.to_pylist()})


def _agg_columns(buckets: pa.Table, aggs: Sequence[str]) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {}
    for agg in aggs:
        if agg == "avg":
            column = pc.divide(
                buckets.column("sum"), pc.cast(buckets.column("count"), pa.float64())
            )
        else:
            column = buckets.column(agg)
        out[agg] = column.to_pylist()
    return out


def bucket_series(
    point: str,
    buckets: pa.Table,
    aggs: Sequence[str],
    *,
    interval_ms: int,
    fill: str | None,
    max_gap_ms: int | None,
) -> SeriesResult:
    """One point's buckets (sorted, disjoint) as a series, optionally gap-filled."""
    starts = cast(list[int], buckets.column("bucket").to_pylist())
    values = _agg_columns(buckets, aggs)
    if fill is None or len(starts) < 2:
        return SeriesResult(point=point, t=starts, values=values)
    grid_t: list[int] = []
    grid_v: dict[str, list[float | None]] = {agg: [] for agg in aggs}
    for i, start in enumerate(starts):
        if i:
            prev = starts[i - 1]
            gap_ok = max_gap_ms is None or start - prev <= max_gap_ms
            for empty in range(prev + interval_ms, start, interval_ms):
                grid_t.append(empty)
                for agg in aggs:
                    grid_v[agg].append(
                        _filled(values[agg][i - 1], values[agg][i], prev, start, empty, fill)
                        if gap_ok
                        else None
                    )
        grid_t.append(start)
        for agg in aggs:
            grid_v[agg].append(values[agg][i])
    return SeriesResult(point=point, t=grid_t, values=grid_v)


def _filled(
    left: float | None, right: float | None, t0: int, t1: int, t: int, method: str
) -> float | None:
    if left is None or right is None:
        return None
    if method == "previous":
        return left
    return left + (right - left) * (t - t0) / (t1 - t0)
