"""Pipeline figures for Prometheus, read from the Dagster instance (and the hot store).

Why an exporter that reads the instance, not a push at the end of each run: the
instance is already the durable store of every figure a run records (materialisation
metadata, run records, backfill records). Reading it survives restarts on both sides:
a run that ends while the exporter is down is read when it comes back, and an exporter
that restarts reads the same history again, so its counters come back at the same
totals instead of resetting. A pushed figure lives only in the receiver (a run whose
push fails, or a Pushgateway that restarts without its file, loses it), and a push
cannot report what a run never reached (a hung archival run, a stalled backfill).

Counters are totals over the instance's history, kept up to date incrementally: each
scrape reads only materialisations after the last storage cursor per asset. Gauges
(backfill progress, running archival, hot-store size) are read at scrape time; the
hot-store figures at most every ``hot_store_every_s`` seconds, as they count rows.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from vitals.hot.store import HotStore
from vitals.samples import MS_PER_DAY
from vitals_assets.backfill_progress import backfill_progress, last_progress_timestamp

# Per site-day archival duration (seconds); the plan's limit is 25 minutes.
ARCHIVAL_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1500.0, 3600.0)
PAGE = 1000
ARCHIVAL_RUNS_SCANNED = 200

ACE_RAW = dg.AssetKey("ace_raw_samples")
HOT = dg.AssetKey("hot_samples")
COLD = dg.AssetKey("cold_timeseries")


def _value(entry: Any) -> Any:
    """A metadata entry's plain value (stored metadata values wrap it)."""
    return getattr(entry, "value", entry)


def _number(metadata: Mapping[str, Any], name: str) -> float:
    value = _value(metadata.get(name, 0))
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _per_site_day(metadata: Mapping[str, Any], partition: str | None) -> list[dict[str, Any]]:
    """One dict per site-day: a range run's ``per_partition`` list, else the one partition."""
    per_partition = _value(metadata.get("per_partition"))
    if isinstance(per_partition, list) and per_partition:
        return [dict(item) for item in per_partition if isinstance(item, dict)]
    plain = {name: _value(entry) for name, entry in metadata.items()}
    if "site" not in plain and partition and "|" in partition:
        plain["site"] = partition.split("|", 1)[1]
    return [plain]


def run_kind(metadata: Mapping[str, Any]) -> str:
    """What made a materialisation: sync, backfill, archive, manual (``unknown`` if older)."""
    kind = _value(metadata.get("run_kind"))
    return str(kind) if kind else "unknown"


@dataclass
class _Totals:
    """Counter values by (metric, labels), and the archival-duration observations."""

    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    archival_buckets: dict[str, list[int]] = field(default_factory=dict)
    archival_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, metric: str, value: float, **labels: str) -> None:
        self.counters[(metric, tuple(sorted(labels.items())))] += value

    def observe_archival(self, site: str, seconds: float) -> None:
        buckets = self.archival_buckets.setdefault(site, [0] * (len(ARCHIVAL_BUCKETS) + 1))
        for index, bound in enumerate(ARCHIVAL_BUCKETS):
            if seconds <= bound:
                buckets[index] += 1
        buckets[-1] += 1  # +Inf
        self.archival_sum[site] += seconds


COUNTER_HELP = {
    "vitals_ace_requests": "ACE data requests sent by ace_raw_samples (retries included), by site and run kind",
    "vitals_ace_responses_429": "ACE answers 429 Too Many Requests (each retried), by site and run kind",
    "vitals_ace_samples_pulled": "Raw samples pulled from ACE, by site and run kind (backfill, sync, ...)",
    "vitals_hot_rows_upserted": "Rows upserted into the hot store by hot_samples, by site and run kind",
    "vitals_archival_samples": "Samples in the cold files written by cold_timeseries, by site",
    "vitals_archival_files_written": "Cold day files (re)written and verified, by site",
    "vitals_archival_hot_rows_deleted": "Hot rows deleted after their day file was verified, by site",
}


