"""Stored rollups: built right, laid out as documented, used only when provably current."""

from __future__ import annotations

import io
import math
import os
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.support.query_data import QuerySite, sample_table
from vitals.cold.keys import cold_day_key, rollup_day_key, rollup_month_key
from vitals.query.engine import QueryEngine, ReadStats
from vitals.rollups.day import (
    ROLLUP_SCHEMA,
    RollupError,
    build_rollup_table,
    rollup_file_bytes,
    rollup_matches_cold,
    write_rollup_parquet,
)
from vitals.rollups.month import (
    META_MONTH_INTERVALS,
    MONTH_ROWS_PER_GROUP,
    month_day_identities,
    month_intervals,
)
from vitals.samples import MS_PER_DAY, day_bounds_ms

SITE = "rollup-site"
DAY0 = date(2026, 7, 1)
BASE = day_bounds_ms(DAY0)[0]
POINTS = [f"AHU-{i}/Supply Air Temp" for i in range(12)]


def _day_rows(day_index: int, *, seed: int = 0) -> list[tuple[str, int, float]]:
    start = BASE + day_index * MS_PER_DAY
    rows = []
    for p, name in enumerate(POINTS):
        step = 60_000 * (1 + p % 5) + 7_123  # irregular, not minute aligned
        for k, ts in enumerate(range(start + p * 911, start + MS_PER_DAY, step)):
            rows.append((name, ts, round(((k * 37 + p + seed) % 101) * 0.25 - 7.5, 2)))
    return rows


