"""Cache hits skip parsing and planning only while nothing they depend on has changed.

Over a real site (SQLite hot store, Parquet day files, a catalogue snapshot with the
site's time zone) and the real app: repeated requests reuse their parse and plan, and
each change a plan depends on (a point added by another writer, a case twin making a
loose name ambiguous, the site's time zone) reaches the next answer.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support.api_site import ApiSite, make_client
from tests.support.query_data import QuerySite
from vitals.ace.client import AcePoint
from vitals.api.params import query_from_query_string
from vitals.cold.catalogue import store_catalogue
from vitals.hot.store import HotStore
from vitals.query import point_meta
from vitals.samples import day_bounds_ms

SITE = "bldg_m"
SAT, RAT = "AHU-1/SAT", "AHU-1/RAT"
DAY = date(2026, 11, 2)


@pytest.fixture
def site(tmp_path) -> ApiSite:
    data = QuerySite(tmp_path, SITE, [SAT, RAT])
    store_catalogue(data.cold.store, SITE, [AcePoint(SAT), AcePoint(RAT)], timezone="UTC")
    start, end = day_bounds_ms(DAY)
    data.put_cold_day(
        DAY,
        [(n, ts, float(i)) for i, n in enumerate((SAT, RAT)) for ts in range(start, end, 300_000)],
    )
    return ApiSite(tmp_path, data, DAY + timedelta(days=30), (DAY,), DAY, ())


def _get(client, **params):
    start, end = day_bounds_ms(DAY)
    return client.get("/v1/timeseries", params={"site": SITE, "start": start, "end": end, **params})


def test_a_repeated_request_reuses_its_plan_and_answers_the_same(site) -> None:
    client = make_client(site)
    state = client.app.state.vitals
    assert state.plan_on_loop  # a SQLite hot store and a folder cold store
    first = _get(client, points="ahu-1/sat", interval="1h")
    again = _get(client, points="ahu-1/sat", interval="1h")
    assert first.status_code == again.status_code == 200
    assert again.headers["X-Cache-Source"] == "memory" and again.content == first.content
    assert state.plans.reused >= 1
    assert first.json()["series"][0]["point"] == SAT


def test_a_point_added_by_another_writer_is_answered_at_once(site) -> None:
    client = make_client(site)
    assert _get(client, points="CHW-1/Flow").status_code == 404
    HotStore(str(site.root / "hot.sqlite")).upsert_points(SITE, [AcePoint("CHW-1/Flow")])
    answer = _get(client, points="chw-1/flow")
    assert answer.status_code == 200 and answer.json()["series"][0]["point"] == "CHW-1/Flow"


def test_a_case_twin_added_elsewhere_turns_a_cached_loose_name_into_a_409(site) -> None:
    client = make_client(site)
    for _ in range(2):  # computed, then a cache hit on a kept plan
        answer = _get(client, points="Ahu-1/Sat", interval="1h")
        assert answer.status_code == 200 and answer.json()["series"][0]["point"] == SAT
    HotStore(str(site.root / "hot.sqlite")).upsert_points(SITE, [AcePoint("ahu-1/sat")])
    refused = _get(client, points="Ahu-1/Sat", interval="1h")
    assert refused.status_code == 409, refused.text
    assert "'AHU-1/SAT'" in refused.json()["detail"] and "'ahu-1/sat'" in refused.json()["detail"]
    exact = _get(client, points="ahu-1/sat", interval="1h")
    assert exact.status_code == 200 and exact.json()["series"][0]["point"] == "ahu-1/sat"


def test_a_new_site_time_zone_reaches_the_next_plan(site, monkeypatch) -> None:
    monkeypatch.setattr(point_meta, "SNAPSHOT_TTL_S", 0.0)  # re-check the snapshot each plan
    client = make_client(site)
    utc = _get(client, points=SAT, interval="1d", tz="site")
    assert utc.status_code == 200 and "tz" not in utc.json()  # the plain UTC answer
    assert utc.json()["series"][0]["t"][0] == day_bounds_ms(DAY)[0]
    store_catalogue(
        site.data.cold.store, SITE, [AcePoint(SAT), AcePoint(RAT)], timezone="America/Chicago"
    )
    local = _get(client, points=SAT, interval="1d", tz="site")
    assert local.status_code == 200, local.text
    assert local.json()["tz"] == "America/Chicago" and local.json()["tz_source"] == "ace"
    assert local.json()["series"][0]["t"][0] != day_bounds_ms(DAY)[0]  # local midnights


def test_parsing_is_remembered_per_query_string_and_accept_but_refusals_are_not(site) -> None:
    client = make_client(site)
    as_json = _get(client, points=SAT, interval="1h")
    as_csv = client.get(
        "/v1/timeseries",
        params={
            "site": SITE,
            "points": SAT,
            "interval": "1h",
            "start": day_bounds_ms(DAY)[0],
            "end": day_bounds_ms(DAY)[1],
        },
        headers={"Accept": "text/csv"},
    )
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_csv.headers["content-type"].startswith("text/csv")
    for _ in range(2):
        bad = _get(client, points=SAT, interval="7q")
        assert bad.status_code == 400
    before = query_from_query_string.cache_info().currsize
    _get(client, points=SAT, interval="7q")
    assert query_from_query_string.cache_info().currsize == before  # refusals not kept
