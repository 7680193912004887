"""The sensor that rebuilds a site-day's rollups after every change of its cold file.

Why not ``AutomationCondition.eager()``: its "deps updated since last handled" loses an
update when the cold file changes within the same evaluation interval as the rollup's
own materialisation (Dagster's ``|`` drops the timing that would order the two), and it
never rebuilds for a change made while a rollup run is in progress: the run read the
old file, yet its materialisation counts as "handled". Either way the stored rollups
stay stale with every check green. This sensor follows the ``cold_timeseries``
materialisation records themselves (runs, backfills and the CLI's runless records
alike), so every change is followed by a rollup run that *starts after it*:

- a change to a partition with a rollup run in progress waits (stays pending in the
  cursor) until that run ends, so two runs never race to write the same rollup file;
- on its first tick it also requests every partition that has a cold file and no
  rollup, then follows changes from the newest record on.

Month files follow the day rollups the same way, but only once a site-month's changes
have settled, because one compaction of a 4,600-point month costs 10-30 s and a month's
backfill changes a day rollup every few seconds (one compaction per day was O(days^2)).
The sensor follows the ``cold_rollups`` materialisation records and requests one
``rollup_months`` run for a site-month when all of these hold:

- no day of that site-month is waiting in the cursor or requested in this tick, and no
  ``cold_rollups`` run of one of its days is queued or running;
- no ``rollup_months`` run of it is queued or running (a change during a compaction
  waits for that run to end and is then compacted again: never lost, never raced);
- its newest day rollup change is at least ``VITALS_ROLLUP_MONTH_QUIET_SECONDS``
  (default 300) old, so a backfill's stream of days ends in one compaction;
- every record up to now has been read (a burst beyond one tick's read waits a tick).

Months are followed from the newest ``cold_rollups`` record at the time the month part of
the cursor was first written (an instance upgraded from the version whose ``cold_rollups``
compacted by itself starts with current month files; a month to recompact without a day
change is materialised from the UI).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import dagster as dg

from sensors.month_settling import busy_months, settled_month_requests
from vitals.config import load_settings
from vitals_assets.cold import cold_timeseries
from vitals_assets.jobs import rollup_months_job, rollups_job
from vitals_assets.partitions import month_key_of_site_day
from vitals_assets.quality import point_quality
from vitals_assets.rollup_months import rollup_months
from vitals_assets.rollups import cold_rollups

COLD_KEY = cold_timeseries.key
ROLLUPS_KEY = cold_rollups.key
QUALITY_KEY = point_quality.key  # the day's quality report follows its cold file too
MONTHS_KEY = rollup_months.key
# Records read per tick: a year's backfill of a site is 365; larger bursts continue on
# the next tick from the cursor.
RECORDS_PER_TICK = 2000
_IN_PROGRESS = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)


@dataclass
class RollupsCursor:
    """Where the sensor is: the last records read, and changes waiting to be requested.

    ``pending``: day partition -> newest cold record id, waiting for a rollup run to end.
    ``months``: month partition -> [newest rollup record id, its time (epoch s)], waiting
    to settle. ``months_followed`` is False in a cursor written before month files had
    their own asset: that tick starts following from the newest rollup record.
    """

    after_storage_id: int | None = None
    pending: dict[str, int] = field(default_factory=dict)
    rollups_after_storage_id: int | None = None
    months: dict[str, list[float]] = field(default_factory=dict)
    months_followed: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> RollupsCursor:
        """The cursor Dagster stored (None on the first tick)."""
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            data.get("after_storage_id"),
            dict(data.get("pending", {})),
            data.get("rollups_after_storage_id"),
            {k: list(v) for k, v in data.get("months", {}).items()},
            "rollups_after_storage_id" in data,
        )

    def dump(self) -> str:
        """JSON, as Dagster stores sensor cursors."""
        return json.dumps(
            {
                "after_storage_id": self.after_storage_id,
                "pending": self.pending,
                "rollups_after_storage_id": self.rollups_after_storage_id,
                "months": self.months,
            }
        )


def _in_progress_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Queued and running runs: one query a tick, whatever the backlog."""
    return list(instance.get_runs(filters=dg.RunsFilter(statuses=list(_IN_PROGRESS))))


def _partitions_with_rollup_runs_in_progress(
    runs: list[dg.DagsterRun], partitions: list[str]
) -> set[str]:
    """Which of ``partitions`` a queued or running rollup run covers.

    From one query over the in-progress runs, not one per pending partition: a first tick
    on a portfolio instance can hold a backlog of many thousand site-days.
    """
    if not partitions:
        return set()
    wanted = set(partitions)
    return {
        run.tags["dagster/partition"]
        for run in runs
        if run.asset_selection
        and ROLLUPS_KEY in run.asset_selection
        and run.tags.get("dagster/partition") in wanted
    }