def test_build_rollup_table_matches_plain_python() -> None:
    rows = _day_rows(0)
    table = build_rollup_table(sample_table(rows))
    assert table.schema == ROLLUP_SCHEMA
    expected: dict[tuple[str, int, int], list[tuple[int, float]]] = {}
    for name, ts, value in rows:
        for width in (900_000, 3_600_000, 86_400_000):
            expected.setdefault((name, width, ts // width * width), []).append((ts, value))
    got = table.to_pylist()
    assert len(got) == len(expected)
    keys = [
        (r["point_name"], r["interval_ms"], int(r["bucket_ts"].timestamp() * 1000)) for r in got
    ]
    assert keys == sorted(expected, key=lambda k: (k[1], k[0], k[2]))
    for row, key in zip(got, keys, strict=True):
        samples = expected[key]
        values = [v for _, v in samples]
        assert row["count"] == len(samples)
        assert math.isclose(row["sum"], sum(values), rel_tol=1e-12, abs_tol=1e-9)
        assert (row["min"], row["max"]) == (min(values), max(values))
        assert row["last"] == max(samples)[1]
        assert int(row["last_ts"].timestamp() * 1000) == max(samples)[0]
        # layout 2: the samples M4 keeps; ties on an extreme: the earliest sample
        assert (int(row["first_ts"].timestamp() * 1000), row["first"]) == min(samples)
        low = min(samples, key=lambda s: (s[1], s[0]))
        high = min(samples, key=lambda s: (-s[1], s[0]))
        assert int(row["min_ts"].timestamp() * 1000) == low[0]
        assert int(row["max_ts"].timestamp() * 1000) == high[0]


def test_m4_columns_take_the_earliest_of_tied_extremes() -> None:
    start = BASE
    # one bucket of 15 min: the min 1.0 at +60 s and +240 s, the max 5.0 at +120 s and +300 s
    rows = [(POINTS[0], start + k * 60_000, v) for k, v in enumerate([3, 1, 5, 2, 1, 5, 4])]
    table = build_rollup_table(sample_table(rows))
    for row in table.to_pylist():
        assert int(row["min_ts"].timestamp() * 1000) == start + 60_000
        assert int(row["max_ts"].timestamp() * 1000) == start + 120_000
        assert (row["first"], row["last"]) == (3, 4)
        assert int(row["first_ts"].timestamp() * 1000) == start
    data = rollup_file_bytes(table, SITE, DAY0)
    assert (
        pq.ParquetFile(io.BytesIO(data)).schema_arrow.metadata[b"vitals.rollup.schema_version"]
        == b"2"
    )


def test_rollup_file_layout_reads_back_with_pyarrow_and_duckdb(tmp_path: Path) -> None:
    table = build_rollup_table(sample_table(_day_rows(0)))
    data = rollup_file_bytes(table, SITE, DAY0, source_checksum="abc")
    parquet = pq.ParquetFile(io.BytesIO(data))
    meta = {
        k.decode(): v.decode()
        for k, v in parquet.schema_arrow.metadata.items()
        if k.startswith(b"vitals.")
    }
    assert meta["vitals.site"] == SITE and meta["vitals.date"] == "2026-07-01"
    assert meta["vitals.rollup.source_rows"] == str(len(_day_rows(0)))
    assert meta["vitals.rollup.source_key_checksum"] == "abc"
    assert parquet.read().equals(table)
    # one interval per row group, cut at point boundaries: no (interval, point) spans two
    seen: set[tuple[int, str]] = set()
    for index in range(parquet.num_row_groups):
        group = parquet.read_row_group(index, columns=["interval_ms", "point_name"])
        assert len(set(group.column(0).to_pylist())) == 1
        keys = set(zip(group.column(0).to_pylist(), group.column(1).to_pylist(), strict=True))
        assert not keys & seen
        seen |= keys
    path = tmp_path / "r.parquet"
    path.write_bytes(data)
    count = duckdb.sql(
        "SELECT count(*) FROM read_parquet($p) WHERE interval_ms = 3600000", params={"p": str(path)}
    ).fetchall()
    assert count == [(len(POINTS) * 24,)]
    # sample times are delta-encoded (a few bits a row instead of ~2.5 bytes after zstd)
    group = parquet.metadata.row_group(0)
    for index in range(group.num_columns):
        column = group.column(index)
        if column.path_in_schema in ("first_ts", "last_ts", "min_ts", "max_ts"):
            assert "DELTA_BINARY_PACKED" in column.encodings


def test_rollup_file_refuses_buckets_outside_its_day() -> None:
    table = build_rollup_table(sample_table(_day_rows(1)))
    with pytest.raises(RollupError, match="2026-07-01"):
        rollup_file_bytes(table, SITE, DAY0)
    with pytest.raises(ValueError, match="a/b"):
        rollup_file_bytes(table, "a/b", DAY0 + timedelta(days=1))


def _site_with_rollups(tmp_path: Path, days: int = 4) -> QuerySite:
    site = QuerySite(tmp_path, SITE, POINTS)
    for d in range(days):
        day = DAY0 + timedelta(days=d)
        site.put_rollup_from_cold(day, site.put_cold_day(day, _day_rows(d)))
    return site


def _compare(
    with_rollups: QueryEngine,
    from_raw: QueryEngine,
    start: int,
    end: int,
    interval: str,
    points: list[str],
) -> tuple[ReadStats, ReadStats]:
    aggs = ("avg", "min", "max", "last")
    plan = with_rollups.plan(SITE, points, start, end, interval=interval, aggs=aggs)
    fast_stats, raw_stats = ReadStats(), ReadStats()
    fast = with_rollups.execute(plan, fast_stats)
    raw = from_raw.execute(plan, raw_stats)
    for a, b in zip(fast.series, raw.series, strict=True):
        assert a.point == b.point and a.t == b.t and len(a.t) > 0
        for agg in ("min", "max", "last"):
            assert a.values[agg] == b.values[agg], (interval, agg)
        assert all(
            math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-9)
            for x, y in zip(a.values["avg"], b.values["avg"], strict=True)
        )
    return fast_stats, raw_stats


@pytest.mark.parametrize("interval", ["15m", "1h", "1d"])
def test_rollup_answers_equal_raw_aggregation(tmp_path: Path, interval: str) -> None:
    site = _site_with_rollups(tmp_path)
    # a partial first and last day (raw) around two whole days (rollups)
    start, end = BASE + 5 * 3_600_000 + 17, BASE + 3 * MS_PER_DAY + 7 * 3_600_000
    fast, raw = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        start,
        end,
        interval,
        POINTS[2:5],
    )
    assert fast.rollup_days == 2 and fast.cold_days == 2
    assert "rollup" in fast.tiers and "rollup" not in raw.tiers
    assert fast.counters.rows_decoded < raw.counters.rows_decoded


