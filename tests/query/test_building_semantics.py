"""Property tests of the building-data semantics against plain-Python references.

One real two-tier site (SQLite hot store, Parquet day files, day and month rollups) is
built once with irregular samples around the US and EU DST changes of 2025 and 2026;
hypothesis then draws windows, zones, intervals and aggregates, and every answer is
compared with a reference written with zoneinfo, exact Fractions and loops only:

- local-day and local-hour buckets (23 h and 25 h days; Asia/Kolkata's half-hour offset
  composes from 15 min rollups), equal to the same buckets computed from raw;
- time-weighted means, state durations and starts, totaliser deltas across resets,
  each seeded with the last sample before the window (another day file, another tier);
- fill seeded across a day file and the tier boundary;
- M4 keeping every column's first, last, minimum and maximum.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

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
from vitals.config import SiteOverrides
from vitals.query.engine import QueryEngine, ReadStats
from vitals.query.local_time import local_edges
from vitals.query.point_meta import SiteFacts
from vitals.samples import MS_PER_DAY, day_bounds_ms

SITE = "dst-site"
ANALOG, COV, BINARY, METER = "AHU-1/SAT", "VAV-3/Occ Setpoint", "AHU-1/Fan Status", "Main/kWh"
POINTS = [ANALOG, COV, BINARY, METER]
MODES = {COV: "cov", BINARY: "binary", METER: "consumption"}
# the DST changes of 2025 and 2026: US (second Sunday of March, first of November), EU
TRANSITIONS = [
    date(2025, 3, 9),
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2025, 11, 2),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 11, 1),
]
ZONES = ["America/New_York", "America/Chicago", "Europe/Berlin", "Europe/London", "Asia/Kolkata"]
SEED_LOOKBACK = 7 * MS_PER_DAY
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _point_rows(rng: random.Random, day: date) -> list[tuple[str, int, float]]:
    start, end = day_bounds_ms(day)
    rows: list[tuple[str, int, float]] = []
    ts = start + rng.randrange(400_000)
    while ts < end:  # a polled analog, irregular spacing
        rows.append((ANALOG, ts, rng.randint(-40, 40) / 4))
        ts += rng.randrange(180_000, 900_000)
    ts = start + rng.randrange(3_600_000)
    while ts < end:  # a COV setpoint: rare changes
        rows.append((COV, ts, float(rng.choice([68, 70, 72, 74]))))
        ts += rng.randrange(300_000, 7_200_000)
    ts, state = start + rng.randrange(600_000), 0.0
    while ts < end:  # a fan status: runs of on and off
        if rng.random() < 0.35:
            state = 1.0 - state
        rows.append((BINARY, ts, state))
        ts += rng.randrange(120_000, 2_400_000)
    ts = start + rng.randrange(600_000)
    reading = 1000.0 * (day.toordinal() % 7)
    while ts < end:  # a kWh register: increments, one reset, some jitter
        roll = rng.random()
        if roll < 0.01:
            reading = rng.randint(0, 4) / 2  # meter replaced / rolled over
        elif roll < 0.05 and reading > 10:
            reading -= 0.25  # a re-read a little lower: jitter, not a reset
        else:
            reading += rng.randint(0, 6) / 2
        rows.append((METER, ts, reading))
        ts += rng.randrange(300_000, 1_200_000)
    return rows


class Built:
    """The site, its merged truth (hot wins), and an engine with the points' modes."""

    def __init__(self, root) -> None:
        rng = random.Random(2026)
        self.site = QuerySite(root, SITE, POINTS)
        cold_rows: list[tuple[str, int, float]] = []
        hot_rows: list[tuple[str, int, float]] = []
        self.days: list[date] = []
        months: set[date] = set()
        for n, change in enumerate(TRANSITIONS):
            for offset in (-1, 0, 1):
                day = change + timedelta(days=offset)
                self.days.append(day)
                rows = _point_rows(rng, day)
                if offset == 1 and n % 2:  # the day after the change still in the hot tier
                    self.site.put_hot(rows)
                    hot_rows += rows
                    continue
                self.site.put_cold_day(day, rows)
                cold_rows += rows
                if offset == 0 and n % 4 == 3:  # a day held in both tiers: hot wins
                    twins = [(p, ts, v + 0.5) for p, ts, v in rows[::9] if p == ANALOG]
                    self.site.put_hot(twins)
                    hot_rows += twins
                if rng.random() < 0.75:
                    self.site.rollup_day(day)
                    months.add(day.replace(day=1))
        for month in sorted(months):
            self.site.compact_month(month)
        self.merged = reference_tiers(cold_rows, hot_rows)
        self.series = {
            p: sorted((ts, v) for (name, ts), v in self.merged.items() if name == p) for p in POINTS
        }
        facts = SiteFacts(self.site.cold, SiteOverrides(history_modes={SITE: MODES}))
        self.engine = QueryEngine(self.site.hot, self.site.cold, facts=facts)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("dst"))


