"""Month files: a site-month's day rollups compacted into one file, once their changes settle.

Why its own asset: compacting a 4,600-point month (15 min, 1 h and 1 d sections, ~17 M
rows) costs 10-30 s, and ``cold_rollups`` used to do it after every day it rebuilt, so a
month's backfill (one rollup run per changed cold file) compacted the month ~30 times,
each result replaced by the next. Who launches it: ``sensors/rollups.py``, once per
settled change of the month's day rollups. A month file that lags its days is only slower
(the query engine reads those days' rollups or raw data), never wrong.
"""

import warnings
from typing import Any

import dagster as dg

from resources.cold_store import ColdStoreResource
from vitals.rollups.month import compact_rollup_month, month_coverage
from vitals.rollups.year import compact_rollup_year, year_coverage
from vitals_assets.partitions import (
    MONTH_OF_DAYS_MAPPING,
    site_month_partitions,
    split_site_month_key,
)
from vitals_assets.rollups import cold_rollups


@dg.asset(
    partitions_def=site_month_partitions,
    deps=[dg.AssetDep(cold_rollups, partition_mapping=MONTH_OF_DAYS_MAPPING)],
    kinds={"parquet"},
    group_name="cold",
)
def rollup_months(
    context: dg.AssetExecutionContext, cold_store: ColdStoreResource
) -> dg.MaterializeResult:
    """rollup_months/{site}/{YYYY}/{MM}.parquet: the month's 15 min, 1 h and 1 d rollups.

    Compacted from the month's current day rollups (a day whose rollup is stale, missing
    or of an older layout is left out and counted as skipped). Then the year file of each
    year touched, ``rollup_years/{site}/{YYYY}.parquet`` (1 h rows of the year's current
    month-file days: a year chart reads one file instead of 12), is rebuilt from its
    month files.
    """
    compactions = []
    years: set[tuple[str, int]] = set()
    for partition_key in context.partition_keys:  # one, unless a run targets a range
        site, year, month = split_site_month_key(partition_key)
        compactions.append(compact_rollup_month(cold_store.store, site, year, month))
        years.add((site, year))
    year_files = [compact_rollup_year(cold_store.store, site, year) for site, year in sorted(years)]
    metadata: dict[str, Any] = {
        "days": sum(c.days for c in compactions),
        "skipped_days": sum(c.skipped_days for c in compactions),
        "rows": sum(c.rows for c in compactions),
        "bytes": sum(c.bytes for c in compactions),
        "duration_s": round(sum(c.seconds for c in compactions), 3),
        "year_file_days": sum(y.days for y in year_files),
        "year_file_skipped_days": sum(y.skipped_days for y in year_files),
        "year_file_bytes": sum(y.bytes for y in year_files),
        "year_file_duration_s": round(sum(y.seconds for y in year_files), 3),
        "year_file_keys": dg.MetadataValue.json([y.key for y in year_files]),
    }
    if len(compactions) == 1:
        metadata["key"] = compactions[0].key
    else:
        metadata["keys"] = dg.MetadataValue.json([c.key for c in compactions])
    return dg.MaterializeResult(metadata=metadata)


def _month_file_checks() -> tuple[dg.AssetChecksDefinition, dg.AssetChecksDefinition]:
    """The month file's checks (its days; the year file's copy of them).

    Defined with the one preview warning of partitioned checks silenced, as
    ``vitals_assets/checks.py`` does for the cold checks.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Specifying a partitions_def on an AssetCheckSpec",
            category=dg.PreviewWarning,
        )

        @dg.asset_check(asset=rollup_months, partitions_def=site_month_partitions)
        def rollup_month_covers_current_days(
            context: dg.AssetCheckExecutionContext, cold_store: ColdStoreResource
        ) -> dg.AssetCheckResult:
            """Every day of the month with a current day rollup is in the month file.

            WARN, not ERROR: a missing day is answered from its day rollup (slower, never
            wrong). It also warns when a day was rebuilt after the compaction read it; the
            rollups sensor then requests the next compaction.
            """
            site, year, month = split_site_month_key(context.partition_key)
            coverage = month_coverage(cold_store.store, site, year, month)
            missing = [day.isoformat() for day in coverage.missing]
            return dg.AssetCheckResult(
                passed=not missing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "key": coverage.key,
                    "current_day_rollups": len(coverage.current_days),
                    "days_in_month_file": len(coverage.in_file),
                    "missing_days": dg.MetadataValue.json(missing),
                },
            )

        @dg.asset_check(asset=rollup_months, partitions_def=site_month_partitions)
        def rollup_year_covers_month_days(
            context: dg.AssetCheckExecutionContext, cold_store: ColdStoreResource
        ) -> dg.AssetCheckResult:
            """Every day the month file holds for its current cold file is in the year file.

            WARN, not ERROR: a missing day is answered from the month file (slower, never
            wrong); the next compaction of any month of that year rebuilds the year file.
            """
            site, year, month = split_site_month_key(context.partition_key)
            coverage = year_coverage(cold_store.store, site, year, month)
            missing = [day.isoformat() for day in coverage.missing]
            return dg.AssetCheckResult(
                passed=not missing,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "key": coverage.key,
                    "days_in_month_file": len(coverage.in_month_file),
                    "days_in_year_file": len(coverage.in_year_file),
                    "missing_days": dg.MetadataValue.json(missing),
                },
            )

    return rollup_month_covers_current_days, rollup_year_covers_month_days


rollup_month_covers_current_days, rollup_year_covers_month_days = _month_file_checks()
