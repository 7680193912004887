"""Progress and time remaining of a running asset backfill, for run metadata and the CLI.

Dagster's UI shows a backfill's partition status; this adds the estimate an operator
asks for first ("when will it be done?"): elapsed time per completed asset partition
times the asset partitions left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg
from dagster._core.execution.backfill import PartitionBackfill


@dataclass(frozen=True)
class BackfillProgress:
    """Counts of asset partitions in a backfill and the estimated time remaining."""

    backfill_id: str
    status: str
    targeted: int
    materialized: int
    failed: int
    elapsed_seconds: float
    eta_seconds: float | None

    @property
    def fraction_done(self) -> float:
        """Share of targeted partitions that finished (materialised or failed)."""
        return (self.materialized + self.failed) / self.targeted if self.targeted else 1.0


def backfill_progress(instance: dg.DagsterInstance, backfill_id: str) -> BackfillProgress | None:
    """Progress of ``backfill_id``, or ``None`` if the instance has no such backfill."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or backfill.asset_backfill_data is None:
        return None
    data = backfill.asset_backfill_data
    targeted = data.target_subset.num_partitions_and_non_partitioned_assets
    materialized = data.materialized_subset.num_partitions_and_non_partitioned_assets
    failed = data.failed_and_downstream_subset.num_partitions_and_non_partitioned_assets
    elapsed = max(time.time() - backfill.backfill_timestamp, 0.0)
    done = materialized + failed
    remaining = max(targeted - done, 0)
    eta = (elapsed / done) * remaining if done else None
    return BackfillProgress(
        backfill_id=backfill_id,
        status=str(backfill.status.value),
        targeted=targeted,
        materialized=materialized,
        failed=failed,
        elapsed_seconds=elapsed,
        eta_seconds=eta,
    )


def progress_metadata(context: dg.AssetExecutionContext) -> dict[str, float | int | str]:
    """Backfill progress for a run's materialization metadata (empty outside backfills)."""
    backfill_id = context.run.tags.get("dagster/backfill")
    if not backfill_id:
        return {}
    progress = backfill_progress(context.instance, backfill_id)
    if progress is None:
        return {}
    metadata: dict[str, float | int | str] = {
        "backfill_id": backfill_id,
        "backfill_done_fraction": round(progress.fraction_done, 4),
        "backfill_asset_partitions_left": progress.targeted
        - progress.materialized
        - progress.failed,
    }
    if progress.eta_seconds is not None:
        metadata["backfill_eta_minutes"] = round(progress.eta_seconds / 60, 1)
    return metadata


def last_progress_timestamp(instance: dg.DagsterInstance, backfill: PartitionBackfill) -> float:
    """When the backfill last moved: its latest successful run's end, else its start."""
    latest = instance.get_run_records(
        dg.RunsFilter(
            tags={"dagster/backfill": backfill.backfill_id}, statuses=[dg.DagsterRunStatus.SUCCESS]
        ),
        limit=1,
    )
    ended = [record.end_time for record in latest if record.end_time is not None]
    return max([*ended, backfill.backfill_timestamp])
