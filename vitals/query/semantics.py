"""Building-data answers: local buckets, history modes, seeded fill, M4, units, quality.

:meth:`vitals.query.engine.QueryEngine.execute` hands every plan that is not a plain
UTC bucket answer here. Three ways to answer, chosen from the plan:
- ``m4``: per series at most ``max_points``, from stored rollups where the column grid
  aligns to them and merged raw rows elsewhere (:mod:`vitals.query.m4`);
- aggregates that need raw samples in order (twavg, first, delta, on_time, starts, and
  ``avg`` of a cov / binary / consumption point): :mod:`vitals.query.aggregates`;
- the rest (avg of sampled points, min, max, last, count, sum) compose from UTC
  sub-buckets, so stored rollups answer them in any zone: the plain engine path runs
  at the sub-bucket (1 h when every local edge is on a UTC hour, else 15 min) and
  ``_composed`` merges them into local buckets.
Then fill (seeded), unit conversion (never silent: each series names its unit and the
unit it was converted from) and the optional quality object.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.point_tags import TEMPERATURE_UNITS, convert_temperature, temperature_scale
from vitals.query.aggregates import AVG_KIND, MODE_ONLY, RAW_ONLY, bucket_aggregates
from vitals.query.fill import fill_series, utc_grid
from vitals.query.local_time import HOUR_MS, QUARTER_MS, sub_width
from vitals.query.m4 import M4Grid, m4_answer
from vitals.query.plan import QueryPlan, check_sample_count
from vitals.query.point_meta import PointInfo
from vitals.query.seed import last_before
from vitals.query.types import INTERVALS_MS, BadQueryError, QueryResult, SeriesResult
from vitals.windows import now_ms

if TYPE_CHECKING:
    from vitals.query.engine import QueryEngine, ReadStats

SUB_NAMES = {HOUR_MS: "1h", QUARTER_MS: "15m", 60_000: "1m"}
COMPOSED = ("count", "sum", "min", "max", "last")
AFFINE = frozenset({"avg", "twavg", "min", "max", "first", "last", "v"})


def needs_raw(plan: QueryPlan) -> bool:
    """Whether an aggregate of the plan needs raw samples in time order."""
    if any(agg in RAW_ONLY for agg in plan.aggs):
        return True
    return "avg" in plan.aggs and any(mode != "sampled" for mode in plan.modes)


def execute(engine: QueryEngine, plan: QueryPlan, stats: ReadStats) -> QueryResult:
    """Answer a plan that is not plain (see the module docstring)."""
    started = time.perf_counter()
    infos = engine.facts.points(plan.site, list(plan.points)) if engine.facts else {}
    _check_units(plan, infos)
    modes = dict(zip(plan.points, plan.modes, strict=False))
    grid: list[int] = []
    m4_grid: M4Grid | None = None
    if plan.interval == "m4":
        found, m4_grid = m4_answer(engine, plan, stats)
        per_point = {name: (found[name][0], {"v": found[name][1]}) for name in plan.points}
    else:
        width = plan.interval_ms
        assert width is not None
        edges = list(plan.edges) if plan.edges is not None else None
        grid = edges[:-1] if edges is not None else utc_grid(plan.start_ms, plan.end_ms, width)
        if needs_raw(plan):
            rows = engine.read_raw(plan, stats)
            seeds = last_before(engine, plan, stats)
            all_edges = edges if edges is not None else [*grid, grid[-1] + width]
            per_point = bucket_aggregates(
                rows,
                seeds,
                all_edges,
                start_ms=plan.start_ms,
                cap_ms=min(plan.end_ms, now_ms()),
                aggs=plan.aggs,
                modes=modes,
            )
        else:
            per_point = _composed(engine, plan, stats, edges)
        if plan.fill is not None:
            seeds = last_before(engine, plan, stats)
            per_point = {
                name: fill_series(
                    t,
                    values,
                    grid,
                    method=plan.fill,
                    max_gap_ms=plan.max_gap_ms,
                    seed=seeds.get(name),
                )
                for name, (t, values) in per_point.items()
            }
    series = [
        _series(plan, name, *per_point[name], infos.get(name), modes.get(name, "sampled"))
        for name in plan.points
    ]
    if plan.quality:
        from vitals.quality.summary import series_quality  # the quality package sits below

        for item in series:
            item.meta["quality"] = series_quality(
                engine.cold,  # type: ignore[arg-type]  # a ColdStore: it has get_bytes
                plan.site,
                item.point,
                plan.start_ms,
                plan.end_ms,
            )
    check_sample_count(sum(len(s.t) for s in series), engine.limits)
    extra: dict[str, object] = {"tz": plan.tz, "tz_source": plan.tz_source}
    if plan.max_points is not None:
        extra["max_points"] = plan.max_points
    if m4_grid is not None:
        extra["m4_grid"] = m4_grid.describe()
    if plan.unit is not None:
        extra["unit"] = plan.unit
    return QueryResult(
        site=plan.site,
        start_ms=plan.start_ms,
        end_ms=plan.end_ms,
        interval=plan.interval,
        aggs=plan.aggs,
        series=series,
        tiers=tuple(t for t in ("hot", "cold", "rollup") if t in stats.tiers),
        sources=stats.sources,
        samples=sum(len(s.t) for s in series),
        elapsed_ms=(time.perf_counter() - started) * 1000,
        extra=extra,
    )


def _composed(
    engine: QueryEngine, plan: QueryPlan, stats: ReadStats, edges: list[int] | None
) -> dict[str, tuple[list[int], dict[str, list[float | None]]]]:
    """count/sum/min/max/last per bucket through the plain path (rollups), composed.

    Local buckets are merged from the UTC sub-buckets in Arrow (a slot -> local bucket
    lookup and one ordered group-by per point): a year at 1 h is 8,760 sub-buckets a
    point, never turned into Python values.
    """
    interval = plan.interval if edges is None else SUB_NAMES[sub_width(edges)]
    sub = QueryPlan(
        plan.site, plan.points, plan.start_ms, plan.end_ms, interval, COMPOSED, None, None
    )
    per_point, empty = engine.bucket_tables(sub, stats)
    lookup: pa.Array[Any] | None = None
    if edges is not None:
        width = INTERVALS_MS[interval]
        slots: list[int] = []
        for i in range(len(edges) - 1):
            slots.extend([i] * ((edges[i + 1] - edges[i]) // width))
        lookup = pa.array(slots, pa.int64())
    out: dict[str, tuple[list[int], dict[str, list[float | None]]]] = {}
    for name in plan.points:
        table = per_point.get(name, empty)
        if lookup is not None and edges is not None and table.num_rows:
            slot = pc.divide(pc.subtract(table.column("bucket"), edges[0]), INTERVALS_MS[interval])
            index = pc.take(lookup, slot)
            grouped = (
                table.append_column("i", index)
                .group_by("i", use_threads=False)
                .aggregate(
                    [
                        ("count", "sum"),
                        ("sum", "sum"),
                        ("min", "min"),
                        ("max", "max"),
                        ("last", "last"),
                    ]
                )
                .sort_by("i")
            )
            table = pa.table(
                {
                    "bucket": pc.take(pa.array(edges[:-1], pa.int64()), grouped.column("i")),
                    "count": grouped.column("count_sum"),
                    "sum": grouped.column("sum_sum"),
                    "min": grouped.column("min_min"),
                    "max": grouped.column("max_max"),
                    "last": grouped.column("last_last"),
                }
            )
        values: dict[str, list[float | None]] = {}
        for agg in plan.aggs:
            if agg == "avg":
                column = pc.divide(
                    table.column("sum"), pc.cast(table.column("count"), pa.float64())
                )
            else:
                column = pc.cast(table.column(agg), pa.float64())
            values[agg] = cast(list[float | None], column.to_pylist())
        out[name] = (cast(list[int], table.column("bucket").to_pylist()), values)
    return out


def _check_units(plan: QueryPlan, infos: dict[str, PointInfo]) -> None:
    """A sum of temperatures has no meaning in another unit: refused, not converted."""
    if plan.unit is None or "sum" not in plan.aggs:
        return
    for name in plan.points:
        info = infos.get(name)
        if info and info.unit in TEMPERATURE_UNITS and info.unit != plan.unit:
            raise BadQueryError(
                f"agg=sum of temperature point {name[:120]!r} cannot be converted to "
                f"{plan.unit}; ask for avg/min/max or drop unit="
            )


def _series(
    plan: QueryPlan,
    name: str,
    t: list[int],
    values: dict[str, list[float | None]],
    info: PointInfo | None,
    mode: str,
) -> SeriesResult:
    meta: dict[str, object] = {"history_mode": mode}
    if info is not None:
        meta["history_mode_source"] = info.mode_source
        meta["unit"] = info.unit
    if "avg" in plan.aggs:
        meta["avg_kind"] = AVG_KIND.get(mode, AVG_KIND["sampled"])
    skipped = [agg for agg in plan.aggs if agg in MODE_ONLY and mode not in MODE_ONLY[agg]]
    if skipped:
        meta["not_applicable"] = skipped
    unit = info.unit if info else None
    if plan.unit is not None:
        if unit in TEMPERATURE_UNITS and unit != plan.unit:
            assert unit is not None
            values = _convert(values, unit, plan.unit)
            meta["unit"] = plan.unit
            meta["converted_from"] = unit
        else:
            meta["converted_from"] = None  # not a temperature in another unit: as stored
    return SeriesResult(point=name, t=t, values=values, meta=meta)


def _convert(
    values: dict[str, list[float | None]], unit: str, to_unit: str
) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {}
    scale = temperature_scale(unit, to_unit)
    for agg, column in values.items():
        if agg in AFFINE:
            out[agg] = [
                None if v is None else convert_temperature(v, unit, to_unit) for v in column
            ]
        elif agg == "delta":
            out[agg] = [None if v is None else v * scale for v in column]
        else:
            out[agg] = column
    return out
