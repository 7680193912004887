"""point_quality through Dagster over the simulator: tags and zone from ACE, the report
of a cold day, its checks, and the same report for today from the sync."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from tests.support.platform_helpers import (
    INGEST,
    check_results,
    materialize_day,
    metadata_of,
    new_instance,
)
from vitals.cold.catalogue import catalogue_snapshot
from vitals.cold.store import ColdStore
from vitals.config import load_settings
from vitals.quality.point_day import quality_day_key
from vitals.query.point_meta import default_facts
from vitals_assets.cold import cold_timeseries
from vitals_assets.definitions import defs
from vitals_assets.quality import point_quality

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()
OLD_DAY = TODAY - timedelta(days=40)


def _report(cold, day):
    data = cold.get_bytes(quality_day_key(SITE, day))
    return {r["point_name"]: r for r in pq.read_table(io.BytesIO(data)).to_pylist()}


def test_cold_day_report_tags_zone_and_checks(stores, simulator):
    _hot, cold = stores
    instance = new_instance([SITE])
    result = materialize_day(
        instance, SITE, OLD_DAY, assets=[*INGEST, cold_timeseries, point_quality]
    )
    snapshot = catalogue_snapshot(cold.store, SITE)
    assert snapshot["timezone"] == "America/Chicago"  # from the ACE site record
    sim_points = {
        p.name: p
        for p in simulator.building.site(SITE).points
        if p.collect_enabled and not p.case_twin  # the twin is listed only under a fault
    }
    report = _report(cold, OLD_DAY)
    assert set(report) == set(sim_points)  # every configured point, with data or not
    stuck = {name for name, row in report.items() if row["stuck"]}
    assert stuck == {p.name for p in sim_points.values() if p.stuck}
    meter = next(n for n, p in sim_points.items() if p.kind == "kwh")
    assert report[meter]["history_mode"] == "consumption"  # hisMode tag
    fans = [n for n, p in sim_points.items() if p.kind == "status"]
    assert all(report[n]["history_mode"] == "binary" for n in fans)  # binary marker
    assert all(report[n]["inferred_mode"] == "binary" for n in fans)  # and the data agree
    temps = [n for n, p in sim_points.items() if p.kind == "zone_temp" and not p.stuck]
    assert all(report[n]["unit"] == "°F" and report[n]["implausible"] == 0 for n in temps)
    gappy = [n for n, p in sim_points.items() if p.gappy]
    steady = [n for n, p in sim_points.items() if not p.gappy and p.interval_s == 300]
    assert (
        min(report[n]["longest_gap_s"] for n in gappy)
        > max(report[n]["longest_gap_s"] for n in steady) - 1_300
    )  # a lost hour against at most the gateway's 10-20 minute outage
    assert check_results(result) == {"coverage_steady": True, "few_stale_points": True}
    assert metadata_of(result, point_quality)["samples"] > 0
    facts = default_facts(cold.store, load_settings().site_overrides)
    assert facts.timezone(SITE) == ("America/Chicago", "ace")
    assert facts.points(SITE, [meter])[meter].unit == "kWh"


def test_the_sync_job_measures_today(stores):
    assert "point_quality" in {
        key.to_user_string()
        for key in defs.resolve_job_def("sync_job").asset_layer.executable_asset_keys
    }
    assert isinstance(stores[1].store, ColdStore)
