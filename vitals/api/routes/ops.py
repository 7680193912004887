"""Operator routes: ``/healthz``, ``/metrics``, ``/openapi.json`` (open, no key needed)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitals.api.render import dumps
from vitals.api.service import api_state

logger = logging.getLogger("vitals.api")
HEALTH_TIMEOUT_S = 5.0
_PROBE_PREFIX = "healthz-probe/"  # lists nothing, but needs a working, readable store


def check_cold_store(cold_store: Any, url: str) -> None:
    """Raise if the cold store cannot be read.

    A local folder that does not exist yet is fine (nothing archived so far); one that
    exists must be a readable directory. Any store is then asked to list a prefix.
    """
    if "://" not in url:
        root = Path(url)
        if root.exists() and not (root.is_dir() and os.access(root, os.R_OK | os.X_OK)):
            raise OSError(f"cold store folder {url!r} is not a readable directory")
    if cold_store is not None:
        cold_store.list_keys(_PROBE_PREFIX)


async def _probe(name: str, func: Callable[..., object], *args: object) -> dict[str, object]:
    """Run one store check with a timeout; the answer never carries the error's text."""
    try:
        await asyncio.wait_for(run_in_threadpool(func, *args), HEALTH_TIMEOUT_S)
    except Exception as exc:
        logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
        return {"ok": False, "detail": f"{name} unavailable (see server log)"}
    return {"ok": True}


async def healthz(request: Request) -> Response:
    """200 when the hot store answers and the cold store can be read, else 503."""
    state = api_state(request)
    hot, cold = await asyncio.gather(
        _probe("hot store", state.hot_store.schema_version),
        _probe("cold store", check_cold_store, state.cold_store, state.settings.cold_store),
    )
    ok = bool(hot["ok"] and cold["ok"])
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {"hot_store": hot, "cold_store": cold},
    }
    return Response(
        dumps(body),
        status_code=200 if ok else 503,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's registry."""
    state = api_state(request)
    state.metrics.cache_bytes.set(state.cache.total_bytes)
    state.metrics.cache_entries.set(len(state.cache))
    return Response(state.metrics.render(), media_type=state.metrics.content_type)


async def openapi(request: Request) -> Response:
    """The OpenAPI 3.1 document."""
    return Response(dumps(request.app.state.openapi), media_type="application/json")


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
