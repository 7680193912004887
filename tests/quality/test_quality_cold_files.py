"""The quality report of real day files (the real cold writer, several row groups, names
read back as a dictionary) and of a real SQLite hot store, against a plain-Python
reference per point: samples, coverage, longest gap, stuck duration, out-of-range count,
the inferred mode and both flags. Edge cases: one-sample points, silent points, flat
runs reaching the day's edges, values resting at 0, unknown units, points without an
interval, hot rows replacing cold ones, rows of the next day, a day still running."""

from __future__ import annotations

import io
import itertools
import statistics
from datetime import date
from fractions import Fraction

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.client import AcePoint
from vitals.cold.catalogue import store_catalogue
from vitals.cold.file import ColdLayout, build_cold_table, cold_file_bytes
from vitals.cold.keys import cold_day_key
from vitals.config import SiteOverrides
from vitals.point_tags import PLAUSIBLE, infer_mode
from vitals.quality.build import build_quality_day, day_samples, expectations
from vitals.quality.point_day import (
    STALE_MIN_S,
    STUCK_MIN_S,
    PointExpectation,
    point_quality_table,
    quality_day_key,
)
from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms

SITE = "qsite"
DAY = date(2026, 3, 29)  # the EU DST change: UTC days stay 24 h
START, END = day_bounds_ms(DAY)
UNITS = [None, "°F", "%", "kWh", "furlongs"]  # furlongs: a unit with no plausible range
SHAPES = ["single", "edge_flat", "zero_flat", "binary", "meter", "noisy", "silent"]


def reference(samples: list[tuple[int, float]], exp: PointExpectation, until: int) -> dict:
    """Each figure from the rules of vitals.quality.point_day's docstring, with loops."""
    n = len(samples)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(samples)]
    interval = exp.interval_s
    if not interval and gaps and statistics.median(gaps):  # a zero median gives none
        interval = max(1, round(statistics.median(gaps) / 1000))
    if n:
        longest_ms = max([samples[0][0] - START, until - samples[-1][0], *gaps])
    else:
        longest_ms = until - START
    flat, run_start = 0, 0
    for i in range(1, n + 1):
        if i == n or samples[i][1] != samples[i - 1][1]:
            if samples[run_start][1] != 0:  # resting at 0 is not stuck
                flat = max(flat, samples[i - 1][0] - samples[run_start][0])
            run_start = i
    bounds = (0.0, 1.0) if exp.history_mode == "binary" else PLAUSIBLE.get(exp.unit or "")
    implausible = sum(1 for _, v in samples if bounds and not bounds[0] <= v <= bounds[1])
    inferred = infer_mode([v for _, v in samples], gaps, exp.unit, interval) if n else None
    coverage = None
    if interval:  # exact: samples x interval over the measured span, at most 1
        coverage = min(Fraction(1), Fraction(n * interval * 1000, until - START))
    return {
        "samples": n,
        "coverage": coverage,
        "longest_gap_s": Fraction(longest_ms, 1000),
        "stuck_s": Fraction(flat, 1000),
        "implausible": implausible,
        "inferred_mode": inferred,
        "stale": (not n) or (until - samples[-1][0]) / 1000 > max(3 * (interval or 0), STALE_MIN_S),
        "stuck": bool(n)
        and not exp.flat_ok
        and exp.history_mode != "binary"
        and inferred != "binary"
        and flat >= STUCK_MIN_S * 1000,
    }


def point_rows(shape: str, step_s: int, phase: int, seed: int) -> list[tuple[int, float]]:
    """One point's day (ts, value) for a shape; deterministic from ``seed``."""
    step = step_s * 1000
    if shape == "silent":
        return []
    if shape == "single":
        return [(START + phase * 997 % (END - START), 42.0)]
    rows, value, ts = [], 70.0, START + phase % step
    k = seed
    while ts < END:
        k = (k * 1_103_515_245 + 12_345) % 2**31
        if k % 41 == 0:
            ts += (k % 9 + 1) * step  # an outage
            continue
        if shape == "edge_flat":  # flat at one non-zero value from a point to the day end
            value = 71.5 if ts > START + (k % 7) * 3_600_000 else float(k % 5 + 60)
        elif shape == "zero_flat":
            value = 0.0 if k % 13 else 3.0
        elif shape == "binary":
            value = float(k % 3 == 0)
        elif shape == "meter":
            value += k % 3 if k % 97 else -value  # a reset now and then
        else:
            value = [70.0, 70.0, 71.0, 300.0, -80.0, 55.5, 101.0][k % 7]
        rows.append((ts, value))
        ts += step if k % 17 else step * 3 // 2  # some irregular steps
    return rows


