"""Prometheus metrics for the query API, in a registry owned by one app instance.

A per-app :class:`CollectorRegistry` keeps two apps in one process (tests, ``vitals
dev``) from sharing or double-registering counters. Route labels are route templates
(``/v1/sites/{site}/points``), never raw paths, so hostile URLs cannot blow up the
label set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from vitals.samples import day_of_ms
from vitals.windows import is_past_hot_window

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TIER_GROUPS = ("hot", "cold", "both")


def tier_group(start_ms: int, end_ms: int, *, hot_storage_days: int, now_ms: int) -> str:
    """``hot``, ``cold`` or ``both``: the tier a query's range belongs to.

    By the hot-window rule (vitals.windows), not by what the engine touched: the engine
    also reads the hot store for an archived day (late rows win), so "touched" would
    call nearly every answer "both".
    """
    first_cold = is_past_hot_window(day_of_ms(start_ms), hot_storage_days, now_ms)
    last_cold = is_past_hot_window(day_of_ms(max(end_ms - 1, start_ms)), hot_storage_days, now_ms)
    if first_cold and last_cold:
        return "cold"
    return "both" if first_cold else "hot"


class ApiMetrics:
    """The API's collectors: latency by route and tier, cache, errors, samples."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "vitals_api_request_seconds",
            "Request latency by route template and storage tier read",
            ["route", "tier"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "vitals_api_requests",
            "Requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "vitals_api_errors",
            "Error answers (4xx and 5xx) by status and error code",
            ["status", "code"],
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "vitals_api_cache_hits",
            "Time-series answers served from the response cache",
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "vitals_api_cache_misses",
            "Time-series answers computed by the query engine",
            registry=self.registry,
        )
        self.samples_returned = Counter(
            "vitals_api_samples_returned",
            "Values returned in time-series answers, by route template",
            ["route"],
            registry=self.registry,
        )
        self.query_seconds = Histogram(
            "vitals_api_query_seconds",
            "Time-series answer latency (plan, cache or engine, render) by the tier of the "
            "range asked (hot, cold, both) and whether the response cache had it",
            ["tier", "cache"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_bytes = Gauge(
            "vitals_api_cache_bytes", "Bytes held by the response cache", registry=self.registry
        )
        self.cache_entries = Gauge(
            "vitals_api_cache_entries", "Answers held by the response cache", registry=self.registry
        )
        self.engine_slots = Gauge(
            "vitals_api_engine_slots",
            "Most engine queries this worker runs at once (vitals serve --engine-slots)",
            registry=self.registry,
        )
        self.read_threads = Gauge(
            "vitals_api_read_threads",
            "Threads of this worker's cold read pool (VITALS_READ_THREADS)",
            registry=self.registry,
        )
        self.connections_rebalanced = Gauge(
            "vitals_api_connections_rebalanced",
            "Connections this worker closed after an answer since it started, because it "
            "held more than its share of the workers' connections (vitals.api.balance)",
            registry=self.registry,
        )
        self.cache_source = Counter(
            "vitals_api_cache_source",
            "Time-series answers by where they came from: memory (this worker), shared "
            "(another worker, through the host's shared cache) or computed",
            ["source"],
            registry=self.registry,
        )
        # Each worker process has its own registry: the pid tells a scraper (or a test)
        # which worker answered /metrics.
        Gauge(
            "vitals_api_worker", "This worker process (value 1)", ["pid"], registry=self.registry
        ).labels(pid=str(os.getpid())).set(1)

    def watch_shared_cache(self, read: Callable[[], dict[str, int]]) -> None:
        """Export the shared cache's counters (read at each scrape) and its size."""
        self.registry.register(_SharedCacheCollector(read))

    def observe_request(
        self, *, route: str, method: str, status: int, tier: str, seconds: float
    ) -> None:
        """Record one finished request."""
        self.request_seconds.labels(route=route, tier=tier).observe(seconds)
        self.requests.labels(route=route, method=method, status=str(status)).inc()

    def observe_query(self, *, tier: str, cache_hit: bool, seconds: float) -> None:
        """Record one answered time-series query by its tier group (:func:`tier_group`)."""
        self.query_seconds.labels(tier=tier, cache="hit" if cache_hit else "miss").observe(seconds)

    def observe_error(self, *, status: int, code: str) -> None:
        """Count one error answer by status and code."""
        self.errors.labels(status=str(status), code=code).inc()

    def render(self) -> bytes:
        """Prometheus text exposition of this app's registry."""
        return generate_latest(self.registry)


class _SharedCacheCollector(Collector):
    """``vitals_api_shared_cache_{hits,misses,errors,evictions,repairs,waits}_total`` of this worker."""

    _HELP: ClassVar[dict[str, str]] = {
        "hits": "Answers this worker found in the host's shared cache",
        "misses": "Shared cache lookups that found nothing live",
        "errors": "Shared cache failures (locked, corrupt, bad checksum) answered by computing",
        "evictions": "Shared cache entries this worker dropped to keep the file within its bound",
        "repairs": "Corrupt shared cache files this worker moved aside",
        "waits": "Answers this worker took from another worker that was computing them",
    }

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        values = self._read()
        for name, help_text in self._HELP.items():
            family = CounterMetricFamily(f"vitals_api_shared_cache_{name}", help_text)
            family.add_metric([], values.get(name, 0))
            yield family
        if "bytes" in values:
            yield GaugeMetricFamily(
                "vitals_api_shared_cache_bytes",
                "Bytes held by the shared cache file's entries (-1: unreadable)",
                value=values["bytes"],
            )

    def describe(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        return iter(())
