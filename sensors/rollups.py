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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import dagster as dg

from vitals_assets.cold import cold_timeseries
from vitals_assets.quality import point_quality
from vitals_assets.rollups import cold_rollups

COLD_KEY = cold_timeseries.key
ROLLUPS_KEY = cold_rollups.key
QUALITY_KEY = point_quality.key  # the day's quality report follows its cold file too
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
    """Where the sensor is: the last record read, and changes waiting for a run to end."""

    after_storage_id: int | None = None
    pending: dict[str, int] = field(default_factory=dict)  # partition -> newest record id

    @classmethod
    def parse(cls, raw: str | None) -> RollupsCursor:
        """The cursor Dagster stored (None on the first tick)."""
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(data.get("after_storage_id"), dict(data.get("pending", {})))

    def dump(self) -> str:
        """JSON, as Dagster stores sensor cursors."""
        return json.dumps({"after_storage_id": self.after_storage_id, "pending": self.pending})


def _partitions_with_rollup_runs_in_progress(
    instance: dg.DagsterInstance, partitions: list[str]
) -> set[str]:
    """Which of ``partitions`` a queued or running rollup run covers.

    One query over the in-progress runs, not one per pending partition: a first tick on a
    portfolio instance can hold a backlog of many thousand site-days.
    """
    if not partitions:
        return set()
    wanted = set(partitions)
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=list(_IN_PROGRESS)))
    return {
        run.tags["dagster/partition"]
        for run in runs
        if run.asset_selection
        and ROLLUPS_KEY in run.asset_selection
        and run.tags.get("dagster/partition") in wanted
    }


def _read_new_cold_records(
    instance: dg.DagsterInstance, cursor: RollupsCursor
) -> tuple[dict[str, int], int | None]:
    """Newest record id per partition of the cold records after the cursor."""
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
    return newest, last_id


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


@dg.sensor(
    name="rollups_follow_cold_files",
    target=[cold_rollups, point_quality],
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Rollups follow a new or rewritten cold file within about half a minute.
    minimum_interval_seconds=30,
    description=(
        "Requests a cold_rollups run for every site-day whose cold_timeseries file changed "
        "(after any rollup run of that day in progress has ended)."
    ),
)
def rollups_follow_cold_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One rollup run per changed site-day, keyed by the newest change it covers."""
    cursor = RollupsCursor.parse(context.cursor)
    if context.cursor is None:
        changed, last_id = _first_tick_backlog(context.instance)
    else:
        changed, last_id = _read_new_cold_records(context.instance, cursor)
    cursor.pending.update(changed)
    cursor.after_storage_id = last_id
    busy = _partitions_with_rollup_runs_in_progress(context.instance, sorted(cursor.pending))
    requests = [
        dg.RunRequest(
            run_key=f"{partition}@{record_id}",
            partition_key=partition,
            asset_selection=[ROLLUPS_KEY, QUALITY_KEY],
        )
        for partition, record_id in sorted(cursor.pending.items())
        if partition not in busy
    ]
    cursor.pending = {p: i for p, i in cursor.pending.items() if p in busy}
    return dg.SensorResult(run_requests=requests, cursor=cursor.dump())