def test_stale_rollups_are_not_used(tmp_path: Path) -> None:
    site = _site_with_rollups(tmp_path, days=3)
    day1, day2 = DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)
    # day 0: cold file rewritten with other values after its rollup: checksum differs
    site.put_cold_day(DAY0, _day_rows(0, seed=5))
    # day 1: a checksum-less rollup from fewer rows than the cold file holds
    site.put_rollup_from_rows(day1, _day_rows(1)[:-3])
    # day 2: a checksum-less rollup of the right rows but older than the cold file
    site.put_rollup_from_rows(day2, _day_rows(2))
    rollup_path = site.cold.local_copy(rollup_day_key(SITE, day2))
    cold_stat = site.cold.local_copy(cold_day_key(SITE, day2)).stat()
    os.utime(rollup_path, ns=(cold_stat.st_atime_ns, cold_stat.st_mtime_ns - 10**9))
    for day in (DAY0, day1, day2):
        assert not rollup_matches_cold(
            site.cold.local_copy(rollup_day_key(SITE, day)),
            site.cold.local_copy(cold_day_key(SITE, day)),
        )
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        BASE,
        BASE + 3 * MS_PER_DAY,
        "1h",
        POINTS[:3],
    )
    assert fast.rollup_days == 0 and fast.cold_days == 3


def test_hot_rows_on_a_day_make_that_day_raw(tmp_path: Path) -> None:
    site = _site_with_rollups(tmp_path, days=3)
    late = BASE + MS_PER_DAY + 5 * 60_000  # a late hot sample (wins over cold) on day 1
    site.put_hot([(POINTS[0], late, 999.0)])
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        BASE,
        BASE + 3 * MS_PER_DAY,
        "15m",
        POINTS[:2],
    )
    assert fast.rollup_days == 2 and fast.cold_days == 1
    result = site.engine().query(
        SITE, [POINTS[0]], BASE + MS_PER_DAY, BASE + 2 * MS_PER_DAY, interval="1d", aggs=["max"]
    )
    assert result.series[0].values["max"] == [999.0]
    # another point is untouched by that hot row: its day-1 rollup is still used
    other = site.engine().plan(
        SITE, [POINTS[1]], BASE + MS_PER_DAY, BASE + 2 * MS_PER_DAY, interval="1d", aggs=["max"]
    )
    stats = ReadStats()
    site.engine().execute(other, stats)
    assert stats.rollup_days == 1 and stats.cold_days == 0


def test_rollup_input_must_be_a_sample_table() -> None:
    with pytest.raises(RollupError, match="value"):
        build_rollup_table(pa.table({"point_name": ["a"], "ts": [1]}))


