"""Jobs the schedules and operators launch."""

import dagster as dg

from vitals_assets.checks import archival_backlog, cold_prefix_contract, hot_data_fresh
from vitals_assets.cold import cold_timeseries
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.quality import point_quality
from vitals_assets.rollup_months import rollup_months
from vitals_assets.rollups import cold_rollups

# Runs that call ACE carry this tag; deploy/dagster.yaml caps how many run at once
# (tag_concurrency_limits). UI backfills carry dagster/backfill, capped there too.
ACE_RUN_TAG = "vitals/ace"

sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.assets(ace_points, ace_raw_samples, hot_samples, point_quality),
    tags={ACE_RUN_TAG: "true"},
    description="Pull a site-day window from ACE, upsert it into the hot store, and "
    "measure the day's data quality so far.",
)

archive_job = dg.define_asset_job(
    "archive_job",
    selection=dg.AssetSelection.assets(cold_timeseries),
    description="Build, verify and record a site-day's cold file; past the hot window, "
    "then delete its hot rows.",
)

health_checks_job = dg.define_asset_job(
    "health_checks_job",
    selection=dg.AssetSelection.checks(hot_data_fresh, archival_backlog, cold_prefix_contract),
    description="Freshness, archival backlog and cold prefix checks.",
)

# Two jobs, not one sensor target: a job's assets share one partitions definition, and the
# month files are partitioned by month x site (sensors/rollups.py launches both).
rollups_job = dg.define_asset_job(
    "rollups_job",
    selection=dg.AssetSelection.assets(cold_rollups, point_quality),
    description="Rebuild a site-day's rollups and quality report from its cold file.",
)

rollup_months_job = dg.define_asset_job(
    "rollup_months_job",
    selection=dg.AssetSelection.assets(rollup_months),
    description="Compact a site-month's day rollups into its month file.",
)
