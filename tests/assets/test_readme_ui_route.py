"""The README's Dagster UI route, through the mutation the UI sends, against `dagster dev`
(webserver + daemon, as `vitals dev` runs it) and the real ACE simulator:

- asset lineage -> right-click `cold_timeseries` -> *Show upstream graph* -> *Materialize
  all* -> pick dates x site -> *Launch backfill* sends ``launchPartitionBackfill`` with
  ``cold_timeseries`` and its upstream assets; the cold files it leaves hold every sample;
- with no manual step, the rollups follow: the code location's rollups sensor is on
  and rebuilds ``rollups/{site}/{YYYY}/{MM}/{DD}.parquet`` for each new cold file, then
  compacts ``rollup_months/{site}/{YYYY}/{MM}.parquet`` (``rollup_months_job``) once the
  month's days have settled (quiet period 0 here), and that run rebuilds the year file
  ``rollup_years/{site}/{YYYY}.parquet``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from resources.cold_store import ColdStoreResource
from tests.support.backfill_graphql import BACKFILL_STATUS, LAUNCH_BACKFILL
from tests.support.dagster_dev_process import REPO, dagster_dev, wait_for
from tests.support.platform_helpers import expected_hot_rows
from vitals.cold.keys import cold_day_key, rollup_day_key, rollup_month_key, rollup_year_key
from vitals.cold.raw_pulls import list_raw_pulls, read_parsed_pulls
from vitals.rollups.day import rollup_matches_cold
from vitals.rollups.month import month_day_identities
from vitals.rollups.year import year_day_identities
from vitals.samples import day_bounds_ms
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key, site_month_key

# One `dagster dev` for the module, on one worker, away from test_backfill_daemon's
# (tests/conftest.py HEAVIEST_GROUPS).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("readme_ui_route")]

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=40), TODAY - timedelta(days=39)]
# What *Show upstream graph* of cold_timeseries selects, and *Materialize all* launches.
UPSTREAM_GRAPH = ["ace_points", "ace_raw_samples", "cold_timeseries"]


@pytest.fixture(scope="module")
def backfilled(_shared_simulator, tmp_path_factory):
    """`dagster dev` after the README's backfill of DAYS for SITE completed."""
    data_dir = tmp_path_factory.mktemp("readme-route") / "data"
    _shared_simulator.reset()
    quiet = {"VITALS_ROLLUP_MONTH_QUIET_SECONDS": "0"}
    with dagster_dev(data_dir, _shared_simulator, extra_env=quiet) as dev:
        with dev.instance() as instance:
            instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
        params = {
            "tags": [{"key": "dagster/from_ui", "value": "true"}],
            "assetSelection": [{"path": [name]} for name in UPSTREAM_GRAPH],
            "partitionNames": [str(site_day_key(SITE, day)) for day in DAYS],
            "fromFailure": False,
        }
        launched = dev.graphql(LAUNCH_BACKFILL, {"backfillParams": params})[
            "launchPartitionBackfill"
        ]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        def finished():
            status = dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"][
                "status"
            ]
            return status if status not in ("REQUESTED", "CANCELING") else None

        assert wait_for(finished, 150, "the README's backfill", every=2) == "COMPLETED_SUCCESS"
        yield dev, ColdStoreResource(url=str(data_dir / "cold"))


def test_upstream_graph_is_what_the_readme_route_selects():
    from vitals_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    upstream = graph.get_ancestor_asset_keys(dg.AssetKey("cold_timeseries"), include_self=True)
    assert sorted(key.to_user_string() for key in upstream) == sorted(UPSTREAM_GRAPH)


def _key_values(table: pa.Table, name: str, ts: str) -> dict[tuple[str, int], float]:
    return dict(
        zip(
            zip(
                table.column(name).to_pylist(),
                table.column(ts).cast(pa.int64()).to_pylist(),
                strict=True,
            ),
            table.column("value").to_pylist(),
            strict=True,
        )
    )


def test_readme_ui_route_backfill_leaves_complete_cold_files(backfilled, _shared_simulator):
    _dev, cold = backfilled
    for day in DAYS:
        start, end = day_bounds_ms(day)
        expected = expected_hot_rows(_shared_simulator, SITE, start, end)
        table = pq.read_table(cold.local_copy(cold_day_key(SITE, day)))
        got = _key_values(table, "point_name", "ts")
        assert len(expected) > 0 and got == expected, f"{day}: {len(got)} of {len(expected)}"
        # ... and equal to the raw pulls it was built from (configured points only)
        raw = read_parsed_pulls(cold, list_raw_pulls(cold, SITE, day)).table
        configured = pa.array(sorted({point for point, _ts in expected}))
        raw = raw.filter(pc.is_in(raw.column("point_name"), configured))
        assert raw.num_rows == table.num_rows


