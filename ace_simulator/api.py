"""The ACE API routes (docs/ace_client.md), independent of the HTTP server that carries them.

Routing runs on the raw request path split at ``/`` before percent-decoding, so a
point name's ``%2F`` stays inside its segment. Windows are ``[start_time, end_time)``:
start inclusive, end exclusive. Errors are JSON ``{"message": "Error", "detail": ...}``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from ace_simulator.building import Building
from ace_simulator.catalog import KINDS, SimPoint, SimSite
from ace_simulator.export import Chunk
from ace_simulator.faults import RequestFaults
from ace_simulator.listing import date_filter, page_envelope, point_json, site_json
from ace_simulator.prefetch import PagePrefetcher
from ace_simulator.render import SampleFaults, chunk_table, sample_elements, samples_body
from ace_simulator.wire import BadRequest, parse_bool, parse_int, parse_window

PAGE_SIZE_CHOICES = (3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000)
SINGLE_SHOT_LIMIT = 500_000  # samples one unpaginated timeseries answer may hold
SAMPLE_ROUTES = {
    "/sites/{site}/timeseries/paginated",
    "/sites/{site}/timeseries",
    "/points/{name}/timeseries",
    "/points/get_timeseries",
}


@dataclass(frozen=True)
class ApiResponse:
    """A complete answer: status, JSON body, extra headers, and samples it carries."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    samples: int = 0


