"""One site-day's data quality per point, from vectorised aggregates over point runs.

Per point: samples against the expected count (``collect_interval``, else the median
gap), coverage (``min(1, samples / expected)``), the longest gap (day start to the
first sample and the last sample to the day end, or to ``as_of`` for a day still
running, count as gaps), the longest flat run (consecutive equal values: a stuck
sensor), samples outside the plausible range of the unit
(:data:`vitals.point_tags.PLAUSIBLE`; binary points: anything but 0 and 1), and the
history mode the data suggests (:func:`vitals.point_tags.infer_mode`, the same rules on
the per-point aggregates of :mod:`vitals.quality.point_runs`). Flags: ``stale`` when
the last sample is older than ``max(3 x interval, 1 h)`` at the day's end (or ``as_of``), or there is none; ``stuck`` when an analog point
(not a setpoint, command or enum, not binary) sat flat at one non-zero value for at
least 6 hours (resting at 0 is what closed valves and stopped flows do).
Catalogued points without a sample that day are listed with zero samples.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from vitals.point_tags import CUMULATIVE_UNITS, PLAUSIBLE
from vitals.quality.point_runs import PointRuns, point_runs
from vitals.samples import day_bounds_ms

QUALITY_PREFIX = "quality/"
STUCK_MIN_S = 6 * 3600
STALE_MIN_S = 3600
QUALITY_VERSION = "1"

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


def _bounds(exp: PointExpectation) -> tuple[float, float] | None:
    """The plausible range of a point's values: 0..1 for binary points, else the unit's."""
    return (0.0, 1.0) if exp.history_mode == "binary" else PLAUSIBLE.get(exp.unit or "")


def _wants_median(exp: PointExpectation, n: int, inner: int | None, min_gap: int | None) -> bool:
    """Whether the median gap can change a figure: no interval, or a possible ``cov``.

    ``cov`` needs max gap > 4 x median >= 4 x min gap and median > 2 x interval, where
    median <= max gap: a point failing either bound cannot be ``cov`` whatever its median.
    """
    if not exp.interval_s:
        return True
    return (
        n >= 4
        and inner is not None
        and min_gap is not None
        and inner > 2 * exp.interval_s * 1000
        and inner > 4 * min_gap
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
    expectations = dict(points)
    unknown = PointExpectation(None, None, "sampled")
    runs = point_runs(
        samples.select(["point_name", "ts", "value"]),
        lambda name: _bounds(expectations.get(name, unknown)),
        lambda name, n, inner, min_gap: _wants_median(
            expectations.get(name, unknown), n, inner, min_gap
        ),
    )
    for name in runs.names:
        expectations.setdefault(name, unknown)
    return _finish(runs, expectations, day_start, until)


def _finish(
    runs: PointRuns, points: Mapping[str, PointExpectation], day_start: int, until: int
) -> pa.Table:
    """The report rows, every catalogued point in name order, from the per-point runs."""
    present = {name: i for i, name in enumerate(runs.names)}
    out: dict[str, list[Any]] = {f.name: [] for f in QUALITY_FIELDS}
    span_s = (until - day_start) / 1000
    for name in sorted(points):
        exp = points[name]
        i = present.get(name)
        n = runs.samples[i] if i is not None else 0
        median_gap = runs.median_gap[i] if i is not None else None
        inner_gap = runs.inner_gap[i] if i is not None else None
        interval = exp.interval_s
        if not interval and median_gap:
            interval = max(1, round(median_gap / 1000))
        expected = span_s / interval if interval else None
        first_ts = runs.first_ts[i] if i is not None else None
        last_ts = runs.last_ts[i] if i is not None else None
        if i is not None and first_ts is not None and last_ts is not None:
            longest = max(first_ts - day_start, inner_gap or 0, until - last_ts) / 1000
        else:
            longest = span_s
        mode = exp.history_mode
        inferred = (
            _inferred(
                n,
                runs.only01[i],
                exp.unit in CUMULATIVE_UNITS,
                runs.downs[i],
                median_gap,
                inner_gap,
                interval,
            )
            if i is not None
            else None
        )
        stale_after = max(3 * (interval or 0), STALE_MIN_S)
        stuck_s = runs.flat_ms[i] / 1000 if i is not None else 0.0
        flat_ok = exp.flat_ok or mode == "binary" or inferred == "binary"
        out["point_name"].append(name)
        out["samples"].append(n)
        out["expected"].append(round(expected, 3) if expected else None)
        out["coverage"].append(round(min(1.0, n / expected), 4) if expected else None)
        out["first_ts"].append(first_ts)
        out["last_ts"].append(last_ts)
        out["longest_gap_s"].append(round(longest, 3))
        out["stuck_s"].append(stuck_s)
        out["implausible"].append(runs.implausible[i] if i is not None else 0)
        out["unit"].append(exp.unit)
        out["interval_s"].append(interval)
        out["history_mode"].append(mode)
        out["inferred_mode"].append(inferred)
        out["stale"].append(last_ts is None or (until - last_ts) / 1000 > stale_after)
        out["stuck"].append(bool(n) and not flat_ok and stuck_s >= STUCK_MIN_S)
    return pa.table(out, schema=QUALITY_SCHEMA)


def _inferred(
    n: int,
    only01: bool,
    cumulative: bool,
    downs: int,
    median_gap: float | None,
    inner: int | None,
    interval: int | None,
) -> str:
    """:func:`vitals.point_tags.infer_mode`'s rules on the day's aggregates."""
    if n >= 2 and only01:
        return "binary"
    if cumulative and n >= 2 and downs <= 0.01 * (n - 1):
        return "consumption"
    if n >= 4 and interval and median_gap and inner is not None and inner > 4 * median_gap:
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
