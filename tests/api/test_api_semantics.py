"""The HTTP API's building-data additions: tz, modes, units, M4, quality, tags in search.

Over a real site (SQLite hot store, Parquet day files and rollups, a catalogue snapshot
with ACE tags and the site record's time zone, a stored quality day) and the real app.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from tests.support.api_site import ApiSite, make_client
from tests.support.query_data import QuerySite
from vitals.ace.client import AcePoint
from vitals.cold.catalogue import store_catalogue
from vitals.quality.build import build_quality_day
from vitals.samples import day_bounds_ms

SITE = "bldg_q"
SAT, FAN, KWH, SP, DEAD = (
    "AHU-1/SAT",
    "AHU-1/Fan Status",
    "Main/kWh",
    "AHU-1/SAT_SP",
    "VAV-9/ZoneTemp",
)
DAYS = [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]  # US DST ends Nov 1


def _points() -> list[AcePoint]:
    return [
        AcePoint(
            SAT,
            collect_interval=300,
            marker_tags=("ahu", "his", "point", "sensor"),
            kv_tags=(("equip", "AHU-1"), ("kind", "sat")),
            object_units="degreesFahrenheit",
        ),
        AcePoint(
            FAN,
            collect_interval=300,
            marker_tags=("binary", "point", "sensor"),
            kv_tags=(("equip", "AHU-1"),),
        ),
        AcePoint(
            KWH,
            collect_interval=300,
            marker_tags=("meter", "point"),
            kv_tags=(("hisMode", "consumption"), ("unit", "kWh")),
        ),
        AcePoint(SP, collect_interval=300, marker_tags=("point", "sp"), kv_tags=(("unit", "°F"),)),
        AcePoint(
            DEAD, collect_interval=300, marker_tags=("point", "sensor"), kv_tags=(("unit", "°F"),)
        ),
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> ApiSite:
    root = tmp_path_factory.mktemp("semantics")
    data = QuerySite(root, SITE, [SAT, FAN, KWH, SP, DEAD])
    store_catalogue(data.cold.store, SITE, _points(), timezone="America/Chicago")
    reading = 0.0
    for day in DAYS:
        start, end = day_bounds_ms(day)
        rows = []
        for i, ts in enumerate(range(start + 7_000, end, 300_000)):
            rows.append((SAT, ts, 55.0 + (i % 12)))
            rows.append((FAN, ts, float(6 <= (i // 12) % 24 < 18)))
            reading += 0.5
            rows.append((KWH, ts, reading))
            rows.append((SP, ts, 55.0))
            if day == DAYS[0] and i < 100:
                rows.append((DEAD, ts, 71.0))
        data.put_cold_day(day, rows)
        data.rollup_day(day)
    data.compact_month(DAYS[0])
    data.compact_month(DAYS[1])
    for day in DAYS:
        build_quality_day(data.cold.store, data.hot, SITE, day)
    return ApiSite(root, data, DAYS[-1] + timedelta(days=60), tuple(DAYS), DAYS[0], ())


@pytest.fixture
def client(site):
    with make_client(site) as c:
        yield c


def _ts(client, **params):
    return client.get("/v1/timeseries", params={"site": SITE, **params})


def test_point_search_shows_tags_units_modes_and_quality(client):
    body = client.get(f"/v1/sites/{SITE}/points").json()
    points = {p["name"]: p for p in body["points"]}
    assert body["quality_day"] == "2026-11-02"
    assert points[SAT]["unit"] == "°F" and points[SAT]["equipment"] == "AHU-1"
    assert points[SAT]["kind"] == "sat" and points[SAT]["history_mode"] == "sampled"
    assert (points[FAN]["history_mode"], points[FAN]["history_mode_source"]) == ("binary", "tags")
    assert points[KWH]["history_mode"] == "consumption" and points[KWH]["unit"] == "kWh"
    assert points[DEAD]["quality"]["stale"] is True
    stale = client.get(f"/v1/sites/{SITE}/points", params={"stale": "true"}).json()
    assert [p["name"] for p in stale["points"]] == [DEAD]
    stuck = client.get(f"/v1/sites/{SITE}/points", params={"stuck": "true"}).json()
    assert [p["name"] for p in stuck["points"]] == []  # the flat setpoint is a setpoint
    assert client.get(f"/v1/sites/{SITE}/points", params={"stale": "maybe"}).status_code == 400


def test_local_days_in_the_site_zone_have_25_hours_at_the_dst_end(client):
    start, _ = day_bounds_ms(DAYS[0])
    _, end = day_bounds_ms(DAYS[2])
    answer = _ts(
        client, points=SAT, start=start, end=end, interval="1d", agg="avg,count", tz="site"
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["tz"], body["tz_source"]) == ("America/Chicago", "ace")
    t = body["series"][0]["t"]
    lengths = [b - a for a, b in itertools.pairwise(t)]
    assert 25 * 3_600_000 in lengths  # local Nov 1 2026
    assert (
        answer.headers["X-Vitals-Tiers"].startswith("rollup")
        or "rollup" in answer.headers["X-Vitals-Tiers"]
    )
    counts = body["series"][0]["count"]
    assert counts[t.index(t[0] + lengths[0])] in (288, 300)  # full local days: 24 h or 25 h


def test_modes_give_the_right_aggregates(client):
    start, end = day_bounds_ms(DAYS[1])
    body = _ts(
        client,
        points=[FAN, KWH],
        start=start,
        end=end,
        interval="1d",
        agg="avg,on_time,starts,delta",
    ).json()
    fan, kwh = body["series"]
    assert fan["history_mode"] == "binary" and fan["avg_kind"].startswith("time-weighted")
    assert fan["on_time"] == [pytest.approx(12 * 3600, rel=0.01)]
    assert fan["starts"] == [1.0] and fan["delta"] == [None]
    assert fan["not_applicable"] == ["delta"]
    assert kwh["delta"] == [pytest.approx(288 * 0.5)] and kwh["on_time"] == [None]
    assert kwh["avg_kind"] == "delta per hour"


def test_unit_conversion_is_stated_per_series(client):
    start, end = day_bounds_ms(DAYS[1])
    body = _ts(
        client, points=[SAT, KWH], start=start, end=end, interval="1h", agg="min,max", unit="degC"
    ).json()
    sat, kwh = body["series"]
    assert (sat["unit"], sat["converted_from"]) == ("°C", "°F")
    assert sat["min"][0] == pytest.approx((55.0 - 32) * 5 / 9)
    assert (kwh["unit"], kwh["converted_from"]) == ("kWh", None)
    assert body["unit"] == "°C"
    refused = _ts(client, points=SAT, start=start, end=end, interval="1h", agg="sum", unit="degC")
    assert refused.status_code == 400 and "sum" in refused.json()["detail"]
    assert _ts(client, points=SAT, start=start, end=end, unit="kelvin").status_code == 400


def test_max_points_draws_m4_and_auto_honours_it(client):
    start, _ = day_bounds_ms(DAYS[0])
    _, end = day_bounds_ms(DAYS[2])
    body = _ts(client, points=SAT, start=start, end=end, max_points=40).json()
    assert body["interval"] == "m4" and body["max_points"] == 40
    series = body["series"][0]
    assert len(series["t"]) <= 40 and max(series["v"]) == 66.0 and min(series["v"]) == 55.0
    auto = _ts(client, points=SAT, start=start, end=end, interval="auto", max_points=100).json()
    assert auto["interval"] == "1h"  # 72 buckets fit in 100; 15 min (288) would not
    over = _ts(client, points=SAT, start=start, end=end, interval="15m", max_points=100)
    assert over.status_code == 422


def test_quality_object_per_series_and_the_site_report(client):
    start, end = day_bounds_ms(DAYS[0])
    body = _ts(
        client, points=[SAT, DEAD], start=start, end=end, interval="1h", quality="true"
    ).json()
    sat, dead = body["series"]
    assert sat["quality"]["coverage"] == 1.0 and sat["quality"]["stale"] is False
    assert dead["quality"]["stale"] is True and dead["quality"]["coverage"] < 0.4
    report = client.get(f"/v1/sites/{SITE}/quality", params={"date": "2026-10-31"})
    assert report.status_code == 200
    rows = {r["point_name"]: r for r in report.json()["points"]}
    assert rows[DEAD]["samples"] == 100 and rows[SP]["stuck"] is False
    assert report.json()["summary"]["stale_points"] == 1
    missing = client.get(f"/v1/sites/{SITE}/quality", params={"date": "2026-09-01"})
    assert missing.status_code == 404 and missing.json()["error"] == "no_quality_report"
    assert client.get(f"/v1/sites/{SITE}/quality", params={"date": "yesterday"}).status_code == 400


def test_openapi_documents_the_additions(client):
    doc = client.get("/openapi.json").json()
    params = {p["name"] for p in doc["paths"]["/v1/timeseries"]["get"]["parameters"]}
    assert {"tz", "max_points", "unit", "quality"} <= params
    assert "/v1/sites/{site}/quality" in doc["paths"]
    search = {p["name"] for p in doc["paths"]["/v1/sites/{site}/points"]["get"]["parameters"]}
    assert {"stale", "stuck"} <= search
