"""One site-day's data quality per point, computed with one DuckDB statement.

Per point: samples against the expected count (``collect_interval``, else the median
gap), coverage (``min(1, samples / expected)``), the longest gap (day start to the
first sample and the last sample to the day end, or to ``as_of`` for a day still
running, count as gaps), the longest flat run (consecutive equal values: a stuck
sensor), samples outside the plausible range of the unit
(:data:`vitals.point_tags.PLAUSIBLE`; binary points: anything but 0 and 1), and the
history mode the data suggests (:func:`vitals.point_tags.infer_mode`, the same rules in
SQL). Flags: ``stale`` when the last sample is older than ``max(3 x interval, 1 h)``
at the day's end (or ``as_of``), or there is none; ``stuck`` when an analog point
(not a setpoint, command or enum, not binary) sat flat at one non-zero value for at
least 6 hours (resting at 0 is what closed valves and stopped flows do).
Catalogued points without a sample that day are listed with zero samples.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.cold.key_order import is_canonical
from vitals.point_tags import CUMULATIVE_UNITS, PLAUSIBLE
from vitals.samples import day_bounds_ms

QUALITY_PREFIX = "quality/"
STUCK_MIN_S = 6 * 3600
STALE_MIN_S = 3600
QUALITY_VERSION = "1"

# Gaps, value changes and flat runs are computed on the sorted Arrow columns (no window
# sort: a day file is already in (point, ts) order); DuckDB only groups.
_SQL = """
WITH per AS (
    SELECT d.p, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts,
        max(gap) AS inner_gap, median(gap) AS median_gap, sum(down::INT) AS downs,
        bool_and(v = 0 OR v = 1) AS only01,
        sum(CASE WHEN v < m.lo OR v > m.hi THEN 1 ELSE 0 END) AS implausible
    FROM d LEFT JOIN meta m ON d.p = m.code GROUP BY d.p
)
SELECT m.p AS point_name, coalesce(per.n, 0) AS samples, per.first_ts, per.last_ts,
    per.inner_gap, per.median_gap, coalesce(per.downs, 0) AS downs,
    coalesce(per.only01, false) AS only01,
    coalesce(per.implausible, 0) AS implausible_raw, coalesce(flat.flat_ms, 0) AS flat_ms,
    m.interval_s, m.unit, m.cumulative, m.flat_ok, m.history_mode, m.binary_mode
