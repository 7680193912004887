"""Query resource: the DuckDB-backed engine over hot store, cold day files and rollups.

Usable from Dagster assets (a ``ConfigurableResource``) and from the HTTP API without
Dagster (construct it directly: ``QueryResource(hot_store_url=..., cold_store_url=...)``
or :meth:`QueryResource.from_settings`). Process-wide state (footer cache, DuckDB
connection, read thread pool) lives in module caches, not in resource fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from vitals.config import Settings, load_settings
from vitals.query.engine import QueryEngine, QueryLimits, QueryPlan
from vitals.query.types import QueryResult
from vitals.redact import redact_url


class QueryResource(dg.ConfigurableResource):
    """Time-series queries over both tiers: raw or downsampled, hot wins on conflicts."""

    hot_store_url: str  # may hold a password: bind as dg.EnvVar("VITALS_HOT_STORE")
    cold_store_url: str
    s3_endpoint_url: str | None = None
    hot_storage_days: int = 20

    _engine: QueryEngine | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Never show the hot store URL's password (reprs end up in logs and tracebacks)."""
        for name, value in super().__repr_args__():
            plain = isinstance(value, str) and not isinstance(value, dg.EnvVar)
            yield name, (redact_url(value) if name == "hot_store_url" and plain else value)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> QueryResource:
        """A resource on the environment's stores (``vitals.config.load_settings``)."""
        settings = settings or load_settings()
        return cls(
            hot_store_url=settings.hot_store,
            cold_store_url=settings.cold_store,
            s3_endpoint_url=settings.s3_endpoint_url,
            hot_storage_days=settings.hot_storage_days,
        )

    def engine(self, *, limits: QueryLimits | None = None) -> QueryEngine:
        """The engine over this resource's stores (built once per resource instance)."""
        if limits is not None:
            return QueryEngine(
                self._hot(), self._cold(), limits=limits, hot_storage_days=self.hot_storage_days
            )
        if self._engine is None:
            self._engine = QueryEngine(
                self._hot(), self._cold(), hot_storage_days=self.hot_storage_days
            )
        return self._engine

    def _hot(self):  # noqa: ANN202 - resource type lives in resources.hot_store
        from resources.hot_store import HotStoreResource, resolved_setting

        return HotStoreResource(url=resolved_setting(self.hot_store_url, "hot_store_url"))

    def _cold(self):  # noqa: ANN202
        from resources.cold_store import ColdStoreResource

        return ColdStoreResource(url=self.cold_store_url, s3_endpoint_url=self.s3_endpoint_url)

    def plan(
        self,
        site: str,
        points: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        interval: str = "raw",
        aggs: Sequence[str] = ("avg",),
        fill: str | None = None,
        max_gap_ms: int | None = None,
    ) -> QueryPlan:
        """Validate a request without reading data (the API uses it for cache keys)."""
        return self.engine().plan(
            site,
            points,
            start_ms,
            end_ms,
            interval=interval,
            aggs=aggs,
            fill=fill,
            max_gap_ms=max_gap_ms,
        )

    def execute(self, plan: QueryPlan) -> QueryResult:
        """Run a plan from :meth:`plan` (the API plans first: its cache key is the plan's
        stored names, so a request is resolved once, not again to be run).
        """
        return self.engine().execute(plan)

    def query(
        self,
        site: str,
        points: Sequence[str],
        start_ms: int,
        end_ms: int,
        *,
        interval: str = "raw",
        aggs: Sequence[str] = ("avg",),
        fill: str | None = None,
        max_gap_ms: int | None = None,
    ) -> QueryResult:
        """Every sample of ``points`` in [start_ms, end_ms) from either tier, exactly once.

        ``interval``: raw, 1m, 5m, 15m, 1h, 1d or auto; ``aggs``: avg, min, max, last;
        ``fill``: None, "previous" or "linear" with ``max_gap_ms``. Raises the
        ``vitals.query.types`` errors (BadQueryError, UnknownSiteError, UnknownPointError,
        AmbiguousPointError, QueryLimitError) for requests it refuses.
        """
        return self.engine().query(
            site,
            points,
            start_ms,
            end_ms,
            interval=interval,
            aggs=aggs,
            fill=fill,
            max_gap_ms=max_gap_ms,
        )
