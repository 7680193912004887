"""The ACE simulator read through the vendor's own client (aceiot-models) and plain HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest
from aceiot_models.api.client import APIClient, APIError

from tests.support.simulator import SIMULATOR_POINTS, SIMULATOR_SITE

DAY_MS = 1_760_227_200_000  # 2025-10-12T00:00:00Z
HOUR_MS = 3_600_000


@pytest.fixture
def client(simulator) -> APIClient:
    return APIClient(base_url=simulator.url, api_key=simulator.api_key)


def _get(simulator, path: str, **params) -> httpx.Response:
    headers = {"Authorization": f"Bearer {simulator.api_key}"}
    return httpx.get(simulator.url + path, params=params, headers=headers, timeout=30)


def test_sites_and_site(client):
    sites = client.get_sites(collect_enabled=False)
    assert sites["total"] == 1 and sites["pages"] == 1
    assert [s["name"] for s in sites["items"]] == [SIMULATOR_SITE]
    site = client.get_site(SIMULATOR_SITE)
    assert site["name"] == SIMULATOR_SITE and isinstance(site["updated"], str)


def test_configured_points_page_through_all(client, simulator):
    names = []
    first = client.get_site_configured_points(SIMULATOR_SITE, page=1, per_page=50)
    assert first["per_page"] == 50 and first["pages"] == -(-first["total"] // 50)
    for page in range(1, first["pages"] + 1):
        names += [
            p["name"]
            for p in client.get_site_configured_points(SIMULATOR_SITE, page=page, per_page=50)[
                "items"
            ]
        ]
    every = client.get_site_points(SIMULATOR_SITE, per_page=500)
    assert every["total"] == SIMULATOR_POINTS
    configured = [p["name"] for p in every["items"] if p["collect_enabled"]]
    assert names == configured and len(set(names)) == len(names)
    assert all(isinstance(p["updated"], str) and p["collect_interval"] > 0 for p in every["items"])
    bacnet = [p for p in every["items"] if p["bacnet_data"]]
    assert bacnet and all(
        p["name"].split("/")[2] == f"{b['device_address']}-{b['device_id']}"
        and p["name"].endswith(f"/{b['object_type']}/{b['object_index']}")
        for p in bacnet
        for b in [p["bacnet_data"]]
    )


def test_paginated_window_matches_generator(client, simulator):
    start, end = DAY_MS + 6 * HOUR_MS, DAY_MS + 9 * HOUR_MS
    got = client.get_site_timeseries_paginated(
        SIMULATOR_SITE,
        "2025-10-12T06:00:00Z",
        "2025-10-12T09:00:00Z",
        page_size=1000,
        raw_data=True,
    )["point_samples"]
    expected = simulator.expected_samples(SIMULATOR_SITE, start, end)
    assert len(got) == expected.num_rows > 3000
    assert simulator.server.api.prefetcher.hits > 0  # pages built ahead are the same bytes
    assert [s["name"] for s in got] == expected["name"].to_pylist()
    assert [s["time"] for s in got] == expected["time"].to_pylist()
    assert [s["value"] for s in got] == expected["value_text"].to_pylist()
    stats = simulator.stats()
    assert stats["requests_by_route_status"]["/sites/{site}/timeseries/paginated 200"] == -(
        -len(got) // 1000
    )
    assert stats["samples_served"] == len(got)
    # pages run in time order across all points
    times = [s["time"] for s in got]
    assert times == sorted(times)


def test_export_carries_some_points_that_are_not_configured(client, simulator):
    points = client.get_site_points(SIMULATOR_SITE, per_page=500)["items"]
    configured = {p["name"] for p in points if p["collect_enabled"]}
    expected = simulator.expected_samples(SIMULATOR_SITE, DAY_MS, DAY_MS + 2 * HOUR_MS)
    exported = set(expected["name"].to_pylist())
    assert exported - configured, "the export must leak samples of non-configured points"
    assert exported <= {p["name"] for p in points}


def test_point_timeseries_with_slashes_and_batch(client, simulator):
    expected = simulator.expected_samples(SIMULATOR_SITE, DAY_MS, DAY_MS + 24 * HOUR_MS)
    names = expected["name"].to_pylist()
    name = next(n for n in names if ":" in n and n.count("/") >= 4)
    one = client.get_point_timeseries(name, "2025-10-12", "2025-10-13")["point_samples"]
    assert one and {s["name"] for s in one} == {name}
    assert len(one) == names.count(name)
    assert client.get_point(name)["name"] == name
    other = next(n for n in names if "/n4/" in n)
    both = client.get_points_timeseries([name, other], "2025-10-12", "2025-10-13")["point_samples"]
    assert Counter(s["name"] for s in both) == {name: names.count(name), other: names.count(other)}


def test_deterministic_across_servers_and_seeds(make_simulator):
    a, b, c = make_simulator(), make_simulator(), make_simulator(seed=1)
    params = {
        "start_time": "2025-03-01T10:00:00",
        "end_time": "2025-03-01T10:30:00",
        "page_size": 500,
        "raw_data": "true",
    }
    bodies = [
        _get(h, f"/sites/{SIMULATOR_SITE}/timeseries/paginated", **params).content
        for h in (a, b, c)
    ]
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


def test_window_is_start_inclusive_end_exclusive(simulator):
    sample = (
        simulator.expected_samples(SIMULATOR_SITE, DAY_MS, DAY_MS + HOUR_MS)
        .slice(100, 1)
        .to_pylist()[0]
    )
    path = f"/sites/{SIMULATOR_SITE}/timeseries/paginated"
    t = sample["time"]  # naive with microseconds, e.g. 2025-10-12T00:05:35.123456
    after = (datetime.fromisoformat(t) + timedelta(microseconds=1)).isoformat(
        timespec="microseconds"
    )
    hit = _get(simulator, path, start_time=t, end_time=after, page_size=100, raw_data="True").json()
    assert hit["point_samples"] == [
        {"name": sample["name"], "time": t, "value": sample["value_text"]}
    ]
    assert hit["has_more"] is False and hit["next_cursor"] is None
    before = _get(
        simulator, path, start_time="2025-10-12", end_time=t, page_size=10000, raw_data="True"
    ).json()
    assert before["point_samples"] and all(s["time"] < t for s in before["point_samples"])


def test_lenient_timestamps_and_booleans(simulator):
    path = f"/sites/{SIMULATOR_SITE}/timeseries/paginated"
    forms = [
        ("2025-10-12T00:00:00Z", "2025-10-12T01:00:00Z", "true"),
        ("2025-10-12T00:00:00+00:00", "2025-10-12T01:00:00.000000+00:00", "True"),
        ("2025-10-11T19:00:00-05:00", "2025-10-11T20:00:00-05:00", "1"),
        ("2025-10-12T00:00:00", "2025-10-12 01:00:00", "TRUE"),
    ]
    bodies = [
        _get(simulator, path, start_time=s, end_time=e, raw_data=r, page_size=10000).content
        for s, e, r in forms
    ]
    assert len(set(bodies)) == 1
    day = _get(
        simulator,
        path,
        start_time="2025-10-12",
        end_time="2025-10-12T01:00:00Z",
        raw_data="true",
        page_size=10000,
    )
    assert day.content == bodies[0]


def test_cursor_is_opaque_base64_and_empty_window(simulator):
    path = f"/sites/{SIMULATOR_SITE}/timeseries/paginated"
    first = _get(
        simulator,
        path,
        start_time="2025-10-12",
        end_time="2025-10-13",
        page_size=3,
        raw_data="true",
    ).json()
    assert len(first["point_samples"]) == 3 and first["has_more"] is True
    base64.urlsafe_b64decode(first["next_cursor"] + "==")
    empty = _get(
        simulator,
        path,
        start_time="2025-10-12T05:00:00",
        end_time="2025-10-12T05:00:00",
        page_size=3,
    )
    assert empty.json() == {"point_samples": [], "next_cursor": None, "has_more": False}
    bad = _get(
        simulator,
        path,
        start_time="2025-10-12",
        end_time="2025-10-13",
        page_size=3,
        cursor="not-ours!",
    )
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


def test_aggregated_mode_serves_five_minute_buckets(simulator):
    got = _get(
        simulator,
        f"/sites/{SIMULATOR_SITE}/timeseries/paginated",
        start_time="2025-10-12T00:00:00Z",
        end_time="2025-10-12T01:00:00Z",
        page_size=10000,
        raw_data="false",
    ).json()["point_samples"]
    assert got and all(s["time"][14:16].isdigit() and int(s["time"][14:16]) % 5 == 0 for s in got)
    assert all(s["time"].endswith(":00.000000") for s in got)
    per_point = Counter(s["name"] for s in got)
    assert max(per_point.values()) <= 12


def test_errors_401_400_404(simulator, client):
    no_key = httpx.get(simulator.url + "/sites", timeout=10)
    assert no_key.status_code == 401
    assert no_key.json()["message"] == "Error" and "Bearer" in no_key.json()["detail"]
    with pytest.raises(APIError) as bad_size:
        client.get_site_timeseries_paginated(
            SIMULATOR_SITE, "2025-10-12", "2025-10-13", page_size=30000
        )
    assert bad_size.value.status_code == 400
    assert "30000 is not a valid choice for 'page_size'" in bad_size.value.response_data["detail"]
    with pytest.raises(APIError) as unknown:
        client.get_site_configured_points("no_such_site")
    assert (
        unknown.value.status_code == 404 and "no_such_site" in unknown.value.response_data["detail"]
    )
    path = f"/sites/{SIMULATOR_SITE}/timeseries/paginated"
    bad_time = _get(simulator, path, start_time="yesterday", end_time="2025-10-13", page_size=10)
    assert bad_time.status_code == 400 and "'yesterday'" in bad_time.json()["detail"]
    reversed_ = _get(simulator, path, start_time="2025-10-13", end_time="2025-10-12", page_size=10)
    assert reversed_.status_code == 400 and "after" in reversed_.json()["detail"]
    bad_per_page = _get(simulator, f"/sites/{SIMULATOR_SITE}/points", per_page=25)
    assert bad_per_page.status_code == 400 and "'per_page'" in bad_per_page.json()["detail"]
    body = httpx.post(
        simulator.url + "/points/get_timeseries",
        params={"start_time": "2025-10-12", "end_time": "2025-10-13"},
        json={"point_names": ["x"], "start_time": "2025-10-12"},
        headers={"Authorization": "Bearer k"},
        timeout=10,
    )
    assert body.status_code == 400


def test_no_sample_after_now_and_pinned_clock(simulator, client):
    now_ms = DAY_MS + 6 * HOUR_MS + 17 * 60_000
    simulator.set_now(now_ms)
    got = client.get_site_timeseries_paginated(
        SIMULATOR_SITE,
        "2025-10-12T06:00:00Z",
        "2025-10-12T07:00:00Z",
        page_size=10000,
        raw_data=True,
    )["point_samples"]
    expected = simulator.expected_samples(SIMULATOR_SITE, DAY_MS + 6 * HOUR_MS, now_ms)
    assert len(got) == expected.num_rows > 0
    admin = simulator.root_url + "/_sim/clock"
    assert httpx.get(admin, timeout=10).json() == {"now_ms": now_ms}
    httpx.post(admin, json={"now_ms": None}, timeout=10)
    assert abs(httpx.get(admin, timeout=10).json()["now_ms"] / 1000 - time.time()) < 60
    future = _get(
        simulator,
        f"/sites/{SIMULATOR_SITE}/timeseries/paginated",
        start_time="2099-01-01",
        end_time="2099-01-02",
        page_size=10,
    )
    assert future.json() == {"point_samples": [], "next_cursor": None, "has_more": False}


def test_weather_is_the_latest_reading(client):
    weather = client.get_site_weather(SIMULATOR_SITE)
    assert {"temp", "humidity", "pressure", "wind_speed"} <= set(weather)
    assert isinstance(weather["temp"]["value"], float) and weather["temp"]["name"].endswith(
        "/weather/temp"
    )


def test_concurrent_clients_get_identical_pages(simulator):
    params = {
        "start_time": "2025-10-12T00:00:00Z",
        "end_time": "2025-10-12T12:00:00Z",
        "page_size": 5000,
        "raw_data": "true",
    }

    def pull(_: int) -> list[bytes]:
        bodies, cursor = [], None
        with httpx.Client(headers={"Authorization": "Bearer c"}, timeout=30) as http:
            while True:
                answer = http.get(
                    simulator.url + f"/sites/{SIMULATOR_SITE}/timeseries/paginated",
                    params={**params, **({"cursor": cursor} if cursor else {})},
                )
                bodies.append(answer.content)
                cursor = answer.json()["next_cursor"]
                if not cursor:
                    return bodies

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(pull, range(4)))
    assert all(r == results[0] for r in results[1:]) and len(results[0]) > 3
    served = sum(len(json.loads(b)["point_samples"]) for b in results[0])
    assert (
        served == simulator.expected_samples(SIMULATOR_SITE, DAY_MS, DAY_MS + 12 * HOUR_MS).num_rows
    )


def test_unknown_routes_and_methods_answer_json(simulator):
    auth = {"Authorization": "Bearer k"}
    missing = httpx.get(simulator.url + "/gateways", headers=auth, timeout=10)
    assert missing.status_code == 404 and "/gateways" in missing.json()["detail"]
    wrong = httpx.put(simulator.url + f"/sites/{SIMULATOR_SITE}", headers=auth, timeout=10)
    assert wrong.status_code == 405 and "PUT" in wrong.json()["detail"]
    outside = httpx.get(simulator.root_url + "/sites", headers=auth, timeout=10)
    assert outside.status_code == 404 and "/api" in outside.json()["detail"]
    before_1970 = _get(
        simulator,
        f"/sites/{SIMULATOR_SITE}/timeseries/paginated",
        start_time="1960-01-01",
        end_time="1960-01-02",
        page_size=10,
    )
    assert before_1970.json() == {"point_samples": [], "next_cursor": None, "has_more": False}
