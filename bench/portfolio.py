"""Portfolio scale: the date x site design with 200 sites x 3 years on a PostgreSQL instance.

What it measures (figures printed; nothing pulled from ACE):
1. writing the partition history: one materialization event per asset per site-day,
   through the instance's event-log storage in batches (``store_event_batch``);
2. the asset page's partition health query (the UI's ``PartitionHealthQuery``, verbatim
   from dagster-webserver's bundle) and the catalog's ``partitionStats``, through
   dagster_graphql against the real code location: first (status cache built from the
   events) and again (cached);
3. launching a 1-year x 200-site backfill through GraphQL ``launchPartitionBackfill``,
   as the UI's "Materialize all..." dialog sends it;
4. the backfill daemon submitting that backfill's runs, in a child process stopped after
   ``--daemon-seconds``: runs created per second (a QueuedRunCoordinator keeps them
   queued; no run is executed);
5. one ``sync_schedule`` tick for every site (run requests and seconds).

A throwaway database is created on 127.0.0.1:5432 and dropped at the end.

    .venv/bin/python bench/portfolio.py                     # 200 sites x 3 years
    .venv/bin/python bench/portfolio.py --sites 20 --years 1 --daemon-seconds 20
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ADMIN_URL = os.environ.get(
    "VITALS_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The asset page timed is cold_timeseries': its full history is written by default. Each
# further asset adds the same number of events (~10 min per 219,000 on this machine).
HISTORY_ASSETS = ("cold_timeseries",)
ALL_ASSETS = ("ace_points", "ace_raw_samples", "hot_samples", "cold_timeseries", "cold_rollups")
BACKFILL_ASSETS = ("ace_points", "ace_raw_samples", "hot_samples", "cold_timeseries")

# dagster-webserver's PartitionHealthQuery (the asset page's health bar), as the UI sends it.
PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses {
          materializedPartitions materializingPartitions failedPartitions
        }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
              ... on DefaultPartitionStatuses {
                materializedPartitions materializingPartitions failedPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""
PARTITION_STATS_QUERY = """
query AssetPartitionStats($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionStats { numMaterialized numMaterializing numFailed numPartitions }
    }
  }
}
"""
LAUNCH_BACKFILL_MUTATION = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { stepKey invalidOutputName }
    ... on UnauthorizedError { message }
    ... on PythonError { message stack }
  }
}
"""

DAGSTER_YAML = """\
storage:
  postgres:
    postgres_url: {url}  # postgresql+psycopg2: see DAGSTER_URL below
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
telemetry:
  enabled: false
"""


def site_names(count: int) -> list[str]:
    return [f"site_{i:03d}" for i in range(count)]


def days_back(years: int, today: date) -> list[date]:
    first = today - timedelta(days=365 * years)
    return [first + timedelta(days=i) for i in range((today - first).days)]


