"""Month files as their own asset (`rollup_months`), requested by the rollups sensor once a
site-month's day rollups have settled, against a real (ephemeral SQLite) Dagster instance
and a real local cold store.

- a month's many day changes lead to one compaction after they settle, not one per day;
- a change made during a compaction run is followed by another compaction after it;
- the month file equals a fresh compaction of its days;
- a month's upstream partitions are its days (the partition mapping);
- the asset check warns when a current day rollup is missing from the month file.
"""

from __future__ import annotations

import io
import json
import time
from datetime import date, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context
from dagster._core.test_utils import create_run_for_test

from resources.cold_store import ColdStoreResource
from sensors.month_settling import busy_months
from sensors.rollups import rollups_follow_cold_files
from tests.support.query_data import QuerySite
from vitals.cold.keys import rollup_month_key, rollup_year_key
from vitals.rollups.month import META_MONTH_DAYS, compact_rollup_month
from vitals.samples import day_bounds_ms
from vitals_assets.definitions import defs
from vitals_assets.partitions import (
    SITE_PARTITIONS_NAME,
    site_day_key,
    site_month_key,
)
from vitals_assets.rollup_months import (
    rollup_month_covers_current_days,
    rollup_months,
    rollup_year_covers_month_days,
)
from vitals_assets.rollups import cold_rollups

SITE = "acme_hq"
POINTS = ["AHU-1/SAT", "AHU-1/RAT", "VAV-2/ZNT"]
MARCH = [date(2026, 3, 1) + timedelta(days=i) for i in range(8)]
MONTH = str(site_month_key(SITE, 2026, 3))
ROLLUPS = dg.AssetKey("cold_rollups")
MONTHS = dg.AssetKey("rollup_months")


def _day(day: date) -> str:
    return str(site_day_key(SITE, day))


@pytest.fixture
def instance(monkeypatch):
    monkeypatch.setenv("VITALS_ROLLUP_MONTH_QUIET_SECONDS", "0")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        yield instance


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    """One evaluation, as the sensor daemon runs it (run requests resolved against the
    sensor's target)."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    with partition_loading_context(dynamic_partitions_store=instance):
        result = rollups_follow_cold_files.evaluate_tick(context)
    assert result.cursor is not None
    return list(result.run_requests or []), result.cursor


def _month_requests(requests: list[dg.RunRequest]) -> list[str]:
    months = [r for r in requests if r.asset_selection == [MONTHS]]
    return [str(r.partition_key) for r in months]


def _day_requests(requests: list[dg.RunRequest]) -> list[str]:
    return [
        str(r.partition_key) for r in requests if r.asset_selection and ROLLUPS in r.asset_selection
    ]


def _queue(instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.DagsterRun:
    """The run the daemon creates for a request (not started yet), tagged with its partition."""
    return create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={"dagster/partition": str(request.partition_key)},
        asset_selection=frozenset(request.asset_selection or []),
    )


def _end(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_SUCCESS.value, job_name=run.job_name
        ),
    )


def _put_days(site: QuerySite, days: list[date], offset: float = 0.0) -> None:
    for day in days:
        start = day_bounds_ms(day)[0]
        rows = [
            (p, start + k * 300_000 + i * 7, float((k * 3 + i) % 13) + offset)
            for i, p in enumerate(POINTS)
            for k in range(288)
        ]
        site.put_cold_day(day, rows)


def _record_cold(instance: dg.DagsterInstance, day: date) -> None:
    """What `vitals archive-day` records for a file written outside a run."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key="cold_timeseries", partition=_day(day))
    )


def _record_rollup(instance: dg.DagsterInstance, day: date) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=ROLLUPS, partition=_day(day))
    )


