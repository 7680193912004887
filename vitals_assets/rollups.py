"""Stored rollups beside the cold files, kept current with ``cold_timeseries``."""


import io
import time

import dagster as dg
import pyarrow.parquet as pq

from resources.cold_store import ColdStoreResource
from vitals.paths import cold_day_key, rollup_day_key
from vitals.rollups import rollup_bytes_from_cold
from vitals_assets.cold import cold_timeseries
from vitals_assets.partition_runs import run_per_site_day
from vitals_assets.partitions import site_day_partitions


@dg.asset(
    partitions_def=site_day_partitions,
    deps=[cold_timeseries],
    kinds={"parquet", "duckdb"},
    group_name="cold",
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "rollups/{site}/{YYYY}/{MM}/{DD}.parquet: per point count/sum/min/max/last at 15 min, "
        "1 h and 1 d, rebuilt whenever the day's cold file changes (late data included)."
    ),
)
def cold_rollups(
    context: dg.AssetExecutionContext, cold_store: ColdStoreResource
) -> dg.MaterializeResult:
    return run_per_site_day(context, lambda site, day: _rollup_site_day(cold_store, site, day))


def _rollup_site_day(cold_store, site: str, day) -> dict:
    """Rebuild one site-day's rollup file from its cold file."""
    began = time.monotonic()
    cold_bytes = cold_store.get_bytes(cold_day_key(site, day))
    # Tied to this exact cold file by its key checksum: the query engine uses a rollup
    # only while it matches the current file (a re-archived day makes it stale).
    data = rollup_bytes_from_cold(cold_bytes, site, day)
    key = rollup_day_key(site, day)
    cold_store.put_bytes(key, data)
    table = pq.read_table(io.BytesIO(data), columns=["point_name"])
    samples_rows = pq.ParquetFile(io.BytesIO(cold_bytes)).metadata.num_rows
    return {
            "key": key,
            "source_rows": samples_rows,
            "rollup_rows": table.num_rows,
            "bytes": len(data),
            "seconds": round(time.monotonic() - began, 3),
        }
