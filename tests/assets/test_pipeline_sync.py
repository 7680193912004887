"""The ingest assets through Dagster, against the simulator over HTTP and real stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resources.hot_store import HotStoreResource
from tests.support.helpers import as_key_dict
from tests.support.platform_helpers import (
    expected_hot_rows,
    materialize_day,
    metadata_of,
    new_instance,
    point_platform_at,
)
from vitals.cold.key_order import key_checksum
from vitals.cold.raw_pulls import list_raw_pulls
from vitals.samples import day_bounds_ms
from vitals_assets.ingest import ace_raw_samples, hot_samples

SITE = "acme_hq"
DAY = (datetime.now(UTC) - timedelta(days=2)).date()


@pytest.fixture(params=["sqlite", "postgres"])
def hot_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "hot.sqlite")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def platform(monkeypatch, simulator, tmp_path, hot_url):
    """Both hot-store backends: for what depends on the backend."""
    point_platform_at(monkeypatch, simulator, hot_store=hot_url, cold_store=str(tmp_path / "cold"))
    return HotStoreResource(url=hot_url)


@pytest.fixture
def sqlite_platform(monkeypatch, simulator, tmp_path):
    """SQLite only: for fault handling, which does not depend on the backend."""
    url = str(tmp_path / "hot.sqlite")
    point_platform_at(monkeypatch, simulator, hot_store=url, cold_store=str(tmp_path / "cold"))
    return HotStoreResource(url=url)


def test_full_day_lands_exactly_once_and_rerun_changes_nothing(platform, simulator):
    instance = new_instance([SITE])
    start, end = day_bounds_ms(DAY)
    result = materialize_day(instance, SITE, DAY)
    expected = expected_hot_rows(simulator, SITE, start, end)
    stored = platform.read_samples(SITE, start, end)
    assert as_key_dict(stored) == expected
    raw_meta = metadata_of(result, ace_raw_samples)
    hot_meta = metadata_of(result, hot_samples)
    assert raw_meta["requests"] >= 1 and raw_meta["rows"] >= len(expected)
    assert hot_meta["rows"] == len(expected)
    assert hot_meta["dropped_unconfigured_point"] > 0  # the export carries unconfigured points

    checksum = key_checksum(stored)
    materialize_day(instance, SITE, DAY)
    again = platform.read_samples(SITE, start, end)
    assert again.num_rows == len(expected) and key_checksum(again) == checksum


@pytest.mark.parametrize(
    "faults",
    [
        "rate_limit:count=3:retry_after=1",
        "server_error:count=3",
        "drop:count=1",
        "malformed:count=1",
        "duplicates:p=0.05,shuffle",
    ],
)
def test_transient_faults_complete_with_exact_data(sqlite_platform, simulator, faults):
    simulator.set_faults(faults)
    instance = new_instance([SITE])
    start, end = day_bounds_ms(DAY)
    materialize_day(instance, SITE, DAY)
    assert as_key_dict(sqlite_platform.read_samples(SITE, start, end)) == expected_hot_rows(
        simulator, SITE, start, end
    )


def test_bad_values_are_dropped_and_counted(platform, simulator):
    simulator.set_faults("bad_values:p=0.05")
    instance = new_instance([SITE])
    start, end = day_bounds_ms(DAY)
    result = materialize_day(instance, SITE, DAY)
    expected = expected_hot_rows(simulator, SITE, start, end)
    stored = as_key_dict(platform.read_samples(SITE, start, end))
    meta = metadata_of(result, hot_samples)
    assert meta["dropped_bad_value"] > 0
    assert all(expected[key] == value for key, value in stored.items())
    # Every configured sample is either stored or counted as dropped (ACE sent a bad value).
    assert len(stored) + meta["dropped_bad_value"] >= len(expected)
    assert set(stored) <= set(expected)


def test_persistent_malformed_pages_fail_clearly_and_write_nothing(
    sqlite_platform, simulator, tmp_path
):
    simulator.set_faults("malformed:every=1")
    instance = new_instance([SITE])
    start, end = day_bounds_ms(DAY)
    result = materialize_day(instance, SITE, DAY, raise_on_error=False)
    assert not result.success
    failure = "\n".join(
        str(event.event_specific_data.error) for event in result.all_events if event.is_step_failure
    )
    assert SITE in failure and ("JSON" in failure or "json" in failure)
    assert sqlite_platform.count_samples(SITE, start, end) == 0
    from resources.cold_store import ColdStoreResource

    assert list_raw_pulls(ColdStoreResource(url=str(tmp_path / "cold")), SITE, DAY) == []


def test_incremental_windows_overlap_but_store_each_sample_once(platform, simulator):
    instance = new_instance([SITE])
    start, end = day_bounds_ms(DAY)
    materialize_day(instance, SITE, DAY, assets=None, run_config=None)  # catalogue + day
    platform.delete_samples(SITE, start, end)
    noon = start + 12 * 3_600_000
    config = {"ops": {"ace_raw_samples": {"config": {"mode": "incremental"}}}}
    for watermark in (noon, noon + 3 * 3_600_000):
        platform.set_watermark(SITE, watermark)
        materialize_day(instance, SITE, DAY, run_config=config)
    expected = expected_hot_rows(simulator, SITE, noon - 15 * 60_000, end)
    assert as_key_dict(platform.read_samples(SITE, start, end)) == expected
    assert platform.get_watermark(SITE) == end


def test_unknown_site_and_missing_key_fail_with_clear_messages(
    sqlite_platform, simulator, monkeypatch
):
    instance = new_instance(["no_such_site"])
    result = materialize_day(instance, "no_such_site", DAY, raise_on_error=False)
    assert not result.success
    messages = " ".join(
        str(event.event_specific_data.error) for event in result.all_events if event.is_step_failure
    )
    assert "no_such_site" in messages

    monkeypatch.delenv("ACE_API_KEY")
    instance = new_instance([SITE])
    with pytest.raises(Exception, match="ACE_API_KEY"):
        materialize_day(instance, SITE, DAY)


@pytest.mark.parametrize("site", ["../x", "a/b", "bad\x07name", ".."])
def test_hostile_site_names_are_rejected_before_any_request(sqlite_platform, simulator, site):
    instance = new_instance([SITE, site])
    result = materialize_day(instance, site, DAY, raise_on_error=False)
    assert not result.success
    messages = " ".join(
        str(event.event_specific_data.error) for event in result.all_events if event.is_step_failure
    )
    assert "site name" in messages and "not allowed" in messages
    assert simulator.stats()["requests_total"] == 0
