"""Run the real Dagster assets against the simulator and real stores (test helpers)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.cold.keys import cold_day_key
from vitals.config import load_settings
from vitals_assets.bindings import build_resources
from vitals_assets.cold import cold_timeseries
from vitals_assets.ingest import ace_points, ace_raw_samples, hot_samples
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key, site_day_partitions

INGEST = [ace_points, ace_raw_samples, hot_samples]


def point_platform_at(monkeypatch, simulator, *, hot_store: str, cold_store: str, rpm: int = 6000):
    """Environment for one test: the simulator as ACE, the given stores, a fast limit."""
    monkeypatch.setenv("ACE_API_URL", simulator.url)
    monkeypatch.setenv("ACE_API_KEY", simulator.api_key)
    monkeypatch.setenv("VITALS_HOT_STORE", hot_store)
    monkeypatch.setenv("VITALS_COLD_STORE", cold_store)
    monkeypatch.setenv("ACE_REQUESTS_PER_MINUTE", str(rpm))


def new_instance(sites: list[str]) -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, sites)
    return instance


def materialize_day(
    instance: dg.DagsterInstance,
    site: str,
    day: date,
    *,
    assets=None,
    run_config: dict | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialise the site-day partition of ``assets`` with resources from the env."""
    return dg.materialize(
        assets or INGEST,
        partition_key=str(site_day_key(site, day)),
        resources=build_resources(load_settings()),
        instance=instance,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def expected_hot_rows(
    simulator, site: str, start_ms: int, end_ms: int
) -> dict[tuple[str, int], float]:
    """What should land: configured points, finite values, one value per key."""
    table = simulator.expected_samples(site, start_ms, end_ms)
    table = table.filter(pc.and_(table["configured"], pc.is_finite(table["value"])))
    return dict(
        zip(
            zip(table["name"].to_pylist(), table["ts_ms"].to_pylist(), strict=True),
            table["value"].to_pylist(),
            strict=True,
        )
    )


def cold_file_rows(cold, site: str, day: date) -> dict[tuple[str, int], float]:
    """The day file's samples read back with pyarrow: {(point, ts ms): value}."""
    table = pq.read_table(cold.local_copy(cold_day_key(site, day)))
    ts = [int(t.timestamp() * 1000) for t in table.column("ts").to_pylist()]
    names = table.column("point_name").to_pylist()
    return dict(zip(zip(names, ts, strict=True), table.column("value").to_pylist(), strict=True))


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Check name -> passed, for every check evaluated in the run."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def run_checks(instance, checks, partition_key: str | None = None) -> dg.ExecuteInProcessResult:
    """Run only the given checks, as the UI's "Execute checks" does."""
    defs = dg.Definitions(
        assets=[cold_timeseries],
        asset_checks=checks,
        jobs=[dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks(*checks))],
        resources=build_resources(load_settings()),
    )
    tags = {}
    if partition_key:
        key = site_day_partitions.get_partition_key_from_str(partition_key)
        tags = {"dagster/partition": partition_key}
        tags.update({f"dagster/partition/{dim}": v for dim, v in key.keys_by_dimension.items()})
    return defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance, tags=tags, raise_on_error=False
    )


def metadata_of(result: dg.ExecuteInProcessResult, asset) -> dict:
    events = result.asset_materializations_for_node(asset.op.name)
    assert events, f"{asset.key.to_user_string()} was not materialised"
    return {key: value.value for key, value in events[-1].metadata.items()}
