"""``/v1``: sites, point search and time series (GET and POST) for chart front ends."""

from __future__ import annotations

import json
from datetime import date

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitals.api.cache import CachedResponse, cache_key
from vitals.api.contract import (
    DEFAULT_POINT_LIMIT,
    MAX_POINT_LIMIT,
    PointSearchParams,
    QualityParams,
)
from vitals.api.errors import ApiError, bad_request, truncate
from vitals.api.params import (
    ParsedRequest,
    parse_bool,
    query_fields,
    query_from_body,
    query_from_query_string,
    reject_unknown,
    validated,
)
from vitals.api.render import dumps, render
from vitals.api.service import answer_timeseries, api_state
from vitals.names import InvalidNameError, validate_point_name
from vitals.quality.summary import (
    latest_quality_day,
    quality_rows_json,
    read_quality_day,
    summary_of_rows,
)
from vitals.query.plan import check_site
from vitals.query.types import UnknownSiteError

_JSON_TYPES = ("application/json", "text/json")
TIMESERIES_ALLOW = "GET, HEAD, POST, OPTIONS"


def _json(payload: object) -> Response:
    """A compact JSON answer."""
    return Response(dumps(payload), media_type="application/json")


async def list_sites(request: Request) -> Response:
    """``GET /v1/sites``: every site the hot store's catalogue knows."""
    reject_unknown(request.query_params.keys(), frozenset())
    sites = await run_in_threadpool(api_state(request).hot_store.list_sites)
    return _json({"sites": sorted(sites)})


async def list_points(request: Request) -> Response:
    """``GET /v1/sites/{site}/points?q=&limit=``: case-insensitive search by name."""
    fields = validated(
        PointSearchParams, query_fields(PointSearchParams, request.query_params.multi_items())
    )
    site = check_site(request.path_params["site"])
    q = fields.q
    if q:
        try:
            validate_point_name(q)
        except InvalidNameError as exc:
            raise bad_request(f"q: {exc}") from exc
    limit = _parse_limit(fields.limit)
    stale = None if fields.stale is None else parse_bool("stale", fields.stale)
    stuck = None if fields.stuck is None else parse_bool("stuck", fields.stuck)
    state = api_state(request)
    hot_store = state.hot_store
    facts = state.engine.facts

    def search() -> bytes | None:
        if site not in hot_store.list_sites():
            return None
        filtered = stale is not None or stuck is not None
        # a quality filter applies before the limit (else it would filter one page only)
        records = hot_store.list_points(site, q or None, None if filtered else limit)
        infos = facts.points(site, [r.name for r in records]) if facts else {}
        day = latest_quality_day(state.cold_store, site)
        flags = read_quality_day(state.cold_store, site, day) if day else None
        points = []
        for record in records:
            row = (flags or {}).get(record.name)
            quality = (
                {"stale": row["stale"], "stuck": row["stuck"], "coverage": row["coverage"]}
                if row
                else None
            )
            if stale is not None and (row is None or row["stale"] != stale):
                continue
            if stuck is not None and (row is None or row["stuck"] != stuck):
                continue
            info = infos.get(record.name)
            points.append(
                {
                    "name": record.name,
                    "data_type": record.data_type,
                    **(info.as_json() if info else {}),
                    "quality": quality,
                }
            )
            if len(points) >= limit:
                break
        return dumps(
            {
                "site": site,
                "q": q or "",
                "quality_day": day.isoformat() if day else None,
                "count": len(points),
                "points": points,
            }
        )

    async def compute() -> tuple[CachedResponse, float]:
        body = await run_in_threadpool(search)  # one hop: site check and search together
        if body is None:
            raise ApiError(
                404, "unknown_site", str(UnknownSiteError(f"site {site!r} is not known"))
            )
        return CachedResponse(body, "application/json", 0, ()), state.hot_ttl_s

    # Chart pages search as users type: the same few words, answered from the cache for
    # as long as hot answers are (a newly discovered point shows within that TTL).
    key = cache_key(
        {
            "kind": "points",
            "site": site,
            "q": q or "",
            "limit": limit,
            "stale": stale,
            "stuck": stuck,
        }
    )
    entry, _hit = await state.cache.get_or_compute(key, compute)
    return Response(entry.body, media_type=entry.media_type)


