"""Jobs the schedules and operators launch."""

from __future__ import annotations

import dagster as dg

from vitals_assets.checks import archival_backlog, cold_prefix_contract, hot_data_fresh
from vitals_assets.cold import cold_timeseries
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.partitions import site_day_partitions

sync_job = dg.define_asset_job(
    "sync_job",
    selection=dg.AssetSelection.assets(ace_points, ace_raw_samples, hot_samples),
    partitions_def=site_day_partitions,
    description="Pull a site-day window from ACE and upsert it into the hot store.",
)

archive_job = dg.define_asset_job(
    "archive_job",
    selection=dg.AssetSelection.assets(cold_timeseries),
    partitions_def=site_day_partitions,
    description="Build, verify and record a site-day's cold file; past the hot window, "
    "then delete its hot rows.",
)

health_checks_job = dg.define_asset_job(
    "health_checks_job",
    selection=dg.AssetSelection.checks(
        hot_data_fresh, archival_backlog, cold_prefix_contract
    ),
    description="Freshness, archival backlog and cold prefix checks.",
)
