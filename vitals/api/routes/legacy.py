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
from vitals.api.params import ParsedRequest, query_from_legacy
from vitals.api.render import dumps, ordered_series
from vitals.api.service import answer_timeseries
from vitals.names import fold_name
from vitals.query.types import QueryResult
from vitals.samples import ms_to_iso


def legacy_body_prefix(result: QueryResult, query: ParsedRequest) -> bytes:
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
            "sources": list(result.tiers),
            "storage_tiers": _storage_tiers(result),
            "interval": result.interval,
            "aggregate": column if result.aggs else None,
        },
    }
    text = dumps(payload)
    assert text.endswith(b"}}")
    return text[:-2]


def _storage_tiers(result: QueryResult) -> dict[str, dict[str, object]]:
    """Per tier read, the range it answered (the old service's shape)."""
    tiers: dict[str, dict[str, object]] = {}
    for tier in result.tiers:
        tiers[tier] = {"start": ms_to_iso(result.start_ms), "end": ms_to_iso(result.end_ms)}
    return tiers


def _finish(entry: CachedResponse, elapsed_ms: float, hit: bool) -> bytes:
    """The cached body plus this request's ``query_time_ms`` and ``cache_hit``."""
    tail = f',"query_time_ms":{round(elapsed_ms)},"cache_hit":{"true" if hit else "false"}}}}}'
    return entry.body + tail.encode("ascii")


async def legacy_query(request: Request) -> Response:
    """The drop-in endpoint (see module docstring for the exact shape)."""
    query = query_from_legacy(request.query_params.multi_items())
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