FROM meta m LEFT JOIN per ON per.p = m.code LEFT JOIN flat ON flat.p = m.code
ORDER BY m.p
"""


def _steps(samples: pa.Table) -> tuple[pa.Table, pa.Table, pa.Array[Any]]:
    """(p, ts, v, gap, down) from samples sorted by (point_name, ts), the flat runs, names.

    ``p`` is the point's code: its index in the returned names.

    ``gap`` is the time since the point's previous sample (null for its first), ``down``
    whether the value fell; a run of equal consecutive values ends where either changes.
    """
    names = samples.column("point_name").combine_chunks()
    if pa.types.is_dictionary(names.type):
        names = names.cast(pa.string())
    # integer codes: comparing and grouping 6.6 M ints, not 6.6 M names of 40-90 bytes
    encoded: Any = pc.dictionary_encode(names)
    codes: pa.Array[Any] = encoded.indices.cast(pa.int64())
    ts = samples.column("ts").combine_chunks()
    value = samples.column("value").combine_chunks()
    n = len(ts)
    if n < 2:
        same = pa.array([False] * n)
        gap: pa.Array[Any] = pa.nulls(n, pa.int64())
        down = pa.array([False] * n)
        changed = pa.array([True] * n)
    else:
        head, tail = slice(0, n - 1), slice(1, n)
        same_tail = pc.equal(codes[tail], codes[head])
        same = pa.concat_arrays([pa.array([False]), same_tail])
        raw_gap = pa.concat_arrays([pa.nulls(1, pa.int64()), pc.subtract(ts[tail], ts[head])])
        gap = pc.if_else(same, raw_gap, pa.nulls(n, pa.int64()))
        down = pc.and_(
            same, pa.concat_arrays([pa.array([False]), pc.less(value[tail], value[head])])
        )
        differs = pa.concat_arrays([pa.array([True]), pc.not_equal(value[tail], value[head])])
        changed = pc.or_(pc.invert(same), differs)
    steps = pa.table({"p": codes, "ts": ts, "v": value, "gap": gap, "down": down})
    return steps, _flat_runs(codes, ts, value, changed), encoded.dictionary


def _flat_runs(
    names: pa.Array[Any], ts: pa.Array[Any], value: pa.Array[Any], changed: pa.Array[Any]
) -> pa.Table:
    """Per point the longest run of equal non-zero values (last minus first time)."""
    n = len(ts)
    if n == 0:
        return pa.table({"p": pa.array([], pa.int64()), "flat_ms": pa.array([], pa.int64())})
    starts = pc.cast(pc.indices_nonzero(changed), pa.int64())
    ends = pa.concat_arrays([pc.subtract(starts.slice(1), 1), pa.array([n - 1], pa.int64())])
    span = pc.subtract(pc.take(ts, ends), pc.take(ts, starts))
    # only runs longer than one sample can be the longest, and resting at 0 (a closed
    # valve, no flow with the fan off, an off command) is normal: both left out early
    keep = pc.and_(
        pc.greater(span, pa.scalar(0, pa.int64())),
        pc.not_equal(pc.take(value, starts), pa.scalar(0.0)),
    )
    runs = pa.table({"p": pc.take(names, pc.filter(starts, keep)), "span": pc.filter(span, keep)})
    flat = runs.group_by("p").aggregate([("span", "max")])
    return pa.table({"p": flat.column("p"), "flat_ms": flat.column("span_max")})


QUALITY_FIELDS: list[pa.Field[Any]] = [
    pa.field("point_name", pa.string()),
    pa.field("samples", pa.int64()),
    pa.field("expected", pa.float64()),
    pa.field("coverage", pa.float64()),
    pa.field("first_ts", pa.int64()),
    pa.field("last_ts", pa.int64()),
    pa.field("longest_gap_s", pa.float64()),
    pa.field("stuck_s", pa.float64()),
    pa.field("implausible", pa.int64()),
    pa.field("unit", pa.string()),
    pa.field("interval_s", pa.int64()),
    pa.field("history_mode", pa.string()),
    pa.field("inferred_mode", pa.string()),
    pa.field("stale", pa.bool_()),
    pa.field("stuck", pa.bool_()),
]
QUALITY_SCHEMA = pa.schema(QUALITY_FIELDS)


@dataclass(frozen=True)
class PointExpectation:
    """What a point is expected to deliver: its interval, unit, mode, and if flat is fine."""

    interval_s: int | None
    unit: str | None
    history_mode: str
    flat_ok: bool = False  # setpoints, commands, enums: long flat runs are normal


def quality_day_key(site: str, day: date) -> str:
    """``quality/{site}/{YYYY}/{MM}/{DD}.parquet``."""
    return f"{QUALITY_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}.parquet"


def _meta_table(points: Mapping[str, PointExpectation]) -> pa.Table:
    names = sorted(points)
    lo, hi = [], []
    for name in names:
        exp = points[name]
        bounds = (0.0, 1.0) if exp.history_mode == "binary" else PLAUSIBLE.get(exp.unit or "")
        lo.append(bounds[0] if bounds else None)
        hi.append(bounds[1] if bounds else None)
    return pa.table(
        {
            "p": pa.array(names, pa.string()),
            "interval_s": pa.array([points[n].interval_s for n in names], pa.int64()),
            "unit": pa.array([points[n].unit for n in names], pa.string()),
            "cumulative": pa.array([points[n].unit in CUMULATIVE_UNITS for n in names]),
            "flat_ok": pa.array([points[n].flat_ok for n in names]),
            "history_mode": pa.array([points[n].history_mode for n in names], pa.string()),
            "binary_mode": pa.array([points[n].history_mode == "binary" for n in names]),
            "lo": pa.array(lo, pa.float64()),
            "hi": pa.array(hi, pa.float64()),
        }
    )


def point_quality_table(
    samples: pa.Table,
    points: Mapping[str, PointExpectation],
    day: date,
    *,
    as_of_ms: int | None = None,
) -> pa.Table:
    """The quality rows of one site-day (``samples``: point_name, ts, value).

    ``points`` is the catalogue (points with samples but not listed get no
    expectation: interval from their median gap, unit unknown). ``as_of_ms`` ends a day
    still running (hot days): gaps and staleness are measured to it, and the expected
    count covers only the elapsed part.
    """
    day_start, day_end = day_bounds_ms(day)
    until = min(day_end, as_of_ms) if as_of_ms is not None else day_end
    names: set[str] = (
        set(cast(list[str], samples.column("point_name").unique().to_pylist()))
        if samples.num_rows
        else set()
    )
    expectations = dict(points)
    for name in names - set(expectations):
        expectations[name] = PointExpectation(None, None, "sampled")
    conn = duckdb.connect()
    try:
        conn.execute("SET threads TO 2")
        ordered = samples.select(["point_name", "ts", "value"])
        if ordered.num_rows and not is_canonical(ordered):
            ordered = ordered.sort_by([("point_name", "ascending"), ("ts", "ascending")])
        steps, flat, dictionary = _steps(ordered)
        meta = _meta_table(expectations)
        meta = meta.append_column(
            "code", pc.cast(pc.index_in(meta.column("p"), value_set=dictionary), pa.int64())
        )
        conn.register("d", steps)
        conn.register("flat", flat)
        conn.register("meta", meta)
        raw = conn.sql(_SQL).to_arrow_table()
    finally:
        conn.close()
    return _finish(raw, day_start, until)


def _finish(raw: pa.Table, day_start: int, until: int) -> pa.Table:
    cols: dict[str, list[Any]] = {
        name: cast(list[Any], raw.column(name).to_pylist()) for name in raw.column_names
    }
    out: dict[str, list[Any]] = {f.name: [] for f in QUALITY_FIELDS}
    span_s = (until - day_start) / 1000
    for i, name in enumerate(cols["point_name"]):
        n = cols["samples"][i]
        interval = cols["interval_s"][i]
        median_gap = cols["median_gap"][i]
        if not interval and median_gap:
            interval = max(1, round(median_gap / 1000))
        expected = span_s / interval if interval else None
        first_ts, last_ts = cols["first_ts"][i], cols["last_ts"][i]
        if n:
            longest = max(first_ts - day_start, cols["inner_gap"][i] or 0, until - last_ts) / 1000
        else:
            longest = span_s
        mode = cols["history_mode"][i]
        inferred = _inferred(cols, i, interval)
        stale_after = max(3 * (interval or 0), STALE_MIN_S)
        stuck_s = cols["flat_ms"][i] / 1000 if n else 0.0
        flat_ok = cols["flat_ok"][i] or mode == "binary" or inferred == "binary"
        out["point_name"].append(name)
        out["samples"].append(n)
        out["expected"].append(round(expected, 3) if expected else None)
        out["coverage"].append(round(min(1.0, n / expected), 4) if expected else None)
        out["first_ts"].append(first_ts)
        out["last_ts"].append(last_ts)
        out["longest_gap_s"].append(round(longest, 3))
        out["stuck_s"].append(stuck_s)
        out["implausible"].append(cols["implausible_raw"][i])
        out["unit"].append(cols["unit"][i])
        out["interval_s"].append(interval)
        out["history_mode"].append(mode)
        out["inferred_mode"].append(inferred)
        out["stale"].append(not n or (until - last_ts) / 1000 > stale_after)
        out["stuck"].append(bool(n) and not flat_ok and stuck_s >= STUCK_MIN_S)
    return pa.table(out, schema=QUALITY_SCHEMA)


def _inferred(cols: dict[str, list[Any]], i: int, interval: int | None) -> str | None:
    """:func:`vitals.point_tags.infer_mode`'s rules on the day's aggregates."""
    n = cols["samples"][i]
    if not n:
        return None
    if n >= 2 and cols["only01"][i]:
        return "binary"
    if cols["cumulative"][i] and n >= 2 and cols["downs"][i] <= 0.01 * (n - 1):
        return "consumption"
    median_gap, inner = cols["median_gap"][i], cols["inner_gap"][i]
    if n >= 4 and interval and median_gap and inner > 4 * median_gap:
        if median_gap > 2 * interval * 1000:
            return "cov"
    return "sampled"


def quality_file_bytes(table: pa.Table, site: str, day: date) -> bytes:
    """Parquet bytes of one site-day's quality table (zstd, site and day in metadata)."""
    table = table.replace_schema_metadata(
        {
            "vitals.quality.version": QUALITY_VERSION,
            "vitals.site": site,
            "vitals.date": day.isoformat(),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def site_summary(table: pa.Table) -> dict[str, float | int]:
    """Figures worth plotting for a site-day: mean coverage, stale, stuck, implausible."""
    coverage = [float(c) for c in table.column("coverage").to_pylist() if c is not None]
    return {
        "points": table.num_rows,
        "mean_coverage": round(sum(coverage) / len(coverage), 4) if coverage else 0.0,
        "stale_points": sum(1 for s in table.column("stale").to_pylist() if s),
        "stuck_points": sum(1 for s in table.column("stuck").to_pylist() if s),
        "implausible_samples": sum(int(v or 0) for v in table.column("implausible").to_pylist()),
    }
