"""Tell Dagster about a cold file written outside a run (``archive-day``, ``rebuild-day``).

``cold_rollups`` then follows it as it follows a run's file: the rollups sensor
(``rollups_follow_cold_files``) follows the recorded ``cold_timeseries`` materialisation,
and compacts the day's month (``rollup_months``) once the month's rollups have settled.
"""

from __future__ import annotations

import os

import dagster as dg

from vitals.archive import ArchiveOutcome


def report_cold_file_change(outcome: ArchiveOutcome) -> bool:
    """Record a runless ``cold_timeseries`` materialisation of the site-day.

    In the instance of ``DAGSTER_HOME``; False (nothing recorded) without an instance.
    """
    if not os.environ.get("DAGSTER_HOME"):
        return False
    from vitals_assets.partitions import site_day_key

    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key="cold_timeseries",
                partition=str(site_day_key(outcome.site, outcome.day)),
                description="written outside a run by the vitals CLI",
                metadata={
                    "key": outcome.key,
                    "rows": outcome.rows,
                    "bytes": outcome.bytes,
                    "checksum": outcome.checksum,
                    "hot_rows_deleted": outcome.hot_rows_deleted,
                },
            )
        )
    return True
