"""Pieces of the API that need no engine: parsing, cache, auth policy, OpenAPI."""

from __future__ import annotations

import asyncio

import pytest
from openapi_spec_validator import validate as validate_openapi

from vitals.api.auth import AuthPolicy, CorsPolicy, is_loopback
from vitals.api.cache import CachedResponse, ResponseCache, cache_key, ttl_for_range
from vitals.api.errors import ApiError, from_query_error
from vitals.api.openapi import build_openapi
from vitals.api.params import (
    negotiate_format,
    parse_duration_ms,
    parse_time,
    query_from_body,
    query_from_params,
)
from vitals.query.plan import resolve_aggs
from vitals.query.types import AmbiguousPointError, QueryLimitError, UnknownSiteError

T = 1_795_651_200_000  # 2026-11-26T00:00:00Z


@pytest.mark.parametrize(
    "raw, expected",
    [
        (T, T),
        (str(T), T),
        ("2026-11-26", T),
        ("2026-11-26T00:00:00Z", T),
        ("2026-11-26T00:00:00", T),
        ("2026-11-25T18:00:00-06:00", T),
        ("2026-11-26T00:00:00.123456Z", T + 123),
        (" 2026-11-26 ", T),
    ],
)
def test_parse_time_accepts_iso_and_epoch_ms(raw, expected):
    assert parse_time("start", raw) == expected


@pytest.mark.parametrize(
    "raw, message",
    [
        ("1795651200", "not seconds"),
        ("2026-11-26T00:00:00+15:00", "UTC offset"),
        (1.7e12, "float"),
        (True, "got True"),
        ("soon", "neither ISO 8601"),
        ("x" * 100, "must be ISO 8601"),
    ],
)
def test_parse_time_refusals_name_the_value(raw, message):
    with pytest.raises(ApiError) as info:
        parse_time("start", raw)
    assert (
        info.value.status == 400 and message in info.value.detail and "start" in info.value.detail
    )


def test_durations_aggs_and_formats():
    assert parse_duration_ms("max_gap", "15m") == 900_000
    assert parse_duration_ms("max_gap", 5000) == 5000
    assert parse_duration_ms("max_gap", "2d") == 172_800_000
    assert resolve_aggs(None, "1h") == ("avg",) and resolve_aggs(None, "raw") == ()
    assert resolve_aggs(["min", "MAX"], "5m") == ("min", "max")
    assert negotiate_format(None, "text/csv, */*") == "csv"
    assert negotiate_format(None, "application/vnd.apache.arrow.stream") == "arrow"
    assert negotiate_format("json", "text/csv") == "json"
    assert negotiate_format(None, None) == "json"


def test_get_and_post_build_the_same_query():
    params = [
        ("site", "s1"),
        ("points", "A"),
        ("points", "b"),
        ("start", str(T)),
        ("end", "2026-11-27"),
        ("interval", "1h"),
        ("agg", "avg,max"),
        ("fill", "linear"),
        ("max_gap", "2h"),
    ]
    body = {
        "site": "s1",
        "points": ["A", "b"],
        "start": T,
        "end": "2026-11-27",
        "interval": "1h",
        "agg": ["avg", "max"],
        "fill": "linear",
        "max_gap": 7_200_000,
    }
    assert query_from_params(params, None) == query_from_body(body, None)


def test_query_errors_keep_their_status():
    assert from_query_error(AmbiguousPointError("x matches A, a")).status == 409
    assert from_query_error(UnknownSiteError("nope")).code == "unknown_site"
    limit = from_query_error(QueryLimitError("too many"))
    assert (limit.status, limit.code, limit.detail) == (422, "limit_exceeded", "too many")


def _entry(size: int) -> CachedResponse:
    return CachedResponse(b"x" * size, "application/json", 1, ("hot",))


def test_cache_key_is_sha256_of_canonical_query():
    a = cache_key({"site": "s", "points": ["a", "b"], "start": 1})
    assert a == cache_key({"start": 1, "points": ["a", "b"], "site": "s"})
    assert a != cache_key({"site": "s", "points": ["b", "a"], "start": 1})
    assert len(a) == 64 and int(a, 16) >= 0


