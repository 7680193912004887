"""Build the query API: routes, error answers and the middleware stack.

Layers, outside in: metrics + last-resort 500 (``ObserveMiddleware``), CORS + API keys
(``GuardMiddleware``), request body limit, then Starlette's routing with JSON
answers for 404/405 and every :class:`ApiError`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from vitals.api.assets import load_assets
from vitals.api.auth import AuthPolicy, CorsPolicy, GuardMiddleware, split_origins
from vitals.api.cache import DEFAULT_COLD_TTL_S, DEFAULT_HOT_TTL_S, DEFAULT_MAX_BYTES, ResponseCache
from vitals.api.errors import ERROR_CODE_STATE, ApiError, error_response, from_query_error
from vitals.api.header_timeout import worker_shares
from vitals.api.metrics import ApiMetrics
from vitals.api.middleware import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware, ObserveMiddleware
from vitals.api.openapi import build_openapi
from vitals.api.routes import explorer, legacy, ops, v1
from vitals.api.service import ApiState, PointSearch
from vitals.api.shared_cache import SharedStore
from vitals.api.stores import open_cold_store, open_hot_store
from vitals.arrow_memory import configure_arrow_memory
from vitals.cold.point_reads import READ_THREADS
from vitals.cold.store import ColdStore
from vitals.config import Settings
from vitals.hot.store import HotStore
from vitals.query.engine import QueryEngine
from vitals.query.point_meta import default_facts
from vitals.query.types import QueryError

_LOG = logging.getLogger("vitals.api")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
_METHOD_ORDER = {
    m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
}


async def _on_api_error(request: Request, exc: Exception) -> Response:
    """An :class:`ApiError` (or a plan's ``QueryError``) as the JSON error answer."""
    if isinstance(exc, QueryError):
        exc = from_query_error(exc)
    assert isinstance(exc, ApiError)
    request.scope.setdefault("state", {})[ERROR_CODE_STATE] = exc.code
    return error_response(exc.status, exc.code, exc.detail)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 / 413 in the API's JSON shape, ``Allow`` in a stable order."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    if status == 404:
        detail = f"no route for {request.method} {request.url.path[:200]!r}; see /openapi.json"
    elif status == 405:
        detail = f"method {request.method} is not allowed on {request.url.path[:200]!r}"
    else:
        detail = str(exc.detail)[:200]
    request.scope.setdefault("state", {})[ERROR_CODE_STATE] = code
    headers = dict(exc.headers or {})
    if "Allow" in headers:
        headers["Allow"] = _ordered_methods(headers["Allow"])
    return error_response(status, code, detail, headers=headers)


def _ordered_methods(allow: str) -> str:
    """Starlette joins a route's method *set*: give ``Allow`` one stable order."""
    methods = {m.strip() for m in allow.split(",") if m.strip()}
    return ", ".join(sorted(methods, key=lambda m: (_METHOD_ORDER.get(m, len(_METHOD_ORDER)), m)))


def default_stores(settings: Settings) -> tuple[HotStore, ColdStore]:
    """The hot and cold stores at the configured locations."""
    hot = open_hot_store(settings.hot_store)
    cold = open_cold_store(
        settings.cold_store,
        s3_endpoint_url=settings.s3_endpoint_url,
        cache_dir=settings.data_dir / "cache" / "cold",
    )
    return hot, cold


def create_app(
    settings: Settings,
    engine: QueryEngine | None = None,
    *,
    hot_store: PointSearch | None = None,
    cold_store: ColdStore | None = None,
    allow_anonymous: bool = False,
    cache_max_bytes: int = DEFAULT_MAX_BYTES,
    hot_ttl_s: float = DEFAULT_HOT_TTL_S,
    cold_ttl_s: float = DEFAULT_COLD_TTL_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    engine_slots: int = 4,
    clock: Callable[[], float] = time.time,
    shared_cache: SharedStore | None = None,
) -> Starlette:
    """The query API over ``settings``' stores (or the given engine and stores).

    Stores not given are opened from ``settings`` (:mod:`vitals.api.stores`); with no
    ``engine`` the query engine reads those stores.

    ``allow_anonymous`` serves every client when no API key is configured (the
    ``--insecure-no-auth`` flag); otherwise a keyless API answers loopback clients only.
    ``engine_slots`` bounds concurrent engine queries (cache hits never wait for a slot).
    ``shared_cache`` puts the host's shared response cache behind the in-memory one.
    """
    if engine_slots < 1:
        raise ValueError(f"engine_slots must be >= 1, got {engine_slots}")
    if hot_store is None or cold_store is None or engine is None:
        default_hot, default_cold = default_stores(settings)
        cold_store = cold_store if cold_store is not None else default_cold
        if engine is None:
            engine = QueryEngine(
                default_hot,
                cold_store,
                hot_storage_days=settings.hot_storage_days,
                facts=default_facts(cold_store, settings.site_overrides),
            )
        hot_store = hot_store if hot_store is not None else default_hot
    metrics = ApiMetrics()
    metrics.engine_slots.set(engine_slots)
    metrics.read_threads.set(READ_THREADS)
    metrics.connections_rebalanced.set_function(lambda: worker_shares().closed)
    if shared_cache is not None:
        shared = shared_cache

        def shared_figures() -> dict[str, int]:
            return {**vars(shared.stats), "bytes": shared.total_bytes()}

        metrics.watch_shared_cache(shared_figures)
    state = ApiState(
        settings=settings,
        engine=engine,
        hot_store=hot_store,
        cold_store=cold_store,
        cache=ResponseCache(max_bytes=cache_max_bytes, shared=shared_cache),
        metrics=metrics,
        auth=AuthPolicy(tuple(settings.api_keys), allow_anonymous=allow_anonymous),
        cors=CorsPolicy(split_origins(settings.allowed_origins)),
        hot_ttl_s=hot_ttl_s,
        cold_ttl_s=cold_ttl_s,
        clock=clock,
        engine_slots=engine_slots,
        plan_on_loop=_plans_locally(engine),
    )
    app = Starlette(
        routes=[*v1.ROUTES, *legacy.ROUTES, *ops.ROUTES, *explorer.ROUTES],
        middleware=[
            Middleware(ObserveMiddleware, metrics=metrics),
            Middleware(GuardMiddleware, auth=state.auth, cors=state.cors),
            Middleware(BodyLimitMiddleware, max_bytes=max_body_bytes),
        ],
        exception_handlers={
            ApiError: _on_api_error,
            QueryError: _on_api_error,
            HTTPException: _on_http_error,
        },
        lifespan=_warm_up(cold_store, hot_store),
    )
    app.state.vitals = state
    app.state.openapi = build_openapi()
    app.state.assets = load_assets()
    return app


def _plans_locally(engine: QueryEngine) -> bool:
    """Whether planning reads only this host's files: a SQLite hot store, a folder cold store.

    Planning resolves names in the hot store and reads site facts from the cold store;
    either over a network (PostgreSQL, S3) would stall the event loop, so those plan in
    a worker thread.
    """
    # the library stores or the Dagster resources over them (both say where they are)
    return (
        getattr(engine.hot, "is_local", False) is True
        and getattr(engine.cold, "is_s3", True) is False
    )


def _warm_up(
    cold_store: ColdStore, hot_store: PointSearch
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """Lifespan: Arrow on jemalloc; the hot store opened and month footers parsed in a thread.

    The pool is set here, in every server process (one or each of ``--workers``), as
    the Dagster code location and the CLI do at start-up: with mimalloc's default, freed
    pages go back to the OS after ~10 ms, so each uncached answer paid page faults on
    every buffer it touched (year at 1 h: ~47 -> ~34 ms of CPU an answer with jemalloc).
    The thread never delays start-up; opening the hot store there means its schema check
    and first connections are not made by a plan running on the event loop.
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        configure_arrow_memory()  # the operator's ARROW_DEFAULT_MEMORY_POOL still wins

        def warm() -> None:
            from vitals.rollups.month import warm_month_files
            from vitals.rollups.year import warm_year_files

            try:
                hot_store.schema_version()
                warm_probe = getattr(hot_store, "warm_catalogue_probe", None)
                if callable(warm_probe):
                    warm_probe()
            except Exception as exc:  # the first request reports a store that is down
                _LOG.warning("hot store warm-up skipped: %s", exc)
            try:
                began = time.perf_counter()
                count = warm_month_files(cold_store)
                years = warm_year_files(cold_store)
                _LOG.info(
                    "warmed %d month and %d year rollup footers in %.2f s",
                    count,
                    years,
                    time.perf_counter() - began,
                )
            except Exception as exc:  # a warm-up is an optimisation: never fail start-up
                _LOG.warning("month rollup warm-up skipped: %s", exc)

        threading.Thread(target=warm, name="vitals-warm-up", daemon=True).start()
        yield

    return lifespan


def app_from_environment() -> Starlette:
    """App factory for ``vitals serve --workers N`` (uvicorn imports it in each worker)."""
    import os

    from vitals.api.serve import ENGINE_SLOTS_ENV, HOT_TTL_ENV, shared_cache_from_environment
    from vitals.config import load_settings

    slots = os.environ.get(ENGINE_SLOTS_ENV, "4")
    hot_ttl = os.environ.get(HOT_TTL_ENV)
    return create_app(
        load_settings(),
        engine_slots=int(slots) if slots.isdigit() else 4,
        hot_ttl_s=float(hot_ttl) if hot_ttl else DEFAULT_HOT_TTL_S,
        shared_cache=shared_cache_from_environment(),
    )
