"""Query engine unit cases on real tiers: validation, auto interval, pruning, tier merge."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.support.query_data import QuerySite
from vitals.cold.point_reads import FOOTERS
from vitals.query.engine import QueryEngine, ReadStats
from vitals.query.plan import QueryLimits
from vitals.query.series import choose_auto_interval
from vitals.query.types import (
    AmbiguousPointError,
    BadQueryError,
    QueryLimitError,
    UnknownPointError,
    UnknownSiteError,
)
from vitals.samples import MS_PER_DAY, day_bounds_ms

SITE = "unit-site"
DAY0 = date(2026, 5, 10)
BASE = day_bounds_ms(DAY0)[0]
HOUR = 3_600_000


@pytest.fixture
def site(tmp_path: Path) -> QuerySite:
    points = ["AHU-1/SAT", "AHU-1/RAT", "Meter kWh", "zone temp", "ZONE TEMP", 'O\'Brien "x"; --']
    return QuerySite(tmp_path, SITE, points)


def test_auto_interval_keeps_series_chart_sized() -> None:
    assert choose_auto_interval(BASE, BASE + MS_PER_DAY) == "1m"  # 1,440 buckets
    assert choose_auto_interval(BASE, BASE + 2 * MS_PER_DAY) == "5m"
    assert choose_auto_interval(BASE, BASE + 20 * MS_PER_DAY) == "15m"  # 1,920
    assert choose_auto_interval(BASE, BASE + 83 * MS_PER_DAY) == "1h"  # 1,992
    assert choose_auto_interval(BASE, BASE + 365 * MS_PER_DAY) == "1d"
    # an unaligned start adds a partial first bucket and still counts
    assert choose_auto_interval(BASE + 30_000, BASE + 30_000 + 2000 * 60_000) == "5m"


def test_auto_resolves_in_the_result(site: QuerySite) -> None:
    site.put_hot([("AHU-1/SAT", BASE + 10, 1.0)])
    result = site.engine().query(
        SITE, ["ahu-1/sat"], BASE, BASE + 30 * MS_PER_DAY, interval="auto", aggs=["max"]
    )
    assert result.interval == "1h" and result.aggs == ("max",)
    assert result.series[0].t == [BASE] and result.series[0].values == {"max": [1.0]}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"site": "a/../b"}, BadQueryError, "a/../b"),
        ({"site": "nowhere"}, UnknownSiteError, "nowhere"),
        ({"points": ["no such point"]}, UnknownPointError, "no such point"),
        ({"points": ["Zone Temp"]}, AmbiguousPointError, "ZONE TEMP"),
        ({"points": []}, BadQueryError, "non-empty"),
        ({"points": "AHU-1/SAT"}, BadQueryError, "list"),
        ({"start": BASE + HOUR, "end": BASE}, BadQueryError, "before end"),
        ({"start": BASE, "end": BASE}, BadQueryError, "before end"),
        ({"start": "yesterday"}, BadQueryError, "yesterday"),
        ({"points": [f"p{i}" for i in range(101)]}, QueryLimitError, "101 points"),
        ({"end": BASE + 32 * MS_PER_DAY}, QueryLimitError, "31-day"),
        ({"end": BASE + 367 * MS_PER_DAY, "interval": "1d"}, QueryLimitError, "366-day"),
        ({"interval": "7m"}, BadQueryError, "'7m'"),
        ({"interval": "1h", "aggs": ["median"]}, BadQueryError, "'median'"),
        ({"fill": "previous"}, BadQueryError, "raw"),
        ({"interval": "1h", "fill": "spline"}, BadQueryError, "'spline'"),
        ({"interval": "1h", "max_gap_ms": 5}, BadQueryError, "max_gap_ms"),
        ({"interval": "1h", "fill": "linear", "max_gap_ms": -1}, BadQueryError, "-1"),
    ],
)
def test_bad_requests_get_clear_errors(
    site: QuerySite, kwargs: dict, error: type, message: str
) -> None:
    args = {"site": SITE, "points": ["AHU-1/SAT"], "start": BASE, "end": BASE + HOUR}
    args.update(kwargs)
    options = {k: args.pop(k) for k in ("interval", "aggs", "fill", "max_gap_ms") if k in args}
    with pytest.raises(error) as caught:
        site.engine().query(args["site"], args["points"], args["start"], args["end"], **options)
    assert message in str(caught.value)
    assert caught.value.status in (400, 404, 409, 422)


def test_sample_limit_is_enforced_for_raw_and_buckets(site: QuerySite) -> None:
    site.put_hot([("AHU-1/SAT", BASE + i * 60_000, float(i)) for i in range(50)])
    engine = site.engine(QueryLimits(max_samples=40))
    with pytest.raises(QueryLimitError, match="50 samples"):
        engine.query(SITE, ["AHU-1/SAT"], BASE, BASE + HOUR)
    with pytest.raises(QueryLimitError, match="buckets"):
        engine.query(SITE, ["AHU-1/SAT"], BASE, BASE + HOUR, interval="1m")
    assert engine.query(SITE, ["AHU-1/SAT"], BASE, BASE + HOUR, interval="5m").samples == 10


def test_hostile_point_names_are_data_not_sql(site: QuerySite) -> None:
    name = 'O\'Brien "x"; --'
    site.put_cold_day(DAY0, [(name, BASE + 1, 1.5), ("AHU-1/SAT", BASE + 1, 9.0)])
    site.put_hot([(name, BASE + 2, 2.5)])
    result = site.engine().query(
        SITE, [name.upper().lower()], BASE, BASE + HOUR, interval="1h", aggs=["min", "max", "last"]
    )
    assert result.series[0].point == name
    assert result.series[0].values == {"min": [1.5], "max": [2.5], "last": [2.5]}


def test_hot_wins_and_late_archival_never_duplicates(site: QuerySite) -> None:
    # day archived to cold but its hot rows not yet deleted; one key changed in hot since
    rows = [("AHU-1/SAT", BASE + i * 300_000, float(i)) for i in range(288)]
    site.put_cold_day(DAY0, rows)
    site.put_hot([*rows[:100], ("AHU-1/SAT", BASE + 5 * 300_000, -1.0)])
    result = site.engine().query(SITE, ["AHU-1/SAT"], BASE, BASE + MS_PER_DAY)
    assert result.series[0].t == [ts for _, ts, _ in rows]
    values = result.series[0].values["v"]
    assert values[5] == -1.0 and values[6] == 6.0 and len(values) == 288
    assert result.tiers == ("hot", "cold") and result.sources == 2


def test_range_is_half_open_and_utc(site: QuerySite) -> None:
    site.put_cold_day(DAY0, [("AHU-1/SAT", BASE, 1.0), ("AHU-1/SAT", BASE + MS_PER_DAY - 1, 2.0)])
    site.put_cold_day(DAY0 + timedelta(days=1), [("AHU-1/SAT", BASE + MS_PER_DAY, 3.0)])
    result = site.engine().query(SITE, ["AHU-1/SAT"], BASE, BASE + MS_PER_DAY)
    assert result.series[0].values["v"] == [1.0, 2.0]
    days = site.engine().query(
        SITE, ["AHU-1/SAT"], BASE, BASE + 2 * MS_PER_DAY, interval="1d", aggs=["last"]
    )
    assert days.series[0].t == [BASE, BASE + MS_PER_DAY]
    assert days.series[0].values == {"last": [2.0, 3.0]}


def test_cold_reads_touch_only_days_in_range_and_matching_row_groups(tmp_path: Path) -> None:
    points = [f"Building/Floor {i // 20}/VAV-{i:03d}/Zone Temp" for i in range(240)]
    site = QuerySite(tmp_path, SITE, points)
    for d in range(4):
        start = BASE + d * MS_PER_DAY
        site.put_cold_day(
            DAY0 + timedelta(days=d),
            [(p, start + k * 300_000, float(k)) for p in points for k in range(288)],
        )
    FOOTERS.clear()
    engine = site.engine()
    plan = engine.plan(SITE, [points[3], points[200]], BASE + MS_PER_DAY, BASE + 3 * MS_PER_DAY)
    stats = ReadStats()
    result = engine.execute(plan, stats)
    counters = stats.counters
    assert result.samples == 2 * 2 * 288
    assert counters.files == 2  # day files outside the range are not opened
    assert counters.row_groups_total >= 2 * 3  # ~16k-row groups cut at point boundaries
    assert counters.row_groups_read == 2 < counters.row_groups_total
    assert counters.rows_decoded < 240 * 288 * 2 / 2
    # footers are parsed once per file and then served from the process cache
    misses = FOOTERS.misses
    engine.execute(plan, ReadStats())
    assert FOOTERS.misses == misses and FOOTERS.hits >= 2


def test_fill_previous_and_linear_respect_max_gap(site: QuerySite) -> None:
    site.put_hot(
        [
            ("AHU-1/SAT", BASE, 0.0),
            ("AHU-1/SAT", BASE + 3 * HOUR, 3.0),
            ("AHU-1/SAT", BASE + 8 * HOUR, 8.0),
        ]
    )
    engine = site.engine()
    linear = engine.query(
        SITE,
        ["AHU-1/SAT"],
        BASE,
        BASE + MS_PER_DAY,
        interval="1h",
        aggs=["avg"],
        fill="linear",
        max_gap_ms=3 * HOUR,
    )
    assert linear.series[0].t == [BASE + h * HOUR for h in range(9)]
    assert linear.series[0].values["avg"] == [0.0, 1.0, 2.0, 3.0, None, None, None, None, 8.0]
    previous = engine.query(
        SITE, ["AHU-1/SAT"], BASE, BASE + MS_PER_DAY, interval="1h", aggs=["avg"], fill="previous"
    )
    assert previous.series[0].values["avg"] == [0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 8.0]


def test_concurrent_queries_share_caches_safely(site: QuerySite) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = ["AHU-1/SAT", "AHU-1/RAT", "Meter kWh"]
    for d in range(3):
        start = BASE + d * MS_PER_DAY
        site.put_cold_day(
            DAY0 + timedelta(days=d),
            [
                (n, start + k * 600_000, float(k + i))
                for i, n in enumerate(names)
                for k in range(144)
            ],
        )
    engine = site.engine()
    asks = [
        (names[i % 3 : i % 3 + 1], interval) for i in range(12) for interval in ("raw", "15m", "1h")
    ]

    def run(ask: tuple[list[str], str]) -> list:
        result = engine.query(
            SITE, ask[0], BASE, BASE + 3 * MS_PER_DAY, interval=ask[1], aggs=["max", "last"]
        )
        return [(s.point, s.t, s.values) for s in result.series]

    serial = [run(ask) for ask in asks]
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(run, asks)) == serial


PLAIN = ("avg", "min", "max", "last", "count", "sum")  # the UTC-bucket aggregates


@pytest.mark.parametrize("offset", [0, 7 * 60_000])  # day-aligned range, and one clipped
def test_cold_days_aggregated_in_place_equal_the_merged_path(site: QuerySite, offset: int) -> None:
    """DuckDB over whole cold files (days without hot rows) answers as the merge does."""
    points = ["AHU-1/SAT", "Meter kWh", 'O\'Brien "x"; --']
    for d in range(4):
        day = DAY0 + timedelta(days=d)
        start = day_bounds_ms(day)[0]
        rows = [
            (name, start + k * 97_000 + i, ((k * (i + 3)) % 17) / 4 - 2)
            for i, name in enumerate(points)
            for k in range(0, 890, 1 + i)
        ]
        site.put_cold_day(day, rows)
    # hot rows on day 2 replace cold keys and add samples: that day must still merge
    day2 = day_bounds_ms(DAY0 + timedelta(days=2))[0]
    site.put_hot([("AHU-1/SAT", day2 + k * 97_000, 100.0 + k) for k in range(0, 300, 7)])
    start, end = BASE + offset, BASE + 4 * MS_PER_DAY - offset
    answers = []
    for threshold in (1, 10_000):
        engine = QueryEngine(site.hot, site.cold, direct_cold_min_files=threshold)
        engine.use_rollups = False
        stats = ReadStats()
        plan = engine.plan(SITE, points, start, end, interval="15m", aggs=list(PLAIN))
        answers.append((engine.execute(plan, stats).series, stats.cold_days))
    (direct, direct_days), (merged, merged_days) = answers
    assert direct_days == merged_days == 4
    assert [s.point for s in direct] == [s.point for s in merged] == points
    for a, b in zip(direct, merged, strict=True):
        assert a.t == b.t and len(a.t) > 50
        for agg in PLAIN:
            assert a.values[agg] == pytest.approx(b.values[agg], rel=1e-12, abs=1e-12)
    assert max(direct[0].values["max"]) >= 100.0  # hot values won on day 2


def test_unknown_site_is_refused_before_its_names_with_one_catalogue_read(
    site: QuerySite,
) -> None:
    """The site check rides on name resolution: a known site's plan never lists the sites."""
    from vitals.ace.client import AcePoint
    from vitals.hot.store import HotStore

    site.hot.upsert_points("other-site", [AcePoint("Elsewhere Only")])
    listed: list[int] = []

    class CountingStore(HotStore):  # the real store over the same file; counts listings
        def list_sites(self) -> list[str]:
            listed.append(1)
            return super().list_sites()

    engine = QueryEngine(CountingStore(site.hot.url), site.cold)
    plan = engine.plan(SITE, ["ahu-1/sat"], BASE, BASE + HOUR)
    assert plan.points == ("AHU-1/SAT",) and listed == []
    for names in (["AHU-1/SAT"], ["Elsewhere Only"], ["never stored"]):
        with pytest.raises(UnknownSiteError, match="nowhere"):
            engine.plan("nowhere", names, BASE, BASE + HOUR)
    with pytest.raises(UnknownPointError, match="Elsewhere Only"):
        engine.plan(SITE, ["Elsewhere Only"], BASE, BASE + HOUR)
    assert engine.plan("other-site", ["elsewhere only"], BASE, BASE + HOUR).points == (
        "Elsewhere Only",
    )
