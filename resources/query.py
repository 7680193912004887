"""Query resource: config fields, and delegation to :class:`vitals.query.engine.QueryEngine`.

The engine, its request rules (:mod:`vitals.query.plan`) and its caches live in the
library; this resource only says where the stores are, for Dagster assets (the HTTP API
builds its engine from the library directly, ``vitals.api.app``). Process-wide state
(footer cache, read thread pool) lives in module caches, not in resource fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from resources.hot_store import resolved_setting
from vitals.cold.store import ColdStore
from vitals.config import Settings, load_settings
from vitals.hot.store import HotStore
from vitals.query.engine import QueryEngine
from vitals.query.plan import QueryLimits, QueryPlan
from vitals.query.point_meta import default_facts
from vitals.query.types import QueryResult
from vitals.redact import redact_url


class QueryResource(dg.ConfigurableResource["QueryResource"]):
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
        """The engine over this resource's stores (built once per resource instance).

        ``hot_store_url`` bound as ``dg.EnvVar`` is resolved here when the resource is
        used outside a Dagster run.
        """
        if limits is None and self._engine is not None:
            return self._engine
        cold = ColdStore(self.cold_store_url, s3_endpoint_url=self.s3_endpoint_url)
        engine = QueryEngine(
            HotStore(resolved_setting(self.hot_store_url, "hot_store_url")),
            cold,
            limits=limits,
            hot_storage_days=self.hot_storage_days,
            facts=default_facts(cold, load_settings().site_overrides),
        )
        if limits is None:
            self._engine = engine
        return engine

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
        """The request checked and resolved, without reading data (:mod:`vitals.query.plan`)."""
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
        """Run a plan from :meth:`plan` (a request is resolved once, not again to be run)."""
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