def test_a_months_many_day_changes_lead_to_one_compaction_after_they_settle(instance, tmp_path):
    site = QuerySite(tmp_path, SITE, POINTS)
    resources = {"cold_store": ColdStoreResource(url=str(tmp_path / "cold"))}
    requests, cursor = _tick(instance, None)
    assert requests == []
    _put_days(site, MARCH)
    for day in MARCH:
        _record_cold(instance, day)
    requests, cursor = _tick(instance, cursor)
    assert sorted(_day_requests(requests)) == sorted(_day(d) for d in MARCH)
    assert _month_requests(requests) == []
    queued = {str(r.partition_key): _queue(instance, r) for r in requests}

    compactions: list[str] = []
    for day in MARCH:  # the daemon works through the queued day runs one by one
        result = dg.materialize(
            [cold_rollups], partition_key=_day(day), resources=resources, instance=instance
        )
        assert result.success
        _end(instance, queued.pop(_day(day)))
        requests, cursor = _tick(instance, cursor)
        compactions += _month_requests(requests)
        if queued:
            assert compactions == [], f"compacted with {len(queued)} day runs still queued"
    assert compactions == [MONTH], "one compaction once the days settled"

    result = dg.materialize(
        [rollup_months, rollup_month_covers_current_days, rollup_year_covers_month_days],
        partition_key=MONTH,
        resources=resources,
        instance=instance,
    )
    assert result.success
    meta = result.asset_materializations_for_node("rollup_months")[0].metadata
    assert meta["days"].value == len(MARCH) and meta["skipped_days"].value == 0
    assert meta["rows"].value > 0 and meta["bytes"].value > 0
    assert meta["duration_s"].value >= 0
    # then the year file, from the month file's days
    assert meta["year_file_days"].value == len(MARCH) and meta["year_file_skipped_days"].value == 0
    assert meta["year_file_keys"].value == [rollup_year_key(SITE, MARCH[0].year)]
    assert site.cold.exists(rollup_year_key(SITE, MARCH[0].year))
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True, True]
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "the compaction's own materialisation requests nothing"

    # the month file equals a fresh compaction of its days
    key = rollup_month_key(SITE, 2026, 3)
    compacted = site.cold.get_bytes(key)
    fresh = compact_rollup_month(site.cold.store, SITE, 2026, 3)
    assert fresh.days == len(MARCH)
    again = site.cold.get_bytes(key)
    assert pq.read_table(io.BytesIO(compacted)).equals(pq.read_table(io.BytesIO(again)))
    days_of = lambda data: json.loads(pq.read_schema(io.BytesIO(data)).metadata[META_MONTH_DAYS])  # noqa: E731
    assert days_of(compacted) == days_of(again)
    assert sorted(days_of(compacted)) == [d.isoformat() for d in MARCH]


def test_a_change_during_a_compaction_run_is_followed_by_another(instance):
    _requests, cursor = _tick(instance, None)
    _record_rollup(instance, MARCH[0])
    requests, cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]
    first_key = requests[0].run_key
    run = _queue(instance, requests[0])
    _record_rollup(instance, MARCH[1])  # a day rebuilt while the compaction runs
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "a second compaction would race the first to write the month file"
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "still in progress: the change stays pending"
    _end(instance, run)
    requests, cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]
    assert requests[0].run_key != first_key
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "requested once"


def test_a_rollup_run_of_a_day_of_the_month_holds_the_compaction_back(instance):
    _requests, cursor = _tick(instance, None)
    _record_rollup(instance, MARCH[0])
    day_run = create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": _day(MARCH[1])},
        asset_selection=frozenset({ROLLUPS}),
    )
    requests, cursor = _tick(instance, cursor)
    assert requests == []
    _end(instance, day_run)
    requests, cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]


def test_another_months_runs_do_not_hold_a_month_back(instance):
    _requests, cursor = _tick(instance, None)
    _record_rollup(instance, MARCH[0])
    create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": _day(date(2026, 4, 1))},
        asset_selection=frozenset({ROLLUPS}),
    )
    requests, _cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]