def test_decoded_rollup_slices_are_cached_per_file_version(tmp_path: Path) -> None:
    site = _site_with_rollups(tmp_path, days=2)
    engine = site.engine()
    plan = engine.plan(SITE, POINTS[:3], BASE, BASE + 2 * MS_PER_DAY, interval="1h", aggs=["max"])
    first_stats, again_stats = ReadStats(), ReadStats()
    first = engine.execute(plan, first_stats)
    again = engine.execute(plan, again_stats)
    assert first_stats.rollup_days == again_stats.rollup_days == 2
    assert first_stats.counters.row_groups_read > 0 and again_stats.counters.row_groups_read == 0
    assert again.series == first.series
    # rewriting a day (cold file and its rollup) is seen at once: new file version, new slices
    site.put_rollup_from_cold(DAY0, site.put_cold_day(DAY0, _day_rows(0, seed=40)))
    fresh_stats = ReadStats()
    fresh = engine.execute(plan, fresh_stats)
    assert fresh_stats.rollup_days == 2 and fresh_stats.counters.files == 1
    reference = QueryEngine(site.hot, site.cold, use_rollups=False).execute(plan)
    assert fresh.series == reference.series and fresh.series != first.series


def _site_with_month_files(
    tmp_path: Path, *, year_file: bool = False
) -> tuple[QuerySite, list[date]]:
    """Five archived days across a month boundary, rolled up by the asset's own step.

    Without ``year_file`` the asset's last step (the year file) is left out, so 1 h
    charts read the month files these tests are about (tests/rollups/test_year_files.py).
    """
    site = QuerySite(tmp_path, SITE, POINTS)
    days = [date(2026, 6, 29) + timedelta(days=d) for d in range(5)]  # Jun 29 - Jul 3
    for d, day in enumerate(days):
        site.put_cold_day(day, _day_rows(d - 2))
        site.rollup_day(day)
    for day in (days[0], days[-1]):
        site.compact_month(day, year_file=year_file)
    return site, days


def test_month_files_answer_long_charts_from_one_file_per_month(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path)
    month = site.cold.local_copy(rollup_month_key(SITE, 2026, 7))
    identities = month_day_identities(month)
    cold_ids = site.cold.identities(f"timeseries/{SITE}/2026/07/")
    assert identities == {d.isoformat(): cold_ids[cold_day_key(SITE, d)] for d in days[2:]}
    # the month file holds the 15 min, 1 h and 1 d rows, readable by DuckDB
    counts = duckdb.sql(
        f"SELECT interval_ms, count(*) FROM read_parquet('{month}') GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert [c[0] for c in counts] == [900_000, 3_600_000, 86_400_000]
    assert month_intervals(month) == (900_000, 3_600_000, 86_400_000)
    start, end = day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]
    for interval in ("15m", "1h", "1d"):
        fast, raw = _compare(
            site.engine(),
            QueryEngine(site.hot, site.cold, use_rollups=False),
            start,
            end,
            interval,
            POINTS[1:4],
        )
        assert fast.rollup_days == 5 and fast.cold_days == 0
        assert fast.sources == 3  # hot + two month files, no day file opened
        assert fast.counters.files == 2 and raw.counters.files == 5
    # 5 min is in no rollup: raw files answer it
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        start,
        end,
        "5m",
        POINTS[:2],
    )
    assert fast.rollup_days == 0 and fast.cold_days == 5


def test_month_file_without_a_15m_section_is_not_read_at_15m(tmp_path: Path) -> None:
    """A month file written before the 15 min section (1 h and 1 d rows, no intervals
    key): 15 min charts come from day rollups, 1 h still from the month file."""
    site, days = _site_with_month_files(tmp_path)
    for year, month in ((2026, 6), (2026, 7)):
        path = site.cold.local_copy(rollup_month_key(SITE, year, month))
        table = pq.read_table(path)
        table = table.filter(pc.not_equal(table.column("interval_ms"), 900_000))
        meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != META_MONTH_INTERVALS}
        old = write_rollup_parquet(table.replace_schema_metadata(meta), MONTH_ROWS_PER_GROUP)
        site.cold.put_bytes(rollup_month_key(SITE, year, month), old)
        assert month_intervals(site.cold.local_copy(rollup_month_key(SITE, year, month))) == (
            3_600_000,
            86_400_000,
        )
    start, end = day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]
    raw_engine = QueryEngine(site.hot, site.cold, use_rollups=False)
    fast, _ = _compare(site.engine(), raw_engine, start, end, "15m", POINTS[:2])
    assert fast.rollup_days == 5 and fast.counters.files == 5  # the five day rollups
    fast, _ = _compare(site.engine(), raw_engine, start, end, "1h", POINTS[:2])
    assert fast.rollup_days == 5 and fast.counters.files == 2  # the two month files


