"""Case twins (issue 9, section 2): two points whose names differ only in case.

``AHU-2/Fan`` and ``AHU-2/FAN`` are distinct points with distinct data (docs/design.md
invariant 6). Both must be chartable in one request, in either order, from every
endpoint and format, cached or not; the response cache must never hand one twin's
values to the other; and ``ahu-2/fan`` (matching both) is a 409 naming both, even
after each twin's answer is in the cache. Real app, real SQLite hot store, real cold
Parquet days (``tests.support.api_site``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import pyarrow.ipc as pa_ipc
import pytest

from tests.support.api_site import (
    OFFSET_MS,
    POINTS,
    SITE,
    STEP_MS,
    ApiSite,
    TestClient,
    build_api_site,
    make_client,
    value_at,
)

FAN, FAN_UPPER = POINTS[4], POINTS[5]
FOLDED = "ahu-2/fan"  # matches both twins: ambiguous
INDEX = {FAN: 4, FAN_UPPER: 5}
HOUR = 3_600_000
# (endpoint, format): the v1 route by GET and POST in every format, and the legacy route.
ROUTES = [
    ("get", "json"),
    ("get", "csv"),
    ("get", "arrow"),
    ("post", "json"),
    ("post", "csv"),
    ("post", "arrow"),
    ("legacy", "json"),
]
Series = list[tuple[str, list[tuple[int, float]]]]


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> ApiSite:
    return build_api_site(tmp_path_factory.mktemp("api-twins"))


@pytest.fixture
def client(api_site: ApiSite) -> Iterator[TestClient]:
    """A fresh app (empty cache) per test, so "uncached" really is uncached."""
    with make_client(api_site) as test_client:
        yield test_client


def _window(api_site: ApiSite, tier: str) -> tuple[int, int]:
    day = api_site.hot_days[0] if tier == "hot" else api_site.cold_days[1]
    start, _ = api_site.day_ms(day)
    return start, start + HOUR


def ask(client: TestClient, route: str, fmt: str, points: list[str], window: tuple[int, int]):
    """One raw request for ``points`` over ``window`` by ``route`` in ``fmt``."""
    start, end = window
    if route == "legacy":
        return client.get(
            "/timeseries/query",
            params={
                "site_name": SITE,
                "point_names": ",".join(points),
                "start_time": start,
                "end_time": end,
            },
        )
    fields = {"site": SITE, "points": points, "start": start, "end": end, "format": fmt}
    if route == "post":
        return client.post("/v1/timeseries", json=fields)
    return client.get("/v1/timeseries", params=fields)


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def _grouped(rows: list[tuple[str, int, float]]) -> Series:
    """Long rows to series, in order of first appearance."""
    out: dict[str, list[tuple[int, float]]] = {}
    for point, ts, value in rows:
        out.setdefault(point, []).append((ts, value))
    return list(out.items())


def series_of(response, route: str, fmt: str) -> Series:
    """The answer's series as [(point, [(t, v), ...])] whatever its shape."""
    assert response.status_code == 200, response.text
    if route == "legacy":
        samples = response.json()["samples"]
        return _grouped([(s["point_name"], s["timestamp"], s["value"]) for s in samples])
    if fmt == "json":
        return [
            (s["point"], list(zip(s["t"], s["v"], strict=True))) for s in response.json()["series"]
        ]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(response.text)))[1:]
        return _grouped([(r[0], _ms(r[1]), float(r[2])) for r in rows])
    table = pa_ipc.open_stream(response.content).read_all()
    stamps = [int(ts.timestamp() * 1000) for ts in table.column("timestamp").to_pylist()]
    return _grouped(
        list(
            zip(
                table.column("point").to_pylist(),
                stamps,
                table.column("value").to_pylist(),
                strict=True,
            )
        )
    )


def expected(points: list[str], window: tuple[int, int], tier: str) -> Series:
    """Each twin's own values (the fixture gives every point distinct data)."""
    start, end = window
    stamps = range(start + OFFSET_MS, end, STEP_MS)
    return [(p, [(t, value_at(INDEX[p], t, tier)) for t in stamps]) for p in points]


def assert_hit(response, hit: bool) -> None:
    assert response.headers["x-cache-hit"] == ("true" if hit else "false")


def assert_ambiguous(response) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "ambiguous_point"
    assert FAN in body["detail"] and FAN_UPPER in body["detail"]


@pytest.mark.parametrize("tier", ["hot", "cold"])
@pytest.mark.parametrize(("route", "fmt"), ROUTES)
def test_both_twins_in_one_request_either_order_cached_or_not(client, api_site, route, fmt, tier):
    window = _window(api_site, tier)
    for order in ([FAN, FAN_UPPER], [FAN_UPPER, FAN]):
        first = ask(client, route, fmt, order, window)
        assert series_of(first, route, fmt) == expected(order, window, tier)
        assert_hit(first, False)  # the other order is another answer, never a hit on it
        again = ask(client, route, fmt, order, window)
        assert series_of(again, route, fmt) == expected(order, window, tier)
        assert_hit(again, True)


@pytest.mark.parametrize(("route", "fmt"), ROUTES)
@pytest.mark.parametrize("cached_first", [FAN, FAN_UPPER])
def test_one_twin_cached_never_answers_for_the_other(client, api_site, route, fmt, cached_first):
    window = _window(api_site, "hot")
    other = FAN_UPPER if cached_first == FAN else FAN
    assert_hit(ask(client, route, fmt, [cached_first], window), False)
    answer = ask(client, route, fmt, [other], window)
    assert series_of(answer, route, fmt) == expected([other], window, "hot")
    assert_hit(answer, False)
    assert_hit(ask(client, route, fmt, [other], window), True)
    assert_ambiguous(ask(client, route, fmt, [FOLDED], window))


@pytest.mark.parametrize(("route", "fmt"), ROUTES)
def test_folded_name_is_ambiguous_after_both_twins_were_cached(client, api_site, route, fmt):
    window = _window(api_site, "hot")
    assert ask(client, route, fmt, [FAN, FAN_UPPER], window).status_code == 200
    assert ask(client, route, fmt, [FAN_UPPER], window).status_code == 200
    assert_ambiguous(ask(client, route, fmt, [FOLDED], window))
    assert_ambiguous(ask(client, route, fmt, [FOLDED, FAN_UPPER], window))
    assert_ambiguous(ask(client, route, fmt, [FAN, FOLDED], window))


@pytest.mark.parametrize("route", ["get", "post"])
def test_the_same_exact_name_twice_is_still_refused(client, api_site, route):
    answer = ask(client, route, "json", [FAN_UPPER, FAN, FAN_UPPER], _window(api_site, "hot"))
    assert answer.status_code == 400
    assert "listed twice" in answer.json()["detail"] and FAN_UPPER in answer.json()["detail"]


def test_other_spellings_of_one_point_share_its_cached_answer(client, api_site):
    """The key is the stored names: asking a point in another casing is the same query."""
    window = _window(api_site, "hot")
    sat = POINTS[0]
    stored = ask(client, "get", "json", [sat], window)
    assert_hit(stored, False)
    other_case = ask(client, "get", "json", [sat.lower()], window)
    assert_hit(other_case, True)
    assert other_case.json() == stored.json()