async def site_quality(request: Request) -> Response:
    """``GET /v1/sites/{site}/quality?date=YYYY-MM-DD``: the site-day's quality per point.

    Read from the ``point_quality`` asset's file of that day; a day without one (not
    built yet) is a 404 that says so, never an empty report.
    """
    fields = validated(
        QualityParams, query_fields(QualityParams, request.query_params.multi_items())
    )
    site = check_site(request.path_params["site"])
    try:
        day = date.fromisoformat(fields.date.strip())
    except ValueError as exc:
        raise bad_request(f"date {truncate(fields.date)} is not a day as YYYY-MM-DD") from exc
    state = api_state(request)

    def report() -> bytes | None:
        if site not in state.hot_store.list_sites():
            raise ApiError(
                404, "unknown_site", str(UnknownSiteError(f"site {site!r} is not known"))
            )
        rows = read_quality_day(state.cold_store, site, day)
        if rows is None:
            return None
        table = quality_rows_json(rows)
        return dumps(
            {
                "site": site,
                "date": day.isoformat(),
                "summary": summary_of_rows(table),
                "points": table,
            }
        )

    body = await run_in_threadpool(report)
    if body is None:
        raise ApiError(
            404,
            "no_quality_report",
            f"no point_quality report for {site} {day.isoformat()} (the asset has not run for that day)",
        )
    return Response(body, media_type="application/json")


def _parse_limit(raw: str | None) -> int:
    """ASCII digits only: ``str.isdigit`` also accepts superscripts (int() refuses them)."""
    if raw is None:
        return DEFAULT_POINT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_POINT_LIMIT:
        raise bad_request(f"limit {truncate(raw)} must be an integer from 1 to {MAX_POINT_LIMIT}")
    return int(raw)


async def timeseries_get(request: Request) -> Response:
    """``GET /v1/timeseries?site=&points=&points=&start=&end=...``."""
    raw = request.scope.get("query_string", b"")
    query = query_from_query_string(raw, request.headers.get("accept"))
    return await _answer(request, query)


async def timeseries_post(request: Request) -> Response:
    """``POST /v1/timeseries`` with the same fields as a JSON object (long point lists)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _JSON_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type {truncate(content_type or None)} is not application/json",
        )
    if request.query_params:
        raise bad_request(
            "POST /v1/timeseries takes its fields in the JSON body, not the query string"
        )
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"request body is not valid JSON: {str(exc)[:120]}") from exc
    query = query_from_body(body, request.headers.get("accept"))
    return await _answer(request, query)


async def timeseries(request: Request) -> Response:
    """``/v1/timeseries``: one route for every method, so a 405 or an ``OPTIONS`` lists them all.

    Two routes on one path made Starlette answer ``OPTIONS`` (and ``DELETE``) from the
    first alone: ``405, Allow: GET, HEAD``, no POST. CORS preflights never get here
    (``GuardMiddleware`` answers them).
    """
    if request.method == "POST":
        return await timeseries_post(request)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={"Allow": TIMESERIES_ALLOW})
    return await timeseries_get(request)


async def _answer(request: Request, query: ParsedRequest) -> Response:
    """Series named and ordered by the plan's stored names.

    So the answer depends only on what its cache key holds.
    """
    return await answer_timeseries(
        request,
        query,
        kind="v1",
        render=lambda result, plan: render(result, plan.points, query.format),
    )


ROUTES = [
    Route("/v1/sites", list_sites, methods=["GET"]),
    Route("/v1/sites/{site}/points", list_points, methods=["GET"]),
    Route("/v1/sites/{site}/quality", site_quality, methods=["GET"]),
    Route("/v1/timeseries", timeseries, methods=["GET", "POST", "OPTIONS"]),  # HEAD comes with GET
]