def test_range_runs_hold_back_the_months_they_cover():
    def run(start: str, end: str, key: dg.AssetKey) -> dg.DagsterRun:
        return dg.DagsterRun(
            job_name="__ASSET_JOB",
            asset_selection=frozenset({key}),
            tags={
                "dagster/asset_partition_range_start": start,
                "dagster/asset_partition_range_end": end,
            },
        )

    one_site = busy_months(
        [run(f"2026-02-27|{SITE}", f"2026-03-02|{SITE}", ROLLUPS)],
        [],
        rollups_key=ROLLUPS,
        months_key=MONTHS,
    )
    assert one_site.holds(str(site_month_key(SITE, 2026, 2))) and one_site.holds(MONTH)
    assert not one_site.holds(str(site_month_key(SITE, 2026, 4)))
    assert not one_site.holds(str(site_month_key("other", 2026, 3)))
    across_sites = busy_months(
        [run(f"2026-03-01|{SITE}", "2026-03-01|zzz", ROLLUPS)],
        [],
        rollups_key=ROLLUPS,
        months_key=MONTHS,
    )
    assert across_sites.holds(str(site_month_key("other", 2026, 3)))
    assert not across_sites.holds(str(site_month_key("other", 2026, 4)))


def test_the_quiet_period_delays_the_compaction(instance, monkeypatch):
    monkeypatch.setenv("VITALS_ROLLUP_MONTH_QUIET_SECONDS", "1.5")
    _requests, cursor = _tick(instance, None)
    _record_rollup(instance, MARCH[0])
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "changed less than the quiet period ago"
    time.sleep(1.6)
    requests, cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]


def test_a_cursor_from_before_rollup_months_follows_from_the_newest_rollup(instance):
    """An upgraded instance: its month files were compacted by the old cold_rollups runs;
    no recompaction of every month it ever rolled up."""
    for day in MARCH:
        _record_rollup(instance, day)
    old_cursor = json.dumps({"after_storage_id": None, "pending": {}})
    requests, cursor = _tick(instance, old_cursor)
    assert requests == []
    _record_rollup(instance, MARCH[0])
    requests, cursor = _tick(instance, cursor)
    assert _month_requests(requests) == [MONTH]


def test_a_months_upstream_partitions_are_its_days(instance):
    graph = defs.resolve_asset_graph()
    with partition_loading_context(dynamic_partitions_store=instance):
        parents = graph.get_parent_partition_keys_for_child(
            str(site_month_key(SITE, 2024, 2)), ROLLUPS, MONTHS
        ).partitions_subset.get_partition_keys()
        children = graph.get_child_partition_keys_of_parent(
            str(site_day_key(SITE, date(2024, 2, 29))), ROLLUPS, MONTHS
        )
    assert sorted(parents) == [_day_of(date(2024, 2, 1) + timedelta(days=i)) for i in range(29)]
    assert children == [str(site_month_key(SITE, 2024, 2))]


def _day_of(day: date) -> str:
    return str(site_day_key(SITE, day))


def test_the_check_warns_when_a_current_day_rollup_is_missing_from_the_month(instance, tmp_path):
    site = QuerySite(tmp_path, SITE, POINTS)
    resources = {"cold_store": ColdStoreResource(url=str(tmp_path / "cold"))}
    _put_days(site, MARCH[:3])
    for day in MARCH[:3]:
        site.rollup_day(day)
    result = dg.materialize(
        [rollup_months, rollup_month_covers_current_days],
        partition_key=MONTH,
        resources=resources,
        instance=instance,
    )
    assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    _put_days(site, MARCH[1:2], offset=100.0)  # a day re-archived ...
    site.rollup_day(MARCH[1])  # ... and its rollup rebuilt after the compaction
    checks_only = dg.Definitions(  # as the UI's "Execute checks" runs it
        assets=[rollup_months],
        asset_checks=[rollup_month_covers_current_days],
        jobs=[
            dg.define_asset_job(
                "checks_only",
                selection=dg.AssetSelection.checks(rollup_month_covers_current_days),
            )
        ],
        resources=resources,
    ).resolve_job_def("checks_only")
    tags = {"dagster/partition": MONTH, "dagster/partition/month": "2026-03-01"}
    tags["dagster/partition/site"] = SITE
    result = checks_only.execute_in_process(instance=instance, tags=tags)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["missing_days"].value == [MARCH[1].isoformat()]
    assert evaluation.metadata["days_in_month_file"].value == 2