class ApiError(Exception):
    """An error answer with a status and a ``detail`` naming the bad input."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> ApiResponse:
    body = json.dumps({"message": "Error", "detail": detail, "code": status}).encode()
    return ApiResponse(status, body, headers or {})


def _json(data: Any) -> ApiResponse:
    return ApiResponse(200, json.dumps(data, separators=(",", ":")).encode())


def route_of(method: str, segments: list[str]) -> str:
    """The route template of a request path (for routing and for the stats)."""
    n = len(segments)
    if n >= 1 and segments[0] == "sites":
        if n == 1:
            return "/sites"
        if n == 2:
            return "/sites/{site}"
        tail = "/".join(segments[2:])
        if tail in ("points", "configured_points", "timeseries", "timeseries/paginated", "weather"):
            return "/sites/{site}/" + tail
    if n >= 1 and segments[0] == "points":
        if n == 1:
            return "/points"
        if n == 2 and segments[1] == "get_timeseries" and method == "POST":
            return "/points/get_timeseries"
        if n == 2:
            return "/points/{name}"
        if n == 3 and segments[2] == "timeseries":
            return "/points/{name}/timeseries"
    return "unknown"


class AceApi:
    """Answers ACE API requests from a ``Building``."""

    def __init__(self, building: Building) -> None:
        self.building = building
        self.prefetcher = PagePrefetcher()
        self.frozen_now_us: int | None = None  # tests may pin "now"; None follows the wall clock

    def now_us(self) -> int:
        """The simulator's present: no sample after it has been collected yet."""
        if self.frozen_now_us is not None:
            return self.frozen_now_us
        return int(time.time() * 1_000_000)

    def _window(self, query: dict[str, str]) -> tuple[int, int]:
        """The requested ``[start, end)`` window, clipped to [1970, the present)."""
        start_us, end_us = parse_window(query.get("start_time"), query.get("end_time"))
        start_us = max(start_us, 0)  # the building has no data before 1970
        return start_us, max(start_us, min(end_us, self.now_us()))

    # ---- helpers -------------------------------------------------------------------
    def _site(self, name: str) -> SimSite:
        try:
            return self.building.site(name)
        except KeyError:
            raise ApiError(404, f"site {name!r} not found") from None

    def _point(self, name: str, twin: bool) -> tuple[SimSite, SimPoint]:
        found = self.building.points_by_name.get(name)
        if found is None:
            raise ApiError(404, f"point {name!r} not found")
        site = self.building.site(found[0])
        point = site.points[found[1]]
        if point.case_twin and not twin:
            raise ApiError(404, f"point {name!r} not found")
        return site, point

    def _samples(
        self, site: SimSite, chunk: Chunk, faults: RequestFaults, extra: dict[str, Any] | None
    ) -> ApiResponse:
        export = self.building.export(site.name)
        sample_faults = SampleFaults(
            faults.bad_value_p, faults.duplicate_p, faults.shuffle, faults.seed
        )
        elements = sample_elements(export.signals, chunk, sample_faults)
        return ApiResponse(200, samples_body(elements, extra), samples=len(elements))

    # ---- routes --------------------------------------------------------------------
    def handle(
        self,
        method: str,
        route: str,
        segments: list[str],
        query: dict[str, str],
        body: bytes,
        faults: RequestFaults,
    ) -> ApiResponse:
        """Answer one authenticated request whose path is already split into ``segments``."""
        try:
            return self._dispatch(
                method, route, [unquote(s) for s in segments], query, body, faults
            )
        except BadRequest as exc:
            return error_response(400, str(exc))
        except ApiError as exc:
            return error_response(exc.status, exc.detail)

    def _dispatch(
        self,
        method: str,
        route: str,
        seg: list[str],
        query: dict[str, str],
        body: bytes,
        faults: RequestFaults,
    ) -> ApiResponse:
        allowed = "POST" if route == "/points/get_timeseries" else "GET"
        if route == "unknown":
            raise ApiError(404, f"no API route for {method} /{'/'.join(seg)}")
        if method != allowed:
            raise ApiError(405, f"method {method} is not allowed on {route}")
        twin = faults.case_twin
        if route == "/sites":
            parse_bool(query.get("collect_enabled"), field="collect_enabled")
            parse_bool(query.get("show_archived"), field="show_archived")
            return _json(page_envelope([site_json(s) for s in self.building.sites.values()], query))
        if route == "/points":
            points = [
                (s, p)
                for s in self.building.sites.values()
                for p in s.points
                if twin or not p.case_twin
            ]
            return _json(page_envelope([point_json(s, p) for s, p in points], query))
        if route == "/points/{name}":
            return _json(point_json(*self._point(seg[1], twin)))
        if route == "/points/{name}/timeseries":
            site, point = self._point(seg[1], twin)
            start_us, end_us = self._window(query)
            chunk = self.building.export(site.name).points_window(
                [point.index], start_us, end_us, limit=SINGLE_SHOT_LIMIT
            )
            return self._samples(site, chunk, faults, None)
        if route == "/points/get_timeseries":
            return self._points_timeseries(query, body, faults)
        site = self._site(seg[1])
        if route == "/sites/{site}":
            return _json(site_json(site))
        if route in ("/sites/{site}/points", "/sites/{site}/configured_points"):
            listed = self.building.listed_points(
                site.name, configured_only=route.endswith("configured_points"), twin=twin
            )
            listed = date_filter(listed, query)
            return _json(page_envelope([point_json(site, p) for p in listed], query))
        if route == "/sites/{site}/weather":
            return self._weather(site)
        start_us, end_us = self._window(query)
        raw = parse_bool(query.get("raw_data"), field="raw_data", default=False)
        export = self.building.export(site.name)
        if route == "/sites/{site}/timeseries":
            page = export.page(
                start_us, end_us, SINGLE_SHOT_LIMIT, raw=True, cursor=None, twin=twin
            )
            if page.next_cursor:
                raise BadRequest(
                    f"window holds more than {SINGLE_SHOT_LIMIT} samples; use /sites/{{site}}/timeseries/paginated"
                )
            return self._samples(site, page.chunk, faults, None)
        page_size = parse_int(query.get("page_size"), field="page_size", default=10000)
        if page_size not in PAGE_SIZE_CHOICES:
            raise BadRequest(
                f"{page_size} is not a valid choice for 'page_size'; choices: {list(PAGE_SIZE_CHOICES)}"
            )
        cursor = query.get("cursor") or None
        clean = not (faults.bad_value_p or faults.duplicate_p or faults.shuffle)
        key = (site.name, start_us, end_us, page_size, raw, twin)
        ready = self.prefetcher.take((*key, cursor)) if clean else None
        response, next_cursor = ready or self._export_page(site, *key[1:], cursor, faults)
        if clean and next_cursor:
            self.prefetcher.schedule(
                (*key, next_cursor),
                lambda: self._export_page(site, *key[1:], next_cursor, RequestFaults()),
            )
        return response

    def _export_page(
        self,
        site: SimSite,
        start_us: int,
        end_us: int,
        page_size: int,
        raw: bool,
        twin: bool,
        cursor: str | None,
        faults: RequestFaults,
    ) -> tuple[ApiResponse, str | None]:
        """One page of the paginated export and its next cursor."""
        export = self.building.export(site.name)
        page = export.page(start_us, end_us, page_size, raw=raw, cursor=cursor, twin=twin)
        extra = {"next_cursor": page.next_cursor, "has_more": page.next_cursor is not None}
        return self._samples(site, page.chunk, faults, extra), page.next_cursor

    def _points_timeseries(
        self, query: dict[str, str], body: bytes, faults: RequestFaults
    ) -> ApiResponse:
        """POST /points/get_timeseries: times in the query, ``{"points": [names]}`` in the body."""
        start_us, end_us = self._window(query)
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            raise BadRequest('request body is not JSON; expected {"points": [names]}') from None
        names = payload.get("points") if isinstance(payload, dict) else None
        if not isinstance(names, list):
            raise BadRequest('request body must be {"points": [point names]}')
        names = [n.get("name") if isinstance(n, dict) else n for n in names]
        if not all(isinstance(n, str) for n in names):
            raise BadRequest("every entry of 'points' must be a point name string")
        by_site: dict[str, list[int]] = {}
        for name in dict.fromkeys(names):
            found = self.building.points_by_name.get(name)
            if found and (
                faults.case_twin or not self.building.site(found[0]).points[found[1]].case_twin
            ):
                by_site.setdefault(found[0], []).append(found[1])
        parts: list[bytes] = []
        served = 0
        for site_name, indexes in by_site.items():
            chunk = self.building.export(site_name).points_window(
                indexes, start_us, end_us, limit=SINGLE_SHOT_LIMIT
            )
            answer = self._samples(self.building.site(site_name), chunk, faults, None)
            inner = answer.body[len(b'{"point_samples":[') : -2]
            if inner:
                parts.append(inner)
            served += answer.samples
        return ApiResponse(200, b'{"point_samples":[' + b",".join(parts) + b"]}", samples=served)

    def _weather(self, site: SimSite) -> ApiResponse:
        """Latest reading of each weather point (``{temp: {name, value, time, units}}``)."""
        weather = [p for p in site.points if p.object_type == "weather" and not p.case_twin]
        now_us = self.now_us()
        export = self.building.export(site.name)
        chunk = export.points_window(
            [p.index for p in weather], now_us - 3 * 3600 * 1_000_000, now_us, limit=10_000
        )
        latest: dict[str, dict[str, Any]] = {}
        for row in chunk_table(export.signals, chunk).to_pylist():  # time order: last wins
            latest[row["name"]] = {"name": row["name"], "value": row["value"], "time": row["time"]}
        return _json(
            {
                p.name.rsplit("/", 1)[1]: {
                    **latest[p.name],
                    "units": KINDS[p.kind].unit,
                    "source": "simulator",
                }
                for p in weather
                if p.name in latest
            }
        )


def split_target(target: str) -> tuple[list[str], dict[str, str]]:
    """Raw request target -> (raw path segments, last value of each query parameter)."""
    path, _, query_text = target.partition("?")
    segments = [s for s in path.split("/") if s != ""]
    query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    return segments, query