def window(transition_index: int, start_min: int, length_min: int) -> tuple[int, int]:
    first = day_bounds_ms(TRANSITIONS[transition_index] - timedelta(days=1))[0]
    start = first + start_min * 60_000
    return start, start + length_min * 60_000


windows = st.tuples(
    st.integers(0, len(TRANSITIONS) - 1),
    st.integers(0, 2 * 24 * 60),
    st.integers(30, 3 * 24 * 60),
)


# -- local buckets ---------------------------------------------------------------------
def ref_bucket(ts: int, interval: str, tz: ZoneInfo) -> int:
    local = datetime.fromtimestamp(ts / 1000, UTC).astimezone(tz)
    if interval == "1d":
        midnight = datetime.combine(local.date(), time(0), tzinfo=tz)
        return int(midnight.timestamp()) * 1000
    return ts - ((local.minute * 60 + local.second) * 1000 + local.microsecond // 1000)


def ref_local(series, start, end, interval, tz_name, aggs):
    tz = ZoneInfo(tz_name)
    buckets: dict[int, list[tuple[int, float]]] = {}
    for ts, v in series:
        if start <= ts < end:
            buckets.setdefault(ref_bucket(ts, interval, tz), []).append((ts, v))
    t = sorted(buckets)
    out = {agg: [] for agg in aggs}
    for b in t:
        vals = [Fraction(v) for _, v in buckets[b]]
        for agg in aggs:
            out[agg].append(
                {
                    "avg": sum(vals) / len(vals),
                    "count": len(vals),
                    "sum": sum(vals),
                    "min": min(vals),
                    "max": max(vals),
                    "last": Fraction(max(buckets[b])[1]),
                }[agg]
            )
    return t, out


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


@FAST
@given(
    w=windows,
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(["1d", "1d", "1h"]),
    aggs=st.lists(
        st.sampled_from(["avg", "count", "sum", "min", "max", "last"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
)
def test_local_day_and_hour_buckets_equal_zoneinfo_reference(built, w, zone, interval, aggs):
    start, end = window(*w)
    stats = ReadStats()
    plan = built.engine.plan(SITE, [ANALOG], start, end, interval=interval, aggs=aggs, tz=zone)
    result = built.engine.execute(plan, stats)
    (series,) = result.series
    want_t, want = ref_local(built.series[ANALOG], start, end, interval, zone, aggs)
    assert series.t == want_t, (zone, interval, start, end)
    for agg in aggs:
        assert all(close(a, b) for a, b in zip(series.values[agg], want[agg], strict=True)), agg
    assert result.extra["tz"] == zone


def test_dst_days_last_23_and_25_hours():
    for zone, spring, autumn in (
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
        ("Europe/Berlin", date(2025, 3, 30), date(2025, 10, 26)),
    ):
        for day, hours in ((spring, 23), (autumn, 25)):
            tz = ZoneInfo(zone)
            start = int(datetime.combine(day, time(0), tzinfo=tz).timestamp()) * 1000
            edges = local_edges(start, start + 1, "1d", zone)
            assert (edges[1] - edges[0]) == hours * 3_600_000, (zone, day)
            hourly = local_edges(edges[0], edges[1], "1h", zone)
            assert len(hourly) - 1 == hours  # the repeated hour is its own bucket


def test_local_days_come_from_rollups_for_any_zone(built):
    """Whole-hour zones compose from 1 h month files, Kolkata from 15 min day rollups."""
    first = day_bounds_ms(TRANSITIONS[4] - timedelta(days=1))[0]
    for zone in ("America/New_York", "Asia/Kolkata"):
        stats = ReadStats()
        plan = built.engine.plan(
            SITE, [ANALOG], first, first + 2 * MS_PER_DAY, interval="1d", tz=zone
        )
        built.engine.execute(plan, stats)
        assert "rollup" in stats.tiers, zone
        assert stats.rollup_days >= 1


# -- time weighting, states, totaliser ----------------------------------------------------
def ref_seed(series, start):
    before = [(ts, v) for ts, v in series if start - SEED_LOOKBACK <= ts < start]
    return before[-1] if before else None


def ref_raw_aggs(series, start, end, interval, aggs, mode):
    """twavg/on_time/starts/delta/first/count per UTC bucket, exactly (Fractions)."""
    width = {"15m": 900_000, "1h": 3_600_000, "1d": MS_PER_DAY}[interval]
    inside = [(ts, v) for ts, v in series if start <= ts < end]
    seed = ref_seed(series, start)
    known = ([seed] if seed else []) + inside
    first_b = start - start % width
    held = any(a in ("twavg", "on_time") for a in aggs) or (
        "avg" in aggs and mode in ("cov", "binary")
    )
    t_out, out = [], {a: [] for a in aggs}
    b = first_b
    while b < end:
        lo, hi = max(b, start), min(b + width, end)
        in_b = [(ts, v) for ts, v in inside if b <= ts < b + width]
        # step function integral over [lo, hi)
        area, dur, on = Fraction(0), 0, 0
        for i, (ts, v) in enumerate(known):
            seg_lo = max(ts, lo)
            seg_hi = min(known[i + 1][0] if i + 1 < len(known) else hi, hi)
            if seg_hi > seg_lo:
                area += Fraction(v) * (seg_hi - seg_lo)
                dur += seg_hi - seg_lo
                on += (seg_hi - seg_lo) if v != 0 else 0
        if not in_b and not (held and dur > 0):
            b += width
            continue
        delta, starts = Fraction(0), 0
        for ts, v in in_b:
            i = known.index((ts, v))
            if i == 0:
                continue
            pv = known[i - 1][1]
            if v >= pv:
                delta += Fraction(v) - Fraction(pv)
            elif pv - v > 0.1 * abs(pv):
                delta += Fraction(v)
            if pv == 0 and v != 0:
                starts += 1
        tw = area / dur if dur else None
        values = {
            "twavg": tw,
            "on_time": Fraction(on, 1000) if dur else None,
            "starts": starts,
            "delta": delta if in_b else None,
            "first": in_b[0][1] if in_b else None,
            "count": len(in_b),
        }
        if mode in ("cov", "binary"):
            values["avg"] = tw
        elif mode == "consumption":
            values["avg"] = delta / Fraction(hi - lo, 3_600_000) if in_b else None
        else:
            values["avg"] = sum(Fraction(v) for _, v in in_b) / len(in_b) if in_b else None
        if mode != "binary":
            values["on_time"] = values["starts"] = None
        if mode != "consumption":
            values["delta"] = None
        t_out.append(b)
        for a in aggs:
            out[a].append(values[a])
        b += width
    return t_out, out


@FAST
@given(
    w=windows,
    point=st.sampled_from([COV, BINARY, METER, ANALOG]),
    interval=st.sampled_from(["15m", "1h", "1d"]),
    aggs=st.lists(
        st.sampled_from(["twavg", "avg", "on_time", "starts", "delta", "first", "count"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
)
def test_mode_aggregates_equal_exact_reference(built, w, point, interval, aggs):
    start, end = window(*w)
    result = built.engine.query(SITE, [point], start, end, interval=interval, aggs=aggs)
    (series,) = result.series
    mode = MODES.get(point, "sampled")
    assert series.meta["history_mode"] == mode
    want_t, want = ref_raw_aggs(built.series[point], start, end, interval, aggs, mode)
    assert series.t == want_t, (point, interval, start, end)
    for agg in aggs:
        assert all(close(a, b) for a, b in zip(series.values[agg], want[agg], strict=True)), (
            agg,
            series.values[agg][:5],
            want[agg][:5],
        )


def test_meter_delta_counts_a_reset_as_the_new_reading(built):
    """A 10 kWh register read as 4 after a reset consumed 4, not -6 or 0."""
    series = built.series[METER]
    resets = [
        (a, b)
        for a, b in itertools.pairwise(series)
        if b[1] < a[1] and a[1] - b[1] > 0.1 * abs(a[1]) and b[1] > 0
    ]
    assert resets, "the data holds resets"
    (a, b) = resets[0]
    # the window opens just after the reading before the reset: that reading is the seed
    result = built.engine.query(SITE, [METER], a[0] + 1, b[0] + 1, interval="1d", aggs=["delta"])
    assert result.series[0].values["delta"] == [pytest.approx(b[1])]


# -- fill --------------------------------------------------------------------------------
@FAST
@given(
    w=windows,
    interval=st.sampled_from(["15m", "1h"]),
    fill=st.sampled_from(["previous", "linear"]),
    gap=st.one_of(st.none(), st.integers(60_000, 12 * 3_600_000)),
)
def test_fill_is_seeded_from_any_day_file_or_tier(built, w, interval, fill, gap):
    start, end = window(*w)
    result = built.engine.query(
        SITE, [COV], start, end, interval=interval, aggs=["max"], fill=fill, max_gap_ms=gap
    )
    want = reference_query(built.merged, [COV], start, end, interval, ["max"], fill, gap)
    (series,) = result.series
    want_t, want_v = want[COV]
    assert series.t == want_t
    assert all(close(a, b) for a, b in zip(series.values["max"], want_v["max"], strict=True))


def test_seed_crosses_the_day_file_and_the_tier_boundary(built):
    """Windows opening at midnight of a hot day (seed in yesterday's cold file) and of a
    cold day whose previous day is hot: the first buckets are filled from the seed."""
    for n in (1, 3):  # the day after these changes is in the hot tier
        hot_day = TRANSITIONS[n] + timedelta(days=1)
        for day in (hot_day, TRANSITIONS[n]):
            start = day_bounds_ms(day)[0]
            seed = ref_seed(built.series[COV], start)
            assert seed is not None
            stats = ReadStats()
            plan = built.engine.plan(
                SITE,
                [COV],
                start,
                start + 6 * 3_600_000,
                interval="15m",
                aggs=["last"],
                fill="previous",
            )
            result = built.engine.execute(plan, stats)
            (series,) = result.series
            first_real = min(ts for ts, _ in built.series[COV] if ts >= start)
            if first_real - first_real % 900_000 > start:
                assert series.t[0] == start
                assert series.values["last"][0] == seed[1]
            assert {"hot", "cold"} <= stats.tiers


# -- M4 -----------------------------------------------------------------------------------
@FAST
@given(w=windows, max_points=st.integers(4, 400), point=st.sampled_from(POINTS))
def test_m4_keeps_every_columns_extremes(built, w, max_points, point):
    start, end = window(*w)
    result = built.engine.query(SITE, [point], start, end, max_points=max_points)
    assert result.interval == "m4"
    (series,) = result.series
    got = list(zip(series.t, series.values["v"], strict=True))
    inside = [(ts, v) for ts, v in built.series[point] if start <= ts < end]
    assert len(got) <= max_points
    assert set(got) <= set(inside)
    assert got == sorted(got)
    origin, width = reference_m4_grid(start, end, max_points)
    grid = result.extra["m4_grid"]
    assert (grid["origin"], grid["width_ms"]) == (origin, width)
    assert grid["columns"] <= max_points // 4
    assert got == reference_m4(inside, origin, width, max_points)
    kept = set(got)
    if len(inside) > max_points:
        columns: dict[int, list[tuple[int, float]]] = {}
        for ts, v in inside:
            columns.setdefault((ts - origin) // width, []).append((ts, v))
        for column in columns.values():
            assert column[0] in kept and column[-1] in kept
            kept_values = {v for ts, v in column if (ts, v) in kept}
            assert min(v for _, v in column) in kept_values
            assert max(v for _, v in column) in kept_values
