"""Year rollup files: 1 h charts read one file a year, and only its current days.

Real files throughout: the sites' cold days, day rollups, month and year files are
Parquet in a folder cold store, read back with pyarrow and DuckDB; every chart is
compared with the same chart aggregated from raw data (``use_rollups=False``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from tests.rollups.test_rollups import POINTS, SITE, _compare, _day_rows, _site_with_month_files
from vitals.cold.keys import cold_day_key, rollup_month_key, rollup_year_key
from vitals.query.engine import QueryEngine, ReadStats
from vitals.rollups.year import (
    YEAR_INTERVAL_MS,
    compact_rollup_year,
    year_coverage,
    year_day_identities,
)
from vitals.samples import day_bounds_ms


def _span(days):
    return day_bounds_ms(days[0])[0], day_bounds_ms(days[-1])[1]


def test_a_year_file_answers_1h_charts_from_one_file(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path, year_file=True)
    year = site.cold.local_copy(rollup_year_key(SITE, 2026))
    cold_ids = {
        **site.cold.identities(f"timeseries/{SITE}/2026/06/"),
        **site.cold.identities(f"timeseries/{SITE}/2026/07/"),
    }
    assert year_day_identities(year) == {
        d.isoformat(): cold_ids[cold_day_key(SITE, d)] for d in days
    }
    # 1 h rows only, sorted by point then bucket, readable by DuckDB
    rows = duckdb.sql(
        f"SELECT interval_ms, point_name, bucket_ts FROM read_parquet('{year}')"
    ).fetchall()
    assert {r[0] for r in rows} == {YEAR_INTERVAL_MS}
    assert rows == sorted(rows, key=lambda r: (r[1], r[2]))
    assert len(rows) == len(POINTS) * 24 * len(days)
    start, end = _span(days)
    raw_engine = QueryEngine(site.hot, site.cold, use_rollups=False)
    fast, _ = _compare(site.engine(), raw_engine, start, end, "1h", POINTS[:3])
    # hot + the year file: no month file read, though the chart crosses a month boundary
    assert fast.rollup_days == 5 and fast.sources == 2 and fast.counters.files == 1
    # 15 min is not in year files: the two month files answer it
    fast, _ = _compare(site.engine(), raw_engine, start, end, "15m", POINTS[:3])
    assert fast.rollup_days == 5 and fast.sources == 3


def test_a_rewritten_cold_day_is_not_read_from_the_year_file(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path, year_file=True)
    engine = site.engine()
    start, end = _span(days)
    before = engine.query(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"])
    site.put_cold_day(days[3], _day_rows(1, seed=9))  # other values, same size
    fast, _ = _compare(
        engine, QueryEngine(site.hot, site.cold, use_rollups=False), start, end, "1h", POINTS[:2]
    )
    assert fast.rollup_days == 4 and fast.cold_days == 1  # that day from raw
    assert engine.query(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"]) != before
    coverage = year_coverage(site.cold, SITE, 2026, 7)
    assert coverage.missing == () and days[3] not in coverage.in_month_file
    # the asset's next run: day rollup, month file, year file
    site.rollup_day(days[3])
    outcome = site.compact_month(days[3])
    assert outcome.days == 3
    stats = ReadStats()
    engine.execute(engine.plan(SITE, POINTS[:2], start, end, interval="1h", aggs=["max"]), stats)
    assert stats.rollup_days == 5 and stats.counters.files == 1


def test_the_year_coverage_shows_days_the_year_file_lags(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path, year_file=True)
    site.put_cold_day(days[3], _day_rows(1, seed=9))
    site.rollup_day(days[3])
    site.compact_month(days[3], year_file=False)  # the month moved on, the year file did not
    coverage = year_coverage(site.cold, SITE, 2026, 7)
    assert coverage.missing == (days[3],)
    start, end = _span(days)
    fast, _ = _compare(
        site.engine(),
        QueryEngine(site.hot, site.cold, use_rollups=False),
        start,
        end,
        "1h",
        POINTS[:3],
    )
    # four days from the year file (two runs of days), the lagging one from July's month file
    assert fast.rollup_days == 5 and fast.sources == 4
    outcome = compact_rollup_year(site.cold, SITE, 2026)
    assert (outcome.days, outcome.skipped_days) == (5, 0)
    assert year_coverage(site.cold, SITE, 2026, 7).missing == ()


def test_a_corrupt_year_or_month_file_falls_back_without_loss(tmp_path: Path) -> None:
    site, days = _site_with_month_files(tmp_path, year_file=True)
    start, end = _span(days)
    raw_engine = QueryEngine(site.hot, site.cold, use_rollups=False)
    site.cold.put_bytes(rollup_year_key(SITE, 2026), b"PAR1 not a parquet file")
    assert year_day_identities(site.cold.local_copy(rollup_year_key(SITE, 2026))) == {}
    fast, _ = _compare(site.engine(), raw_engine, start, end, "1h", POINTS[:3])
    assert fast.rollup_days == 5 and fast.sources == 3  # the two month files
    # a corrupt month file is left out of the year file; its days come from day rollups
    site.cold.put_bytes(rollup_month_key(SITE, 2026, 7), b"\x00" * 64)
    outcome = compact_rollup_year(site.cold, SITE, 2026)
    assert outcome.days == 2 and outcome.rows == len(POINTS) * 24 * 2
    assert (
        pq.read_metadata(site.cold.local_copy(rollup_year_key(SITE, 2026))).num_rows == outcome.rows
    )
    fast, _ = _compare(site.engine(), raw_engine, start, end, "1h", POINTS[:3])
    assert fast.rollup_days == 5 and fast.cold_days == 0


def test_a_year_without_month_files_writes_no_year_file(tmp_path: Path) -> None:
    site, _days = _site_with_month_files(tmp_path)
    outcome = compact_rollup_year(site.cold, SITE, 2025)
    assert (outcome.days, outcome.rows) == (0, 0)
    assert not site.cold.exists(rollup_year_key(SITE, 2025))
