"""Cold tier through Dagster: backfilled old days go straight to cold files, archival
deletes hot rows only after verification, checks catch corrupt files and stray keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest

from sensors.archival import daily_archival_schedule
from sensors.sync import sync_schedule
from tests.support.platform_helpers import (
    INGEST,
    check_results,
    cold_file_rows,
    expected_hot_rows,
    materialize_day,
    metadata_of,
    new_instance,
    run_checks,
)
from vitals.cold.keys import cold_day_key
from vitals.config import load_settings
from vitals.samples import day_bounds_ms
from vitals_assets.bindings import build_resources
from vitals_assets.checks import (
    cold_file_integrity,
    cold_prefix_contract,
    cold_reconciliation,
)
from vitals_assets.cold import cold_timeseries
from vitals_assets.partitions import site_day_key
from vitals_assets.rollups import cold_rollups

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=40)
RECENT_DAY = TODAY - timedelta(days=2)
CHECKS = [cold_file_integrity, cold_reconciliation]


def test_old_day_goes_straight_to_a_verified_cold_file(stores, simulator):
    hot, cold = stores
    instance = new_instance([SITE])
    result = materialize_day(
        instance, SITE, OLD_DAY, assets=[*INGEST, cold_timeseries, cold_rollups, *CHECKS]
    )
    start, end = day_bounds_ms(OLD_DAY)
    expected = expected_hot_rows(simulator, SITE, start, end)
    assert hot.count_samples(SITE, start, end) == 0  # never touched the hot store
    assert cold_file_rows(cold, SITE, OLD_DAY) == expected
    meta = metadata_of(result, cold_timeseries)
    assert meta["rows"] == len(expected) and meta["verified"] is True
    assert check_results(result) == {"cold_file_integrity": True, "cold_reconciliation": True}
    rollup = pq.read_table(cold.local_copy(f"rollups/{SITE}/{OLD_DAY:%Y/%m/%d}.parquet"))
    assert rollup.num_rows > 0


def test_corrupt_file_fails_the_check_and_keeps_hot_rows(stores, simulator):
    hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, RECENT_DAY, assets=[*INGEST, cold_timeseries])
    start, end = day_bounds_ms(RECENT_DAY)
    rows = hot.count_samples(SITE, start, end)
    assert rows > 0  # inside the hot window: kept
    key = cold_day_key(SITE, RECENT_DAY)
    good = cold.get_bytes(key)
    cold.put_bytes(key, good[: len(good) // 3])
    result = run_checks(instance, CHECKS, partition_key=str(site_day_key(SITE, RECENT_DAY)))
    assert check_results(result) == {"cold_file_integrity": False, "cold_reconciliation": False}
    assert hot.count_samples(SITE, start, end) == rows


def test_stray_keys_under_timeseries_fail_the_prefix_check(stores):
    _hot, cold = stores
    cold.put_bytes("timeseries/acme_hq/2026/11/notes.txt", b"not a day file")
    cold.put_bytes(cold_day_key(SITE, OLD_DAY), b"x")
    result = run_checks(new_instance([SITE]), [cold_prefix_contract])
    assert check_results(result) == {"cold_prefix_contract": False}


@pytest.fixture
def instance_with_ref():
    """A real (temporary) instance with an instance ref, as schedules need."""
    with dg.instance_for_test() as instance:
        yield instance


def test_archival_schedule_archives_only_days_past_the_threshold(
    stores, simulator, monkeypatch, instance_with_ref
):
    hot, cold = stores
    instance = instance_with_ref
    instance.add_dynamic_partitions("site", [SITE])
    days = [TODAY - timedelta(days=offset) for offset in (1, 2, 3)]
    for day in days:
        materialize_day(instance, SITE, day)
    monkeypatch.setenv("HOT_STORAGE_DAYS", "2")  # now only day -3 ended more than 2 days ago
    now = datetime.now(UTC)
    context = dg.build_schedule_context(
        instance=instance,
        scheduled_execution_time=now,
        resources={"hot_store": build_resources(load_settings())["hot_store"]},
    )
    requests = daily_archival_schedule(context)
    assert [r.partition_key for r in requests] == [str(site_day_key(SITE, days[2]))]
    result = materialize_day(instance, SITE, days[2], assets=[cold_timeseries])
    assert metadata_of(result, cold_timeseries)["hot_rows_deleted"] > 0
    for day in days[:2]:
        start, end = day_bounds_ms(day)
        assert hot.count_samples(SITE, start, end) > 0
    start, end = day_bounds_ms(days[2])
    assert hot.count_samples(SITE, start, end) == 0
    assert cold_file_rows(cold, SITE, days[2]) == expected_hot_rows(simulator, SITE, start, end)


def test_sync_schedule_requests_today_for_each_site(stores, instance_with_ref):
    hot, _cold = stores
    instance = instance_with_ref
    instance.add_dynamic_partitions("site", [SITE, "other_site"])
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime.now(UTC), resources={"hot_store": hot}
    )
    requests = sync_schedule(context)
    keys = sorted(r.partition_key for r in requests)
    assert keys == sorted(str(site_day_key(s, TODAY)) for s in (SITE, "other_site"))
    # Empty catalogue: the catalogue refresh is part of the run.
    assert all(dg.AssetKey("ace_points") in r.asset_selection for r in requests)
