"""Aggregates that need raw samples in time order: time-weighted, state, totaliser, first.

One DuckDB statement per query computes, per point and bucket ``[b, e)``:
- ``count``, ``sum``, ``min``, ``max``, ``first``, ``last`` of the samples in the bucket;
- ``twavg``: the time-weighted mean, each value holding until the next sample (COV
  semantics); the value in force at the window start comes from the *seed*, the last
  sample before the window (:mod:`vitals.query.seed`), so a bucket without samples but
  with a held value still has one; time before the first known value is not counted;
- ``on_time``: seconds with a non-zero value (binary points), same holding rule;
- ``starts``: samples going from 0 to non-zero (the previous sample may be the seed);
- ``delta``: increase of a totaliser, each step attributed to the bucket of its later
  sample; a step down by more than 10 % of the previous reading is a reset (the meter
  restarted from 0, so the step counts the new reading); a smaller step down is meter
  jitter and counts 0;
- ``avg`` by history mode: ``sampled`` the mean of samples, ``cov`` and ``binary`` the
  time-weighted mean, ``consumption`` the delta per hour of the bucket's span.
Holding never runs past the window end or ``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pyarrow as pa

from vitals.query.merge import PointRows, duckdb_cursor

AVG_KIND = {
    "sampled": "mean of samples",
    "cov": "time-weighted mean",
    "binary": "time-weighted mean (share of time on)",
    "consumption": "delta per hour",
}
# Aggregates that only mean something for some modes: None elsewhere (listed per series).
MODE_ONLY = {"delta": ("consumption",), "on_time": ("binary",), "starts": ("binary",)}
RAW_ONLY = ("twavg", "first", "delta", "on_time", "starts")

_SQL = """
WITH allr AS (
    SELECT p, ts, v, 1 AS k FROM samples
    UNION ALL SELECT p, ts, v, 0 AS k FROM seeds
),
lagged AS (
    SELECT p, ts, v, k, lag(v) OVER (PARTITION BY p ORDER BY ts) AS pv FROM allr
),
rb AS (
    SELECT l.p, l.ts, l.v, l.pv, e.b
    FROM (SELECT * FROM lagged WHERE k = 1) l ASOF JOIN edges e ON l.ts >= e.b
),
starts_at AS (
    SELECT x.p, x.b, x.bt AS ts, s.v
    FROM (SELECT p, b, greatest(b, $start) AS bt FROM edges, (SELECT DISTINCT p FROM allr))
        x ASOF LEFT JOIN allr s ON x.p = s.p AND x.bt > s.ts
),
segs AS (
    SELECT p, b, v, 0 AS o, ts FROM starts_at
    UNION ALL SELECT p, b, v, 1 AS o, ts FROM rb
),
timed AS (
    SELECT p, b, v,
        least(coalesce(lead(ts) OVER (PARTITION BY p ORDER BY ts, o), $cap), $cap)
            - greatest(ts, $start) AS dur
    FROM segs
),
tw AS (
    SELECT p, b,
        (sum(v * dur) FILTER (WHERE v IS NOT NULL AND dur > 0))::DOUBLE AS vdur,
        (sum(dur) FILTER (WHERE v IS NOT NULL AND dur > 0))::DOUBLE AS known,
        (sum(dur) FILTER (WHERE v IS NOT NULL AND v <> 0 AND dur > 0))::DOUBLE AS on_ms
    FROM timed GROUP BY p, b
),
agg AS (
    SELECT p, b, count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi,
        arg_min(v, ts) AS first, arg_max(v, ts) AS last,
        sum(CASE WHEN pv IS NULL THEN 0 WHEN v >= pv THEN v - pv
                 WHEN pv - v > 0.1 * abs(pv) THEN v ELSE 0 END)::DOUBLE AS delta,
        sum(CASE WHEN pv IS NOT NULL AND pv = 0 AND v <> 0 THEN 1 ELSE 0 END)::BIGINT AS starts
    FROM rb GROUP BY p, b
)
SELECT tw.p, tw.b, coalesce(agg.n, 0) AS n, agg.s, agg.lo, agg.hi, agg.first, agg.last,
    agg.delta, coalesce(agg.starts, 0) AS starts, tw.vdur, tw.known, coalesce(tw.on_ms, 0) AS on_ms,
    least(e.e, $cap) - greatest(e.b, $start) AS span
