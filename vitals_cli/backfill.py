"""``vitals backfill``: submit a Dagster asset backfill, as the UI's partition backfill does.

The daemon then runs it with the pool limits, the shared rate limit and the UI's
progress view. No separate backfill worker.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import date, timedelta

import dagster as dg

from vitals.config import load_settings
from vitals.names import validate_site_name
from vitals.windows import is_past_hot_window

HOT_SAMPLES_ASSET = "hot_samples"
# Not in the defaults: cold_rollups and rollup_months follow the cold files by themselves
# (sensors/rollups.py: one day rollup per changed cold file, one compaction per settled
# month), so a backfill that targeted them too would build each of them twice.
DEFAULT_ASSETS = ("ace_points", "ace_raw_samples", HOT_SAMPLES_ASSET, "cold_timeseries")
# Partitioned by month x site: targeted by the months the day range touches.
MONTH_ASSET = "rollup_months"


def backfill_partition_keys(sites: list[str], start: date, end: date) -> list[str]:
    """Every ``date|site`` key for the inclusive date range (sites validated)."""
    if end < start:
        raise ValueError(f"backfill end {end} is before start {start}")
    from vitals_assets.partitions import site_day_key

    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    return [str(site_day_key(validate_site_name(site), day)) for day in days for site in sites]


def backfill_targets(
    assets: tuple[str, ...], sites: list[str], start: date, end: date, *, hot_storage_days: int
) -> list[tuple[str, str]]:
    """(asset, partition key) pairs: every asset for every site-day but two exceptions.

    ``hot_samples`` is left out for days past the hot window: those days go straight to
    cold files; ``hot_samples`` does not materialise them (its partitions mean "in the hot
    store"), so targeting them would leave the backfill waiting for materialisations that
    never come (Dagster then marks it failed). ``rollup_months`` is targeted by month:
    each site-month the range touches, once (recompacting months without a day change,
    e.g. a lost month file; day changes are followed by the rollups sensor).
    """
    targets: list[tuple[str, str]] = []
    if MONTH_ASSET in assets:
        targets.extend((MONTH_ASSET, key) for key in _month_partition_keys(sites, start, end))
        assets = tuple(name for name in assets if name != MONTH_ASSET)
    for day_offset in range((end - start).days + 1):
        day = start + timedelta(days=day_offset)
        past = is_past_hot_window(day, hot_storage_days)
        for key in backfill_partition_keys(sites, day, day):
            targets.extend(
                (name, key) for name in assets if not (past and name == HOT_SAMPLES_ASSET)
            )
    return targets


def _month_partition_keys(sites: list[str], start: date, end: date) -> list[str]:
    """Every ``YYYY-MM-01|site`` key of the months the inclusive range touches."""
    from vitals_assets.partitions import site_month_key

    backfill_partition_keys(sites, start, end)  # validates the range and the site names
    months = sorted(
        {(start + timedelta(days=n)).replace(day=1) for n in range((end - start).days + 1)}
    )
    return [str(site_month_key(site, m.year, m.month)) for m in months for site in sites]


def submit_backfill(
    instance: dg.DagsterInstance,
    *,
    sites: list[str],
    start: date,
    end: date,
    assets: tuple[str, ...] = DEFAULT_ASSETS,
    title: str | None = None,
) -> str:
    """Register sites as partitions and add an asset backfill; returns its id."""
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.definitions.events import AssetKeyPartitionKey
    from dagster._core.execution.backfill import PartitionBackfill

    from vitals_assets.definitions import defs
    from vitals_assets.jobs import ACE_RUN_TAG
    from vitals_assets.partitions import SITE_PARTITIONS_NAME

    backfill_partition_keys(sites, start, end)  # refuses a bad range or site name early
    known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    missing = [site for site in sites if site not in known]
    if missing:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, missing)
    backfill_id = uuid.uuid4().hex[:8]
    asset_graph = defs.resolve_asset_graph()
    targets = backfill_targets(
        assets, sites, start, end, hot_storage_days=load_settings().hot_storage_days
    )
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id,
        backfill_timestamp=time.time(),
        tags={"vitals/kind": "backfill", ACE_RUN_TAG: "true"},
        dynamic_partitions_store=instance,
        asset_graph_subset=AssetGraphSubset.from_asset_partition_set(
            {AssetKeyPartitionKey(dg.AssetKey(name), key) for name, key in targets}, asset_graph
        ),
        title=title or f"vitals backfill {','.join(sites)} {start}..{end}",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def print_status(backfill_id: str) -> int:
    """Print a backfill's progress and estimated time remaining."""
    from vitals_assets.backfill_progress import backfill_progress

    with dg.DagsterInstance.get() as instance:
        progress = backfill_progress(instance, backfill_id)
    if progress is None:
        print(f"no backfill {backfill_id!r} in this Dagster instance")
        return 1
    eta = "unknown" if progress.eta_seconds is None else f"{progress.eta_seconds / 60:.1f} min"
    print(
        f"backfill {backfill_id}: {progress.status}; {progress.materialized}/{progress.targeted} "
        f"asset partitions done, {progress.failed} failed; elapsed "
        f"{progress.elapsed_seconds / 60:.1f} min; remaining ~{eta}"
    )
    return 0


def main(argv: list[str]) -> int:
    """``vitals backfill``: submit one, or report one's progress (``--status``)."""
    parser = argparse.ArgumentParser(prog="vitals backfill", description=__doc__)
    parser.add_argument("--sites", help="comma-separated site names")
    parser.add_argument("--start", type=date.fromisoformat)
    parser.add_argument("--end", type=date.fromisoformat, help="inclusive")
    parser.add_argument("--assets", default=",".join(DEFAULT_ASSETS))
    parser.add_argument("--status", metavar="BACKFILL_ID", help="print progress and ETA")
    args = parser.parse_args(argv)
    if args.status:
        return print_status(args.status)
    if not (args.sites and args.start and args.end):
        parser.error("--sites, --start and --end are required to submit a backfill")
    sites = [site.strip() for site in args.sites.split(",") if site.strip()]
    assets = tuple(name.strip() for name in args.assets.split(",") if name.strip())
    with dg.DagsterInstance.get() as instance:
        backfill_id = submit_backfill(
            instance, sites=sites, start=args.start, end=args.end, assets=assets
        )
    print(
        f"backfill {backfill_id} submitted: {len(sites)} site(s) x "
        f"{(args.end - args.start).days + 1} day(s); the Dagster daemon runs it "
        "(see the UI's Backfills page)"
    )
    return 0
