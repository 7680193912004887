"""`vitals metrics-exporter`: figures read from a real Dagster instance with real runs.

The runs are the real assets against the simulator and real stores (SQLite hot store,
local cold folder, Parquet read back); the exporter is served over HTTP and scraped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pyarrow.parquet as pq
from dagster._core.instance.ref import InstanceRef
from prometheus_client.parser import text_string_to_metric_families

from tests.support.platform_helpers import INGEST, point_platform_at
from vitals.cold.keys import cold_day_key
from vitals.cold.store import ColdStore
from vitals.config import load_settings
from vitals.hot.store import HotStore
from vitals.samples import day_bounds_ms
from vitals_assets.bindings import build_resources
from vitals_assets.cold import cold_timeseries
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_day_key
from vitals_cli.backfill import submit_backfill
from vitals_cli.metrics_exporter import serve_pipeline_metrics
from vitals_cli.pipeline_metrics import PipelineCollector

SITE = "acme_hq"
TODAY = datetime.now(UTC).date()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url, timeout=30).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(figures, name, **labels) -> float:
    return figures[(name, tuple(sorted(labels.items())))]


def run(instance, assets, day, kind, *, raise_on_error=True):
    return dg.materialize(
        assets,
        partition_key=str(site_day_key(SITE, day)),
        resources=build_resources(load_settings()),
        instance=instance,
        tags={"vitals/kind": kind, "vitals/site": SITE},
        raise_on_error=raise_on_error,
    )


def metadata(result, asset_name):
    (event,) = result.asset_materializations_for_node(asset_name)
    return {key: entry.value for key, entry in event.metadata.items()}


def test_exporter_reads_the_instance_and_survives_a_restart(simulator, tmp_path, monkeypatch):
    hot_url, cold_url = str(tmp_path / "hot.sqlite"), str(tmp_path / "cold")
    point_platform_at(monkeypatch, simulator, hot_store=hot_url, cold_store=cold_url)
    monkeypatch.setenv("HOT_STORAGE_DAYS", "3")
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SITE])
    day = TODAY - timedelta(days=2)

    run(instance, INGEST[:1], day, "sync")  # the point catalogue
    simulator.set_faults("rate_limit:count=2:retry_after=0.1")  # ACE's own limit, hit twice
    synced = run(instance, INGEST[1:], day, "sync")
    simulator.set_faults(None)
    pulled, upserted = metadata(synced, "ace_raw_samples"), metadata(synced, "hot_samples")
    assert pulled["responses_429"] == 2 and upserted["rows"] > 0
    hot = HotStore(hot_url)
    day_start, day_end = day_bounds_ms(day)
    hot_rows_of_day = hot.count_samples(SITE, day_start, day_end)
    assert hot_rows_of_day > 0

    monkeypatch.setenv("HOT_STORAGE_DAYS", "1")  # the day is now past the hot window
    run(instance, [cold_timeseries], day, "archive")
    file_rows = pq.read_table(ColdStore(cold_url).local_copy(cold_day_key(SITE, day))).num_rows
    failed = run(instance, [cold_timeseries], TODAY, "archive", raise_on_error=False)
    assert not failed.success  # today has not ended: the archival run fails
    backfill_id = submit_backfill(
        instance, sites=[SITE], start=TODAY - timedelta(days=30), end=TODAY - timedelta(days=29)
    )

    collector = PipelineCollector(instance, hot_store=hot, hot_storage_days=1)
    server, _thread = serve_pipeline_metrics(collector, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        figures = scrape(url)
        sync = {"site": SITE, "kind": "sync"}
        assert value(figures, "vitals_ace_requests_total", **sync) == pulled["requests"] >= 3
        assert value(figures, "vitals_ace_responses_429_total", **sync) == 2
        assert value(figures, "vitals_ace_samples_pulled_total", **sync) == pulled["rows"]
        assert value(figures, "vitals_hot_rows_upserted_total", **sync) == upserted["rows"]
        assert value(figures, "vitals_archival_samples_total", site=SITE) == file_rows > 0
        assert value(figures, "vitals_archival_files_written_total", site=SITE) == 1
        assert value(figures, "vitals_archival_hot_rows_deleted_total", site=SITE) == (
            hot_rows_of_day
        )
        assert value(figures, "vitals_archival_seconds_count", site=SITE) == 1
        assert value(figures, "vitals_archival_last_run_seconds", site=SITE) > 0
        assert value(figures, "vitals_archival_running_seconds") == 0
        assert value(figures, "vitals_runs_failed_total", kind="archive") == 1
        assert value(figures, "vitals_runs_failed_total", kind="sync") == 0
        _, tomorrow_end = day_bounds_ms(TODAY + timedelta(days=1))
        assert value(figures, "vitals_hot_store_rows", site=SITE) == hot.count_samples(
            SITE, 0, tomorrow_end
        )
        assert value(figures, "vitals_hot_store_overdue_days", site=SITE) == 0
        assert value(figures, "vitals_backfills_in_progress") == 1
        progress = {"backfill_id": backfill_id}
        assert value(figures, "vitals_backfill_site_days", state="targeted", **progress) == 2
        assert value(figures, "vitals_backfill_site_days", state="done", **progress) == 0
        started = value(figures, "vitals_backfill_last_progress_timestamp_seconds", **progress)
        assert started == instance.get_backfill(backfill_id).backfill_timestamp  # no run yet
        targeted = value(figures, "vitals_backfill_asset_partitions", state="targeted", **progress)
        assert targeted >= 2 * 3  # ace_points, ace_raw_samples, cold_timeseries per site-day

        # A restart reads the same history: the counters come back at the same totals.
        again = PipelineCollector(
            dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))),
            hot_store=hot,
            hot_storage_days=1,
        )
        restarted = {
            (family.name, sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in again.collect()
            for sample in family.samples
            if family.type in ("counter", "histogram")
        }
        for (_family, name, labels), total in restarted.items():
            assert figures[(name, labels)] == total, name

        # What the exporter reads is what an operator reads in the UI: times as
        # timestamps, durations named with their unit, the kind of run beside them.
        for key in (dg.AssetKey(name) for name in ("ace_raw_samples", "hot_samples")):
            (record,) = instance.fetch_materializations(key, limit=1).records
            recorded = record.asset_materialization.metadata
            assert recorded["run_kind"].value == "sync"
            assert "duration_s" in recorded and "seconds" not in recorded
            assert not [name for name in recorded if name.endswith("_ms")]
        window = instance.fetch_materializations(dg.AssetKey("ace_raw_samples"), limit=1)
        window_start = window.records[0].asset_materialization.metadata["window_start"]
        assert isinstance(window_start, dg.TimestampMetadataValue)
        assert window_start.value == day_start / 1000

        # New runs are read incrementally by the running exporter.
        second = run(instance, INGEST, TODAY - timedelta(days=1), "sync")
        more = metadata(second, "ace_raw_samples")["rows"]
        assert value(scrape(url), "vitals_ace_samples_pulled_total", **sync) == (
            pulled["rows"] + more
        )
    finally:
        server.shutdown()