def test_rollups_follow_cold_files_without_a_manual_step(backfilled):
    dev, cold = backfilled

    def current_rollup(day: date) -> bool:
        key = rollup_day_key(SITE, day)
        return cold.exists(key) and rollup_matches_cold(
            cold.local_copy(key), cold.local_copy(cold_day_key(SITE, day))
        )

    wait_for(
        lambda: all(current_rollup(day) for day in DAYS),
        150,
        "the rollups sensor to build the rollups",
        every=2,
    )
    with dev.instance() as instance:
        events = instance.fetch_materializations(dg.AssetKey("cold_rollups"), limit=10).records
        partitions = {event.partition_key for event in events}
        assert {str(site_day_key(SITE, day)) for day in DAYS} <= partitions
        runs = [instance.get_run_by_id(run_id) for run_id in {event.run_id for event in events}]
        # launched by the rollups sensor, not by the backfill or a person
        assert runs and all(
            run.tags.get("dagster/sensor_name") == "rollups_follow_cold_files" for run in runs
        ), [run.tags for run in runs]


def test_month_files_follow_the_day_rollups_without_a_manual_step(backfilled):
    dev, cold = backfilled

    def holds_its_days(key_of, identities_of) -> Callable[[], bool]:
        """Whether the file ``key_of(day)`` records every day for its current cold file."""

        def check() -> bool:
            for day in DAYS:
                key = key_of(day)
                if not cold.exists(key):
                    return False
                held = identities_of(cold.local_copy(key))
                if held.get(day.isoformat()) != cold.identity(cold_day_key(SITE, day)):
                    return False
            return True

        return check

    month_holds_its_days = holds_its_days(
        lambda day: rollup_month_key(SITE, day.year, day.month), month_day_identities
    )
    wait_for(month_holds_its_days, 150, "the rollups sensor to compact the month", every=2)
    # rebuilt by the same run, after its months
    year_holds_its_days = holds_its_days(
        lambda day: rollup_year_key(SITE, day.year), year_day_identities
    )
    wait_for(year_holds_its_days, 60, "rollup_months to rebuild the year file", every=2)
    with dev.instance() as instance:
        events = instance.fetch_materializations(dg.AssetKey("rollup_months"), limit=10).records
        months = {str(site_month_key(SITE, day.year, day.month)) for day in DAYS}
        assert months <= {event.partition_key for event in events}
        runs = [instance.get_run_by_id(run_id) for run_id in {event.run_id for event in events}]
        assert runs and all(
            run.tags.get("dagster/sensor_name") == "rollups_follow_cold_files"
            and run.job_name == "rollup_months_job"
            for run in runs
        ), [(run.job_name, run.tags) for run in runs]


def _rollup_runs(instance: dg.DagsterInstance, partition: str) -> int:
    events = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("cold_rollups"), asset_partitions=[partition]),
        limit=10,
    ).records
    return len(events)


def test_rollups_follow_a_cold_file_written_by_the_cli(backfilled):
    """`vitals archive-day` writes outside a run; its recorded materialisation is enough
    for the sensor to rebuild that day's rollups."""
    dev, cold = backfilled
    day = DAYS[0]
    partition = str(site_day_key(SITE, day))
    with dev.instance() as instance:
        wait_for(lambda: _rollup_runs(instance, partition) >= 1, 150, "the first rollups", every=2)
        before = _rollup_runs(instance, partition)
        cold.delete(cold_day_key(SITE, day))  # a lost file, rebuilt from its raw pulls
        archived = subprocess.run(
            [sys.executable, "-m", "vitals_cli", "archive-day", "--site", SITE, "--date", str(day)],
            cwd=REPO,
            env=dev.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert archived.returncode == 0, archived.stderr
        assert "its rollups follow" in archived.stdout
        wait_for(
            lambda: _rollup_runs(instance, partition) > before,
            150,
            "rollups rebuilt after `vitals archive-day`",
            every=2,
        )
    key = rollup_day_key(SITE, day)
    assert rollup_matches_cold(cold.local_copy(key), cold.local_copy(cold_day_key(SITE, day)))
