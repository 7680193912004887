"""ACE client protocol: paging, windows, validation (an httpx.MockTransport fake of ACE).

The fake stands in for the vendor's server (which we do not own); it records every
request so tests can assert what the client really sent. Integration with the real
simulator over loopback is in test_ace_client_simulator.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from resources.ace import AceApiResource
from vitals.ace.client import AceConfigError, AcePoint
from vitals.ace.http import AceApiError, AceSiteNotFoundError
from vitals.ace.pages import VALID_PAGE_SIZES, VALID_PER_PAGE
from vitals.ace.plan import plan_pull
from vitals.names import InvalidNameError
from vitals.samples import ms_to_iso, parse_ts_ms

KEY = "sk-test-SECRET-4242"
BASE = "http://ace.test/api"
START = parse_ts_ms("2025-10-12T00:00:00Z")
HOUR = 3_600_000

Responder = Callable[[httpx.Request], httpx.Response]


def sample(name: str, ms: int, value: object = "1.0", *, micros: int = 0) -> dict:
    return {"name": name, "time": ms_to_iso(ms)[:-1] + f"{micros:03d}", "value": value}


class FakeAce:
    """A small honest fake of ACE's API: sites, configured points, cursor export."""

    def __init__(
        self,
        samples: list[dict] | None = None,
        *,
        sites: list[str] | None = None,
        points: list[object] | None = None,
        start_exclusive: bool = False,
    ) -> None:
        self.samples = samples or []
        self.sites = sites if sites is not None else ["acme_hq"]
        self.points = (
            points
            if points is not None
            else [
                {
                    "id": 1,
                    "name": "acme/acme_hq/AHU1/SAT",
                    "point_type": "bacnet",
                    "collect_enabled": True,
                    "collect_interval": 300,
                    "created": "2025-01-01T00:00:00Z",
                    "updated": "2025-02-01T00:00:00Z",
                },
            ]
        )
        self.start_exclusive = start_exclusive
        self.requests: list[httpx.Request] = []
        self.request_times: list[float] = []
        self.script: list[Responder] = []  # one-shot answers for the next requests
        self.cursor_override: Callable[[int], str | None] | None = None
        self.omit_pages = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def queue(self, *responders: Responder) -> None:
        self.script.extend(responders)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.request_times.append(time.time())
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json={"message": "JWT Signature Invalid"})
        if self.script:
            return self.script.pop(0)(request)
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].split("/")]
        parts = parts[2:]  # drop "" and "api"
        if parts == ["sites"]:
            return self._envelope(request, [{"name": s} for s in self.sites])
        if len(parts) >= 3 and parts[0] == "sites" and parts[1] not in self.sites:
            return httpx.Response(404, json={"detail": "Site not found."})
        if parts[2:] == ["configured_points"]:
            return self._envelope(request, self.points)
        if parts[2:] == ["timeseries", "paginated"]:
            return self._export(request)
        return httpx.Response(404, json={"detail": "no route"})

    def _envelope(self, request: httpx.Request, items: list) -> httpx.Response:
        page = int(request.url.params["page"])
        per_page = int(request.url.params["per_page"])
        if per_page not in VALID_PER_PAGE:
            return httpx.Response(400, json={"detail": "bad per_page"})
        pages = max(1, -(-len(items) // per_page))
        body = {
            "page": page,
            "per_page": per_page,
            "total": len(items),
            "items": items[(page - 1) * per_page : page * per_page],
        }
        if not self.omit_pages:
            body["pages"] = pages
        return httpx.Response(200, json=body)

    def _export(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        size = int(params["page_size"])
        if size not in VALID_PAGE_SIZES:
            detail = f"{size} is not a valid choice for 'page_size'"
            return httpx.Response(400, json={"detail": detail})
        lo, hi = parse_ts_ms(params["start_time"]), parse_ts_ms(params["end_time"])
        inside = [s for s in self.samples if self._inside(s["time"], lo, hi)]
        cursor_in = params.get("cursor", "0")
        offset = int(cursor_in) if cursor_in.isdigit() else 0
        page = inside[offset : offset + size]
        more = offset + size < len(inside)
        cursor = str(offset + size) if more else None
        if self.cursor_override is not None:
            cursor, more = self.cursor_override(offset), True
        return httpx.Response(
            200, json={"point_samples": page, "has_more": more, "next_cursor": cursor}
        )

    def _inside(self, time_text: str, lo: int, hi: int) -> bool:
        try:
            ms = parse_ts_ms(time_text)
        except ValueError:
            return True  # the fake serves unreadable times too, like a sloppy server
        return (lo < ms if self.start_exclusive else lo <= ms) and ms <= hi

    def export_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/paginated")]


def make_ace(tmp_path: Path, fake: FakeAce, **overrides) -> AceApiResource:
    settings = dict(
        requests_per_minute=6000,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        breaker_cooldown_seconds=0.3,
        page_size=100,
    )
    settings.update(overrides)
    resource = AceApiResource(
        base_url=BASE, api_key=KEY, state_dir=str(tmp_path / "state"), **settings
    )
    return resource.with_transport(fake.transport())


def test_window_follows_the_cursor_and_keeps_values_as_received(tmp_path):
    values = ["72.5", 72.5, 7, True, None, "NaN"]
    samples = [sample(f"p{i % 5}", START + i * 1000, values[i % 6]) for i in range(250)]
    fake = FakeAce(samples)
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 250
    assert pull.table.column("value").to_pylist()[:6] == ["72.5", "72.5", "7", "true", None, "NaN"]
    assert pull.table.column("time").to_pylist() == [s["time"] for s in samples]
    sent = fake.export_requests()
    assert len(sent) == 3 and pull.stats.pages == 3 and pull.stats.requests == 3
    assert pull.stats.samples_received == 250 and pull.stats.retries == 0
    first = sent[0].url.params
    assert dict(first) == {
        "start_time": ms_to_iso(START - 1),
        "end_time": ms_to_iso(START + HOUR),
        "page_size": "100",
        "raw_data": "True",
    }
    assert [r.url.params.get("cursor") for r in sent] == [None, "100", "200"]
    assert all(r.url.params["start_time"] == first["start_time"] for r in sent)


def test_window_is_half_open_even_if_ace_excludes_its_start(tmp_path):
    samples = [
        sample("p", START - 1),
        sample("p", START),  # exactly the start: kept although this server excludes its start
        sample("p", START + HOUR - 1, micros=999),
        sample("p", START + HOUR),  # exactly the end: dropped client-side
        {"name": "p", "time": "not a time", "value": "1"},  # kept: the parse step counts it
    ]
    fake = FakeAce(samples, start_exclusive=True)
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.column("time").to_pylist() == [
        samples[1]["time"],
        samples[2]["time"],
        "not a time",
    ]
    assert pull.stats.samples_outside_window == 1  # START - 1 arrives (asked from 1 ms early)


def test_an_empty_window_is_one_request(tmp_path):
    fake = FakeAce([])
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 0 and pull.stats.requests == 1


def test_long_windows_are_pulled_in_planned_sub_windows(tmp_path):
    samples = [sample("p", START + i * 600_000) for i in range(144)]  # a day, every 10 min
    fake = FakeAce(samples)
    ace = make_ace(tmp_path, fake)
    # A catalogue of 16.5 samples/h and pages of 100: sub-windows of 6 h (just under a page).
    plan = plan_pull(START, START + 24 * HOUR, [240, 2400], page_size=100, pages_per_window=1)
    pulls = [ace.fetch_site_window("acme_hq", lo, hi) for lo, hi in plan.windows]
    assert sum(p.table.num_rows for p in pulls) == 144 and len(plan.windows) == 4
    firsts = [r.url.params for r in fake.export_requests() if "cursor" not in r.url.params]
    assert [(p["start_time"], p["end_time"]) for p in firsts] == [
        (ms_to_iso(START + k * 6 * HOUR - 1), ms_to_iso(START + (k + 1) * 6 * HOUR))
        for k in range(4)
    ]
    # 12.375 samples/h: sub-windows of 8 h.
    plan = plan_pull(START, START + 24 * HOUR, [300, 9600], page_size=100, pages_per_window=1)
    chunks = [ace.fetch_site_window("acme_hq", lo, hi) for lo, hi in plan.windows]
    assert [c.table.num_rows for c in chunks] == [48, 48, 48]
    assert [(c.start_ms, c.end_ms) for c in chunks][-1] == (START + 16 * HOUR, START + 24 * HOUR)


def test_a_repeating_cursor_is_an_error_not_an_endless_loop(tmp_path):
    fake = FakeAce([sample("p", START)])
    fake.cursor_override = lambda offset: "same-cursor"
    with pytest.raises(
        AceApiError,
        match=r"site 'acme_hq' window \[2025-10-12T00:00:00.000Z, "
        r"2025-10-12T01:00:00.000Z\).*cursor repeated",
    ):
        make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert len(fake.export_requests()) == 2


def test_too_many_pages_is_an_error(tmp_path):
    fake = FakeAce([sample("p", START)])
    fake.cursor_override = lambda offset: f"c{len(fake.requests)}"
    with pytest.raises(AceApiError, match="more than 4 pages; stopping"):
        make_ace(tmp_path, fake, max_pages=4).fetch_site_window("acme_hq", START, START + HOUR)
    assert len(fake.export_requests()) == 4


def test_has_more_without_a_cursor_is_an_error(tmp_path):
    fake = FakeAce([sample("p", START)])
    fake.cursor_override = lambda offset: None
    with pytest.raises(AceApiError, match="has_more but gives no next_cursor"):
        make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)


def test_list_sites_pages_through_the_envelope_and_skips_unsafe_names(tmp_path):
    sites = [f"site-{i:02d}" for i in range(25)] + ["../etc", "a/b"]
    fake = FakeAce(sites=sites)
    names = make_ace(tmp_path, fake, per_page=10).list_sites()
    assert names == sites[:25]
    assert [r.url.params["page"] for r in fake.requests] == ["1", "2", "3"]


def test_configured_points_become_records_and_bad_items_are_skipped(tmp_path):
    points = [
        {
            "id": 7,
            "name": "acme/acme_hq/2000:43-2043/analogValue/6",
            "point_type": "bacnet",
            "collect_enabled": True,
            "collect_interval": 300,
            "created": "2025-01-01T00:00:00Z",
            "updated": "2025-02-01T00:00:00Z",
        },
        {"id": "x", "name": "VAV-707-DaTemp"},
        {"id": 9, "name": ""},
        {"name": None},
        "junk",
    ]
    fake = FakeAce(points=points)
    got = make_ace(tmp_path, fake).fetch_configured_points("acme_hq")
    assert got == [
        AcePoint(
            "acme/acme_hq/2000:43-2043/analogValue/6",
            7,
            "bacnet",
            True,
            300,
            "2025-01-01T00:00:00Z",
            "2025-02-01T00:00:00Z",
        ),
        AcePoint("VAV-707-DaTemp", None, None, True, None, None, None),
    ]
    assert fake.requests[0].url.path == "/api/sites/acme_hq/configured_points"


def test_an_envelope_claiming_too_many_pages_is_refused(tmp_path):
    fake = FakeAce(sites=[f"s{i}" for i in range(50)])
    with pytest.raises(AceApiError, match="ACE reports 5 pages, more than max_pages=3"):
        make_ace(tmp_path, fake, per_page=10, max_pages=3).list_sites()
    assert len(fake.requests) == 1


def test_an_envelope_without_pages_is_read_as_one_page(tmp_path):
    fake = FakeAce(sites=[f"s{i}" for i in range(15)])
    fake.omit_pages = True
    assert make_ace(tmp_path, fake, per_page=10).list_sites() == [f"s{i}" for i in range(10)]


def test_an_unknown_site_names_the_site(tmp_path):
    fake = FakeAce()
    ace = make_ace(tmp_path, fake)
    with pytest.raises(AceSiteNotFoundError, match="ACE does not know site 'nowhere'") as info:
        ace.fetch_configured_points("nowhere")
    assert info.value.status == 404 and info.value.site == "nowhere"
    with pytest.raises(AceSiteNotFoundError, match=r"site 'nowhere' window \[2025-10-12"):
        ace.fetch_site_window("nowhere", START, START + HOUR)


@pytest.mark.parametrize(
    "site", ["../x", "a/b", "a\x00b", "a\nb", "", "..", ".hidden", "a b", "a%2Fb", "a\\b"]
)
def test_hostile_site_names_are_refused_before_any_request(tmp_path, site):
    fake = FakeAce()
    ace = make_ace(tmp_path, fake)
    with pytest.raises(InvalidNameError, match="site name"):
        ace.fetch_site_window(site, START, START + HOUR)
    with pytest.raises(InvalidNameError, match="site name"):
        ace.fetch_configured_points(site)
    with pytest.raises(InvalidNameError, match="site name"):
        for lo, hi in plan_pull(START, START + HOUR, [300]).windows:  # raises on the first
            ace.fetch_site_window(site, lo, hi)
    assert fake.requests == []


def test_a_missing_api_key_is_a_clear_error_before_any_request(tmp_path):
    fake = FakeAce()
    ace = AceApiResource(base_url=BASE, api_key="", state_dir=str(tmp_path)).with_transport(
        fake.transport()
    )
    with pytest.raises(AceConfigError, match="ACE API key is missing: set ACE_API_KEY"):
        ace.list_sites()
    assert fake.requests == []


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"page_size": 30000}, "page_size 30000 is not one ACE accepts"),
        ({"per_page": 25}, "per_page 25 is not one ACE accepts"),
        ({"requests_per_minute": 0}, "requests_per_minute must be positive"),
    ],
)
def test_settings_ace_would_refuse_are_caught_locally(tmp_path, overrides, message):
    fake = FakeAce()
    with pytest.raises(AceConfigError, match=message):
        make_ace(tmp_path, fake, **overrides).fetch_site_window("acme_hq", START, START + HOUR)
    assert fake.requests == []


@pytest.mark.parametrize("start, end", [(START, START), (START + 1, START), (1.5, START)])
def test_bad_windows_are_refused(tmp_path, start, end):
    with pytest.raises(ValueError, match="site 'acme_hq'"):
        make_ace(tmp_path, FakeAce()).fetch_site_window("acme_hq", start, end)


def test_the_api_key_is_rejected_without_being_echoed(tmp_path):
    fake = FakeAce()
    ace = AceApiResource(
        base_url=BASE, api_key="wrong-key-XYZ", state_dir=str(tmp_path), page_size=100
    ).with_transport(fake.transport())
    with pytest.raises(AceApiError, match="HTTP 401, the API key was rejected") as info:
        ace.fetch_site_window("acme_hq", START, START + HOUR)
    assert "wrong-key-XYZ" not in str(info.value)
    assert "wrong-key-XYZ" not in repr(ace) and "api_key='***'" in repr(ace)
