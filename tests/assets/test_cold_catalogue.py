"""A cold file never holds fewer samples of configured points than its sources: a
missing or non-matching point catalogue fails archival (never an empty "verified"
file), the reconciliation check catches files that lost samples, a re-run repairs
them, and hot_samples does not claim days it never wrote (issue 9, section 1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
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
from vitals.cold.file import build_cold_table, cold_file_bytes
from vitals.cold.key_order import key_checksum
from vitals.cold.keys import catalogue_key, cold_day_key
from vitals.config import load_settings
from vitals.samples import day_bounds_ms, ms_to_iso
from vitals_assets.bindings import build_resources
from vitals_assets.checks import cold_file_integrity, cold_reconciliation
from vitals_assets.cold import cold_timeseries
from vitals_assets.ingest import ace_raw_samples, hot_samples
from vitals_assets.partitions import site_day_key

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=40)
RECENT_DAY = TODAY - timedelta(days=2)
CHECKS = [cold_file_integrity, cold_reconciliation]


def _check_metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return {key: value.value for key, value in evaluation.metadata.items()}


def _write_empty_verified_file(hot: HotStoreResource, cold: ColdStoreResource, day) -> None:
    """What the defect left behind: a 0-row day file recorded as verified."""
    table = build_cold_table(SITE, day, [])
    checksum = key_checksum(table)
    key = cold_day_key(SITE, day)
    cold.put_bytes(key, cold_file_bytes(table, site=SITE, day=day, sources=[], checksum=checksum))
    hot.record_archive(SITE, day, rows=0, checksum=checksum, key=key)


def _forget_catalogue(cold: ColdStoreResource, tmp_path, monkeypatch) -> HotStoreResource:
    """A fresh hot store (no points table rows) and no catalogue snapshot."""
    cold.delete(catalogue_key(SITE))
    fresh = str(tmp_path / "fresh-hot.sqlite")
    monkeypatch.setenv("VITALS_HOT_STORE", fresh)
    return HotStoreResource(url=fresh)


def test_backfill_without_ace_points_on_a_fresh_instance_writes_full_files(stores, simulator):
    """The acceptance run: raw pulls + cold files, catalogue never fetched before."""
    hot, cold = stores
    assert not hot.list_points(SITE)
    result = materialize_day(
        new_instance([SITE]), SITE, OLD_DAY, assets=[ace_raw_samples, cold_timeseries, *CHECKS]
    )
    start, end = day_bounds_ms(OLD_DAY)
    expected = expected_hot_rows(simulator, SITE, start, end)
    assert len(expected) > 1000
    assert cold_file_rows(cold, SITE, OLD_DAY) == expected
    assert metadata_of(result, ace_raw_samples)["catalogue_points_fetched"] > 0
    # window bounds an operator can read (ISO, UTC), beside the epoch-ms figures
    assert metadata_of(result, ace_raw_samples)["window"] == (
        f"[{ms_to_iso(start)}, {ms_to_iso(end)})"
    )
    assert metadata_of(result, cold_timeseries)["rows"] == len(expected)
    assert check_results(result) == {"cold_file_integrity": True, "cold_reconciliation": True}
    # One catalogue listing per site: the next day's pull finds it and does not ask again.
    other = OLD_DAY - timedelta(days=1)
    again = materialize_day(new_instance([SITE]), SITE, other, assets=[ace_raw_samples])
    assert metadata_of(again, ace_raw_samples)["catalogue_points_fetched"] == 0


def test_missing_catalogue_fails_archival_naming_site_day_and_what_to_run(
    stores, tmp_path, monkeypatch
):
    _hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, OLD_DAY, assets=[ace_raw_samples])
    _forget_catalogue(cold, tmp_path, monkeypatch)
    result = materialize_day(
        instance, SITE, OLD_DAY, assets=[cold_timeseries], raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert f"site-day {SITE} {OLD_DAY}" in message
    assert "no point catalogue" in message and "materialize ace_points" in message
    assert not cold.exists(cold_day_key(SITE, OLD_DAY))  # nothing written


def test_stale_snapshot_beside_a_current_hot_catalogue_keeps_every_sample(stores, simulator):
    hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, OLD_DAY, assets=[ace_raw_samples])
    # A stale catalogue: the site's points were renamed since it was taken.
    snapshot = json.loads(cold.get_bytes(catalogue_key(SITE)))
    cold.put_bytes(
        catalogue_key(SITE),
        json.dumps(
            {
                "site": SITE,
                "points": [
                    {"name": "renamed/" + p["name"], "collect_interval": 300}
                    for p in snapshot["points"][:3]
                ],
            }
        ).encode(),
    )
    fresh = HotStoreResource(url=hot.url)
    assert {p.name for p in fresh.list_points(SITE)}  # the hot catalogue holds the real ones
    # ... so archival keeps the samples: the union of both catalogues is used.
    result = materialize_day(instance, SITE, OLD_DAY, assets=[cold_timeseries])
    start, end = day_bounds_ms(OLD_DAY)
    assert metadata_of(result, cold_timeseries)["rows"] == len(
        expected_hot_rows(simulator, SITE, start, end)
    )


def test_catalogue_of_other_points_only_is_refused(stores, tmp_path, monkeypatch):
    _hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, OLD_DAY, assets=[ace_raw_samples])
    _forget_catalogue(cold, tmp_path, monkeypatch)
    cold.put_bytes(
        catalogue_key(SITE),
        json.dumps(
            {
                "site": SITE,
                "points": [{"name": "acme/other/point", "collect_interval": 300}],
            }
        ).encode(),
    )
    result = materialize_day(
        instance, SITE, OLD_DAY, assets=[cold_timeseries], raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert "none of its" in message and "1 points" in message and f"{SITE} {OLD_DAY}" in message
    assert not cold.exists(cold_day_key(SITE, OLD_DAY))


def test_reconciliation_catches_an_empty_verified_file_and_a_rerun_repairs_it(stores, simulator):
    hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, OLD_DAY, assets=[ace_raw_samples])
    _write_empty_verified_file(hot, cold, OLD_DAY)
    checks = run_checks(instance, CHECKS, str(site_day_key(SITE, OLD_DAY)))
    assert check_results(checks) == {"cold_file_integrity": True, "cold_reconciliation": False}
    start, end = day_bounds_ms(OLD_DAY)
    expected = expected_hot_rows(simulator, SITE, start, end)
    assert _check_metadata(checks, "cold_reconciliation")["raw_keys_missing"] == len(expected)

    repaired = materialize_day(instance, SITE, OLD_DAY, assets=[cold_timeseries, *CHECKS])
    assert cold_file_rows(cold, SITE, OLD_DAY) == expected
    assert metadata_of(repaired, cold_timeseries)["previous_file_rows"] == 0
    assert check_results(repaired) == {"cold_file_integrity": True, "cold_reconciliation": True}


def test_reconciliation_fails_an_empty_file_while_the_catalogue_is_still_missing(
    stores, tmp_path, monkeypatch
):
    _hot, cold = stores
    instance = new_instance([SITE])
    materialize_day(instance, SITE, OLD_DAY, assets=[ace_raw_samples])
    fresh_hot = _forget_catalogue(cold, tmp_path, monkeypatch)
    _write_empty_verified_file(fresh_hot, cold, OLD_DAY)
    checks = run_checks(instance, CHECKS, str(site_day_key(SITE, OLD_DAY)))
    assert check_results(checks)["cold_reconciliation"] is False
    meta = _check_metadata(checks, "cold_reconciliation")
    assert meta["catalogue_points"] == 0 and meta["raw_samples"] > 1000
    assert "no point catalogue" in meta["problem"]


def test_hot_samples_does_not_materialise_days_past_the_hot_window(stores, simulator):
    hot, cold = stores
    instance = new_instance([SITE])
    result = materialize_day(instance, SITE, OLD_DAY, assets=[*INGEST, cold_timeseries])
    assert result.success
    old_key = str(site_day_key(SITE, OLD_DAY))
    assert old_key not in instance.get_materialized_partitions(hot_samples.key)
    observation = instance.fetch_observations(hot_samples.key, limit=1).records[0]
    assert observation.event_log_entry.asset_observation.partition == old_key
    start, end = day_bounds_ms(OLD_DAY)
    assert hot.count_samples(SITE, start, end) == 0
    # cold_timeseries ran in the same run although hot_samples yielded nothing.
    assert cold_file_rows(cold, SITE, OLD_DAY) == expected_hot_rows(simulator, SITE, start, end)

    materialize_day(instance, SITE, RECENT_DAY)
    recent_key = str(site_day_key(SITE, RECENT_DAY))
    assert recent_key in instance.get_materialized_partitions(hot_samples.key)


def test_hot_samples_range_materialises_only_its_days_inside_the_window(stores, monkeypatch):
    hot, _cold = stores
    monkeypatch.setenv("HOT_STORAGE_DAYS", "3")
    instance = new_instance([SITE])
    first, last = TODAY - timedelta(days=5), TODAY - timedelta(days=2)
    result = dg.materialize(
        INGEST,
        instance=instance,
        resources=build_resources(load_settings()),
        tags={
            "dagster/asset_partition_range_start": str(site_day_key(SITE, first)),
            "dagster/asset_partition_range_end": str(site_day_key(SITE, last)),
        },
    )
    assert result.success
    materialized = instance.get_materialized_partitions(hot_samples.key)
    inside = {str(site_day_key(SITE, TODAY - timedelta(days=n))) for n in (2, 3)}
    past = {str(site_day_key(SITE, TODAY - timedelta(days=n))) for n in (4, 5)}
    assert materialized == inside
    for n in (2, 3, 4, 5):
        start, end = day_bounds_ms(TODAY - timedelta(days=n))
        assert (hot.count_samples(SITE, start, end) > 0) == (n <= 3)
    assert not past & materialized