FROM tw LEFT JOIN agg ON tw.p = agg.p AND tw.b = agg.b JOIN edges e ON e.b = tw.b
WHERE agg.n IS NOT NULL OR ($held AND coalesce(tw.known, 0) > 0)
ORDER BY tw.p, tw.b
"""


def bucket_aggregates(
    rows: Mapping[str, PointRows],
    seeds: Mapping[str, tuple[int, float]],
    edges: Sequence[int],
    *,
    start_ms: int,
    cap_ms: int,
    aggs: Sequence[str],
    modes: Mapping[str, str],
) -> dict[str, tuple[list[int], dict[str, list[float | None]]]]:
    """Per point (bucket starts, {agg: values}) over buckets ``edges[i]..edges[i+1]``.

    ``cap_ms`` is where holding stops (the window end, or now if sooner). A bucket is
    listed when it holds samples, or, when a time-weighted value is asked, when a value
    holds in it.
    """
    names = list(rows)
    samples = _long(names, [rows[n].ts for n in names], [rows[n].value for n in names])
    seed_names = [n for n in names if n in seeds]
    seed_table = pa.table(
        {
            "p": pa.array(seed_names, pa.string()),
            "ts": pa.array([seeds[n][0] for n in seed_names], pa.int64()),
            "v": pa.array([seeds[n][1] for n in seed_names], pa.float64()),
        }
    )
    edge_table = pa.table(
        {"b": pa.array(edges[:-1], pa.int64()), "e": pa.array(edges[1:], pa.int64())}
    )
    held = any(a in ("twavg", "on_time") for a in aggs) or (
        "avg" in aggs and any(modes.get(n) in ("cov", "binary") for n in names)
    )
    cursor = duckdb_cursor()
    try:
        cursor.register("samples", samples)
        cursor.register("seeds", seed_table)
        cursor.register("edges", edge_table)
        table = cursor.sql(
            _SQL, params={"start": start_ms, "cap": cap_ms, "held": held}
        ).to_arrow_table()
    finally:
        cursor.close()
    return _split(table, names, aggs, modes)


def _long(names: list[str], stamps: list[pa.Array[Any]], values: list[pa.Array[Any]]) -> pa.Table:
    """Per-point (ts, value) arrays as one long (p, ts, v) table."""
    return pa.table(
        {
            "p": pa.concat_arrays(
                [
                    pa.repeat(pa.scalar(n, pa.string()), len(s))
                    for n, s in zip(names, stamps, strict=True)
                ]
                or [pa.array([], pa.string())]
            ),
            "ts": pa.concat_arrays(
                [pa.array(s, pa.int64()) for s in stamps] or [pa.array([], pa.int64())]
            ),
            "v": pa.concat_arrays(
                [pa.array(v, pa.float64()) for v in values] or [pa.array([], pa.float64())]
            ),
        }
    )


def _split(
    table: pa.Table, names: list[str], aggs: Sequence[str], modes: Mapping[str, str]
) -> dict[str, tuple[list[int], dict[str, list[float | None]]]]:
    columns: dict[str, list[Any]] = {
        name: cast(list[Any], table.column(name).to_pylist()) for name in table.column_names
    }
    out: dict[str, tuple[list[int], dict[str, list[float | None]]]] = {
        name: ([], {agg: [] for agg in aggs}) for name in names
    }
    for i, point in enumerate(columns["p"]):
        t, values = out[point]
        t.append(columns["b"][i])
        row = {key: column[i] for key, column in columns.items()}
        mode = modes.get(point, "sampled")
        for agg in aggs:
            values[agg].append(_value(agg, row, mode))
    return out


def _value(agg: str, row: dict[str, Any], mode: str) -> float | None:
    n = row["n"]
    if agg in MODE_ONLY and mode not in MODE_ONLY[agg]:
        return None
    if agg == "avg":
        if mode in ("cov", "binary"):
            return _twavg(row)
        if mode == "consumption":
            if not n or not row["span"]:
                return None
            return float(row["delta"]) / (float(row["span"]) / 3_600_000)
        return float(row["s"]) / float(n) if n else None
    if agg == "twavg":
        return _twavg(row)
    if agg == "on_time":
        return row["on_ms"] / 1000 if row["known"] else None
    if agg == "starts":
        return float(row["starts"])
    if agg == "count":
        return float(n)
    column = {"sum": "s", "min": "lo", "max": "hi", "first": "first", "last": "last"}.get(agg, agg)
    value: float | None = row[column]
    return None if value is None or not n else float(value)


def _twavg(row: dict[str, Any]) -> float | None:
    known = row["known"]
    return float(row["vdur"]) / float(known) if known else None
