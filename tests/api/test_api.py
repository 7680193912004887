"""The query API over the real engine, real SQLite hot store and real cold Parquet days."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime

import pyarrow.ipc as pa_ipc
import pytest
from openapi_spec_validator import validate as validate_openapi

from tests.support.api_site import (
    ALLOWED_ORIGIN,
    API_KEYS,
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
from vitals.samples import MS_PER_DAY

SAT, RAT, AV6, COMMA, FAN, FAN_UPPER = POINTS
HOUR = 3_600_000


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> ApiSite:
    return build_api_site(tmp_path_factory.mktemp("api-site"))


@pytest.fixture
def client(api_site: ApiSite) -> Iterator[TestClient]:
    with make_client(api_site) as test_client:
        yield test_client


def _get_ts(client, **params):
    return client.get("/v1/timeseries", params={"site": SITE, **params})


def test_sites_and_point_search(client):
    assert client.get("/v1/sites").json() == {"sites": [SITE]}
    found = client.get(f"/v1/sites/{SITE}/points", params={"q": "ahu-1/s"}).json()
    assert [p["name"] for p in found["points"]] == [SAT]
    everything = client.get(f"/v1/sites/{SITE}/points").json()
    assert everything["count"] == len(POINTS)
    limited = client.get(f"/v1/sites/{SITE}/points", params={"limit": 2}).json()
    assert limited["count"] == 2
    missing = client.get("/v1/sites/nowhere/points")
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_site"


def test_point_search_answers_are_cached_for_the_hot_ttl(tmp_path):
    import time

    from vitals.ace.client import AcePoint

    site = build_api_site(tmp_path)
    with make_client(site, hot_ttl_s=0.5) as cached:
        first = cached.get(f"/v1/sites/{SITE}/points", params={"q": "new-ahu"}).json()
        assert first["count"] == 0
        site.data.hot.upsert_points(SITE, [AcePoint("NEW-AHU/Supply Fan")])
        again = cached.get(f"/v1/sites/{SITE}/points", params={"q": "new-ahu"}).json()
        assert again == first  # within the TTL: the cached answer
        other = cached.get(f"/v1/sites/{SITE}/points", params={"q": "new-ahu", "limit": 5}).json()
        assert [p["name"] for p in other["points"]] == ["NEW-AHU/Supply Fan"]  # other key
        time.sleep(0.6)  # past the hot TTL
        later = cached.get(f"/v1/sites/{SITE}/points", params={"q": "new-ahu"}).json()
        assert [p["name"] for p in later["points"]] == ["NEW-AHU/Supply Fan"]
        assert cached.get("/v1/sites/nowhere/points").status_code == 404  # never cached


def test_raw_hot_series_in_request_order_with_stored_names(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    answer = _get_ts(client, points=[RAT.upper(), SAT], start=start, end=start + HOUR)
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"site", "start", "end", "interval", "series"}
    assert (body["site"], body["start"], body["end"], body["interval"]) == (
        SITE,
        start,
        start + HOUR,
        "raw",
    )
    assert [s["point"] for s in body["series"]] == [RAT, SAT]
    expected_t = list(range(start + OFFSET_MS, start + HOUR, STEP_MS))
    assert body["series"][1]["t"] == expected_t
    assert body["series"][1]["v"] == [value_at(0, t, "hot") for t in expected_t]
    assert answer.headers["x-cache-hit"] == "false"
    assert float(answer.headers["x-query-time-ms"]) >= 0


def test_iso_times_equal_epoch_ms(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    iso = api_site.hot_days[0].isoformat()
    by_ms = _get_ts(client, points=[SAT], start=start, end=start + HOUR).json()
    by_iso = _get_ts(client, points=[SAT], start=f"{iso}T00:00:00Z", end=f"{iso}T01:00:00").json()
    assert by_ms == by_iso


def test_hot_wins_on_a_day_in_both_tiers(client, api_site):
    start, end = api_site.day_ms(api_site.shared_day)
    body = _get_ts(client, points=[SAT], start=start, end=end).json()
    series = body["series"][0]
    assert len(series["t"]) == MS_PER_DAY // STEP_MS  # each key once
    assert series["v"] == [value_at(0, t, "hot") for t in series["t"]]


def test_cross_tier_aggregates_post_and_get_agree(client, api_site):
    start, _ = api_site.day_ms(api_site.cold_days[0])
    _, end = api_site.day_ms(api_site.hot_days[1])
    params = {
        "points": [SAT, AV6],
        "start": start,
        "end": end,
        "interval": "1h",
        "agg": "avg,min,max,last",
    }
    got = _get_ts(client, **params)
    posted = client.post(
        "/v1/timeseries", json={"site": SITE, **params, "agg": ["avg", "min", "max", "last"]}
    )
    assert got.status_code == posted.status_code == 200
    assert got.json() == posted.json()
    assert set(got.headers["x-vitals-tiers"].split(",")) == {"hot", "cold", "rollup"}
    series = got.json()["series"][0]
    assert "v" not in series and {"avg", "min", "max", "last"} <= set(series)
    # One bucket per hour of the five days that hold data.
    assert len(series["t"]) == 5 * 24
    first_hour = [value_at(0, t, "cold") for t in range(start + OFFSET_MS, start + HOUR, STEP_MS)]
    assert series["min"][0] == min(first_hour) and series["max"][0] == max(first_hour)
    assert series["avg"][0] == pytest.approx(sum(first_hour) / len(first_hour))
    assert series["last"][0] == first_hour[-1]


def test_auto_interval_and_fill(client, api_site):
    start, _ = api_site.day_ms(api_site.cold_days[0])
    _, end = api_site.day_ms(api_site.hot_days[1])
    auto = _get_ts(client, points=[SAT], start=start, end=end, interval="auto").json()
    assert auto["interval"] in ("15m", "1h") and "avg" in auto["series"][0]
    filled = _get_ts(
        client, points=[SAT], start=start, end=end, interval="1d", fill="previous", max_gap="30d"
    ).json()["series"][0]
    days = (end - start) // MS_PER_DAY
    assert len(filled["t"]) == days  # every day from first to last real bucket
    assert all(v is not None for v in filled["avg"][:2])


@pytest.mark.parametrize("agg", [None, "avg,max"])
def test_csv_and_arrow_equal_json(client, api_site, agg):
    start, _ = api_site.day_ms(api_site.shared_day)
    params = {"points": [SAT, COMMA], "start": start, "end": start + 6 * HOUR}
    if agg:
        params.update(interval="15m", agg=agg)
    body = _get_ts(client, **params).json()
    columns = agg.split(",") if agg else ["v"]
    expected = [
        (s["point"], t, *(s[c][i] for c in columns))
        for s in body["series"]
        for i, t in enumerate(s["t"])
    ]

    as_csv = _get_ts(client, **params, format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["point", "timestamp", *(["value"] if not agg else columns)]
    arrow_resp = client.get(
        "/v1/timeseries",
        params={"site": SITE, **params},
        headers={"Accept": "application/vnd.apache.arrow.stream"},
    )
    assert arrow_resp.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa_ipc.open_stream(arrow_resp.content).read_all()
    value_names = ["value"] if not agg else columns
    from_arrow = [
        (p, ts.value // 1000 if hasattr(ts, "value") else int(ts.timestamp() * 1000), *vals)
        for p, ts, *vals in zip(
            *(table.column(c).to_pylist() for c in ["point", "timestamp", *value_names]),
            strict=True,
        )
    ]
    assert from_arrow == expected
    from_csv = [
        (r[0], int(datetime.fromisoformat(r[1]).timestamp() * 1000), *(float(x) for x in r[2:]))
        for r in rows[1:]
    ]
    assert from_csv == expected
    assert table.schema.metadata[b"site"] == SITE.encode()


def test_errors_name_the_problem(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    ambiguous = _get_ts(client, points=["ahu-2/fan"], start=start, end=start + HOUR)
    assert ambiguous.status_code == 409
    assert ambiguous.json()["error"] == "ambiguous_point"
    assert FAN in ambiguous.json()["detail"] and FAN_UPPER in ambiguous.json()["detail"]
    exact = _get_ts(client, points=[FAN_UPPER], start=start, end=start + HOUR)
    assert exact.status_code == 200 and exact.json()["series"][0]["point"] == FAN_UPPER
    unknown = _get_ts(client, points=["no/such/point"], start=start, end=start + HOUR)
    assert unknown.status_code == 404 and "no/such/point" in unknown.json()["detail"]
    backwards = _get_ts(client, points=[SAT], start=start + HOUR, end=start)
    assert backwards.status_code == 400 and "must be before" in backwards.json()["detail"]
    too_long = _get_ts(client, points=[SAT], start=start - 40 * MS_PER_DAY, end=start)
    assert too_long.status_code == 422 and "interval=auto" in too_long.json()["detail"]
    too_many = _get_ts(client, points=[f"p{i}" for i in range(101)], start=start, end=start + HOUR)
    assert too_many.status_code == 422
    seconds = _get_ts(client, points=[SAT], start=start // 1000, end=start // 1000 + 3600)
    assert seconds.status_code == 400 and "not seconds" in seconds.json()["detail"]


def test_legacy_endpoint_exact_shape(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    asked = [SAT.lower(), AV6]
    answer = client.get(
        "/timeseries/query",
        params={
            "site_name": SITE,
            "point_names": ",".join(asked),
            "start_time": start,
            "end_time": start + HOUR,
        },
    )
    assert answer.status_code == 200
    body = answer.json()
    assert list(body) == ["site_name", "point_names", "samples", "metadata"]
    assert body["site_name"] == SITE and body["point_names"] == asked
    assert set(body["metadata"]) == {
        "total_samples",
        "sources",
        "storage_tiers",
        "query_time_ms",
        "cache_hit",
        "interval",
        "aggregate",
    }
    assert body["metadata"]["total_samples"] == len(body["samples"]) == 24
    assert body["metadata"]["sources"] == ["hot"] and body["metadata"]["cache_hit"] is False
    assert set(body["metadata"]["storage_tiers"]) == {"hot"}
    first = body["samples"][0]
    assert first == {
        "point_name": SAT.lower(),
        "timestamp": start + OFFSET_MS,
        "value": value_at(0, start + OFFSET_MS, "hot"),
    }
    assert answer.headers["x-cache-hit"] == "false"
    assert answer.headers["x-query-time-ms"].isdigit()
    again = client.get(
        "/timeseries/query",
        params={
            "site_name": SITE,
            "point_names": ",".join(asked),
            "start_time": start,
            "end_time": start + HOUR,
        },
    )
    assert again.json()["metadata"]["cache_hit"] is True and again.headers["x-cache-hit"] == "true"
    assert again.json()["samples"] == body["samples"]


def test_legacy_interval_downsamples_with_avg(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    body = client.get(
        "/timeseries/query",
        params={
            "site_name": SITE,
            "point_names": SAT,
            "start_time": start,
            "end_time": start + 2 * HOUR,
            "interval": "1hr",
        },
    ).json()
    assert [s["timestamp"] for s in body["samples"]] == [start, start + HOUR]
    first_hour = [value_at(0, t, "hot") for t in range(start + OFFSET_MS, start + HOUR, STEP_MS)]
    assert body["samples"][0]["value"] == pytest.approx(sum(first_hour) / len(first_hour))
    assert body["metadata"]["aggregate"] == "avg" and body["metadata"]["interval"] == "1h"


def test_legacy_splits_on_commas(client, api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    answer = client.get(
        "/timeseries/query",
        params={
            "site_name": SITE,
            "point_names": COMMA,
            "start_time": start,
            "end_time": start + HOUR,
        },
    )
    assert answer.status_code == 404  # "acme/bldg_a/vav" and "Zone1/temp" are not points
    legacy_range = client.get(
        "/timeseries/query",
        params={
            "site_name": SITE,
            "point_names": SAT,
            "start_time": start - 366 * MS_PER_DAY,
            "end_time": start,
        },
    )
    assert legacy_range.status_code == 422 and "365 days" in legacy_range.json()["detail"]


def test_cache_hits_and_metrics_move(api_site):
    with make_client(api_site) as c:
        start, _ = api_site.day_ms(api_site.cold_days[1])
        params = {"site": SITE, "points": [SAT], "start": start, "end": start + 6 * HOUR}
        first = c.get("/v1/timeseries", params=params)
        second = c.get(
            "/v1/timeseries", params={**params, "points": [SAT.upper()]}
        )  # same folded key
        assert first.headers["x-cache-hit"] == "false" and second.headers["x-cache-hit"] == "true"
        assert first.content == second.content
        c.get("/v1/timeseries", params={**params, "format": "csv"})  # format is part of the key
        c.get("/v1/timeseries", params={**params, "start": "yesterday"})
        text = c.get("/metrics").text
    assert "vitals_api_cache_hits_total 1.0" in text
    assert "vitals_api_cache_misses_total 2.0" in text
    assert 'vitals_api_samples_returned_total{route="/v1/timeseries"} 216.0' in text  # 72 x 3
    assert 'vitals_api_errors_total{code="bad_request",status="400"} 1.0' in text
    assert 'vitals_api_request_seconds_count{route="/v1/timeseries",tier="cold+hot"} 2.0' in text
    assert 'vitals_api_request_seconds_count{route="/v1/timeseries",tier="cache"} 1.0' in text


def test_query_latency_is_split_by_the_plans_tiers(api_site):
    """p50/p95/p99 by hot / cold / both come from one histogram, cached answers included."""
    from prometheus_client.parser import text_string_to_metric_families

    with make_client(api_site) as c:
        cold_start, _ = api_site.day_ms(api_site.cold_days[1])
        hot_start, hot_end = api_site.day_ms(api_site.hot_days[0])

        def ask(start, end):
            params = {"site": SITE, "points": [SAT], "start": start, "end": end, "interval": "1h"}
            answer = c.get("/v1/timeseries", params=params)
            assert answer.status_code == 200, answer.text
            return answer.headers["x-cache-hit"]

        assert ask(cold_start, cold_start + 6 * HOUR) == "false"  # a day past the hot window
        assert ask(hot_start, hot_start + 6 * HOUR) == "false"  # a day inside it
        assert ask(cold_start, hot_end) == "false"  # from one into the other
        assert ask(cold_start, hot_end) == "true"
        assert ask(hot_start, hot_start + 6 * HOUR) == "true"
        text = c.get("/metrics").text
    counts = {
        (sample.labels["tier"], sample.labels["cache"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "vitals_api_query_seconds"
        for sample in family.samples
        if sample.name == "vitals_api_query_seconds_count"
    }
    assert counts == {
        ("cold", "miss"): 1.0,
        ("hot", "miss"): 1.0,
        ("both", "miss"): 1.0,
        ("both", "hit"): 1.0,
        ("hot", "hit"): 1.0,
    }


def test_cache_life_depends_on_hot_window(api_site):
    app_client = make_client(api_site)
    state = app_client.app.state.vitals
    from vitals.api.cache import ttl_for_range

    now_ms = int(state.clock() * 1000)
    hot_end, _ = api_site.day_ms(api_site.hot_days[1])
    cold_end, _ = api_site.day_ms(api_site.cold_days[1])
    common = {"now_ms": now_ms, "hot_storage_days": 20, "hot_ttl_s": 30.0, "cold_ttl_s": 3600.0}
    assert ttl_for_range(hot_end, **common) == 30.0
    assert ttl_for_range(cold_end, **common) == 3600.0


def test_cors_allowed_denied_and_preflight(api_site):
    with make_client(api_site) as c:
        ok = c.get("/v1/sites", headers={"Origin": ALLOWED_ORIGIN})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "Origin" in ok.headers["vary"]
        assert "X-Cache-Hit" in ok.headers["access-control-expose-headers"]
        assert "X-Vitals-Tiers" in ok.headers["access-control-expose-headers"]
        denied = c.get("/v1/sites", headers={"Origin": "https://evil.example.com"})
        assert denied.status_code == 403 and "access-control-allow-origin" not in denied.headers
        assert denied.json()["error"] == "origin_not_allowed"
        pre = c.options(
            "/v1/timeseries",
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "POST" in pre.headers["access-control-allow-methods"]
        assert "Authorization" in pre.headers["access-control-allow-headers"]
        bad_pre = c.options(
            "/v1/timeseries",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert bad_pre.status_code == 403 and "access-control-allow-origin" not in bad_pre.headers
    with make_client(api_site, origins=()) as c:  # nothing configured: no origin is allowed
        assert c.get("/v1/sites", headers={"Origin": ALLOWED_ORIGIN}).status_code == 403
    with make_client(api_site, origins=("*",)) as c:  # wildcard only when configured
        assert (
            c.get("/v1/sites", headers={"Origin": "https://a.example"}).headers[
                "access-control-allow-origin"
            ]
            == "*"
        )


def test_api_keys(api_site):
    with make_client(api_site, key=None) as c:
        missing = c.get("/v1/sites")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith(
            "Bearer"
        )
        assert (
            c.get("/v1/sites", headers={"Authorization": f"Bearer {API_KEYS[1]}"}).status_code
            == 200
        )
        assert c.get("/v1/sites", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/v1/sites", headers={"Authorization": API_KEYS[0]}).status_code == 401
        assert c.get("/healthz").status_code == 200  # open for probes
        assert c.get("/metrics").status_code == 200
    with make_client(api_site, key=None, keys=()) as c:  # no keys: loopback clients only
        assert c.get("/v1/sites").status_code == 401
    with make_client(api_site, key=None, keys=(), client_host="127.0.0.1") as c:
        assert c.get("/v1/sites").status_code == 200
    with make_client(api_site, key=None, keys=(), allow_anonymous=True) as c:
        assert c.get("/v1/sites").status_code == 200


def test_health_reports_a_broken_store(api_site, tmp_path):
    from resources.hot_store import HotStoreResource
    from vitals.api.app import create_app

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings = api_site.settings()
    broken_hot = HotStoreResource(url=str(blocker / "hot.sqlite"))  # parent is a file
    app = create_app(
        settings, api_site.data.engine(), hot_store=broken_hot, cold_store=api_site.data.cold
    )
    answer = TestClient(app, raise_server_exceptions=False).get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["hot_store"]["ok"] is False
    assert "blocker" not in answer.text and "file" not in answer.text  # no internals


def test_openapi_is_valid_and_covers_routes(client):
    doc = client.get("/openapi.json").json()
    validate_openapi(doc)
    assert {
        "/v1/sites",
        "/v1/sites/{site}/points",
        "/v1/timeseries",
        "/timeseries/query",
        "/healthz",
        "/metrics",
        "/openapi.json",
    } <= set(doc["paths"])
    assert {p["name"] for p in doc["paths"]["/v1/timeseries"]["get"]["parameters"]} >= {
        "site",
        "points",
        "start",
        "end",
        "interval",
        "agg",
        "fill",
        "max_gap",
        "format",
    }


def test_openapi_states_what_the_api_enforces(client):
    """Required fields with their minimum lengths, every answered status, every method."""
    doc = client.get("/openapi.json").json()
    ts = doc["paths"]["/v1/timeseries"]
    params = {p["name"]: p for p in ts["get"]["parameters"]}
    for name in ("site", "points", "start", "end"):
        assert params[name]["required"] is True, name
    assert params["site"]["schema"]["minLength"] == 1
    assert (
        params["points"]["schema"]["items"]["minLength"] == 1
        and params["points"]["schema"]["minItems"] == 1
    )
    body = doc["components"]["schemas"]["TimeseriesRequest"]
    assert set(body["required"]) >= {"site", "points", "start", "end"}
    assert (
        body["properties"]["site"]["minLength"] == 1
        and body["properties"]["points"]["items"]["minLength"] == 1
    )
    for field in ("start", "end"):
        strings = [s for s in body["properties"][field]["oneOf"] if s["type"] == "string"]
        assert strings[0]["minLength"] == 1, field
    assert {"413", "415"} <= set(ts["post"]["responses"])
    assert "X-Vitals-Tiers" in ts["get"]["responses"]["200"]["headers"]
    assert "options" in ts
    wrong_type = client.post(
        "/v1/timeseries", content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415  # the status the document now lists


def test_options_and_405_list_every_method(client):
    plain = client.options("/v1/timeseries")
    assert plain.status_code == 204 and plain.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    wrong = client.delete("/v1/timeseries")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert client.put("/v1/sites").headers["allow"] == "GET, HEAD"
    pre = client.options(
        "/v1/timeseries",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 204 and "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_unknown_route_and_method_are_json(client):
    missing = client.get("/v2/whatever")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = client.delete("/v1/timeseries")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert json.loads(client.post("/v1/sites").text)["error"] == "method_not_allowed"


def test_unexpected_failure_is_a_bare_500_and_logged(api_site, tmp_path, caplog):
    from resources.hot_store import HotStoreResource
    from vitals.api.app import create_app

    garbage = tmp_path / "hot.sqlite"
    garbage.write_bytes(b"this is not a database file at all" * 200)
    app = create_app(
        api_site.settings(),
        api_site.data.engine(),
        hot_store=HotStoreResource(url=str(garbage)),
        cold_store=api_site.data.cold,
    )
    with TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {API_KEYS[0]}"}
    ) as c:
        answer = c.get("/v1/sites")
        metrics = c.get("/metrics").text
    assert answer.status_code == 500
    assert answer.json() == {
        "error": "internal_error",
        "detail": "internal error; the server log has the details",
    }
    assert "unhandled error answering GET /v1/sites" in caplog.text
    assert 'vitals_api_errors_total{code="internal_error",status="500"} 1.0' in metrics


def test_gzip_once_for_clients_that_accept_it(client, api_site):
    start, _ = api_site.day_ms(api_site.cold_days[1])
    params = {"site": SITE, "points": [SAT, RAT], "start": start, "end": start + MS_PER_DAY}
    plain = client.get("/v1/timeseries", params=params, headers={"Accept-Encoding": "identity"})
    assert (
        "content-encoding" not in plain.headers
        and plain.headers["vary"] == "Accept, Accept-Encoding"
    )
    packed = client.get("/v1/timeseries", params=params, headers={"Accept-Encoding": "gzip, br"})
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["x-cache-hit"] == "true"
    assert packed.content == plain.content  # decoded by the client
    assert int(packed.headers["content-length"]) * 3 < len(plain.content)  # compressed on the wire
    refused = client.get("/v1/timeseries", params=params, headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_same_answers_over_a_postgres_hot_store(api_site, pg_url, tmp_path):
    """The API is backend-agnostic: the site's hot rows copied to PostgreSQL answer the same."""
    from starlette.testclient import TestClient as Client

    from resources.hot_store import HotStoreResource
    from resources.query import QueryResource
    from vitals.ace.client import AcePoint
    from vitals.api.app import create_app
    from vitals.config import load_settings

    pg_hot = HotStoreResource(url=pg_url)
    pg_hot.upsert_points(SITE, [AcePoint(name) for name in POINTS])
    start, _ = api_site.day_ms(api_site.shared_day)
    _, end = api_site.day_ms(api_site.hot_days[1])
    pg_hot.upsert_samples(SITE, api_site.data.hot.read_samples(SITE, start, end))
    settings = load_settings(
        {
            "VITALS_HOT_STORE": pg_url,
            "VITALS_COLD_STORE": str(api_site.root / "cold"),
            "VITALS_API_KEYS": API_KEYS[0],
            "VITALS_DATA_DIR": str(tmp_path),
        }
    )
    app = create_app(
        settings,
        QueryResource.from_settings(settings).engine(),
        hot_store=pg_hot,
        cold_store=api_site.data.cold,
    )
    params = {
        "site": SITE,
        "points": [SAT, FAN_UPPER],
        "start": start - 20 * MS_PER_DAY,
        "end": end,
        "interval": "1h",
        "agg": "avg,last",
    }
    with (
        Client(app, headers={"Authorization": f"Bearer {API_KEYS[0]}"}) as pg_client,
        make_client(api_site) as sqlite_client,
    ):
        from_pg = pg_client.get("/v1/timeseries", params=params)
        from_sqlite = sqlite_client.get("/v1/timeseries", params=params)
        assert pg_client.get("/healthz").status_code == 200
    assert from_pg.status_code == 200 and from_pg.json() == from_sqlite.json()
    assert set(from_pg.headers["x-vitals-tiers"].split(",")) == {"hot", "cold", "rollup"}