class PipelineCollector(Collector):
    """A Prometheus collector over one Dagster instance and, optionally, the hot store."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        *,
        hot_store: HotStore | None = None,
        hot_storage_days: int = 7,
        hot_store_every_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance = instance
        self.hot_store = hot_store
        self.hot_storage_days = hot_storage_days
        self.hot_store_every_s = hot_store_every_s
        self.clock = clock
        self._cursors: dict[dg.AssetKey, str | None] = {ACE_RAW: None, HOT: None, COLD: None}
        self._totals = _Totals()
        self._lock = threading.Lock()
        self._hot_figures: tuple[float, dict[str, tuple[int, int]]] | None = None

    # -- counters: materialisation metadata, read incrementally -------------------------
    def catch_up(self) -> int:
        """Read every materialisation not read yet; returns how many were read."""
        read = 0
        with self._lock:
            for key in self._cursors:
                while True:
                    result = self.instance.fetch_materializations(
                        key, limit=PAGE, cursor=self._cursors[key], ascending=True
                    )
                    for record in result.records:
                        materialization = record.asset_materialization
                        if materialization is not None:
                            self._count(key, materialization)
                            read += 1
                    if result.records:
                        self._cursors[key] = result.cursor
                    if not result.has_more:
                        break
        return read

    def _count(self, key: dg.AssetKey, materialization: dg.AssetMaterialization) -> None:
        metadata = materialization.metadata
        kind = run_kind(metadata)
        totals = self._totals
        for day in _per_site_day(metadata, materialization.partition):
            site = str(day.get("site", "unknown"))
            if key == ACE_RAW:
                totals.add("vitals_ace_requests", _number(day, "requests"), site=site, kind=kind)
                totals.add(
                    "vitals_ace_responses_429", _number(day, "responses_429"), site=site, kind=kind
                )
                totals.add("vitals_ace_samples_pulled", _number(day, "rows"), site=site, kind=kind)
            elif key == HOT:
                totals.add("vitals_hot_rows_upserted", _number(day, "rows"), site=site, kind=kind)
            elif key == COLD:
                totals.add("vitals_archival_samples", _number(day, "rows"), site=site)
                totals.add(
                    "vitals_archival_files_written", 1.0 if day.get("rewritten") else 0.0, site=site
                )
                totals.add(
                    "vitals_archival_hot_rows_deleted", _number(day, "hot_rows_deleted"), site=site
                )
                totals.observe_archival(site, _number(day, "duration_s"))

    def _counter_families(self) -> Iterator[Metric]:
        by_metric: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for (metric, labels), value in self._totals.counters.items():
            by_metric[metric].append((dict(labels), value))
        for metric, help_text in COUNTER_HELP.items():
            rows = by_metric.get(metric, [])
            names = sorted({name for row_labels, _ in rows for name in row_labels}) or ["site"]
            family = CounterMetricFamily(metric, help_text, labels=names)
            for row_labels, value in rows:
                family.add_metric([row_labels.get(name, "") for name in names], value)
            yield family
        histogram = HistogramMetricFamily(
            "vitals_archival_seconds",
            "Time to build, verify and record one site-day's cold file (duration_s), by site",
            labels=["site"],
        )
        for site, counts in self._totals.archival_buckets.items():
            bounds = [*(str(b) for b in ARCHIVAL_BUCKETS), "+Inf"]
            histogram.add_metric(
                [site], list(zip(bounds, counts, strict=True)), self._totals.archival_sum[site]
            )
        yield histogram

    # -- gauges and run counts, read at scrape time --------------------------------------
    def _run_families(self) -> Iterator[Metric]:
        failed = CounterMetricFamily(
            "vitals_runs_failed",
            "Failed Dagster runs by kind (vitals/kind tag: sync, archive, backfill)",
            labels=["kind"],
        )
        for kind in ("sync", "archive", "backfill"):
            count = self.instance.get_runs_count(
                dg.RunsFilter(tags={"vitals/kind": kind}, statuses=[dg.DagsterRunStatus.FAILURE])
            )
            failed.add_metric([kind], float(count))
        yield failed
        now = self.clock()
        last = GaugeMetricFamily(
            "vitals_archival_last_run_seconds",
            "Wall time of the site's latest finished archival run",
            labels=["site"],
        )
        seen: set[str] = set()
        finished = self.instance.get_run_records(
            dg.RunsFilter(
                tags={"vitals/kind": "archive"},
                statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
            ),
            limit=ARCHIVAL_RUNS_SCANNED,
        )
        for record in finished:
            site = record.dagster_run.tags.get("vitals/site", "unknown")
            if site in seen or record.start_time is None or record.end_time is None:
                continue
            seen.add(site)
            last.add_metric([site], record.end_time - record.start_time)
        yield last
        running = self.instance.get_run_records(
            dg.RunsFilter(
                tags={"vitals/kind": "archive"},
                statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            )
        )
        oldest = max((now - r.start_time for r in running if r.start_time is not None), default=0)
        yield GaugeMetricFamily(
            "vitals_archival_running_seconds",
            "Age of the oldest archival run still running (0 when none runs)",
            value=max(oldest, 0.0),
        )

    def _backfill_families(self) -> Iterator[Metric]:
        backfills = self.instance.get_backfills(status=BulkActionStatus.REQUESTED)
        in_progress = GaugeMetricFamily(
            "vitals_backfills_in_progress", "Asset backfills requested and not finished"
        )
        partitions = GaugeMetricFamily(
            "vitals_backfill_asset_partitions",
            "Asset partitions of a running backfill by state (targeted, materialized, failed)",
            labels=["backfill_id", "state"],
        )
        site_days = GaugeMetricFamily(
            "vitals_backfill_site_days",
            "Site-days of a running backfill by state: targeted; done (every targeted asset "
            "materialised it); failed",
            labels=["backfill_id", "state"],
        )
        eta = GaugeMetricFamily(
            "vitals_backfill_eta_seconds",
            "Estimated time remaining: elapsed per finished asset partition x partitions left",
            labels=["backfill_id"],
        )
        last_progress = GaugeMetricFamily(
            "vitals_backfill_last_progress_timestamp_seconds",
            "When the backfill last moved: its latest successful run's end, else its start",
            labels=["backfill_id"],
        )
        count = 0
        for backfill in backfills:
            data = backfill.asset_backfill_data
            progress = backfill_progress(self.instance, backfill.backfill_id)
            if data is None or progress is None:
                continue
            count += 1
            bid = backfill.backfill_id
            partitions.add_metric([bid, "targeted"], progress.targeted)
            partitions.add_metric([bid, "materialized"], progress.materialized)
            partitions.add_metric([bid, "failed"], progress.failed)
            targeted = _sizes(data.target_subset)
            done = _sizes(data.materialized_subset)
            failed = _sizes(data.failed_and_downstream_subset)
            site_days.add_metric([bid, "targeted"], max(targeted.values(), default=0))
            site_days.add_metric(
                [bid, "done"], min((done.get(key, 0) for key in targeted), default=0)
            )
            site_days.add_metric([bid, "failed"], max(failed.values(), default=0))
            if progress.eta_seconds is not None:
                eta.add_metric([bid], progress.eta_seconds)
            last_progress.add_metric([bid], last_progress_timestamp(self.instance, backfill))
        in_progress.add_metric([], count)
        yield from (in_progress, partitions, site_days, eta, last_progress)

    def _hot_store_families(self) -> Iterator[Metric]:
        if self.hot_store is None:
            return
        now = self.clock()
        if self._hot_figures is None or now - self._hot_figures[0] >= self.hot_store_every_s:
            now_ms = int(now * 1000)
            cutoff = (now_ms // MS_PER_DAY - self.hot_storage_days) * MS_PER_DAY
            figures = {
                site: (
                    self.hot_store.count_samples(site, 0, now_ms + 2 * MS_PER_DAY),
                    len(self.hot_store.days_with_samples(site, cutoff)),
                )
                for site in self.hot_store.list_sites()
            }
            self._hot_figures = (now, figures)
        figures = self._hot_figures[1]
        rows = GaugeMetricFamily(
            "vitals_hot_store_rows", "Samples held in the hot store, by site", labels=["site"]
        )
        overdue = GaugeMetricFamily(
            "vitals_hot_store_overdue_days",
            "Days past the hot window that still hold hot rows (archival should leave none)",
            labels=["site"],
        )
        for site, (held, late) in sorted(figures.items()):
            rows.add_metric([site], held)
            overdue.add_metric([site], late)
        yield rows
        yield overdue
        yield GaugeMetricFamily(
            "vitals_hot_storage_days",
            "HOT_STORAGE_DAYS: days the hot store keeps",
            value=self.hot_storage_days,
        )

    def collect(self) -> Iterable[Metric]:
        """Everything, as of now (new materialisations are read first)."""
        self.catch_up()
        with self._lock:
            families: list[Metric] = list(self._counter_families())
        families += [*self._run_families(), *self._backfill_families(), *self._hot_store_families()]
        return families


def _sizes(subset: Any) -> dict[dg.AssetKey, int]:
    """Partitions per asset key of an asset graph subset."""
    return {key: len(parts) for key, parts in subset.partitions_subsets_by_asset_key.items()}


def pipeline_registry(collector: PipelineCollector) -> CollectorRegistry:
    """A registry holding only the pipeline collector (what ``/metrics`` serves)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
