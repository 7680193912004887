"""Hundreds of hostile or malformed requests: every one gets a 4xx JSON answer, none a 5xx.

Cases are generated from lists of bad values per field, so adding a bad value adds a
case to every place it can go. After the barrage the data is intact (no injected SQL
ran) and the API still answers a good request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.api_site import API_KEYS, POINTS, SITE, ApiSite, build_api_site, make_client
from vitals.samples import MS_PER_DAY

SAT = POINTS[0]
HOUR = 3_600_000

BAD_TIMES = [
    "",
    " ",
    "yesterday",
    "now",
    "2026-13-01",
    "2026-02-30",
    "2026-01-01T25:00:00",
    "2026-01-01T10:61",
    "1e12",
    "1.5e12",
    "0x1A",
    "12abc",
    "--1",
    "9" * 40,
    "-1700000000000",
    "1700000000",  # seconds
    "1699999999999999999",
    "NaN",
    "Infinity",
    "null",
    "true",
    "2026/01/01",
    "01-02-2026",
    "2026-01-01T00:00:00+25:00",
    "'; DROP TABLE points; --",
    "\x00",
    "%00",
    "2026-01-01\x00",
    "\u0662\u0660\u0662\u0666-01-01",
    "T" * 10_000,
]
INJECTION_NAMES = [
    "'; DROP TABLE points; --",
    '" OR 1=1 --',
    "x' UNION SELECT name FROM sqlite_master --",
    "%00",
    "a\x00b",
    "../../etc/passwd",
    "..\\..\\windows",
    "\u202eevil",
    "\U0001f4a5 boom",
    "line\nbreak",
    "tab\there",
    "\x7f",
    "A" * 600,
    "B" * 20_000,
    "%' OR '%'='",
    "\\",
    "*",
    "?",
    "name\u2028sep",
]
BAD_SITES = [
    "",
    "../etc",
    "a/b",
    "a\\b",
    "..",
    ".hidden",
    "' OR '1'='1",
    "site name",
    "s%00",
    "s\x00",
    "x" * 600,
    "nowhere",
    "\u202esite",
    "a;b",
    "a?b",
]
BAD_INTERVALS = ["", "2m", "1w", "ra w", "hourly", "1h; DROP", "-1h", "0m", "auto,1h", "1min"]
BAD_AGGS = ["median", "avg,avg", "avg,,", "AVG;min", "summ", "1", "avg min", ",", "max,median"]
BAD_FILL = [
    ("zero", None),
    ("previous", "forever"),
    ("linear", "-5m"),
    (None, "15m"),
    ("previous", "0"),
    ("linear", "1y"),
    ("previous", "99999d"),
    ("next", "1h"),
]
BAD_FORMATS = ["xml", "parquet", "JSON;", "csv,arrow", "../json"]


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> ApiSite:
    return build_api_site(tmp_path_factory.mktemp("api-site"))


def _base(start: int) -> dict[str, object]:
    return {"site": SITE, "points": [SAT], "start": start, "end": start + HOUR}


def hostile_cases(start: int) -> Iterator[tuple[str, str, dict]]:
    """(method, url, httpx kwargs) for every hostile request."""
    base = _base(start)
    for bad in BAD_TIMES:
        yield "GET", "/v1/timeseries", {"params": {**base, "start": bad}}
        yield "GET", "/v1/timeseries", {"params": {**base, "end": bad}}
        yield (
            "GET",
            "/timeseries/query",
            {
                "params": {
                    "site_name": SITE,
                    "point_names": SAT,
                    "start_time": bad,
                    "end_time": start,
                }
            },
        )
    for start_val, end_val in [(start, start), (start + HOUR, start), (start, start - 1)]:
        yield "GET", "/v1/timeseries", {"params": {**base, "start": start_val, "end": end_val}}
    for params in [  # huge ranges
        {**base, "start": start - 32 * MS_PER_DAY},
        {**base, "start": start - 400 * MS_PER_DAY, "interval": "1h"},
        {**base, "start": start - 400 * MS_PER_DAY, "interval": "auto"},
        {**base, "start": "2000-01-01", "end": "2099-12-31", "interval": "1d"},
        {**base, "start": start - 366 * MS_PER_DAY, "interval": "1m", "points": POINTS[:4]},
    ]:
        yield "GET", "/v1/timeseries", {"params": params}
    yield (
        "GET",
        "/timeseries/query",
        {
            "params": {
                "site_name": SITE,
                "point_names": SAT,
                "start_time": start - 400 * MS_PER_DAY,
                "end_time": start,
            }
        },
    )
    for name in [*INJECTION_NAMES, "no/such/point", "ahu-2/fan", "AHU-2/fAn"]:
        yield "GET", "/v1/timeseries", {"params": {**base, "points": [name]}}
        yield "POST", "/v1/timeseries", {"json": {**base, "points": [SAT, name]}}
        yield (
            "GET",
            "/timeseries/query",
            {
                "params": {
                    "site_name": SITE,
                    "point_names": name,
                    "start_time": start,
                    "end_time": start + HOUR,
                }
            },
        )
    for name in INJECTION_NAMES:
        yield "GET", f"/v1/sites/{SITE}/points", {"params": {"q": name, "limit": "0"}}
    for site in BAD_SITES:
        yield "GET", "/v1/timeseries", {"params": {**base, "site": site}}
        yield "POST", "/v1/timeseries", {"json": {**base, "site": site}}
        yield (
            "GET",
            "/timeseries/query",
            {
                "params": {
                    "site_name": site,
                    "point_names": SAT,
                    "start_time": start,
                    "end_time": start + HOUR,
                }
            },
        )
    for site in ["..%2F..%2Fetc", "%00", "a%2Fb", "..", "x" * 600, "nowhere", "%E2%80%AE"]:
        yield "GET", f"/v1/sites/{site}/points", {}
    for interval in BAD_INTERVALS:
        yield "GET", "/v1/timeseries", {"params": {**base, "interval": interval}}
        yield (
            "GET",
            "/timeseries/query",
            {
                "params": {
                    "site_name": SITE,
                    "point_names": SAT,
                    "start_time": start,
                    "end_time": start + HOUR,
                    "interval": interval + "x",
                }
            },
        )
    for agg in BAD_AGGS:
        yield "GET", "/v1/timeseries", {"params": {**base, "interval": "1h", "agg": agg}}
    yield "GET", "/v1/timeseries", {"params": {**base, "agg": "avg"}}  # agg on raw
    for fill, gap in BAD_FILL:
        params = {**base, "interval": "1h"}
        if fill is not None:
            params["fill"] = fill
        if gap is not None:
            params["max_gap"] = gap
        yield "GET", "/v1/timeseries", {"params": params}
    yield "GET", "/v1/timeseries", {"params": {**base, "fill": "previous"}}  # fill on raw
    for fmt in BAD_FORMATS:
        yield "GET", "/v1/timeseries", {"params": {**base, "format": fmt}}
    # Duplicated and missing parameters.
    for dup in ["site", "start", "end", "interval", "format"]:
        query = f"site={SITE}&points={SAT}&start={start}&end={start + HOUR}&{dup}=x"
        yield "GET", f"/v1/timeseries?{query}", {}
    yield "GET", "/v1/timeseries", {"params": {**base, "points": [SAT, SAT]}}
    yield "GET", "/v1/timeseries", {"params": {**base, "points": [SAT, SAT.upper(), SAT]}}
    for missing in ["site", "points", "start", "end"]:
        yield "GET", "/v1/timeseries", {"params": {k: v for k, v in base.items() if k != missing}}
    yield "GET", "/v1/timeseries", {"params": {**base, "point": SAT}}  # typo
    yield "GET", "/v1/timeseries", {"params": {**base, "points": [f"p{i}" for i in range(150)]}}
    yield (
        "GET",
        "/timeseries/query",
        {
            "params": {
                "site_name": SITE,
                "point_names": ",".join(f"p{i}" for i in range(101)),
                "start_time": start,
                "end_time": start + HOUR,
            }
        },
    )
    yield (
        "GET",
        "/timeseries/query",
        {
            "params": {
                "site_name": SITE,
                "point_names": ",,, ,",
                "start_time": start,
                "end_time": start + HOUR,
            }
        },
    )
    yield (
        "GET",
        f"/timeseries/query?site_name={SITE}&site_name=x&point_names={SAT}&start_time={start}",
        {},
    )
    for raw_point in ["%ED%A0%80", "%FF%FE", "%C0%AF", "%25%30%30", "%E2%80%AE%00"]:  # bad UTF-8
        yield (
            "GET",
            f"/v1/timeseries?site={SITE}&points={raw_point}&start={start}&end={start + HOUR}",
            {},
        )
    yield "GET", "/v1/sites?x=1", {}
    yield "GET", f"/v1/sites/{SITE}/points?limit=abc", {}
    yield "GET", f"/v1/sites/{SITE}/points?limit=99999999", {}
    yield "GET", f"/v1/sites/{SITE}/points?q=a&q=b", {}
    # Bad JSON bodies.
    headers = {"Content-Type": "application/json"}
    for raw in [
        b"",
        b"{",
        b"not json",
        b"[]",
        b"42",
        b'"str"',
        b"null",
        b"{'site': 1}",
        b"\xff\xfe\x00",
        b"[" * 5000 + b"]" * 5000,
        b'{"site": "' + b"a" * 100 + b'"',
        json.dumps({**base, "points": SAT}).encode(),
        json.dumps({**base, "points": [1, 2]}).encode(),
        json.dumps({**base, "points": [None]}).encode(),
        json.dumps({**base, "points": [[SAT]]}).encode(),
        json.dumps({**base, "site": 7}).encode(),
        json.dumps({**base, "start": 1.7e12}).encode(),
        json.dumps({**base, "start": True}).encode(),
        json.dumps({**base, "start": None}).encode(),
        json.dumps({**base, "start": {"$gt": 0}}).encode(),
        json.dumps({**base, "interval": 5}).encode(),
        json.dumps({**base, "agg": {"a": 1}}).encode(),
        json.dumps({**base, "extra": 1}).encode(),
        json.dumps({**base, "points": []}).encode(),
        json.dumps({**base, "max_gap": 5}).encode(),
        json.dumps({**base, "interval": "1h", "fill": "linear", "max_gap": -1}).encode(),
        json.dumps({**base, "format": ["csv"]}).encode(),
        b'{"site": NaN}',
    ]:
        yield "POST", "/v1/timeseries", {"content": raw, "headers": headers}
    yield (
        "POST",
        "/v1/timeseries",
        {"content": json.dumps(base).encode(), "headers": {"Content-Type": "text/plain"}},
    )
    yield "POST", "/v1/timeseries", {"content": json.dumps(base).encode()}  # no content type
    yield "POST", f"/v1/timeseries?site={SITE}", {"json": base}
    big = json.dumps({**base, "points": ["x" * 500] * 2500}).encode()
    yield "POST", "/v1/timeseries", {"content": big, "headers": headers}  # > 1 MB: 413
    yield (
        "POST",
        "/v1/timeseries",
        {"content": b"{}", "headers": {**headers, "Content-Length": "abc"}},
    )
    # Wrong methods and unknown routes.
    for method in ["PUT", "DELETE", "PATCH"]:
        yield method, "/v1/timeseries", {}
        yield method, "/timeseries/query", {}
    for path in [  # "/" is the explorer page (tests/api/test_explorer.py)
        "/v1",
        "/v1/",
        "/v1/timeseries/",
        "/admin",
        "/v1/sites/a/b/c",
        "/.env",
        "/timeseries/query/../../etc/passwd",
        "/%00",
    ]:
        yield "GET", path, {}


def auth_cases(start: int) -> Iterator[tuple[str, str, dict]]:
    """Requests that must be refused for their credentials (401) whatever else they hold."""
    base = _base(start)
    for value in [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic " + API_KEYS[0],
        "bearer wrong",
        API_KEYS[0],
        "Bearer " + API_KEYS[0] + "x",
        "Bearer " + API_KEYS[0][:-1],
        "Bearer " + "k" * 5000,
        "Bearer  ",
        "Token " + API_KEYS[0],
        "Bearer " + API_KEYS[0].upper(),
    ]:
        headers = {} if value is None else {"Authorization": value}
        yield "GET", "/v1/timeseries", {"params": base, "headers": headers}
        yield "GET", "/v1/sites", {"headers": headers}
    yield "GET", "/v1/sites", {"headers": [(b"Authorization", b"Bearer \xff\xfe")]}


LEAK_MARKERS = ("Traceback", 'File "', ".py", "sqlite3", "duckdb", "pyarrow", "Exception")


def _check(answer, method: str, url: str, expected: range = range(400, 500)) -> None:
    label = f"{method} {answer.request.url!s:.300} -> {answer.status_code} {answer.text[:200]}"
    assert answer.status_code in expected, label
    body = answer.json()
    assert set(body) == {"error", "detail"}, label
    assert not any(marker in answer.text for marker in LEAK_MARKERS), label


def test_hostile_requests_all_get_4xx(api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    cases = list(hostile_cases(start))
    assert len(cases) >= 200
    with make_client(api_site) as client:
        for method, url, kwargs in cases:
            answer = client.request(method, url, **kwargs)
            _check(answer, method, url)
            assert str(api_site.root) not in answer.text
        metrics = client.get("/metrics").text
        assert 'status="5' not in metrics
        good = client.get("/v1/timeseries", params=_base(start))
        assert good.status_code == 200 and len(good.json()["series"][0]["t"]) == 12
    assert len(api_site.data.hot.list_points(SITE)) == len(POINTS)  # nothing dropped


def test_bad_credentials_all_get_401(api_site):
    start, _ = api_site.day_ms(api_site.hot_days[0])
    cases = list(auth_cases(start))
    with make_client(api_site, key=None) as client:
        for method, url, kwargs in cases:
            _check(client.request(method, url, **kwargs), method, url, range(401, 402))
    with make_client(api_site, key=None, keys=()) as client:  # no keys, non-loopback client
        for method, url, kwargs in cases:
            _check(client.request(method, url, **kwargs), method, url, range(401, 402))


def test_overlong_names_are_not_echoed_whole(api_site):
    """A 900 KB site or point name gets a short 400 that shows only its start."""
    start, _ = api_site.day_ms(api_site.hot_days[0])
    huge = "x" * 900_000
    with make_client(api_site) as client:
        answers = [
            client.post("/v1/timeseries", json={**_base(start), "site": huge}),
            client.post("/v1/timeseries", json={**_base(start), "points": [huge]}),
            client.get(f"/v1/sites/{'y' * 600}/points"),
            client.get("/v1/timeseries", params={**_base(start), "site": "z" * 5000}),
        ]
    for answer in answers:
        assert answer.status_code == 400, answer.text[:200]
        assert len(answer.content) < 600, len(answer.content)
        assert "must be 1-512 characters" in answer.json()["detail"]


NONCHARACTER_NAMES = [
    "\ud800",
    "\udfff",
    "a\ud800b",
    "\udc00\ud800",
    "\ufffe",
    "x\uffff",
    "\ufdd0",
    "\U0010ffff",
]


def test_surrogate_and_noncharacter_names_are_400(api_site):
    """Lone surrogates (valid JSON escapes) and non-characters in names: 400, never 500."""
    start, _ = api_site.day_ms(api_site.hot_days[0])
    headers = {"Content-Type": "application/json"}
    with make_client(api_site) as client:
        for bad in NONCHARACTER_NAMES:
            for body in ({**_base(start), "site": bad}, {**_base(start), "points": [SAT, bad]}):
                raw = json.dumps(body).encode()  # ASCII escapes: "\ud800" travels as text
                answer = client.post("/v1/timeseries", content=raw, headers=headers)
                _check(answer, "POST", "/v1/timeseries", range(400, 401))
                assert "surrogate or non-character" in answer.json()["detail"], answer.text
        for encoded in [
            "%EF%BF%BE",
            "x%EF%BF%BF",
            "%EF%B7%90",
            "%F4%8F%BF%BF",
        ]:  # as UTF-8 in a URL
            for url in [
                f"/v1/timeseries?site={encoded}&points={SAT}&start={start}&end={start + HOUR}",
                f"/v1/timeseries?site={SITE}&points={encoded}&start={start}&end={start + HOUR}",
                f"/v1/sites/{SITE}/points?q={encoded}",
                f"/v1/sites/{encoded}/points",
                f"/timeseries/query?site_name={SITE}&point_names={encoded}&start_time={start}"
                f"&end_time={start + HOUR}",
            ]:
                _check(client.get(url), "GET", url, range(400, 401))
        assert 'status="5' not in client.get("/metrics").text


@pytest.mark.parametrize("bad", NONCHARACTER_NAMES)
def test_names_refuse_surrogates_for_every_path(bad):
    from vitals.names import InvalidNameError, validate_point_name, validate_site_name

    for validate in (validate_site_name, validate_point_name):
        with pytest.raises(InvalidNameError, match="surrogate or non-character"):
            validate(bad)
    assert (
        validate_point_name("AHU-1/\U0001f4a5 \ufffd") == "AHU-1/\U0001f4a5 \ufffd"
    )  # real characters pass


UNICODE_DIGITS = [
    "%C2%B2",
    "%C2%B9%C2%B2",
    "%EF%BC%95",
    "%EF%BC%91%EF%BC%90",
    "%D9%A5",
    "%E0%A5%A7",
    "1%C2%B2",
]


def test_only_ascii_digits_are_numbers(api_site):
    """ "²".isdigit() is true (int() then failed: 500) and int() reads fullwidth 5 (U+FF15) as 5: both are 400 now."""
    start, _ = api_site.day_ms(api_site.hot_days[0])
    window = f"site={SITE}&points={SAT}&start={start}&end={start + HOUR}&interval=1h&fill=previous"
    with make_client(api_site) as client:
        for digits in UNICODE_DIGITS:
            for url in [
                f"/v1/sites/{SITE}/points?limit={digits}",
                f"/v1/timeseries?{window}&max_gap={digits}m",
                f"/v1/timeseries?{window}&max_gap={digits}",
                f"/v1/timeseries?site={SITE}&points={SAT}&start={digits}&end={start + HOUR}",
            ]:
                _check(client.get(url), "GET", url, range(400, 401))
        for declared in [
            b"\xb2",
            b"\xb9",
            b"1\xb3",
        ]:  # Latin-1 superscripts: isdigit() but not int()
            answer = client.post(
                "/v1/timeseries",
                content=b"{}",
                headers=[(b"Content-Type", b"application/json"), (b"Content-Length", declared)],
            )
            _check(answer, "POST", "/v1/timeseries", range(400, 401))
        assert client.get(f"/v1/sites/{SITE}/points?limit=5").json()["count"] == 5
        ok = client.get(f"/v1/timeseries?{window}&max_gap=15m")
        assert ok.status_code == 200, ok.text
