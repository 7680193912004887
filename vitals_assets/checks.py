"""Asset checks next to the assets they check.

Cold file integrity and reconciliation, the cold prefix contract, archival backlog and
hot-store freshness.
"""

import warnings
from collections.abc import Callable

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from vitals.ace.cadence import sync_cadence
from vitals.archive import catalogue_shortfall, read_day_sources
from vitals.cold.key_order import key_checksum
from vitals.cold.keys import TIMESERIES_PREFIX, cold_day_key, parse_cold_day_key
from vitals.cold.read import ColdVerificationError, read_cold_bytes
from vitals.config import load_settings
from vitals.samples import MS_PER_DAY
from vitals.windows import now_ms
from vitals_assets.cold import cold_timeseries
from vitals_assets.hot_freshness import hot_freshness
from vitals_assets.ingest import hot_samples
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_partitions, split_site_day_key


def _missing_keys(expected: pa.Table, actual: pa.Table) -> int:
    """Rows of ``expected`` whose (point, ts, value) is not in ``actual``."""
    if expected.num_rows == 0:
        return 0
    joined = expected.join(
        actual.rename_columns(["point_name", "ts", "value_file"]),
        keys=["point_name", "ts"],
        join_type="left outer",
    )
    value_file = joined.column("value_file")
    differs = pc.not_equal(joined.column("value"), value_file)
    absent = value_file.null_count
    differ = int(pc.sum(pc.cast(differs, pa.int64())).as_py() or 0)  # nulls: absent, not summed
    return absent + differ