class Database:
    """A throwaway PostgreSQL database for the instance and the hot store."""

    def __init__(self) -> None:
        self.name = f"vitals_portfolio_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"

    def drop(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def write_history(instance, sites: list[str], days: list[date], assets, batch: int) -> dict:
    """One materialization per asset per site-day, in batched inserts; returns figures."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    storage = instance.event_log_storage
    began = time.perf_counter()
    written = 0
    pending: list = []
    for name in assets:
        key = dg.AssetKey(name)
        for day in days:
            ts = datetime(day.year, day.month, day.day, 6, tzinfo=UTC).timestamp()
            for site in sites:
                partition = dg.MultiPartitionKey({"date": day.isoformat(), "site": site})
                event = DagsterEvent(
                    event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                    event_specific_data=StepMaterializationData(
                        dg.AssetMaterialization(asset_key=key, partition=partition)
                    ),
                    job_name=RUNLESS_JOB_NAME,
                )
                pending.append(
                    EventLogEntry(
                        error_info=None,
                        level=logging.INFO,
                        user_message="",
                        run_id=RUNLESS_RUN_ID,
                        timestamp=ts,
                        dagster_event=event,
                    )
                )
                if len(pending) >= batch:
                    storage.store_event_batch(pending)
                    written += len(pending)
                    pending = []
        if pending:
            storage.store_event_batch(pending)
            written += len(pending)
            pending = []
        print(
            f"  history of {name}: {written:,} events so far, {time.perf_counter() - began:.0f} s",
            flush=True,
        )
    seconds = time.perf_counter() - began
    return {
        "events": written,
        "seconds": round(seconds, 1),
        "events_per_s": round(written / seconds),
    }


def graphql(context, query: str, variables: dict) -> tuple[dict, float]:
    from dagster_graphql.test.utils import execute_dagster_graphql

    began = time.perf_counter()
    result = execute_dagster_graphql(context, query, variables)
    seconds = time.perf_counter() - began
    if result.errors:
        raise RuntimeError(f"GraphQL errors: {result.errors}")
    return result.data, seconds


def time_partition_queries(process, asset: str, expected: int) -> dict:
    figures: dict = {}
    for label in ("first", "cached"):
        context = process.create_request_context()
        data, seconds = graphql(context, PARTITION_HEALTH_QUERY, {"assetKey": {"path": [asset]}})
        statuses = data["assetNodeOrError"]["assetPartitionStatuses"]
        ranges = statuses["ranges"]
        figures[f"health_{label}_s"] = round(seconds, 2)
        figures["health_primary_ranges"] = len(ranges)
        figures["health_response_kb"] = round(len(json.dumps(data)) / 1024)
        context = process.create_request_context()
        data, seconds = graphql(context, PARTITION_STATS_QUERY, {"assetKey": {"path": [asset]}})
        stats = data["assetNodeOrError"]["partitionStats"]
        figures[f"stats_{label}_s"] = round(seconds, 2)
        figures["num_materialized"] = stats["numMaterialized"]
        figures["num_partitions"] = stats["numPartitions"]
    assert figures["num_materialized"] == expected, figures
    return figures


def launch_backfill(process, sites: list[str], days: list[date]) -> tuple[str, dict]:
    names = [f"{day.isoformat()}|{site}" for day in days for site in sites]
    params = {
        "partitionNames": names,
        "assetSelection": [{"path": [name]} for name in BACKFILL_ASSETS],
        "fromFailure": False,
        "tags": [{"key": "vitals/kind", "value": "backfill"}],
    }
    context = process.create_request_context()
    data, seconds = graphql(context, LAUNCH_BACKFILL_MUTATION, {"backfillParams": params})
    answer = data["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"launchPartitionBackfill answered {answer}")
    return answer["backfillId"], {"partitions": len(names), "launch_s": round(seconds, 2)}


def daemon_child() -> None:
    """The backfill daemon's loop, as `dagster-daemon run` runs it (killed by the parent)."""
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration_loop

    logging.basicConfig(level=logging.WARNING)
    instance = dg.DagsterInstance.get()
    target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target) as process:
        print("daemon-ready", flush=True)
        for _ in execute_backfill_iteration_loop(
            process, logging.getLogger("backfill"), threading.Event()
        ):
            pass


def run_daemon(instance, backfill_id: str, seconds: float) -> dict:
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.storage.tags import BACKFILL_ID_TAG

    def count() -> int:
        return instance.get_runs_count(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))

    child = subprocess.Popen(
        [sys.executable, __file__, "--daemon-child"],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=open(Path(os.environ["DAGSTER_HOME"]) / "daemon.err", "w"),
        text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:  # warnings may come first
        if line.strip() == "daemon-ready":
            break
    else:
        raise RuntimeError(f"the backfill daemon child exited with {child.wait()}")
    began = time.perf_counter()
    samples: list[tuple[float, int]] = []
    first_run_at = None
    while time.perf_counter() - began < seconds:
        time.sleep(2)
        runs = count()
        samples.append((time.perf_counter() - began, runs))
        if runs and first_run_at is None:
            first_run_at = samples[-1][0]
    child.kill()
    child.wait(timeout=30)
    runs = count()
    covered = partitions_in_runs(instance, backfill_id)
    steady = None
    if first_run_at is not None:
        tail = [s for s in samples if s[0] >= first_run_at]
        if len(tail) >= 2 and tail[-1][0] > tail[0][0]:
            steady = round((tail[-1][1] - tail[0][1]) / (tail[-1][0] - tail[0][0]), 2)
    return {
        "daemon_seconds": seconds,
        "runs_submitted": runs,
        "first_run_after_s": None if first_run_at is None else round(first_run_at, 1),
        "runs_per_s_overall": round(runs / seconds, 2),
        "runs_per_s_after_first": steady,
        "site_days_in_submitted_runs": covered,
        "site_days_per_s_overall": round(covered / seconds, 2),
    }


def partitions_in_runs(instance, backfill_id: str) -> int:
    """Site-days the backfill's runs cover (a range run covers dates x sites of its range)."""
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
        BACKFILL_ID_TAG,
    )

    total = 0
    for run in instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})):
        start = run.tags.get(ASSET_PARTITION_RANGE_START_TAG)
        end = run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
        if start is None or end is None:
            total += 1
            continue
        (d0, s0), (d1, s1) = start.split("|", 1), end.split("|", 1)
        dates = (date.fromisoformat(d1) - date.fromisoformat(d0)).days + 1
        sites = int(s1.removeprefix("site_")) - int(s0.removeprefix("site_")) + 1
        total += dates * sites
    return total


