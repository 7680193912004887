"""ACE client against the real ACE simulator over loopback HTTP (no fakes).

Covers: sites and configured points, a window's samples equal to what the simulator
serves, faults (429 storm with Retry-After, 5xx burst, dropped connection, malformed
JSON) completing with the same data, a persistent outage opening the shared breaker
and recovering, two processes sharing one state folder staying inside the limit, and
the resource built the Dagster way (``dg.EnvVar``).
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import dagster as dg
import pytest

from resources.ace import AceApiResource
from vitals.ace.client import budget_key
from vitals.ace.http import AceSiteNotFoundError, CircuitOpenError
from vitals.ace.parse import raw_to_samples
from vitals.samples import parse_ts_ms

SITE = "acme_hq"
START = parse_ts_ms("2025-10-12T00:00:00Z")
END = START + 2 * 3_600_000  # ~4,100 samples for the 120-point test building


def make_ace(simulator, state_dir: Path, **overrides) -> AceApiResource:
    settings = dict(
        requests_per_minute=6000,
        page_size=500,
        backoff_base_seconds=0.02,
        backoff_max_seconds=0.1,
        breaker_cooldown_seconds=0.5,
    )
    settings.update(overrides)
    return AceApiResource(
        base_url=simulator.url, api_key=simulator.api_key, state_dir=str(state_dir), **settings
    )


def assert_pull_is_what_was_served(simulator, pull) -> None:
    expected = simulator.expected_samples(SITE, START, END)
    assert pull.table.num_rows == expected.num_rows > 3000
    assert pull.table.column("name").to_pylist() == expected.column("name").to_pylist()
    assert pull.table.column("time").to_pylist() == expected.column("time").to_pylist()
    assert pull.table.column("value").to_pylist() == expected.column("value_text").to_pylist()
    parsed = raw_to_samples(pull.table)
    assert parsed.dropped == 0
    assert parsed.table.column("ts").to_pylist() == expected.column("ts_ms").to_pylist()
    assert parsed.table.column("value").to_pylist() == expected.column("value").to_pylist()


def test_sites_and_configured_points_match_the_simulator(simulator, tmp_path):
    ace = make_ace(simulator, tmp_path, per_page=50)
    assert ace.list_sites() == simulator.site_names == [SITE]
    points = ace.fetch_configured_points(SITE)
    listed = simulator.building.listed_points(SITE, configured_only=True)
    assert [p.name for p in points] == [p.name for p in listed]
    assert all(p.collect_enabled and p.point_id is not None and p.updated for p in points)
    assert simulator.stats()["requests_by_route"]  # the calls really went over HTTP
    with pytest.raises(AceSiteNotFoundError, match="ACE does not know site 'no_such_site'"):
        ace.fetch_configured_points("no_such_site")


def test_a_window_is_exactly_what_the_simulator_served(simulator, tmp_path):
    pull = make_ace(simulator, tmp_path).fetch_site_window(SITE, START, END)
    assert_pull_is_what_was_served(simulator, pull)
    assert pull.stats.pages == simulator.stats()["sample_pages_served"] >= 8
    assert pull.stats.retries == 0


@pytest.mark.parametrize(
    "faults",
    [
        "rate_limit:count=3:retry_after=0.2",
        "server_error:count=3",
        "server_error:count=2:status=502",
        "drop:count=2",
        "malformed:count=2",
        "slow:delay=0.05,rate_limit:every=4:retry_after=0.1,drop:count=1,malformed:count=1",
    ],
)
def test_faults_are_ridden_out_and_the_data_is_complete(simulator, tmp_path, faults):
    simulator.set_faults(faults)
    pull = make_ace(simulator, tmp_path).fetch_site_window(SITE, START, END)
    assert_pull_is_what_was_served(simulator, pull)
    assert simulator.stats()["faults_fired"]
    assert pull.stats.retries >= 1
    assert pull.stats.requests == pull.stats.pages + pull.stats.retries


def test_a_page_slower_than_the_timeout_is_retried(make_simulator, tmp_path):
    # Its own simulator: the abandoned slow answer completes later and must not land in
    # the shared simulator's stats of the next test.
    simulator = make_simulator(faults="slow:delay=1.5:count=1")
    pull = make_ace(simulator, tmp_path, timeout_seconds=0.5).fetch_site_window(SITE, START, END)
    assert_pull_is_what_was_served(simulator, pull)
    assert pull.stats.retries == 1


def test_a_429_storm_honours_retry_after(simulator, tmp_path):
    simulator.set_faults("rate_limit:count=3:retry_after=0.3")
    pull = make_ace(simulator, tmp_path).fetch_site_window(SITE, START, END)
    assert pull.stats.retries == 3 and pull.stats.throttled_429 == 3
    assert pull.stats.retry_wait_seconds == pytest.approx(0.9)
    statuses = [r["status"] for r in simulator.stats()["recent_requests"]]
    assert statuses[:4] == [429, 429, 429, 200]


def test_a_persistent_outage_opens_the_breaker_and_it_recovers(simulator, tmp_path):
    simulator.set_faults("outage")
    ace = make_ace(simulator, tmp_path, breaker_failure_threshold=3, breaker_cooldown_seconds=1.0)
    with pytest.raises(CircuitOpenError, match=r"site 'acme_hq' window \[2025-10-12T00:00:00.000Z"):
        ace.fetch_site_window(SITE, START, END)
    assert simulator.stats()["requests_total"] == 3
    with pytest.raises(CircuitOpenError):
        ace.fetch_configured_points(SITE)  # fails fast: nothing sent
    assert simulator.stats()["requests_total"] == 3
    simulator.set_faults(None)
    time.sleep(1.05)
    assert_pull_is_what_was_served(simulator, ace.fetch_site_window(SITE, START, END))


def _pull_in_process(url: str, key: str, state_dir: str, out) -> None:
    ace = AceApiResource(
        base_url=url,
        api_key=key,
        state_dir=state_dir,
        requests_per_minute=8,
        rate_limit_window_seconds=1.5,
        page_size=500,
    )
    pull = ace.fetch_site_window(SITE, START, END)
    out.put((pull.table.num_rows, pull.stats.requests, pull.stats.throttle_waits))


def test_two_processes_sharing_a_state_folder_stay_within_the_limit(simulator, tmp_path):
    """8 requests per 1.5 s shared by two processes of 9 pages each (~3 s bounded run)."""
    ctx = multiprocessing.get_context("fork")  # Linux default; spawn re-imports Dagster (~10 s)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=_pull_in_process, args=(simulator.url, simulator.api_key, str(tmp_path), out)
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    expected_rows = simulator.expected_samples(SITE, START, END).num_rows
    assert [rows for rows, _, _ in results] == [expected_rows, expected_rows]
    total_requests = sum(requests for _, requests, _ in results)
    assert sum(waits for _, _, waits in results) >= 1
    stamps = sorted(r["t"] for r in simulator.stats()["recent_requests"])
    assert len(stamps) == total_requests >= 16
    # As the server saw them: no window holds more than the limit. The server stamps a
    # request when it answers, so allow 0.3 s of grant-to-answer jitter.
    for i, first in enumerate(stamps):
        assert sum(1 for t in stamps[i:] if t < first + 1.5 - 0.3) <= 8
    assert stamps[-1] - stamps[0] >= 1.5


def _spellings(url: str) -> tuple[str, str]:
    """One loopback API as two hosts may configure it: host case differs, a trailing /."""
    assert url.startswith("http://127.0.0.1:")
    rest = url.removeprefix("http://127.0.0.1")
    return f"http://localhost{rest}", f"http://LocalHost{rest}/"


def test_two_spellings_of_one_api_url_share_one_budget(simulator, tmp_path):
    """8 requests per 1.5 s: a second client spelling the URL differently waits its turn."""
    stats_before = len(simulator.stats()["recent_requests"])
    budgets = []
    for url in _spellings(simulator.url):
        ace = AceApiResource(
            base_url=url,
            api_key=simulator.api_key,
            state_dir=str(tmp_path),
            requests_per_minute=8,
            rate_limit_window_seconds=1.5,
            page_size=500,
        )
        pull = ace.fetch_site_window(SITE, START, END)
        budgets.append(pull.stats.throttle_waits)
    stamps = sorted(r["t"] for r in simulator.stats()["recent_requests"][stats_before:])
    assert len(stamps) >= 16
    # As the server saw them: no window holds more than one budget's limit.
    for i, first in enumerate(stamps):
        assert sum(1 for t in stamps[i:] if t < first + 1.5 - 0.3) <= 8
    assert budgets[1] >= 1  # the second spelling was throttled by the first one's requests


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://flightdeck.aceiot.cloud/api", "https://flightdeck.aceiot.cloud/api"),
        ("https://FlightDeck.AceIoT.cloud:443/api//", "https://flightdeck.aceiot.cloud/api"),
        ("http://10.0.0.5:80/api/", "http://10.0.0.5/api"),
        ("http://10.0.0.5:8765/api", "http://10.0.0.5:8765/api"),
        ("https://h.example/API", "https://h.example/API"),  # a path keeps its case
    ],
)
def test_budget_key_names_one_budget_per_api(url: str, key: str) -> None:
    assert budget_key(url) == key


def test_the_resource_works_built_the_dagster_way(simulator, tmp_path, monkeypatch):
    monkeypatch.setenv("ACE_API_KEY", simulator.api_key)

    @dg.asset
    def site_points(ace: AceApiResource) -> dg.MaterializeResult:
        pull = ace.fetch_site_window(SITE, START, START + 600_000)
        return dg.MaterializeResult(
            metadata={
                "points": len(ace.fetch_configured_points(SITE)),
                "rows": pull.table.num_rows,
                "requests": pull.stats.requests,
            }
        )

    resource = AceApiResource(
        base_url=simulator.url,
        api_key=dg.EnvVar("ACE_API_KEY"),
        requests_per_minute=600,
        state_dir=str(tmp_path),
    )
    result = dg.materialize([site_points], resources={"ace": resource})
    assert result.success
    metadata = result.asset_materializations_for_node("site_points")[0].metadata
    listed = simulator.building.listed_points(SITE, configured_only=True)
    assert metadata["points"].value == len(listed)
    expected = simulator.expected_samples(SITE, START, START + 600_000)
    assert metadata["rows"].value == expected.num_rows
    assert metadata["requests"].value == 1
