"""Archival of a site-day: verified before any hot row is deleted; late rows merged."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from tests.support.helpers import as_key_dict, catalogue, day_samples, point_names
from vitals.archive import ArchiveError, archive_site_day, restore_site_day
from vitals.cold.keys import cold_day_key
from vitals.cold.raw_pulls import store_raw_pull
from vitals.cold.store import ColdStore
from vitals.samples import day_bounds_ms, ms_to_iso

SITE = "acme_hq"
OLD_DAY = (datetime.now(UTC) - timedelta(days=30)).date()


def _raw_table(samples: pa.Table, *, value_shift: float = 0.0) -> pa.Table:
    """A raw pull as ACE sends it: naive ISO strings with microseconds, string values."""
    times = [ms_to_iso(ts).replace("Z", "") + "123" for ts in samples.column("ts").to_pylist()]
    values = [f"{value + value_shift}" for value in samples.column("value").to_pylist()]
    return pa.table(
        {
            "name": samples.column("point_name"),
            "time": pa.array(times, pa.string()),
            "value": pa.array(values, pa.string()),
        }
    )


@pytest.fixture
def stores(tmp_path):
    hot = HotStoreResource(url=str(tmp_path / "hot.sqlite"))
    cold = ColdStoreResource(url=str(tmp_path / "cold"))
    hot.upsert_points(SITE, catalogue(SITE, 12))
    return hot, cold


def seed_day(hot, cold, day: date = OLD_DAY):
    """Hot rows for every point; a raw pull overlapping half of them with other values,
    plus raw-only samples and samples of an unconfigured point."""
    names = point_names(SITE, 12)
    hot_rows = day_samples(names, day)
    hot.upsert_samples(SITE, hot_rows)
    raw_overlap = day_samples(names[:6], day)
    raw_only = day_samples(names[6:], day, offset_ms=96_000, seed=5)
    unconfigured = day_samples(["acme/acme_hq/not/configured"], day)
    raw = pa.concat_tables(
        [
            _raw_table(raw_overlap, value_shift=1000.0),
            _raw_table(raw_only),
            _raw_table(unconfigured),
        ]
    )
    start, end = day_bounds_ms(day)
    store_raw_pull(cold, SITE, start, end, raw)
    expected = as_key_dict(raw_only)
    expected.update(as_key_dict(hot_rows))  # hot wins over the shifted raw values
    return expected


def test_archive_writes_verified_file_then_deletes_hot_rows(stores):
    hot, cold = stores
    expected = seed_day(hot, cold)
    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    key = cold_day_key(SITE, OLD_DAY)
    assert key == f"timeseries/{SITE}/{OLD_DAY:%Y/%m/%d}.parquet"
    assert outcome.verified and outcome.rows == len(expected)
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 0
    assert outcome.hot_rows_deleted == 12 * 288
    record = hot.get_archive(SITE, OLD_DAY)
    assert (
        record is not None and record.checksum == outcome.checksum and record.rows == outcome.rows
    )

    # The file opens with pyarrow and DuckDB, without Vitals code.
    path = cold.local_copy(key)
    table = pq.read_table(path)
    assert table.schema.names == ["site_name", "point_name", "ts", "value"]
    assert str(table.schema.field("ts").type) == "timestamp[ms, tz=UTC]"
    got = {
        (row["point_name"], int(row["ts"].timestamp() * 1000)): row["value"]
        for row in table.to_pylist()
    }
    assert got == expected
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (point_name, ts)), min(site_name), max(site_name) "
        f"FROM read_parquet('{path}')"
    ).fetchall()[0]
    assert rows == (len(expected), len(expected), SITE, SITE)


def test_day_inside_window_keeps_hot_rows_and_rerun_changes_nothing(stores):
    hot, cold = stores
    seed_day(hot, cold)
    first = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=False)
    data = cold.get_bytes(first.key)
    second = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=False)
    assert not second.rewritten and second.checksum == first.checksum
    assert cold.get_bytes(first.key) == data
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 12 * 288


def test_late_rows_for_an_archived_day_are_merged_not_lost(stores):
    hot, cold = stores
    expected = seed_day(hot, cold)
    archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    late = day_samples(point_names(SITE, 12)[:2], OLD_DAY, offset_ms=150_000, seed=9)
    hot.upsert_samples(SITE, late)
    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    expected.update(as_key_dict(late))
    assert outcome.rewritten and outcome.rows == len(expected)
    table = pq.read_table(cold.local_copy(outcome.key))
    assert len(table) == len(expected)
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 0


class TruncatingColdStore(ColdStore):
    """A storage fault: the backend keeps only half of what it is given."""

    def put_bytes(self, key: str, data: bytes) -> None:
        super().put_bytes(key, data[: len(data) // 2])


def test_unverifiable_file_never_deletes_hot_rows(tmp_path, stores):
    hot, cold = stores
    seed_day(hot, cold)
    broken = TruncatingColdStore(url=cold.url)
    with pytest.raises(ArchiveError, match="failed verification"):
        archive_site_day(hot, broken, SITE, OLD_DAY, delete_hot=True)
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 12 * 288
    assert hot.get_archive(SITE, OLD_DAY) is None


def test_corrupt_existing_file_is_rebuilt_from_sources(stores):
    hot, cold = stores
    expected = seed_day(hot, cold)
    first = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=False)
    cold.put_bytes(first.key, b"PAR1 this is not a parquet file")
    again = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    assert again.rewritten and again.rows == len(expected) and again.checksum == first.checksum


def test_restore_copies_cold_day_back_to_hot(stores):
    hot, cold = stores
    expected = seed_day(hot, cold)
    archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    restored = restore_site_day(hot, cold, SITE, OLD_DAY)
    assert restored == len(expected)
    start, end = day_bounds_ms(OLD_DAY)
    assert as_key_dict(hot.read_samples(SITE, start, end)) == expected
    assert restore_site_day(hot, cold, SITE, OLD_DAY) == len(expected)  # idempotent
    assert hot.count_samples(SITE, start, end) == len(expected)


@pytest.mark.parametrize("overlapping", [False, True])
def test_raw_only_day_from_many_pulls_equals_the_reference(stores, overlapping):
    """A backfilled day: raw pulls only, one per sub-window, with unknown points in each.
    Disjoint windows merge without a sort; overlapping ones (as the live sync's windows
    overlap by 15 minutes) take the sort path; each key lands once either way."""
    from vitals.archive import read_day_sources

    hot, cold = stores
    names = point_names(SITE, 12)
    samples = day_samples([*names, "acme/acme_hq/not/configured"], OLD_DAY)
    start, end = day_bounds_ms(OLD_DAY)
    cuts = [start, start + 5 * 3_600_000, start + 11 * 3_600_000, end]
    expected = {}
    unknown = 0
    for lo, hi in itertools.pairwise(cuts):
        ts = samples.column("ts")
        part = samples.filter(
            pa.compute.and_(pa.compute.greater_equal(ts, lo), pa.compute.less(ts, hi))
        )
        store_raw_pull(cold, SITE, lo, hi, _raw_table(part))
        expected.update({k: v for k, v in as_key_dict(part).items() if k[0] in names})
        unknown += sum(1 for n in part.column("point_name").to_pylist() if n not in names)
    if overlapping:  # hours 4-6 pulled again across a window boundary
        lo, hi = start + 4 * 3_600_000, start + 6 * 3_600_000
        ts = samples.column("ts")
        part = samples.filter(
            pa.compute.and_(pa.compute.greater_equal(ts, lo), pa.compute.less(ts, hi))
        )
        store_raw_pull(cold, SITE, lo, hi, _raw_table(part))
        unknown += sum(1 for n in part.column("point_name").to_pylist() if n not in names)
    sources = read_day_sources(hot, cold, SITE, OLD_DAY)
    assert sources.raw_unknown_points == unknown > 0
    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    assert outcome.rows == len(expected) and outcome.raw_rows == sources.raw.num_rows
    table = pq.read_table(cold.local_copy(outcome.key))
    got = dict(
        zip(
            zip(
                table.column("point_name").to_pylist(),
                table.column("ts").cast(pa.int64()).to_pylist(),
                strict=True,
            ),
            table.column("value").to_pylist(),
            strict=True,
        )
    )
    assert got == expected
    assert table.schema.field("point_name").type == pa.string()
