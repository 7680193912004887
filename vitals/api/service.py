"""What the routes share: the app's parts, and one cached, threadpooled query path.

The query engine is blocking (DuckDB, SQL), so it runs in Starlette's threadpool and
the event loop keeps answering other requests. Each answer is rendered once and kept
in the response cache under the SHA-256 of its normalised query, whose points are the
*stored* names the request resolved to: names differing only in case can be distinct
points (docs/design.md invariant 6), so folding them in the key would mix their answers.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from isal import igzip
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from vitals.api.auth import AuthPolicy, CorsPolicy
from vitals.api.cache import CachedResponse, ResponseCache, cache_key, ttl_for_range
from vitals.api.metrics import ApiMetrics, tier_group
from vitals.api.middleware import TIER_STATE
from vitals.api.params import ParsedRequest
from vitals.api.plan_memo import PlanMemo
from vitals.cold.store import ColdStore
from vitals.config import Settings
from vitals.hot.base import PointRecord
from vitals.query.engine import QueryEngine
from vitals.query.plan import QueryPlan
from vitals.query.types import QueryResult


class PointSearch(Protocol):
    """What the point routes and the health check need from the hot store."""

    def list_sites(self) -> list[str]:
        """Sites with a catalogue."""
        ...

    def list_points(
        self, site: str, q: str | None = None, limit: int | None = None
    ) -> list[PointRecord]:
        """Points of a site by name; ``q`` a case-insensitive substring."""
        ...

    def schema_version(self) -> int:
        """The store's schema version (a cheap liveness probe)."""
        ...


@dataclass
class ApiState:
    """Everything a request handler needs, built once per app."""

    settings: Settings
    engine: QueryEngine
    hot_store: PointSearch
    cold_store: ColdStore
    cache: ResponseCache
    metrics: ApiMetrics
    auth: AuthPolicy
    cors: CorsPolicy
    hot_ttl_s: float
    cold_ttl_s: float
    clock: Callable[[], float] = time.time
    # At most this many engine queries at once: on a small machine more threads only
    # slow every query down (and hold more memory); the rest wait their turn.
    engine_slots: int = 4
    # Plan on the event loop: only when every store planning touches is on this host
    # (a SQLite hot store, a folder cold store), so a plan is ~0.3 ms of CPU and no
    # network wait; then a cache hit costs no worker-thread hop (create_app decides).
    plan_on_loop: bool = False
    # plans of repeated requests while the stores say nothing they read has moved
    plans: PlanMemo = field(default_factory=PlanMemo)
    _slots: asyncio.Semaphore | None = field(default=None, repr=False)

    def engine_semaphore(self) -> asyncio.Semaphore:
        """The engine slots (made on first use, inside the event loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.engine_slots)
        return self._slots


def api_state(request: Request) -> ApiState:
    """The app's :class:`ApiState` (set by ``create_app``)."""
    state: ApiState = request.app.state.vitals
    return state


Renderer = Callable[[QueryResult, QueryPlan], tuple[bytes, str]]
Finisher = Callable[[CachedResponse, float, bool], bytes]


async def answer_timeseries(
    request: Request,
    query: ParsedRequest,
    *,
    kind: str,
    render: Renderer,
    echoes_names: bool = False,
    finish: Finisher | None = None,
) -> Response:
    """Run (or reuse) one time-series query and answer it with timing headers.

    The request is planned first (unknown or ambiguous names fail here, uncached) and
    the cache key is built from the plan. ``echoes_names`` adds the names as asked to
    the key, for answers that spell points as asked (the legacy endpoint); ``finish``
    lets the legacy endpoint add per-request timing to a cached body.
    """
    state = api_state(request)
    started = time.perf_counter()
    wants_gzip = accepts_gzip(request.headers.get("accept-encoding"))
    plan = await _plan(state, query)
    key = cache_key(_key_parts(kind, plan, query.format, query.points if echoes_names else None))

    def answer() -> tuple[QueryResult, bytes, str, bytes | None]:
        """Engine, rendering and gzip in one worker-thread hop (each hop costs CPU too)."""
        result = state.engine.execute(plan)
        body, media_type = render(result, plan)
        # compressed for the cache only when the client asking accepts gzip (browsers do)
        packed = gzip_if_worth(body) if finish is None and wants_gzip else None
        return result, body, media_type, packed

    async def compute() -> tuple[CachedResponse, float]:
        async with state.engine_semaphore():
            result, body, media_type, packed = await run_in_threadpool(answer)
        ttl_s = ttl_for_range(
            plan.end_ms,
            now_ms=int(state.clock() * 1000),
            hot_storage_days=state.settings.hot_storage_days,
            hot_ttl_s=state.hot_ttl_s,
            cold_ttl_s=state.cold_ttl_s,
        )
        return CachedResponse(body, media_type, result.samples, tuple(result.tiers), packed), ttl_s

    entry, source = await state.cache.get_or_compute_from(key, compute)
    hit = source != "computed"
    state.metrics.cache_source.labels(source=source).inc()
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    request.scope.setdefault("state", {})[TIER_STATE] = "cache" if hit else tier_label(entry.tiers)
    metrics = state.metrics
    (metrics.cache_hits if hit else metrics.cache_misses).inc()
    tier = tier_group(
        plan.start_ms,
        plan.end_ms,
        hot_storage_days=state.settings.hot_storage_days,
        now_ms=int(state.clock() * 1000),
    )
    metrics.observe_query(tier=tier, cache_hit=hit, seconds=elapsed_ms / 1000.0)
    metrics.samples_returned.labels(route=str(request.scope["route"].path)).inc(entry.samples)
    metrics.cache_bytes.set(state.cache.total_bytes)
    metrics.cache_entries.set(len(state.cache))
    body = finish(entry, elapsed_ms, hit) if finish else entry.body
    headers = {
        "X-Query-Time-Ms": f"{elapsed_ms:.1f}",
        "X-Cache-Hit": "true" if hit else "false",
        # memory: this worker's LRU; shared: computed by another worker of this host
        "X-Cache-Source": source,
        "X-Vitals-Tiers": ",".join(entry.tiers) or "none",
        # v1 picks JSON, CSV or Arrow from Accept when no format= is given.
        "Vary": "Accept, Accept-Encoding" if kind == "v1" else "Accept-Encoding",
    }
    if wants_gzip and finish is None:
        packed = entry.gzip_body
        if packed is None and len(body) >= GZIP_MIN_BYTES:
            # cached for a client without gzip: compress for this one (rare: mixed clients)
            packed = await run_in_threadpool(gzip_if_worth, body)
            if packed is not None:
                await state.cache.share_gzip(key, packed)
        if packed is not None:
            body = packed
            headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=entry.media_type, headers=headers)