def test_cache_lru_by_bytes_and_ttl():
    now = [0.0]
    cache = ResponseCache(max_bytes=3 * 1512, clock=lambda: now[0])
    for key in "abc":
        assert cache.put(key, _entry(1000), ttl_s=60)
    assert cache.get("a") is not None  # a is now most recent
    cache.put("d", _entry(1000), ttl_s=60)
    assert cache.get("b") is None and cache.get("a") is not None and cache.evictions == 1
    assert cache.total_bytes == 3 * 1512
    assert not cache.put("huge", _entry(10_000), ttl_s=60)  # larger than the cache: not kept
    now[0] = 61.0
    assert cache.get("a") is None and len(cache) == 2  # expired entries drop on read


def test_ttl_short_in_hot_window_long_after():
    day = 86_400_000
    common = {"now_ms": 100 * day, "hot_storage_days": 20, "hot_ttl_s": 30.0, "cold_ttl_s": 3600.0}
    assert ttl_for_range(100 * day, **common) == 30.0
    assert ttl_for_range(80 * day + 1, **common) == 30.0
    assert ttl_for_range(80 * day, **common) == 3600.0


def test_single_flight_shares_one_computation_and_never_caches_failures():
    cache = ResponseCache()
    calls = []

    async def compute():
        calls.append(1)
        await asyncio.sleep(0.05)
        return _entry(10), 60.0

    async def failing():
        calls.append("f")
        await asyncio.sleep(0.01)
        raise ApiError(404, "unknown_point", "no")

    async def scenario():
        results = await asyncio.gather(*(cache.get_or_compute("k", compute) for _ in range(5)))
        assert [hit for _, hit in results] == [False, True, True, True, True]
        for _ in range(2):
            with pytest.raises(ApiError):
                await cache.get_or_compute("bad", failing)

    asyncio.run(scenario())
    assert calls == [1, "f", "f"]


def test_auth_policy():
    policy = AuthPolicy(("alpha", "beta"))
    assert policy.check("Bearer beta", "10.0.0.1") == (True, "")
    assert policy.check("bearer alpha", None)[0]
    assert not policy.check("Bearer alph", "127.0.0.1")[0]
    assert not policy.check(None, "127.0.0.1")[0]
    assert "alpha" not in repr(policy)
    keyless = AuthPolicy(())
    assert keyless.check(None, "127.0.0.1")[0] and keyless.check(None, "::1")[0]
    assert not keyless.check(None, "192.168.1.5")[0]
    assert AuthPolicy((), allow_anonymous=True).check(None, "192.168.1.5")[0]
    assert (
        is_loopback("127.8.9.10") and not is_loopback("0.0.0.0") and not is_loopback("testclient")
    )
    cors = CorsPolicy(("https://a.example",))
    assert cors.allows("https://a.example") and not cors.allows("https://a.example.evil")
    assert cors.allow_origin_value("https://a.example") == "https://a.example"


def test_openapi_document_validates():
    validate_openapi(build_openapi())


def test_accepts_gzip():
    from vitals.api.service import accepts_gzip

    assert (
        accepts_gzip("gzip, deflate, br")
        and accepts_gzip("*")
        and accepts_gzip("br;q=1, gzip;q=0.5")
    )
    assert not accepts_gzip(None) and not accepts_gzip("identity") and not accepts_gzip("gzip;q=0")


def test_gzip_if_worth_is_standard_gzip_of_the_exact_body():
    """ISA-L's gzip must decode with the standard library to the very bytes, at any size."""
    import gzip
    import random

    import orjson

    from vitals.api.service import GZIP_MIN_BYTES, gzip_if_worth

    rng = random.Random(3)
    chart = orjson.dumps(
        {
            "series": [
                {
                    "t": [1_735_689_600_000 + k * 3_600_000 for k in range(8_760)],
                    "avg": [round(55 + rng.random() * 7, 4) for _ in range(8_760)],
                }
            ]
        }
    )
    noise = bytes(rng.randrange(256) for _ in range(70_000))  # incompressible
    for body in (chart, noise, b"x" * GZIP_MIN_BYTES, chart[: GZIP_MIN_BYTES + 1]):
        packed = gzip_if_worth(body)
        assert packed is not None and packed[:2] == b"\x1f\x8b"  # gzip magic
        assert packed[4:8] == b"\0\0\0\0"  # mtime 0: the same answer packs the same
        assert gzip.decompress(packed) == body
    assert len(gzip_if_worth(chart) or b"") * 3 < len(chart)
    assert gzip_if_worth(b"y" * (GZIP_MIN_BYTES - 1)) is None