def _partitioned_cold_check(body: Callable[..., dg.AssetCheckResult]) -> dg.AssetChecksDefinition:
    """A blocking ``cold_timeseries`` check with one result per site-day partition.

    Partitioned asset checks are a preview feature in Dagster 1.13 that we use on purpose
    (a check result belongs to the partition it checks). Each definition would print a
    PreviewWarning in every process that loads the code location (webserver, daemon,
    every run), so that one warning is ignored here, while these checks are defined, and
    nowhere else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="Specifying a partitions_def on an AssetCheckSpec",
            category=dg.PreviewWarning,
        )
        return dg.asset_check(
            asset=cold_timeseries, partitions_def=site_day_partitions, blocking=True
        )(body)


@_partitioned_cold_check
def cold_file_integrity(
    context: dg.AssetCheckExecutionContext,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
) -> dg.AssetCheckResult:
    """Reads the day file back and compares it with what was verified.

    Exact schema, sorted, no duplicate (point, ts), and the key checksum recorded when
    the file was verified.
    """
    site, day = split_site_day_key(context.partition_key)
    key = cold_day_key(site, day)
    if not cold_store.exists(key):
        return dg.AssetCheckResult(passed=False, metadata={"key": key, "problem": "missing"})
    try:
        table = read_cold_bytes(cold_store.get_bytes(key))
    except ColdVerificationError as exc:
        return dg.AssetCheckResult(passed=False, metadata={"key": key, "problem": str(exc)})
    checksum = key_checksum(table)
    record = hot_store.get_archive(site, day)
    matches_record = record is not None and record.checksum == checksum
    return dg.AssetCheckResult(
        passed=matches_record,
        metadata={
            "key": key,
            "rows": table.num_rows,
            "checksum": checksum,
            "recorded_checksum": record.checksum if record else "none",
        },
    )


@_partitioned_cold_check
def cold_reconciliation(
    context: dg.AssetCheckExecutionContext,
    hot_store: HotStoreResource,
    cold_store: ColdStoreResource,
) -> dg.AssetCheckResult:
    """The file holds the union of its sources: no sample of a configured point is missing.

    Every raw-pull sample of a configured point and every hot row of the day (hot values
    exactly); a day whose raw pulls hold samples but whose catalogue is missing or
    matches none of them fails.
    """
    site, day = split_site_day_key(context.partition_key)
    sources = read_day_sources(hot_store, cold_store.store, site, day)
    if sources.cold_unreadable:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "cold file unreadable"})
    shortfall = catalogue_shortfall(sources, site, day)
    if shortfall:
        return dg.AssetCheckResult(
            passed=False,
            description=shortfall,
            metadata={
                "problem": shortfall,
                "file_rows": sources.cold.num_rows,
                "raw_samples": sources.raw_samples,
                "catalogue_points": sources.catalogue_points,
            },
        )
    raw_keys = sources.raw.select(["point_name", "ts"]).group_by(["point_name", "ts"]).aggregate([])
    raw_missing = 0
    if raw_keys.num_rows:
        present = raw_keys.join(
            sources.cold.select(["point_name", "ts"]).append_column(
                "hit", pa.array([True] * sources.cold.num_rows, pa.bool_())
            ),
            keys=["point_name", "ts"],
            join_type="left outer",
        )
        raw_missing = present.column("hit").null_count
    hot_missing = _missing_keys(sources.hot, sources.cold)
    return dg.AssetCheckResult(
        passed=raw_missing == 0 and hot_missing == 0,
        metadata={
            "file_rows": sources.cold.num_rows,
            "catalogue_points": sources.catalogue_points,
            "raw_keys_missing": raw_missing,
            "hot_rows_missing_or_different": hot_missing,
        },
    )


@dg.asset_check(
    asset=cold_timeseries,
)
def cold_prefix_contract(cold_store: ColdStoreResource) -> dg.AssetCheckResult:
    """Nothing exists under timeseries/ outside timeseries/{site}/{YYYY}/{MM}/{DD}.parquet."""
    stray = [
        key for key in cold_store.list_keys(TIMESERIES_PREFIX) if parse_cold_day_key(key) is None
    ]
    return dg.AssetCheckResult(
        passed=not stray,
        metadata={"stray_keys": len(stray), "examples": ", ".join(stray[:10]) or "none"},
    )


@dg.asset_check(
    asset=cold_timeseries,
)
def archival_backlog(hot_store: HotStoreResource) -> dg.AssetCheckResult:
    """Every day past HOT_STORAGE_DAYS is archived within a day (no hot rows left)."""
    cutoff = now_ms() - (hot_store.hot_storage_days + 1) * MS_PER_DAY
    overdue = {site: hot_store.days_with_samples(site, cutoff) for site in hot_store.list_sites()}
    overdue = {site: days for site, days in overdue.items() if days}
    return dg.AssetCheckResult(
        passed=not overdue,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "overdue_site_days": sum(len(days) for days in overdue.values()),
            "examples": ", ".join(
                f"{site} {day}" for site, days in overdue.items() for day in days[:3]
            )
            or "none",
        },
    )


@dg.asset_check(
    asset=hot_samples,
)
def hot_data_fresh(
    context: dg.AssetCheckExecutionContext, hot_store: HotStoreResource
) -> dg.AssetCheckResult:
    """Every site's newest hot sample is no older than 15 minutes (or the sync interval + 10).

    A portfolio too large to sync every 5 minutes within the ACE limit is synced less
    often (vitals.ace.cadence); the limit follows. A site that has not synced yet is
    reported as awaiting its first sync, not as stale.
    """
    registered = context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME)
    cadence = sync_cadence(len(registered), load_settings().ace_requests_per_minute)
    freshness = hot_freshness(
        hot_store, registered, now_ms(), limit_minutes=cadence.freshness_limit_minutes
    )
    stale = freshness.stale
    awaiting = freshness.awaiting_first_sync
    metadata: dict[str, str | int | float] = {
        "sites": len(freshness.lag_minutes) + len(awaiting),
        "stale_sites": ", ".join(stale) or "none",
        "worst_lag_minutes": round(freshness.worst_lag_minutes, 2),
        "limit_minutes": freshness.limit_minutes,
        "awaiting_first_sync": ", ".join(awaiting) or "none",
    }
    if awaiting and not stale:
        metadata["severity"] = "WARN"  # not yet applicable; red is kept for real staleness
    return dg.AssetCheckResult(
        passed=not stale,
        metadata=metadata,
        description=_freshness_summary(stale, awaiting, freshness.limit_minutes),
    )


def _freshness_summary(stale: list[str], awaiting: list[str], limit: float) -> str:
    parts = []
    if stale:
        parts.append(f"stale (over {limit:g} min behind): {', '.join(stale)}")
    if awaiting:
        parts.append(f"awaiting first sync: {', '.join(awaiting)}")
    return "; ".join(parts) or "every synced site is fresh"


cold_checks = [cold_file_integrity, cold_reconciliation, cold_prefix_contract, archival_backlog]
hot_checks = [hot_data_fresh]