GZIP_MIN_BYTES = 1024
# ISA-L's level 1 (``isal.igzip``, standard gzip output any client decodes): a year at 1 h
# (575 kB of chart JSON) in 0.99 ms of CPU for 3.2x, against 3.78 ms for 3.1x with zlib
# level 1 and 1.84 ms for 2.2x with zlib-ng level 1 (docs/benchmarks.md, issue 11 third
# pass). zlib's level 1 had replaced level 5 (9.6 -> 4.3 ms on 1 MB) before that.
GZIP_LEVEL = 1


def gzip_if_worth(body: bytes) -> bytes | None:
    """Gzip of an answer worth compressing (at least ``GZIP_MIN_BYTES``), else ``None``."""
    if len(body) < GZIP_MIN_BYTES:
        return None
    return igzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when ``Accept-Encoding`` lists gzip without ``q=0``."""
    for item in (accept_encoding or "").lower().split(","):
        name, _, params = item.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def tier_label(tiers: Sequence[str]) -> str:
    """``hot``, ``cold``, ``cold+hot``, ``rollup``... (sorted so labels stay few)."""
    return "+".join(sorted(set(tiers))) or "none"


async def _plan(state: ApiState, query: ParsedRequest) -> QueryPlan:
    """The plan: every request rule checked, names resolved to stored points.

    Runs outside the engine slots, so a cache hit never waits for one; a refusal is a
    ``QueryError`` the app answers with its status. With local stores it runs right on
    the event loop: a worker-thread hop cost a cached answer more than its plan does
    (cached mix, 100 clients: 977 -> see docs/benchmarks.md).
    """
    plan = functools.partial(
        state.engine.plan,
        query.site,
        list(query.points),
        query.start_ms,
        query.end_ms,
        interval=query.interval,
        aggs=query.aggs,
        fill=query.fill,
        max_gap_ms=query.max_gap_ms,
        tz=query.tz,
        max_points=query.max_points,
        unit=query.unit,
        quality=query.quality,
    )
    if state.plan_on_loop:
        version = state.engine.plan_version(query.site)
        return state.plans.plan(query, version, plan)
    return await run_in_threadpool(plan)


def _key_parts(
    kind: str, plan: QueryPlan, fmt: str, asked: Sequence[str] | None
) -> Mapping[str, object]:
    """The normalised query of a cache key.

    It holds the plan's stored names in request order (never folded names: case twins
    are distinct points) plus, for answers that echo them, the names as asked.
    """
    parts: dict[str, object] = {
        "kind": kind,
        "site": plan.site,
        "points": list(plan.points),
        "start": plan.start_ms,
        "end": plan.end_ms,
        "interval": plan.interval,
        "aggs": list(plan.aggs),
        "fill": plan.fill,
        "max_gap": plan.max_gap_ms,
        "format": fmt,
    }
    if not plan.plain:  # the semantics' inputs (their defaults keep old keys unchanged)
        parts.update(
            tz=plan.tz,
            max_points=plan.max_points,
            unit=plan.unit,
            quality=plan.quality,
            modes=list(plan.modes),
        )
    if asked is not None:
        parts["asked"] = list(asked)
    return parts
