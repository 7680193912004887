"""``GET /timeseries/query``: the earlier front end's request and answer, unchanged.

Request: ``site_name``, ``point_names`` (comma-separated; the list is split on every
comma exactly as the old front end built it, so a point whose name contains a comma
cannot be asked for here; use ``/v1/timeseries``), ``start_time`` / ``end_time``
(epoch ms or ISO 8601), ``interval``. Limits as before: 100 points, 365 days.

Answer: ``{site_name, point_names, samples: [{point_name, timestamp, value}],
metadata: {total_samples, sources, storage_tiers, query_time_ms, cache_hit}}`` with
``X-Query-Time-Ms`` and ``X-Cache-Hit`` headers. Differences from the old service,
on purpose: ``interval`` really downsamples (the value is the bucket's **average**,
``timestamp`` the bucket start); with no ``interval`` the answer is raw samples for
ranges up to 31 days and ``auto`` beyond; ``point_name`` in samples is spelled as the
client asked (names resolve case-insensitively), so the old front end's look-ups match.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitals.api.cache import CachedResponse
from vitals.api.errors import bad_request, limit_exceeded
from vitals.api.params import (
    TimeseriesQuery,
    check_range_limit,
    parse_interval,
    parse_points,
    parse_site,
    parse_time,
    single,
)
from vitals.api.render import dumps, ordered_series
from vitals.api.service import answer_timeseries
from vitals.names import fold_name
from vitals.query.types import MAX_RAW_RANGE_DAYS, QueryResult
from vitals.samples import MS_PER_DAY, ms_to_iso

LEGACY_MAX_RANGE_DAYS = 365
# The old service's names, plus the v1 names.
LEGACY_INTERVALS = {
    "1min": "1m",
    "5min": "5m",
    "15min": "15m",
    "1hr": "1h",
    "1hour": "1h",
    "1day": "1d",
}
TIER_SOURCE_NAMES = {"hot": "hot", "cold": "cold", "rollup": "rollup"}


def parse_legacy(request: Request) -> TimeseriesQuery:
    """Validate the old query string into a :class:`TimeseriesQuery`."""
    params = request.query_params.multi_items()
    site = parse_site(single(params, "site_name"), "site_name")
    raw_points = single(params, "point_names")
    if raw_points is None or not raw_points.strip():
        raise bad_request("point_names is required (comma-separated)")
    points = parse_points(
        (p.strip() for p in raw_points.split(",") if p.strip()), name="point_names", dedupe=True
    )
    start_raw, end_raw = single(params, "start_time"), single(params, "end_time")
    if start_raw is None or end_raw is None:
        raise bad_request("start_time and end_time are required (epoch milliseconds or ISO 8601)")
    start_ms = parse_time("start_time", start_raw)
    end_ms = parse_time("end_time", end_raw)
    if start_ms >= end_ms:
        raise bad_request(f"start_time ({start_ms}) must be before end_time ({end_ms})")
    if end_ms - start_ms > LEGACY_MAX_RANGE_DAYS * MS_PER_DAY:
        raise limit_exceeded(f"time range exceeds maximum of {LEGACY_MAX_RANGE_DAYS} days")
    raw_interval = single(params, "interval")
    if raw_interval is None or raw_interval == "":
        interval = "raw" if end_ms - start_ms <= MAX_RAW_RANGE_DAYS * MS_PER_DAY else "auto"
    else:
        interval = parse_interval(LEGACY_INTERVALS.get(raw_interval.strip().lower(), raw_interval))
    check_range_limit(start_ms, end_ms, interval)
    aggs = () if interval == "raw" else ("avg",)
    return TimeseriesQuery(site, points, start_ms, end_ms, interval, aggs, format="json")


def legacy_body_prefix(result: QueryResult, query: TimeseriesQuery) -> bytes:
    """The answer up to ``metadata``'s last two (per-request) fields."""
    samples: list[dict[str, object]] = []
    exact = set(query.points)
    by_folded = {fold_name(p): p for p in query.points}
    column = result.aggs[0] if result.aggs else "v"
    for series in ordered_series(result, query.points):
        name = (
            series.point
            if series.point in exact
            else by_folded.get(fold_name(series.point), series.point)
        )
        values = series.values.get(column, [])
        samples.extend(
            {"point_name": name, "timestamp": t, "value": v}
            for t, v in zip(series.t, values, strict=False)
            if v is not None
        )
    payload = {
        "site_name": query.site,
        "point_names": list(query.points),
        "samples": samples,
        "metadata": {
            "total_samples": len(samples),
            "sources": [TIER_SOURCE_NAMES.get(t, t) for t in result.tiers],
            "storage_tiers": _storage_tiers(result),
            "interval": result.interval,
            "aggregate": column if result.aggs else None,
        },
    }
    text = dumps(payload)
    assert text.endswith(b"}}")
    return text[:-2]


def _storage_tiers(result: QueryResult) -> dict[str, dict[str, object]]:
    tiers: dict[str, dict[str, object]] = {}
    for tier in result.tiers:
        tiers[tier] = {"start": ms_to_iso(result.start_ms), "end": ms_to_iso(result.end_ms)}
    return tiers


def _finish(entry: CachedResponse, elapsed_ms: float, hit: bool) -> bytes:
    tail = f',"query_time_ms":{round(elapsed_ms)},"cache_hit":{"true" if hit else "false"}}}}}'
    return entry.body + tail.encode("ascii")


async def legacy_query(request: Request) -> Response:
    """The drop-in endpoint (see module docstring for the exact shape)."""
    query = parse_legacy(request)
    response = await answer_timeseries(
        request,
        query,
        kind="legacy",
        render=lambda result, _plan: (legacy_body_prefix(result, query), "application/json"),
        echoes_names=True,  # samples spell points as asked
        finish=_finish,
    )
    response.headers["X-Query-Time-Ms"] = str(round(float(response.headers["X-Query-Time-Ms"])))
    return response


ROUTES = [Route("/timeseries/query", legacy_query, methods=["GET"])]
