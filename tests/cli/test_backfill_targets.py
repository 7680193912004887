"""`vitals backfill` targets hot_samples only for days inside the hot window: a day past
it is never materialised by hot_samples, and targeting it would fail the backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from vitals_assets.partitions import site_day_key
from vitals_cli.backfill import DEFAULT_ASSETS, backfill_targets, submit_backfill

TODAY = datetime.now(UTC).date()


def test_hot_samples_is_targeted_only_inside_the_hot_window():
    old, recent = TODAY - timedelta(days=30), TODAY - timedelta(days=2)
    targets = set(backfill_targets(DEFAULT_ASSETS, ["acme_hq"], old, recent, hot_storage_days=20))
    old_key, recent_key = str(site_day_key("acme_hq", old)), str(site_day_key("acme_hq", recent))
    assert ("hot_samples", old_key) not in targets
    assert ("hot_samples", recent_key) in targets
    for name in ("ace_points", "ace_raw_samples", "cold_timeseries"):
        assert (name, old_key) in targets and (name, recent_key) in targets
    assert len(targets) == 29 * 4 - 10  # 29 days x 4 assets; days -30..-21 ended over 20 days ago


def test_submitted_backfill_targets_that_subset(monkeypatch):
    monkeypatch.setenv("HOT_STORAGE_DAYS", "20")
    with dg.instance_for_test() as instance:
        first, last = TODAY - timedelta(days=22), TODAY - timedelta(days=19)
        backfill_id = submit_backfill(instance, sites=["acme_hq"], start=first, end=last)
        backfill = instance.get_backfill(backfill_id)
        subset = backfill.asset_backfill_data.target_subset
        hot = subset.get_partitions_subset(dg.AssetKey("hot_samples")).get_partition_keys()
        cold = subset.get_partitions_subset(dg.AssetKey("cold_timeseries")).get_partition_keys()
    assert len(cold) == 4
    # days -22 and -21 ended more than 20 days ago; -20 and -19 have not
    assert sorted(hot) == sorted(
        str(site_day_key("acme_hq", TODAY - timedelta(days=n))) for n in (20, 19)
    )


def test_rollup_months_is_targeted_by_the_months_the_range_touches(monkeypatch):
    """Month files are partitioned by month x site: a backfill naming rollup_months targets
    each site-month of the range once (not a site-day key it does not have)."""
    from datetime import date

    from vitals_assets.partitions import site_month_key

    start, end = date(2025, 1, 30), date(2025, 3, 2)
    targets = backfill_targets(
        ("cold_rollups", "rollup_months"), ["acme_hq", "b"], start, end, hot_storage_days=20
    )
    months = sorted(key for name, key in targets if name == "rollup_months")
    assert months == sorted(
        str(site_month_key(site, 2025, m)) for site in ("acme_hq", "b") for m in (1, 2, 3)
    )
    assert len([key for name, key in targets if name == "cold_rollups"]) == 32 * 2
    monkeypatch.setenv("HOT_STORAGE_DAYS", "20")
    with dg.instance_for_test() as instance:
        backfill_id = submit_backfill(
            instance, sites=["acme_hq"], start=start, end=end, assets=("rollup_months",)
        )
        subset = instance.get_backfill(backfill_id).asset_backfill_data.target_subset
        keys = subset.get_partitions_subset(dg.AssetKey("rollup_months")).get_partition_keys()
    assert sorted(keys) == [str(site_month_key("acme_hq", 2025, m)) for m in (1, 2, 3)]
