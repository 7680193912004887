"""M4 from stored rollups equals M4 over the raw samples on the same column grid.

One real site (SQLite hot store, Parquet day files in a local cold store, day rollups
written by the ``cold_rollups`` asset's own step, month files by the real compaction)
spans 50 UTC days and two month boundaries, with every kind of day M4 meets:
- days with current rollups of layout 2 (M4 columns), some served by month files;
- days without rollups, with stale rollups (cold file rewritten after), and with rollups
  of layout 1 (written before the M4 columns existed), and a month file of layout 1;
- a day held in both tiers (hot wins) and days only in the hot tier;
- quantised values (many ties on the min and the max), one day ingested from wire
  records holding NaN, null and inf (dropped at ingest, as everywhere).
Hypothesis draws windows (edge partial days) and max_points; each answer is compared
with a plain-Python M4 (``tests.support.query_data.reference_m4``) on the documented grid.
"""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.query_data import (
    QuerySite,
    reference_m4,
    reference_m4_grid,
    reference_query,
    reference_tiers,
)
from vitals.cold.keys import cold_day_key, rollup_day_key, rollup_month_key
from vitals.query.engine import QueryEngine, ReadStats
from vitals.query.m4 import m4_grid
from vitals.rollups.day import (
    M4_COLUMNS,
    META_VERSION,
    ROLLUP_ROWS_PER_GROUP,
    has_m4_columns,
    write_rollup_parquet,
)
from vitals.rollups.month import MONTH_ROWS_PER_GROUP
from vitals.samples import MS_PER_DAY, day_bounds_ms, ms_to_iso, parse_wire_samples

SITE = "m4-site"
SPARSE = "Main/Gas Meter Daily Read"  # a few samples a day: small series come back whole
POINTS = ["AHU-2/Discharge Air Temp", "Chiller-1/Amps", "VAV-7/Damper Position", SPARSE]
FIRST = date(2026, 2, 18)
DAYS = [FIRST + timedelta(days=i) for i in range(50)]  # Feb 18 .. Apr 8
HOT_ONLY = set(DAYS[-3:])
BOTH_TIERS = DAYS[20]
NAN_DAY = DAYS[9]
FAST = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _rows(rng: random.Random, day: date) -> list[tuple[str, int, float]]:
    start, end = day_bounds_ms(day)
    rows: list[tuple[str, int, float]] = []
    for index, point in enumerate(POINTS):
        ts = start + rng.randrange(300_000)
        while ts < end:
            value = rng.randint(0, 8) / 2 + index  # quantised: ties on min and max
            if rng.random() < 0.002:
                value = 90.0 + rng.randint(0, 3)  # a rare spike an average would hide
            rows.append((point, ts, value))
            ts += rng.randrange(120_000, 600_000) * (60 if point == SPARSE else 1)
    return rows


def _layout_1(data: bytes, rows_per_group: dict[int, int]) -> bytes:
    """The same rollup file as the code before the M4 columns wrote it (layout 1)."""
    table = pq.read_table(io.BytesIO(data))
    meta = dict(table.schema.metadata or {})
    meta[META_VERSION] = b"1"
    old = table.drop_columns(list(M4_COLUMNS)).replace_schema_metadata(meta)
    return write_rollup_parquet(old, rows_per_group)