point_spec = st.tuples(
    st.sampled_from(SHAPES),
    st.sampled_from([None, 60, 300, 900]),  # collect_interval (None: from the median)
    st.sampled_from(UNITS),
    st.integers(0, 10**6),
)


def _stores(tmp_path) -> tuple[ColdStoreResource, HotStoreResource]:
    return ColdStoreResource(url=str(tmp_path / "cold")), HotStoreResource(
        url=str(tmp_path / "hot.sqlite")
    )


def _write_cold_day(cold: ColdStoreResource, table: pa.Table, row_group_rows: int) -> None:
    data = cold_file_bytes(
        build_cold_table(SITE, DAY, [table]),
        site=SITE,
        day=DAY,
        sources=["test"],
        layout=ColdLayout(row_group_rows=row_group_rows),
    )
    cold.put_bytes(cold_day_key(SITE, DAY), data)


def _samples_table(rows: list[tuple[str, int, float]]) -> pa.Table:
    return pa.table(
        {
            "point_name": [r[0] for r in rows],
            "ts": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        },
        schema=SAMPLE_SCHEMA,
    )


def _assert_matches(report: dict, expected: dict, until: int) -> None:
    exp_points = set(expected)
    assert set(report) == exp_points
    for name, (samples, exp) in expected.items():
        want = reference(samples, exp, until)
        got = report[name]
        for key, value in want.items():
            if key == "coverage" and value is not None:
                assert got[key] == round(float(value), 4), (name, key, got[key], value)
            elif isinstance(value, Fraction):
                assert Fraction(got[key]).limit_denominator(10**6) == value, (name, key)
            else:
                assert got[key] == value, (name, key, got[key], value)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    specs=st.lists(point_spec, min_size=1, max_size=7),
    row_group_rows=st.sampled_from([1, 300, 24_576]),
    hot_share=st.sampled_from([0, 3, 7]),
)
def test_cold_day_report_equals_reference(tmp_path_factory, specs, row_group_rows, hot_share):
    tmp_path = tmp_path_factory.mktemp("quality")
    cold, hot = _stores(tmp_path)
    names = [f"bldg/ahu-{i}/point é {i:02d}" for i in range(len(specs))]
    catalogue = [
        AcePoint(name, collect_interval=interval, object_units=unit)
        for name, (_shape, interval, unit, _seed) in zip(names, specs, strict=True)
    ]
    store_catalogue(cold.store, SITE, catalogue)
    hot.upsert_points(SITE, catalogue)
    per_point: dict[str, list[tuple[int, float]]] = {}
    cold_rows: list[tuple[str, int, float]] = []
    hot_rows: list[tuple[str, int, float]] = []
    for i, (name, (shape, interval, _unit, seed)) in enumerate(zip(names, specs, strict=True)):
        samples = point_rows(shape, interval or 300, i * 7_919, seed)
        cold_rows += [(name, ts, v) for ts, v in samples]
        if hot_share and samples:  # the hot store replaces some keys and adds late rows
            replaced = {ts: v + 1 for ts, v in samples[::hot_share]}
            hot_rows += [(name, ts, v) for ts, v in replaced.items()]
            samples = [(ts, replaced.get(ts, v)) for ts, v in samples]
        per_point[name] = samples
    hot_rows.append((names[0], END + 5_000, 99.0))  # the next day: not in this report
    _write_cold_day(cold, _samples_table(sorted(cold_rows)), row_group_rows)
    hot.upsert_samples(SITE, _samples_table(hot_rows))
    build_quality_day(cold.store, hot, SITE, DAY)
    report = {r["point_name"]: r for r in _read_report(cold)}
    points = expectations(cold.store, SITE, SiteOverrides())
    _assert_matches(report, {n: (per_point[n], points[n]) for n in names}, END)


