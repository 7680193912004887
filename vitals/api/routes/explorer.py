"""``/`` and ``/static/{name}``: the explorer page, for people rather than programs.

The page and its bundle need no key (they hold no data); the page asks for the API key
and sends it with each ``/v1`` call, same-origin, so no CORS allowance is needed. Files
come from :mod:`vitals.api.assets` (loaded once per app, served from memory) with their
content type, caching headers, ETag (``304`` on ``If-None-Match``), a gzip copy for
clients that accept it, and the strict Content-Security-Policy.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitals.api.assets import INDEX, SECURITY_HEADERS, Asset
from vitals.api.errors import ApiError, truncate

STATIC_PREFIX = "/static/"


def _assets(request: Request) -> dict[str, Asset]:
    assets: dict[str, Asset] = request.app.state.assets
    return assets


def _serve(request: Request, asset: Asset) -> Response:
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": asset.cache_control,
        "ETag": asset.etag,
        "Vary": "Accept-Encoding",
    }
    if_none_match = request.headers.get("if-none-match", "")
    if asset.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "").lower():
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.content_type, headers=headers)


async def index(request: Request) -> Response:
    """``GET /``: the explorer page."""
    asset = _assets(request).get(INDEX)
    if asset is None:
        raise ApiError(
            404,
            "not_found",
            "the explorer page is not built into this package "
            "(run `npm ci && npm run build` in web/); the API is at /v1, see /openapi.json",
        )
    return _serve(request, asset)


async def static_file(request: Request) -> Response:
    """``GET /static/{name}``: one built file by its exact name."""
    name = request.path_params["name"]
    asset = _assets(request).get(name) if name != INDEX else None
    if asset is None:
        raise ApiError(404, "not_found", f"no static file {truncate(name, 80)}")
    return _serve(request, asset)


ROUTES = [
    Route("/", index, methods=["GET"]),
    Route(STATIC_PREFIX + "{name}", static_file, methods=["GET"]),
]
