"""The quality report of a site-day against a plain-Python reference, rule by rule."""

from __future__ import annotations

import itertools
import random
from datetime import date

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vitals.point_tags import PLAUSIBLE, infer_mode
from vitals.quality.point_day import (
    STALE_MIN_S,
    STUCK_MIN_S,
    PointExpectation,
    point_quality_table,
)
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

DAY = date(2026, 3, 8)
START, END = day_bounds_ms(DAY)


def table(rows):
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    return pa.table(
        {
            "point_name": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        },
        schema=SAMPLE_SCHEMA,
    )


def reference(samples, exp: PointExpectation, until: int):
    """Every figure from the rules in vitals.quality.point_day's docstring, with loops."""
    n = len(samples)
    interval = exp.interval_s
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(samples)]
    if not interval and gaps:
        interval = max(1, round(sorted(gaps)[len(gaps) // 2] / 1000)) if len(gaps) % 2 else None
    expected = (until - START) / 1000 / interval if interval else None
    if n:
        longest = max([samples[0][0] - START, until - samples[-1][0], *gaps]) / 1000
    else:
        longest = (until - START) / 1000
    flat, run_start = 0, 0
    for i in range(1, n + 1):
        if i == n or samples[i][1] != samples[i - 1][1]:
            if samples[run_start][1] != 0:  # resting at 0 is not stuck
                flat = max(flat, samples[i - 1][0] - samples[run_start][0])
            run_start = i
    lo, hi = (
        (0.0, 1.0) if exp.history_mode == "binary" else PLAUSIBLE.get(exp.unit or "", (None, None))
    )
    implausible = sum(1 for _, v in samples if lo is not None and (v < lo or v > hi))
    values = [v for _, v in samples]
    inferred = infer_mode(values, gaps, exp.unit, interval) if n else None
    stale_after = max(3 * (interval or 0), STALE_MIN_S)
    return {
        "samples": n,
        "coverage": min(1.0, n / expected) if expected else None,
        "longest_gap_s": longest,
        "stuck_s": flat / 1000 if n else 0.0,
        "implausible": implausible,
        "inferred_mode": inferred,
        "stale": (not n) or (until - samples[-1][0]) / 1000 > stale_after,
        "stuck": bool(n)
        and not exp.flat_ok
        and exp.history_mode != "binary"
        and inferred != "binary"
        and flat / 1000 >= STUCK_MIN_S,
    }


POINTS = {
    "zone_temp": PointExpectation(300, "°F", "sampled"),
    "stuck_temp": PointExpectation(300, "°F", "sampled"),
    "setpoint": PointExpectation(300, "°F", "sampled", flat_ok=True),
    "fan": PointExpectation(60, None, "binary"),
    "kwh": PointExpectation(900, "kWh", "sampled"),
    "rh": PointExpectation(600, "%RH", "sampled"),
    "silent": PointExpectation(300, "°F", "sampled"),
}


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(
    seed=st.integers(0, 10_000), as_of=st.one_of(st.none(), st.integers(START + 3_600_000, END - 1))
)
def test_report_equals_reference(seed, as_of):
    rng = random.Random(seed)
    rows = []
    for name, exp in POINTS.items():
        if name == "silent":
            continue
        step = (exp.interval_s or 300) * 1000
        ts = START + rng.randrange(step)
        value = 70.0
        while ts < END:
            if rng.random() < 0.03:
                ts += rng.randrange(step, 30 * step)  # an outage
                continue
            if name == "zone_temp":
                value = rng.randint(600, 800) / 10
                if rng.random() < 0.01:
                    value = 900.0  # implausible spike
            elif name == "fan":
                value = float(rng.random() < 0.5)
            elif name == "kwh":
                value += rng.randint(0, 4)
            elif name == "rh":
                value = rng.randint(-5, 105) * 1.0
            elif name == "setpoint":
                value = 72.0
            rows.append((name, ts, value))
            ts += step
    got = point_quality_table(table(rows), POINTS, DAY, as_of_ms=as_of).to_pylist()
    until = min(END, as_of) if as_of else END
    assert [r["point_name"] for r in got] == sorted(POINTS)
    for row in got:
        samples = sorted((ts, v) for p, ts, v in rows if p == row["point_name"] and ts < END)
        want = reference(samples, POINTS[row["point_name"]], until)
        for key, value in want.items():
            if isinstance(value, float):
                assert abs(row[key] - value) < 1e-3, (row["point_name"], key, row[key], value)
            else:
                assert row[key] == value, (row["point_name"], key, row[key], value)


def test_flags_on_a_known_day():
    step = 300_000
    rows = [("stuck_temp", START + i * step, 71.5) for i in range(288)]
    rows += [("setpoint", START + i * step, 72.0) for i in range(288)]
    rows += [("zone_temp", START + i * step, 70 + i % 3) for i in range(200)]  # stops at 16:40
    rows += [("fan", START + i * 60_000, float(i % 7 == 0)) for i in range(1440)]
    report = {r["point_name"]: r for r in point_quality_table(table(rows), POINTS, DAY).to_pylist()}
    assert report["stuck_temp"]["stuck"] and not report["stuck_temp"]["stale"]
    assert not report["setpoint"]["stuck"]  # flat setpoints are normal
    assert report["zone_temp"]["stale"] and report["zone_temp"]["coverage"] == round(200 / 288, 4)
    assert report["fan"]["inferred_mode"] == "binary" and not report["fan"]["stuck"]
    assert report["silent"]["samples"] == 0 and report["silent"]["stale"]
    assert report["silent"]["longest_gap_s"] == 86_400