def _read_report(cold: ColdStoreResource) -> list[dict]:
    return pq.read_table(io.BytesIO(cold.get_bytes(quality_day_key(SITE, DAY)))).to_pylist()


def test_hot_day_still_running_equals_reference(tmp_path):
    """The sync's path: only hot rows (plain string names), measured up to ``now``."""
    cold, hot = _stores(tmp_path)
    specs = [("noisy", 300, "°F"), ("edge_flat", 60, "%"), ("single", None, None)]
    names = [f"hot/{shape}" for shape, _i, _u in specs]
    catalogue = [
        AcePoint(n, collect_interval=i, object_units=u)
        for n, (_s, i, u) in zip(names, specs, strict=True)
    ]
    store_catalogue(cold.store, SITE, catalogue)
    hot.upsert_points(SITE, catalogue)
    now = START + 13 * 3_600_000 + 1_234
    per_point = {
        n: [(ts, v) for ts, v in point_rows(s, i or 300, 11, 5) if ts < now]
        for n, (s, i, _u) in zip(names, specs, strict=True)
    }
    hot.upsert_samples(
        SITE, _samples_table([(n, ts, v) for n, rows in per_point.items() for ts, v in rows])
    )
    built = build_quality_day(cold.store, hot, SITE, DAY, now_ms=now)
    assert built.tiers == ("hot",)
    points = expectations(cold.store, SITE, SiteOverrides())
    report = {r["point_name"]: r for r in _read_report(cold)}
    _assert_matches(report, {n: (per_point[n], points[n]) for n in names}, now)


def test_day_file_names_stay_a_dictionary(tmp_path):
    """The report reads names as the file's dictionary (a full-load day: ~0.1 s, not ~0.6 s)."""
    cold, hot = _stores(tmp_path)
    rows = [(f"p{i}", START + k * 60_000, float(k % 5)) for i in range(3) for k in range(50)]
    _write_cold_day(cold, _samples_table(rows), 40)
    samples, tiers = day_samples(cold.store, hot, SITE, DAY)
    assert tiers == ("cold",)
    assert pa.types.is_dictionary(samples.schema.field("point_name").type)
    assert samples.column("point_name").num_chunks > 1  # row groups of their own dictionaries
    assert samples.column("point_name").cast(pa.string()).to_pylist() == [r[0] for r in rows]


EXP = {
    "a": PointExpectation(60, "°F", "sampled"),
    "b": PointExpectation(None, None, "sampled"),
    "c": PointExpectation(300, "%", "binary"),
}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "zz-not-catalogued"]),
            st.integers(START - 10, END + 10).map(lambda t: min(max(t, START), END - 1)),
            st.sampled_from([0.0, -0.0, 1.0, 70.0, 70.0, 300.0, -1e9, float("inf")]),
        ),
        max_size=60,
    ),
    dictionary=st.booleans(),
)
def test_unsorted_and_duplicate_input_equals_reference(rows, dictionary):
    """Straight into the report: any row order, repeated keys (both kept, input order)."""
    table = _samples_table(rows)
    if dictionary:
        table = table.set_column(0, "point_name", table.column("point_name").dictionary_encode())
    got = {r["point_name"]: r for r in point_quality_table(table, EXP, DAY).to_pylist()}
    expected = {}
    for name in sorted(set(EXP) | {r[0] for r in rows}):
        # a stable sort by ts keeps repeated keys in input order, as the report does
        samples = sorted(((ts, v) for p, ts, v in rows if p == name), key=lambda s: s[0])
        expected[name] = (samples, EXP.get(name, PointExpectation(None, None, "sampled")))
    _assert_matches(got, expected, END)


def test_nulls_are_refused_with_the_column_named():
    table = pa.table(
        {"point_name": ["a", "a"], "ts": [START, START + 1], "value": [1.0, None]},
    )
    with pytest.raises(ValueError, match="column 'value' holds nulls"):
        point_quality_table(table, EXP, DAY)
