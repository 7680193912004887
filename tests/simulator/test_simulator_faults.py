"""Every simulator fault is observable on the wire, switchable at runtime, and repeatable."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest
from aceiot_models.api.client import APIClient

from ace_simulator.faults import FaultSpecError, parse_faults
from tests.support.simulator import SIMULATOR_SITE

PAGINATED = f"/sites/{SIMULATOR_SITE}/timeseries/paginated"
WINDOW = {
    "start_time": "2025-10-12T00:00:00",
    "end_time": "2025-10-12T01:00:00",
    "page_size": 10000,
    "raw_data": "true",
}


def _get(simulator, path: str = PAGINATED, **params) -> httpx.Response:
    params = {**WINDOW, **params} if path == PAGINATED else params
    return httpx.get(
        simulator.url + path, params=params, headers={"Authorization": "Bearer any"}, timeout=30
    )


def _expected(simulator):
    return simulator.expected_samples(SIMULATOR_SITE, 1_760_227_200_000, 1_760_230_800_000)


def test_rate_limit_is_retried_transparently_by_vendor_client(simulator):
    simulator.set_faults("rate_limit:count=1:retry_after=0")
    client = APIClient(base_url=simulator.url, api_key=simulator.api_key)
    assert client.get_sites()["total"] == 1
    stats = simulator.stats()
    assert stats["requests_by_route_status"] == {"/sites 429": 1, "/sites 200": 1}
    assert stats["faults_fired"] == {"rate_limit": 1}


def test_rate_limit_every_nth_with_retry_after(simulator):
    simulator.set_faults({"rate_limit": {"every": 3, "retry_after": 7}})
    statuses = [_get(simulator, "/sites") for _ in range(6)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "7"
    assert statuses[2].json()["message"] == "Error"
    recent = simulator.stats(window_s=60)
    assert recent["requests_last_window"] == 6 and len(recent["recent_requests"]) == 6
    assert all(r["t"] <= time.time() for r in recent["recent_requests"])


def test_transient_server_errors_then_outage(simulator):
    simulator.set_faults("server_error:count=2:status=502")
    assert [_get(simulator, "/sites").status_code for _ in range(3)] == [502, 502, 200]
    simulator.set_faults("outage")
    assert {_get(simulator, "/sites").status_code for _ in range(4)} == {503}
    simulator.set_faults(None)
    assert _get(simulator, "/sites").status_code == 200


def test_slow_pages_only_hit_sample_endpoints(simulator):
    simulator.set_faults("slow:delay=0.4")
    started = time.perf_counter()
    assert _get(simulator, "/sites").status_code == 200
    assert time.perf_counter() - started < 0.4
    started = time.perf_counter()
    assert _get(simulator).status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_dropped_connection_mid_page(simulator):
    simulator.set_faults("drop:count=1:fraction=0.3")
    with pytest.raises(httpx.RemoteProtocolError):
        _get(simulator)
    whole = _get(simulator)  # the next page is whole
    assert len(whole.json()["point_samples"]) == _expected(simulator).num_rows
    assert simulator.stats()["samples_served"] == _expected(simulator).num_rows


def test_malformed_json_with_200(simulator):
    simulator.set_faults("malformed:count=1")
    broken = _get(simulator)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    assert _get(simulator).json()["has_more"] is False


def test_bad_values_mixed_in(simulator):
    simulator.set_faults("bad_values:p=0.05")
    samples = _get(simulator).json()["point_samples"]
    expected = _expected(simulator)
    assert len(samples) == expected.num_rows
    bad = [
        s["value"]
        for s in samples
        if s["value"] is None or s["value"] in ("NaN", "inf", "-inf", "n/a", "Infinity", "error")
    ]
    assert len(bad) > expected.num_rows * 0.02
    assert None in bad and "NaN" in bad and "inf" in bad and "n/a" in bad


def test_duplicates_inside_a_page(simulator):
    simulator.set_faults("duplicates:p=0.02")
    samples = _get(simulator).json()["point_samples"]
    keys = Counter((s["name"], s["time"]) for s in samples)
    expected = _expected(simulator)
    assert len(keys) == expected.num_rows
    assert sum(c - 1 for c in keys.values()) == len(samples) - expected.num_rows > 0


def test_shuffled_pages(simulator):
    simulator.set_faults("shuffle")
    samples = _get(simulator).json()["point_samples"]
    times = [s["time"] for s in samples]
    assert times != sorted(times)
    expected = _expected(simulator)
    assert sorted(zip(times, (s["name"] for s in samples), strict=False)) == sorted(
        zip(expected["time"].to_pylist(), expected["name"].to_pylist(), strict=False)
    )


def test_case_twin_points(simulator):
    client = APIClient(base_url=simulator.url, api_key=simulator.api_key)
    plain = [
        p["name"] for p in client.get_site_configured_points(SIMULATOR_SITE, per_page=500)["items"]
    ]
    assert len({n.casefold() for n in plain}) == len(plain)
    simulator.set_faults("case_twin")
    twinned = [
        p["name"] for p in client.get_site_configured_points(SIMULATOR_SITE, per_page=500)["items"]
    ]
    folded = Counter(n.casefold() for n in twinned)
    pair = [n for n in twinned if folded[n.casefold()] == 2]
    assert len(twinned) == len(plain) + 1 and len(pair) == 2 and pair[0] != pair[1]
    served = {s["name"] for s in _get(simulator).json()["point_samples"]}
    assert set(pair) <= served


def test_admin_endpoints_switch_faults_at_runtime(simulator):
    admin = simulator.root_url + "/_sim"
    answer = httpx.post(admin + "/faults", json={"server_error": {"count": 1}}, timeout=10)
    assert answer.status_code == 200 and answer.json()["faults"] == {"server_error": {"count": 1}}
    assert _get(simulator, "/sites").status_code == 503
    assert httpx.get(admin + "/faults", timeout=10).json()["server_error"]["fired"] == 1
    rejected = httpx.post(admin + "/faults", json={"spec": "meteor_strike"}, timeout=10)
    assert rejected.status_code == 400 and "meteor_strike" in rejected.json()["detail"]
    stats = httpx.get(admin + "/stats", timeout=10).json()
    assert stats["requests_by_status"] == {"503": 1} and stats["requests_total"] == 1
    assert httpx.post(admin + "/reset", timeout=10).status_code == 200
    assert httpx.get(admin + "/stats", timeout=10).json()["requests_total"] == 0
    assert _get(simulator, "/sites").status_code == 200


def test_faults_are_repeatable(make_simulator):
    bodies = []
    for _ in range(2):
        handle = make_simulator(
            faults="bad_values:p=0.03,duplicates:p=0.01,shuffle,rate_limit:p=0.3"
        )
        bodies.append([_get(handle).content for _ in range(5)])
    assert bodies[0] == bodies[1]
    assert any(b.startswith(b'{"message"') for b in bodies[0])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("teleport", "unknown fault 'teleport'"),
        ("rate_limit:every=0", "every=0"),
        ("bad_values:p=2", "between 0 and 1"),
        ("server_error:status=404", "5xx"),
        ("slow:delay", "key=value"),
        ("shuffle:p=0.5", "no parameter 'p'"),
    ],
)
def test_fault_spec_errors_name_the_bad_part(spec, message):
    with pytest.raises(FaultSpecError, match=message):
        parse_faults(spec)


def test_a_slow_request_from_before_a_reset_is_not_counted_after_it(simulator):
    simulator.set_faults("slow:delay=0.6")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(
            simulator.url + PAGINATED,
            params=WINDOW,
            headers={"Authorization": "Bearer a"},
            timeout=0.2,
        )
    simulator.reset()
    time.sleep(0.8)  # the abandoned request finishes on the server meanwhile
    assert simulator.stats()["requests_total"] == 0