class Site:
    """The site, its merged truth, and which days hold M4-usable rollups."""

    def __init__(self, root) -> None:
        rng = random.Random(12)
        self.q = QuerySite(root, SITE, POINTS)
        cold_rows: list[tuple[str, int, float]] = []
        hot_rows: list[tuple[str, int, float]] = []
        self.m4_days: set[date] = set()
        self.old_days: set[date] = set()
        for i, day in enumerate(DAYS):
            rows = _rows(rng, day)
            if day == NAN_DAY:  # through the wire parser: NaN, null and inf are dropped
                records = [{"name": p, "time": ms_to_iso(ts), "value": str(v)} for p, ts, v in rows]
                for p, ts, _v in rows[::50]:
                    for bad in ("NaN", None, "inf", "-Infinity"):
                        records.append({"name": p, "time": ms_to_iso(ts + 1), "value": bad})
                parsed = parse_wire_samples(records)
                assert parsed.dropped_bad_value > 0
                table = parsed.table
                rows = list(
                    zip(
                        table.column("point_name").to_pylist(),
                        table.column("ts").to_pylist(),
                        table.column("value").to_pylist(),
                        strict=True,
                    )
                )
            if day in HOT_ONLY:
                self.q.put_hot(rows)
                hot_rows += rows
                continue
            self.q.put_cold_day(day, rows)
            cold_rows += rows
            if day == BOTH_TIERS:  # hot twins of some samples: hot wins, the day is raw
                twins = [(p, ts, v + 7.5) for p, ts, v in rows[::13]]
                self.q.put_hot(twins)
                hot_rows += twins
            if i % 5 == 0:
                continue  # no rollup
            self.q.rollup_day(day)
            if i % 5 == 1:  # a rollup of the layout before the M4 columns
                key = rollup_day_key(SITE, day)
                self.q.cold.put_bytes(
                    key, _layout_1(self.q.cold.get_bytes(key), ROLLUP_ROWS_PER_GROUP)
                )
                self.old_days.add(day)
            elif i % 7 == 3:  # the cold file changes after its rollup: stale
                extra = (POINTS[0], day_bounds_ms(day)[0] + 1, 99.5)
                rows = [*rows, extra]
                self.q.put_cold_day(day, rows)
                cold_rows.append(extra)
            elif day != BOTH_TIERS:
                self.m4_days.add(day)
        for month in (date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)):
            outcome = self.q.compact_month(month)
            assert outcome.skipped_days >= 1 or month.month == 4
        # April's month file as the code before the M4 columns wrote it
        key = rollup_month_key(SITE, 2026, 4)
        self.q.cold.put_bytes(key, _layout_1(self.q.cold.get_bytes(key), MONTH_ROWS_PER_GROUP))
        merged = reference_tiers(cold_rows, hot_rows)
        self.merged = merged
        self.series = {
            p: sorted((ts, v) for (name, ts), v in merged.items() if name == p) for p in POINTS
        }
        self.engine = QueryEngine(self.q.hot, self.q.cold)
        self.raw_engine = QueryEngine(self.q.hot, self.q.cold, use_rollups=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:
    return Site(tmp_path_factory.mktemp("m4"))


def _expected(site: Site, point: str, start: int, end: int, max_points: int):
    origin, width = reference_m4_grid(start, end, max_points)
    inside = [(ts, v) for ts, v in site.series[point] if start <= ts < end]
    return reference_m4(inside, origin, width, max_points), (origin, width)


def _got(result, point: str) -> list[tuple[int, float]]:
    series = next(s for s in result.series if s.point == point)
    return list(zip(series.t, series.values["v"], strict=True))


@FAST
@given(
    start_min=st.integers(0, 3 * 24 * 60),
    length_min=st.integers(60, 49 * 24 * 60),
    max_points=st.integers(4, 800),
)
def test_rollup_m4_equals_raw_m4_on_the_same_grid(site, start_min, length_min, max_points):
    start = day_bounds_ms(FIRST)[0] + start_min * 60_000
    end = min(start + length_min * 60_000, day_bounds_ms(DAYS[-1])[1])
    stats = ReadStats()
    plan = site.engine.plan(SITE, POINTS, start, end, max_points=max_points)
    result = site.engine.execute(plan, stats)
    raw = site.raw_engine.query(SITE, POINTS, start, end, max_points=max_points)
    for point in POINTS:
        expected, (origin, width) = _expected(site, point, start, end, max_points)
        got = _got(result, point)
        assert got == expected, point
        assert _got(raw, point) == expected
        assert len(got) <= max_points
    grid = result.extra["m4_grid"]
    assert (grid["origin"], grid["width_ms"]) == (origin, width)
    assert grid["columns"] <= max_points // 4
    assert (grid["origin"] - start) < 86_400_000 and grid["origin"] <= start
    # rollups serve exactly the M4-usable days wholly inside the window
    inside = {
        d for d in site.m4_days if start <= day_bounds_ms(d)[0] and day_bounds_ms(d)[1] <= end
    }
    if grid["aligned_to"] is not None:
        assert stats.rollup_days == len(inside)
    else:
        assert stats.rollup_days == 0


@pytest.mark.parametrize(
    ("max_points", "aligned"), [(4, "1d"), (40, "1h"), (1000, "15m"), (400, "1h"), (600, "1h")]
)
def test_whole_window_reads_rollups_not_raw(site, max_points, aligned):
    start, end = day_bounds_ms(FIRST)[0], day_bounds_ms(DAYS[-1])[1]
    stats, raw_stats = ReadStats(), ReadStats()
    result = site.engine.execute(
        site.engine.plan(SITE, POINTS, start, end, max_points=max_points), stats
    )
    raw = site.raw_engine.execute(
        site.raw_engine.plan(SITE, POINTS, start, end, max_points=max_points), raw_stats
    )
    assert result.extra["m4_grid"]["aligned_to"] == aligned
    assert "rollup" in result.tiers and stats.rollup_days == len(site.m4_days)
    # the served days' raw samples are never decoded: fewer cold day files were read
    # (a series small enough to come back whole is read raw once more, for itself)
    sparse = len([ts for ts, _ in site.series[SPARSE] if start <= ts < end])
    again = raw_stats.cold_days if sparse <= max_points else 0
    assert stats.cold_days == raw_stats.cold_days - len(site.m4_days) + again
    for point in POINTS:
        expected, _grid = _expected(site, point, start, end, max_points)
        assert _got(result, point) == expected == _got(raw, point)
    if sparse <= max_points:  # returned whole, though rollups served the others
        assert _got(result, SPARSE) == site.series[SPARSE]


def test_old_layout_files_answer_aggregates_but_not_m4(site):
    old = sorted(site.old_days)
    day = next(d for d in old if d.month == 2)
    path = site.q.cold.local_copy(rollup_day_key(SITE, day))
    assert not has_m4_columns(path)
    assert has_m4_columns(site.q.cold.local_copy(rollup_day_key(SITE, sorted(site.m4_days)[0])))
    assert not has_m4_columns(site.q.cold.local_copy(rollup_month_key(SITE, 2026, 4)))
    start, end = day_bounds_ms(day)
    for interval in ("15m", "1h", "1d"):
        stats = ReadStats()
        aggs = ["avg", "min", "max", "last"]
        plan = site.engine.plan(SITE, POINTS, start, end, interval=interval, aggs=aggs)
        result = site.engine.execute(plan, stats)
        assert stats.rollup_days == 1  # the layout-1 file answers every aggregate
        expected = reference_query(site.merged, POINTS, start, end, interval, aggs)
        for series in result.series:
            t, values = expected[series.point]
            assert series.t == t
            for agg in aggs:
                assert series.values[agg] == pytest.approx(values[agg])
    # April: its month file is of layout 1; M4 takes April's days from their day rollups
    april = [d for d in site.m4_days if d.month == 4]
    start, end = day_bounds_ms(min(april))[0], day_bounds_ms(max(april))[1]
    stats = ReadStats()
    site.engine.execute(site.engine.plan(SITE, POINTS, start, end, max_points=4), stats)
    assert stats.rollup_days == len(april)


def test_compaction_leaves_old_layout_days_out(site):
    key = rollup_month_key(SITE, 2026, 3)
    table = pq.read_table(site.q.cold.local_copy(key))
    assert set(M4_COLUMNS) <= set(table.column_names)
    days = {ms // MS_PER_DAY for ms in table.column("bucket_ts").cast(pa.int64()).to_pylist()}
    old_march = {day_bounds_ms(d)[0] // MS_PER_DAY for d in site.old_days if d.month == 3}
    assert old_march and not old_march & days
    assert site.q.cold.exists(cold_day_key(SITE, min(site.old_days)))


def test_grid_rule_examples():
    year_start = day_bounds_ms(date(2025, 1, 1))[0]
    year_end = year_start + 365 * MS_PER_DAY
    grid = m4_grid(year_start, year_end, 1000)  # the bench case: 36 h on 1 h rollups
    assert (grid.interval_ms, grid.width, grid.columns) == (3_600_000, 36 * 3_600_000, 244)
    grid = m4_grid(year_start + 1, year_end, 40)  # 10 columns of 36.5 d: whole days
    assert grid.interval_ms == 86_400_000 and grid.origin == year_start
    assert grid.width == 37 * MS_PER_DAY and grid.columns == 10
    grid = m4_grid(year_start + 5, year_start + MS_PER_DAY, 1000)  # too narrow: equal columns
    assert grid.interval_ms is None and grid.origin == year_start + 5