def test_month_file_is_not_used_for_a_rewritten_cold_day(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path)
    engine = site.engine()
    start, end = day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]
    before = engine.query(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"])
    # re-archived with other values (same rows and size): the month file and the day
    # rollup of that day are stale, the day is answered from raw
    site.put_cold_day(days[3], _day_rows(1, seed=9))
    for interval in ("1h", "15m"):  # each section of the month file is stale for that day
        fast, _ = _compare(
            engine,
            QueryEngine(site.hot, site.cold, use_rollups=False),
            start,
            end,
            interval,
            POINTS[:2],
        )
        assert fast.rollup_days == 4 and fast.cold_days == 1
    after = engine.query(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"])
    assert after.series != before.series
    # the asset's next run (day rollup, then the month) makes it a month day again
    site.rollup_day(days[3])
    assert site.compact_month(days[3], year_file=False).days == 3
    stats = ReadStats()
    engine.execute(engine.plan(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"]), stats)
    # two month files, both read (month slices are not kept: vitals.rollups.day._SliceCache)
    assert stats.rollup_days == 5 and stats.sources == 3 and stats.counters.files == 2
    # a cold file deleted after compaction: that day is simply absent (no rollup of nothing)
    site.cold.delete(cold_day_key(SITE, days[4]))
    stats = ReadStats()
    result = engine.execute(
        engine.plan(SITE, POINTS[:2], start, end, interval="1d", aggs=["max"]), stats
    )
    assert stats.rollup_days == 4 and len(result.series[0].t) == 4


def test_month_compaction_skips_days_without_a_current_day_rollup(tmp_path: Path) -> None:
    site = QuerySite(tmp_path, SITE, POINTS)
    day0, day1, day2 = (date(2026, 8, 1) + timedelta(days=d) for d in range(3))
    site.put_rollup_from_cold(day0, site.put_cold_day(day0, _day_rows(31)))  # no identity
    site.put_cold_day(day1, _day_rows(32))
    site.rollup_day(day1)
    site.put_cold_day(day1, _day_rows(32, seed=3))  # rewritten after its rollup
    site.put_cold_day(day2, _day_rows(33))  # no rollup at all
    outcome = site.compact_month(day0)
    assert (outcome.days, outcome.skipped_days) == (0, 3)
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        day_bounds_ms(day0)[0],
        day_bounds_ms(day2)[1],
        "1h",
        POINTS[:3],
    )
    assert fast.rollup_days == 1 and fast.cold_days == 2  # day 0 by its footer checksum


def test_warm_up_parses_month_footers_before_the_first_chart(tmp_path: Path) -> None:
    from vitals.cold.point_reads import FOOTERS
    from vitals.rollups.month import warm_month_files

    site, days = _site_with_month_files(tmp_path)
    FOOTERS.clear()
    assert warm_month_files(site.cold) == 2 and FOOTERS.misses == 2
    assert warm_month_files(site.cold, months_per_site=1) == 1 and FOOTERS.hits == 1
    engine = site.engine()
    start, end = day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]
    engine.query(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"])
    assert FOOTERS.misses == 2  # the chart found both month footers parsed


def test_corrupt_month_and_day_rollups_fall_back_to_raw(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path)
    site.cold.put_bytes(rollup_month_key(SITE, 2026, 7), b"PAR1 not a parquet file")
    site.cold.put_bytes(rollup_day_key(SITE, days[3]), b"\x00" * 64)
    start, end = day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        start,
        end,
        "1h",
        POINTS[:3],
    )
    # June from its month file; July's days 1 and 3 from day rollups, day 2 from raw
    assert fast.rollup_days == 4 and fast.cold_days == 1
    outcome = site.compact_month(days[3])  # the corrupt day rollup is skipped, not fatal
    assert (outcome.days, outcome.skipped_days) == (2, 1)


def test_month_compaction_leaves_the_query_footer_cache_alone(tmp_path: Path) -> None:
    """Compaction reads private copies of 28-31 day rollups: their footers are not kept."""
    from vitals.cold.point_reads import FOOTERS

    site, days = _site_with_month_files(tmp_path)
    FOOTERS.clear()
    outcome = site.compact_month(days[3])
    assert outcome.days == 3 and FOOTERS.misses == 0 and FOOTERS.hits == 0


def _plain_slice(
    path: Path, point: str, interval_ms: int, start: int, end: int, columns: list[str]
) -> pa.Table:
    """The reference: the whole file read and filtered by a plain expression."""
    table = pq.read_table(path)
    ts = table.column("bucket_ts").cast(pa.int64())
    keep = pc.and_(
        pc.and_(
            pc.equal(table.column("point_name"), point),
            pc.equal(table.column("interval_ms"), interval_ms),
        ),
        pc.and_(pc.greater_equal(ts, start), pc.less(ts, end)),
    )
    table = table.filter(keep).select(["point_name", "bucket_ts", *columns])
    out = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        out["bucket" if name == "bucket_ts" else name] = column
    return pa.table(out)


def test_point_slices_equal_a_plain_filter_of_real_month_files(tmp_path: Path) -> None:
    """The position-cut read returns exactly the rows a plain filter of the file keeps."""
    from vitals.cold.point_reads import FileRead
    from vitals.rollups.day import M4_COLUMNS, READABLE_COLUMNS, read_rollup_rows
    from vitals.rollups.sorted_slices import read_point_slices

    site, days = _site_with_month_files(tmp_path)
    ts_columns = frozenset(c for c in M4_COLUMNS if c.endswith("_ts"))
    month = site.cold.local_copy(rollup_month_key(SITE, 2026, 7))
    # the same rows shuffled into one group: a point's rows in many runs, times unsorted
    one_hour = pq.read_table(month).filter(pc.equal(pc.field("interval_ms"), 3_600_000))
    order = pa.array(sorted(range(one_hour.num_rows), key=lambda i: (i * 7919) % 1009))
    shuffled = tmp_path / "shuffled.parquet"
    pq.write_table(one_hour.take(order), shuffled, row_group_size=1 << 20)
    full = (day_bounds_ms(days[2])[0], day_bounds_ms(days[-1])[1])
    partial = (day_bounds_ms(days[2])[0] + 5 * 3_600_000, day_bounds_ms(days[3])[1] - 900_000)
    cases = [(month, interval) for interval in (900_000, 3_600_000, 86_400_000)]
    cases.append((shuffled, 3_600_000))
    checked = 0
    for path, interval in cases:
        for points in (POINTS[1:4], [POINTS[5]], POINTS, [POINTS[0], "not stored", POINTS[11]]):
            for window in (full, partial):
                for columns in (["count", "sum"], list(READABLE_COLUMNS)):
                    item = FileRead(path, *window)
                    found = read_point_slices(item, points, interval, columns, ts_columns)
                    assert found is not None, (path.name, interval)
                    for point in points:
                        expected = _plain_slice(path, point, interval, *window, columns)
                        assert found[point].equals(expected), (path.name, interval, point)
                        checked += found[point].num_rows
                    # and what the API's reader returns for them (cache and concat included)
                    (rows,) = read_rollup_rows([item], points, interval, columns=columns)
                    reference = pa.concat_tables(
                        [_plain_slice(path, p, interval, *window, columns) for p in points]
                    )
                    assert rows.equals(reference)
    assert checked > 10_000
