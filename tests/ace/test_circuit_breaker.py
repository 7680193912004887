"""The shared circuit breaker: open after N failures, fail fast, one probe, close on success."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from vitals.ace.circuit_breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerOpenError,
    SharedCircuitBreaker,
)


def breaker(path: Path, **kwargs) -> SharedCircuitBreaker:
    kwargs.setdefault("failure_threshold", 3)
    kwargs.setdefault("cooldown_seconds", 1.0)
    return SharedCircuitBreaker(path / "state.sqlite", name="ace", **kwargs)


def test_opens_after_consecutive_failures_and_fails_fast(tmp_path: Path):
    cb = breaker(tmp_path)
    for _ in range(2):
        cb.before_request()
        cb.record_failure("HTTP 503")
    assert cb.snapshot().state == CLOSED
    cb.record_failure("HTTP 503 again")
    state = cb.snapshot()
    assert (state.state, state.failures, state.last_error) == (OPEN, 3, "HTTP 503 again")
    with pytest.raises(BreakerOpenError, match=r"'ace' is open .*last failure: HTTP 503 again"):
        cb.before_request()


def test_a_success_resets_the_count(tmp_path: Path):
    cb = breaker(tmp_path)
    cb.record_failure("x")
    cb.record_failure("x")
    cb.record_success()
    cb.record_failure("x")
    assert cb.snapshot().state == CLOSED and cb.snapshot().failures == 1


def test_half_open_lets_exactly_one_probe_through_and_success_closes(tmp_path: Path):
    cb = breaker(tmp_path)
    other_process_view = breaker(tmp_path)
    for _ in range(3):
        cb.record_failure("down")
    time.sleep(1.05)
    cb.before_request()  # the probe
    assert cb.snapshot().state == HALF_OPEN
    with pytest.raises(BreakerOpenError):
        other_process_view.before_request()  # a second caller while the probe is in flight
    cb.record_success()
    assert other_process_view.snapshot().state == CLOSED
    other_process_view.before_request()


def test_a_failed_probe_reopens_for_another_cooldown(tmp_path: Path):
    cb = breaker(tmp_path)
    for _ in range(3):
        cb.record_failure("down")
    time.sleep(1.05)
    cb.before_request()
    cb.record_failure("still down")
    assert cb.snapshot().state == OPEN
    with pytest.raises(BreakerOpenError) as info:
        cb.before_request()
    assert 0 < info.value.retry_in_seconds <= 1.0


def test_a_probe_that_never_reports_is_replaced(tmp_path: Path):
    cb = breaker(tmp_path, probe_timeout_seconds=1.0)
    for _ in range(3):
        cb.record_failure("down")
    time.sleep(1.05)
    cb.before_request()  # this probe's process "dies"
    with pytest.raises(BreakerOpenError):
        cb.before_request()
    time.sleep(1.05)
    cb.before_request()  # a new probe is allowed


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"cooldown_seconds": -1}])
def test_bad_settings_are_refused(tmp_path: Path, kwargs):
    with pytest.raises(ValueError, match="breaker"):
        breaker(tmp_path, **kwargs)


def _fail_n_times(path: str, n: int) -> None:
    cb = SharedCircuitBreaker(path, name="ace", failure_threshold=3, cooldown_seconds=30)
    for _ in range(n):
        cb.record_failure("HTTP 502 seen by another process")


def test_state_is_shared_with_another_process(tmp_path: Path):
    path = tmp_path / "state.sqlite"
    cb = SharedCircuitBreaker(path, name="ace", failure_threshold=3, cooldown_seconds=30)
    proc = multiprocessing.get_context("spawn").Process(target=_fail_n_times, args=(str(path), 3))
    proc.start()
    proc.join(timeout=30)
    assert proc.exitcode == 0
    with pytest.raises(BreakerOpenError, match="seen by another process"):
        cb.before_request()
