"""Stored rollups beside the cold files, kept current with ``cold_timeseries``.

Who launches them: ``sensors/rollups.py`` (one run per changed cold file; month files
follow as ``rollup_months``, vitals_assets/rollup_months.py).
"""

import io
import time
from datetime import date

import dagster as dg
import pyarrow.parquet as pq

from resources.cold_store import ColdStoreResource
from vitals.cold.keys import cold_day_key, rollup_day_key
from vitals.rollups.day import rollup_bytes_from_cold
from vitals_assets.cold import cold_timeseries
from vitals_assets.partition_runs import SiteDayMetadata, run_per_site_day
from vitals_assets.partitions import SITE_DAY_BACKFILL_POLICY, site_day_partitions


@dg.asset(
    partitions_def=site_day_partitions,
    backfill_policy=SITE_DAY_BACKFILL_POLICY,
    deps=[cold_timeseries],
    kinds={"parquet", "duckdb"},
    group_name="cold",
)
def cold_rollups(
    context: dg.AssetExecutionContext, cold_store: ColdStoreResource
) -> dg.MaterializeResult:
    """rollups/{site}/{YYYY}/{MM}/{DD}.parquet: per point rollups of the site-day.

    count/sum/min/max/first/last (and the M4 sample times) at 15 min, 1 h and 1 d, rebuilt
    whenever the day's cold file changes (late data included). The month file is not
    touched here: ``rollup_months`` compacts it once the month's day changes have settled
    (``sensors/rollups.py``), not once per day.
    """
    return run_per_site_day(context, lambda site, day: _rollup_site_day(cold_store, site, day))


def _rollup_site_day(cold_store: ColdStoreResource, site: str, day: date) -> SiteDayMetadata:
    """Rebuild one site-day's rollup file from its cold file."""
    began = time.monotonic()
    cold_key = cold_day_key(site, day)
    identity_before = cold_store.identity(cold_key)
    cold_bytes = cold_store.get_bytes(cold_key)
    identity_after = cold_store.identity(cold_key)
    # Tied to this exact cold file by its key checksum, and by its version identity when
    # the file did not change while it was read: the query engine uses a rollup only
    # while it matches the current file (a re-archived day makes it stale).
    stable = identity_before if identity_before == identity_after else None
    data = rollup_bytes_from_cold(cold_bytes, site, day, source_identity=stable)
    key = rollup_day_key(site, day)
    cold_store.put_bytes(key, data)
    rollup_rows = pq.read_metadata(io.BytesIO(data)).num_rows
    samples_rows = pq.ParquetFile(io.BytesIO(cold_bytes)).metadata.num_rows
    return {
        "key": key,
        "source_rows": samples_rows,
        "rollup_rows": rollup_rows,
        "bytes": len(data),
        "duration_s": round(time.monotonic() - began, 3),
    }