def time_sync_tick(instance, hot_url: str) -> dict:
    import dagster as dg

    from resources.hot_store import HotStoreResource
    from sensors.sync import sync_schedule

    hot = HotStoreResource(url=hot_url)
    hot.list_sites()  # schema created outside the timing
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    figures = {}
    for label, when in (("tick", now), ("next_tick", now + timedelta(minutes=5))):
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
        began = time.perf_counter()
        result = sync_schedule(context, hot_store=hot)
        seconds = time.perf_counter() - began
        requests = result if isinstance(result, list) else []
        figures[f"{label}_s"] = round(seconds, 2)
        figures[f"{label}_run_requests"] = len(requests)
        figures[f"{label}_sites"] = len({r.tags.get("vitals/site") for r in requests})
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--daemon-seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=5000, help="events per store_event_batch")
    parser.add_argument(
        "--history-assets",
        default=",".join(HISTORY_ASSETS),
        help=f"assets whose full history is written (all: {','.join(ALL_ASSETS)})",
    )
    parser.add_argument("--daemon-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.daemon_child:
        daemon_child()
        return 0

    db = Database()
    home = Path(tempfile.mkdtemp(prefix="vitals-portfolio-"))
    # psycopg2 for Dagster's storage: SQLAlchemy 2.1 maps postgresql:// to psycopg 3, and
    # dagster-postgres' `NOTIFY run_events, :id` then fails on every run event.
    dagster_url = db.url.replace("postgresql://", "postgresql+psycopg2://", 1)
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(url=dagster_url))
    os.environ.update(
        {
            "DAGSTER_HOME": str(home),
            "VITALS_DATA_DIR": str(home / "data"),
            "VITALS_HOT_STORE": db.url,
            "ACE_API_KEY": "portfolio-bench",
        }
    )
    today = datetime.now(UTC).date()
    days = days_back(args.years, today)
    # The date dimension starts at the first day of the history (read at import).
    os.environ["VITALS_HISTORY_START"] = days[0].isoformat()
    figures: dict = {"sites": args.sites, "years": args.years}
    try:
        import dagster as dg
        from dagster._core.workspace.context import WorkspaceProcessContext
        from dagster._core.workspace.load_target import WorkspaceFileTarget

        from vitals_assets.partitions import SITE_PARTITIONS_NAME

        sites = site_names(args.sites)
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, sites)
            assets = tuple(a for a in args.history_assets.split(",") if a)
            if "cold_timeseries" not in assets:
                parser.error("--history-assets must include cold_timeseries (its page is timed)")
            print(
                f"writing {len(assets)} assets x {len(days)} days x {len(sites)} sites", flush=True
            )
            figures["history"] = write_history(instance, sites, days, assets, args.batch)
            target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
            with WorkspaceProcessContext(instance, target) as process:
                figures["partition_queries"] = time_partition_queries(
                    process, "cold_timeseries", expected=len(days) * len(sites)
                )
                print(json.dumps(figures["partition_queries"]), flush=True)
                year = [
                    today - timedelta(days=args.backfill_days + 30 - i)
                    for i in range(args.backfill_days)
                ]
                backfill_id, launch = launch_backfill(process, sites, year)
                figures["backfill_launch"] = launch
                print(json.dumps(launch), flush=True)
            figures["backfill_daemon"] = run_daemon(instance, backfill_id, args.daemon_seconds)
            print(json.dumps(figures["backfill_daemon"]), flush=True)
            figures["sync_schedule"] = time_sync_tick(instance, db.url)
    finally:
        db.drop()
        print(f"instance folder (daemon log daemon.err): {home}")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
