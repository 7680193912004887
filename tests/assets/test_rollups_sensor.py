"""`rollups_follow_cold_files` against a real (ephemeral SQLite) Dagster instance.

Every change of a cold file must be followed by a rollup run that starts after it,
including the two cases `AutomationCondition.eager()` lost (a CI run caught the first):
a change recorded in the same evaluation interval as the rollup's own materialisation,
and a change made while a rollup run of that day was in progress.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from sensors.rollups import rollups_follow_cold_files
from vitals_assets.definitions import defs
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key

SITE = "acme_hq"
DAY_A, DAY_B, DAY_C = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def _key(day: date) -> str:
    return str(site_day_key(SITE, day))


def _record(instance: dg.DagsterInstance, asset: str, day: date) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key=asset, partition=_key(day))
    )


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> tuple[list[dg.RunRequest], str]:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    result = rollups_follow_cold_files(context)
    assert isinstance(result, dg.SensorResult)
    assert result.cursor is not None
    return list(result.run_requests or []), result.cursor


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        yield instance


def _partitions(requests: list[dg.RunRequest]) -> list[str]:
    # the day's quality report follows its cold file with the rollups
    want = [dg.AssetKey("cold_rollups"), dg.AssetKey("point_quality")]
    assert all(r.asset_selection == want for r in requests)
    return [str(r.partition_key) for r in requests]


def test_first_tick_requests_cold_days_without_rollups_then_follows_changes(instance):
    _record(instance, "cold_timeseries", DAY_A)
    _record(instance, "cold_timeseries", DAY_B)
    _record(instance, "cold_rollups", DAY_B)
    requests, cursor = _tick(instance, None)
    assert _partitions(requests) == [_key(DAY_A)]
    # nothing new: nothing requested
    requests, cursor = _tick(instance, cursor)
    assert requests == []
    # a rewrite of B and a new C: both follow, each run keyed by the change it covers
    _record(instance, "cold_timeseries", DAY_B)
    _record(instance, "cold_timeseries", DAY_C)
    requests, cursor = _tick(instance, cursor)
    assert sorted(_partitions(requests)) == [_key(DAY_B), _key(DAY_C)]
    assert len({r.run_key for r in requests}) == 2


def test_change_in_the_same_interval_as_the_rollups_own_materialisation_is_rebuilt(instance):
    """The CI failure: rollup of A materialised, then A's cold file rewritten (the CLI),
    both between two ticks. eager() reset on the rollup's record and never rebuilt."""
    _record(instance, "cold_timeseries", DAY_A)
    requests, cursor = _tick(instance, None)
    assert _partitions(requests) == [_key(DAY_A)]
    _record(instance, "cold_rollups", DAY_A)  # that run's materialisation
    _record(instance, "cold_timeseries", DAY_A)  # `vitals archive-day` right after
    requests, cursor = _tick(instance, cursor)
    assert _partitions(requests) == [_key(DAY_A)]


def test_change_during_a_rollup_run_waits_for_it_then_is_rebuilt(instance):
    _record(instance, "cold_timeseries", DAY_A)
    _requests, cursor = _tick(instance, None)
    run = create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": _key(DAY_A)},
        asset_selection=frozenset({dg.AssetKey("cold_rollups")}),
    )
    _record(instance, "cold_timeseries", DAY_A)  # rewritten while that run reads the old file
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "a second run would race the first to write the same rollup file"
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "still in progress: the change stays pending"
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_SUCCESS.value,
            job_name=run.job_name,
        ),
    )
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS
    requests, cursor = _tick(instance, cursor)
    assert _partitions(requests) == [_key(DAY_A)]
    requests, cursor = _tick(instance, cursor)
    assert requests == [], "requested once"


def test_an_in_progress_run_of_another_asset_does_not_hold_rollups_back(instance):
    _record(instance, "cold_timeseries", DAY_A)
    _requests, cursor = _tick(instance, None)
    create_run_for_test(
        instance,
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": _key(DAY_A)},
        asset_selection=frozenset({dg.AssetKey("ace_raw_samples")}),
    )
    _record(instance, "cold_timeseries", DAY_A)
    requests, _cursor = _tick(instance, cursor)
    assert _partitions(requests) == [_key(DAY_A)]
