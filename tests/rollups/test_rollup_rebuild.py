"""The operator's route from rollups of layout 1 to layout 2 (docs/rollups.md, docs/runbook.md).

Rollups written before the M4 columns existed keep answering every aggregate; M4 reads
their days raw until ``cold_rollups`` rebuilds them. The route is a backfill of that one
asset (UI: select ``cold_rollups`` -> Materialize -> dates x sites; CLI: ``vitals backfill
--assets cold_rollups ...``); the month files follow by themselves: the rollups sensor
requests one ``rollup_months`` compaction per month once its days settle. Here a real
Dagster instance takes the CLI's backfill, the asset then runs for each of its partitions
against a real cold store, the sensor's month requests run, and the rebuilt day and month
files hold the M4 columns, so M4 is served from them.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import dagster as dg
import pyarrow.parquet as pq
from dagster._core.definitions.partitions.context import partition_loading_context

from resources.cold_store import ColdStoreResource
from sensors.rollups import rollups_follow_cold_files
from tests.support.query_data import QuerySite
from vitals.cold.keys import rollup_day_key, rollup_month_key
from vitals.query.engine import ReadStats
from vitals.rollups.day import (
    M4_COLUMNS,
    META_VERSION,
    ROLLUP_ROWS_PER_GROUP,
    has_m4_columns,
    write_rollup_parquet,
)
from vitals.rollups.month import MONTH_ROWS_PER_GROUP
from vitals.samples import day_bounds_ms
from vitals_assets.definitions import defs
from vitals_assets.partitions import site_day_key, site_month_key
from vitals_assets.rollup_months import rollup_months
from vitals_assets.rollups import cold_rollups
from vitals_cli.backfill import submit_backfill

SITE = "rebuild-site"
POINTS = ["AHU-1/SAT", "AHU-1/RAT"]
DAYS = [date(2025, 5, 30) + timedelta(days=i) for i in range(4)]  # across a month end


def _layout_1(data: bytes, rows_per_group: dict[int, int]) -> bytes:
    """A rollup file as the code before the M4 columns wrote it."""
    table = pq.read_table(io.BytesIO(data))
    meta = dict(table.schema.metadata or {})
    meta[META_VERSION] = b"1"
    return write_rollup_parquet(
        table.drop_columns(list(M4_COLUMNS)).replace_schema_metadata(meta), rows_per_group
    )


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    with partition_loading_context(dynamic_partitions_store=instance):
        result = rollups_follow_cold_files.evaluate_tick(context)
    assert result.cursor is not None
    return list(result.run_requests or []), result.cursor


def test_backfill_of_cold_rollups_rebuilds_old_layout_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOT_STORAGE_DAYS", "20")
    site = QuerySite(tmp_path, SITE, POINTS)
    for day in DAYS:
        start = day_bounds_ms(day)[0]
        rows = [
            (p, start + k * 300_000 + i, float((k * 7 + i) % 11))
            for i, p in enumerate(POINTS)
            for k in range(288)
        ]
        site.put_cold_day(day, rows)
        site.rollup_day(day)
        key = rollup_day_key(SITE, day)
        site.cold.put_bytes(key, _layout_1(site.cold.get_bytes(key), ROLLUP_ROWS_PER_GROUP))
    for month in (5, 6):
        site.compact_month(date(2025, month, 1))  # leaves layout-1 days out
        key = rollup_month_key(SITE, 2025, month)
        if site.cold.exists(key):
            site.cold.put_bytes(key, _layout_1(site.cold.get_bytes(key), MONTH_ROWS_PER_GROUP))
    engine = site.engine()
    start, end = day_bounds_ms(DAYS[0])[0], day_bounds_ms(DAYS[-1])[1]
    before = ReadStats()
    old = engine.execute(engine.plan(SITE, POINTS, start, end, max_points=8), before)
    assert before.rollup_days == 0 and before.cold_days == len(DAYS)  # M4 reads them raw

    monkeypatch.setenv("VITALS_ROLLUP_MONTH_QUIET_SECONDS", "0")
    resources = {"cold_store": ColdStoreResource(url=str(tmp_path / "cold"))}
    with dg.instance_for_test() as instance:
        _requests, cursor = _tick(instance, None)  # the sensor, running before the backfill
        backfill_id = submit_backfill(
            instance, sites=[SITE], start=DAYS[0], end=DAYS[-1], assets=("cold_rollups",)
        )
        subset = instance.get_backfill(backfill_id).asset_backfill_data.target_subset
        assert subset.asset_keys == {dg.AssetKey("cold_rollups")}
        keys = sorted(
            subset.get_partitions_subset(dg.AssetKey("cold_rollups")).get_partition_keys()
        )
        assert keys == sorted(str(site_day_key(SITE, day)) for day in DAYS)
        for key in keys:  # what the daemon's runs of that backfill execute
            result = dg.materialize(
                [cold_rollups], partition_key=key, resources=resources, instance=instance
            )
            assert result.success
        requests, cursor = _tick(instance, cursor)
        months = sorted(str(r.partition_key) for r in requests if r.job_name == "rollup_months_job")
        assert months == [str(site_month_key(SITE, 2025, 5)), str(site_month_key(SITE, 2025, 6))]
        for month in months:  # what the sensor's month runs execute
            result = dg.materialize(
                [rollup_months], partition_key=month, resources=resources, instance=instance
            )
            assert result.success

    for day in DAYS:
        assert has_m4_columns(site.cold.local_copy(rollup_day_key(SITE, day)))
    for month in (5, 6):
        assert has_m4_columns(site.cold.local_copy(rollup_month_key(SITE, 2025, month)))
    after = ReadStats()
    new = engine.execute(engine.plan(SITE, POINTS, start, end, max_points=8), after)
    assert after.rollup_days == len(DAYS) and after.cold_days == 0
    assert [(s.t, s.values) for s in new.series] == [(s.t, s.values) for s in old.series]