def _read_new_cold_records(
    instance: dg.DagsterInstance, cursor: RollupsCursor
) -> tuple[dict[str, int], int | None, bool]:
    """Newest record id per partition of the cold records after the cursor.

    Also the last id read, and whether more records remain unread (a burst larger than
    one tick's read).
    """
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=COLD_KEY, after_storage_id=cursor.after_storage_id),
        limit=RECORDS_PER_TICK,
        ascending=True,
    )
    newest: dict[str, int] = {}
    last_id = cursor.after_storage_id
    for record in result.records:
        last_id = record.storage_id
        if record.partition_key:
            newest[record.partition_key] = record.storage_id
    return newest, last_id, len(result.records) >= RECORDS_PER_TICK


def _first_tick_backlog(instance: dg.DagsterInstance) -> tuple[dict[str, int], int | None]:
    """Cold partitions without any rollup, and the newest cold record to follow from."""
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=COLD_KEY), limit=1, ascending=False
    ).records
    if not latest:
        return {}, None
    cold = instance.get_materialized_partitions(COLD_KEY)
    rolled = instance.get_materialized_partitions(ROLLUPS_KEY)
    newest_id = latest[0].storage_id
    return {partition: newest_id for partition in sorted(cold - rolled)}, newest_id


def _follow_rollup_records(instance: dg.DagsterInstance, cursor: RollupsCursor) -> bool:
    """Fold new ``cold_rollups`` records into ``cursor.months``; True if more are unread."""
    if not cursor.months_followed:  # first tick, or a cursor from before rollup_months
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=ROLLUPS_KEY), limit=1, ascending=False
        ).records
        cursor.rollups_after_storage_id = latest[0].storage_id if latest else None
        cursor.months_followed = True
        return False
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=ROLLUPS_KEY, after_storage_id=cursor.rollups_after_storage_id
        ),
        limit=RECORDS_PER_TICK,
        ascending=True,
    )
    for record in result.records:
        cursor.rollups_after_storage_id = record.storage_id
        if record.partition_key:
            month = month_key_of_site_day(record.partition_key)
            cursor.months[month] = [record.storage_id, record.timestamp]
    return len(result.records) >= RECORDS_PER_TICK


@dg.sensor(
    name="rollups_follow_cold_files",
    jobs=[rollups_job, rollup_months_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Rollups follow a new or rewritten cold file within about half a minute.
    minimum_interval_seconds=30,
    description=(
        "Requests a cold_rollups run for every site-day whose cold_timeseries file changed "
        "(after any rollup run of that day in progress has ended), and one rollup_months "
        "compaction per site-month once its day rollups have stopped changing "
        "(VITALS_ROLLUP_MONTH_QUIET_SECONDS, default 5 min)."
    ),
)
def rollups_follow_cold_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One rollup run per changed site-day, one compaction per settled site-month.

    Each run is keyed by the newest change it covers.
    """
    cursor = RollupsCursor.parse(context.cursor)
    # Runs first, records after: a rollup run that ends between the two reads has its
    # records stored already, so they are read; its month is never settled too early.
    runs = _in_progress_runs(context.instance)
    if context.cursor is None:
        changed, last_id = _first_tick_backlog(context.instance)
        more_cold = False
    else:
        changed, last_id, more_cold = _read_new_cold_records(context.instance, cursor)
    cursor.pending.update(changed)
    cursor.after_storage_id = last_id
    more_rollups = _follow_rollup_records(context.instance, cursor)
    busy = _partitions_with_rollup_runs_in_progress(runs, sorted(cursor.pending))
    requests = [
        dg.RunRequest(
            run_key=f"{partition}@{record_id}",
            partition_key=partition,
            job_name=rollups_job.name,
            asset_selection=[ROLLUPS_KEY, QUALITY_KEY],
        )
        for partition, record_id in sorted(cursor.pending.items())
        if partition not in busy
    ]
    # every day requested now or still waiting holds its month back
    held = busy_months(runs, sorted(cursor.pending), rollups_key=ROLLUPS_KEY, months_key=MONTHS_KEY)
    cursor.pending = {p: i for p, i in cursor.pending.items() if p in busy}
    if not (more_cold or more_rollups):
        settled = settled_month_requests(
            cursor.months,
            held,
            job_name=rollup_months_job.name,
            months_key=MONTHS_KEY,
            now=time.time(),
            quiet_seconds=load_settings().rollup_month_quiet_seconds,
        )
        done = {str(request.partition_key) for request in settled}
        cursor.months = {m: v for m, v in cursor.months.items() if m not in done}
        requests += settled
    return dg.SensorResult(run_requests=requests, cursor=cursor.dump())
