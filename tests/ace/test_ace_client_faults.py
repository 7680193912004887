"""ACE client under faults: retries, Retry-After, malformed pages, breaker, throttling, secrets."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import httpx
import pytest

from tests.ace.test_ace_client import HOUR, KEY, START, FakeAce, make_ace, sample
from vitals.ace.http import AceApiError, CircuitOpenError, RetryPolicy, parse_retry_after


def samples(n: int = 150) -> list[dict]:
    return [sample(f"p{i % 3}", START + i * 1000, str(i)) for i in range(n)]


def status(code: int, **headers: str):
    return lambda request: httpx.Response(code, headers=headers, json={"detail": f"status {code}"})


def raise_(exc_type: type[Exception]):
    def responder(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return responder


def body(raw: bytes):
    return lambda request: httpx.Response(
        200, content=raw, headers={"Content-Type": "application/json"}
    )


def test_429_is_retried_after_the_servers_retry_after(tmp_path):
    fake = FakeAce(samples())
    fake.queue(status(429, **{"Retry-After": "0.4"}), status(429, **{"Retry-After": "0.4"}))
    began = time.monotonic()
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert time.monotonic() - began >= 0.8
    assert pull.table.num_rows == 150
    assert (pull.stats.requests, pull.stats.retries, pull.stats.pages) == (4, 2, 2)
    assert pull.stats.throttled_429 == 2
    assert pull.stats.retry_wait_seconds == pytest.approx(0.8)


def test_a_5xx_burst_is_retried_with_backoff(tmp_path):
    fake = FakeAce(samples())
    fake.queue(status(503), status(500), status(502))
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.column("value").to_pylist() == [str(i) for i in range(150)]
    assert pull.stats.retries == 3 and pull.stats.throttled_429 == 0  # 5xx is not a 429


@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_connection_errors_timeouts_and_dropped_connections_are_retried(tmp_path, error):
    fake = FakeAce(samples())
    fake.queue(raise_(error))
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 150 and pull.stats.retries == 1


def test_a_dropped_connection_mid_window_resumes_at_the_same_cursor(tmp_path):
    fake = FakeAce(samples())
    dropped: list[str] = []

    def drop_second_page_once(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "100" and not dropped:
            dropped.append("once")
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return fake.handle(request)

    ace = make_ace(tmp_path, fake).with_transport(httpx.MockTransport(drop_second_page_once))
    pull = ace.fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 150 and pull.stats.retries == 1
    # The retry asks for the same cursor again: no page is skipped or repeated.
    assert [r.url.params.get("cursor") for r in fake.export_requests()] == [None, "100"]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"point_samples": [{"name": "p", "ti',
        b"",
        b"<html>502</html>",
        b'["not", "an", "object"]',
        b'{"point_samples": 5}',
        b'{"point_samples": [], "has_more": "yes"}',
    ],
)
def test_a_malformed_page_is_retried_then_succeeds(tmp_path, raw):
    fake = FakeAce(samples())
    fake.queue(body(raw))
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 150 and pull.stats.retries == 1


def test_a_persistently_malformed_page_fails_with_a_clear_message(tmp_path):
    fake = FakeAce(samples())
    fake.queue(*[body(b'{"point_samples": [') for _ in range(3)])
    with pytest.raises(AceApiError) as info:
        make_ace(tmp_path, fake, max_retries=2).fetch_site_window("acme_hq", START, START + HOUR)
    message = str(info.value)
    assert "site 'acme_hq' window [2025-10-12T00:00:00.000Z, 2025-10-12T01:00:00.000Z)" in message
    assert "failed after 3 attempts: HTTP 200 with a malformed body: not JSON" in message
    assert info.value.status == 200


def test_exhausted_retries_name_site_window_and_status(tmp_path):
    fake = FakeAce(samples())
    fake.queue(*[status(503) for _ in range(3)])
    with pytest.raises(
        AceApiError,
        match=r"site 'acme_hq' window .* failed after 3 attempts: "
        r"HTTP 503 status 503",
    ) as info:
        make_ace(tmp_path, fake, max_retries=2).fetch_site_window("acme_hq", START, START + HOUR)
    assert info.value.status == 503 and info.value.site == "acme_hq"


def test_a_persistent_outage_opens_the_breaker_then_it_recovers(tmp_path):
    fake = FakeAce(samples())
    fake.queue(*[status(503) for _ in range(3)])
    ace = make_ace(
        tmp_path, fake, breaker_failure_threshold=3, max_retries=6, breaker_cooldown_seconds=1.0
    )
    with pytest.raises(CircuitOpenError, match=r"site 'acme_hq' window .*circuit .* is open"):
        ace.fetch_site_window("acme_hq", START, START + HOUR)
    assert len(fake.requests) == 3
    # Another run sharing the state folder fails fast without sending anything.
    other = make_ace(tmp_path, fake, breaker_failure_threshold=3, breaker_cooldown_seconds=1.0)
    with pytest.raises(CircuitOpenError, match="next probe in"):
        other.list_sites()
    assert len(fake.requests) == 3
    time.sleep(1.05)  # cool-down over: one probe goes through; the server is healthy again
    pull = other.fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 150
    assert ace.list_sites() == ["acme_hq"]


def test_a_failed_probe_keeps_the_breaker_open(tmp_path):
    fake = FakeAce(samples())
    fake.queue(*[status(500) for _ in range(3)])
    ace = make_ace(
        tmp_path, fake, breaker_failure_threshold=2, max_retries=1, breaker_cooldown_seconds=1.0
    )
    with pytest.raises(AceApiError):
        ace.list_sites()
    time.sleep(1.05)
    with pytest.raises(CircuitOpenError):
        ace.list_sites()  # the probe fails (third 500), the breaker re-opens
    assert len(fake.requests) == 3
    with pytest.raises(CircuitOpenError):
        ace.list_sites()
    assert len(fake.requests) == 3


def test_client_errors_do_not_open_the_breaker_and_are_not_retried(tmp_path):
    fake = FakeAce(samples())
    fake.queue(*[status(400) for _ in range(6)])
    ace = make_ace(tmp_path, fake, breaker_failure_threshold=2)
    for _ in range(6):
        with pytest.raises(AceApiError, match=r"HTTP 400 \(status 400\)"):
            ace.fetch_site_window("acme_hq", START, START + HOUR)
    assert len(fake.requests) == 6
    assert ace.fetch_site_window("acme_hq", START, START + HOUR).table.num_rows == 150


def test_a_request_that_cannot_be_sent_names_the_call(tmp_path):
    fake = FakeAce(samples())
    fake.queue(raise_(httpx.LocalProtocolError))
    with pytest.raises(
        AceApiError,
        match=r"site 'acme_hq' window .* could not be sent: "
        r"LocalProtocolError",
    ):
        make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert len(fake.requests) == 1


def test_a_redirect_is_a_clear_error_not_followed(tmp_path):
    fake = FakeAce(samples())
    fake.queue(lambda r: httpx.Response(301, headers={"Location": "http://elsewhere/api/sites"}))
    with pytest.raises(AceApiError, match="HTTP 301 redirect to 'http://elsewhere/api/sites'"):
        make_ace(tmp_path, fake).list_sites()
    assert len(fake.requests) == 1


def test_deeply_nested_json_is_malformed_not_a_crash(tmp_path):
    fake = FakeAce(samples())
    fake.queue(body(b"[" * 100_000 + b"]" * 100_000))
    pull = make_ace(tmp_path, fake).fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.table.num_rows == 150 and pull.stats.retries == 1


def test_the_shared_rate_limit_waits_are_counted(tmp_path):
    fake = FakeAce(samples(350))
    ace = make_ace(tmp_path, fake, requests_per_minute=2, rate_limit_window_seconds=0.4)
    pull = ace.fetch_site_window("acme_hq", START, START + HOUR)
    assert pull.stats.pages == 4 and pull.stats.throttle_waits >= 1
    assert pull.stats.throttle_wait_seconds >= 0.3
    stamps = sorted(fake.request_times)
    assert len(stamps) == 4
    assert all(later - earlier >= 0.3 for earlier, later in zip(stamps, stamps[2:], strict=False))


def test_the_api_key_never_reaches_logs_or_errors(tmp_path, caplog):
    fake = FakeAce(samples())
    leaky = {"detail": f"bad token {KEY}"}
    fake.queue(lambda r: httpx.Response(503, json=leaky), lambda r: httpx.Response(503, json=leaky))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AceApiError) as info:
        make_ace(tmp_path, fake, max_retries=1).fetch_site_window("acme_hq", START, START + HOUR)
    assert KEY not in str(info.value) and "bad token ***" in str(info.value)
    assert KEY not in caplog.text and "retry 1/1" in caplog.text


def test_retry_after_parsing_and_the_backoff_policy():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    policy = RetryPolicy(backoff_base_seconds=1, backoff_max_seconds=8, retry_after_max_seconds=20)
    assert policy.delay(0, 5.0) == 5.0 and policy.delay(0, 500.0) == 20.0
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (9, 8)]:
        delays = [policy.delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
