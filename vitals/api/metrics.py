"""Prometheus metrics for the query API, in a registry owned by one app instance.

A per-app :class:`CollectorRegistry` keeps two apps in one process (tests, ``vitals
dev``) from sharing or double-registering counters. Route labels are route templates
(``/v1/sites/{site}/points``), never raw paths, so hostile URLs cannot blow up the
label set.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
