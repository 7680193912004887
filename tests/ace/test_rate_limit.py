"""The shared rate limiter: exact sliding window, shared by processes through SQLite."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from vitals.ace.rate_limit import SharedRateLimiter, open_state_db


def max_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best = 0
    for i, first in enumerate(stamps):
        best = max(best, sum(1 for t in stamps[i:] if t < first + window))
    return best


def test_first_requests_are_free_then_the_window_throttles(tmp_path: Path):
    limiter = SharedRateLimiter(tmp_path / "state.sqlite", limit=3, window_seconds=1.0)
    started = time.monotonic()
    permits = [limiter.acquire() for _ in range(5)]
    took = time.monotonic() - started
    assert [p.waits for p in permits[:3]] == [0, 0, 0]
    assert permits[3].waits >= 1 and permits[3].waited_seconds > 0.3
    assert permits[3].granted_at - permits[0].granted_at >= 1.0
    assert permits[4].granted_at - permits[1].granted_at >= 1.0
    assert 1.0 <= took < 6
    assert limiter.sends_in_window() <= 3


def test_buckets_are_independent(tmp_path: Path):
    a = SharedRateLimiter(tmp_path / "s.sqlite", limit=1, window_seconds=30, bucket="a")
    b = SharedRateLimiter(tmp_path / "s.sqlite", limit=1, window_seconds=30, bucket="b")
    assert a.acquire().waits == 0
    assert b.acquire().waits == 0


def test_max_wait_raises_a_clear_error_instead_of_hanging(tmp_path: Path):
    limiter = SharedRateLimiter(tmp_path / "s.sqlite", limit=1, window_seconds=30, bucket="acme")
    limiter.acquire()
    with pytest.raises(TimeoutError, match=r"rate limit of 1 requests per 30 s \(bucket 'acme'\)"):
        limiter.acquire(max_wait_seconds=0.2)


@pytest.mark.parametrize("limit, window", [(0, 60), (5, 0), (-1, 1)])
def test_bad_settings_are_refused(tmp_path: Path, limit: int, window: float):
    with pytest.raises(ValueError, match="rate limit"):
        SharedRateLimiter(tmp_path / "s.sqlite", limit=limit, window_seconds=window)


def test_two_limiter_objects_on_one_file_share_the_limit(tmp_path: Path):
    first = SharedRateLimiter(tmp_path / "s.sqlite", limit=2, window_seconds=0.5)
    second = SharedRateLimiter(tmp_path / "s.sqlite", limit=2, window_seconds=0.5)
    first.acquire()
    first.acquire()
    assert second.acquire().waits >= 1


def _acquire_many(path: str, limit: int, window: float, count: int, out) -> None:
    limiter = SharedRateLimiter(path, limit=limit, window_seconds=window)
    for _ in range(count):
        out.put(limiter.acquire().granted_at)


def test_processes_sharing_a_state_file_stay_within_the_limit(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    path = str(tmp_path / "state.sqlite")
    limit, window, per_process = 4, 0.5, 6
    SharedRateLimiter(path, limit=limit, window_seconds=window)  # create the schema once
    procs = [
        ctx.Process(target=_acquire_many, args=(path, limit, window, per_process, out))
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    stamps = [out.get(timeout=30) for _ in range(3 * per_process)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    # 18 grants at 4 per 0.5 s need at least 4 windows; none may hold more than the limit
    # (the simulator test checks the sends as the server saw them).
    assert max_in_any_window(stamps, window) <= limit
    assert max(stamps) - min(stamps) >= 4 * window - 0.1


def _open_at_once(path: str, barrier, out) -> None:
    barrier.wait()
    try:
        conn = open_state_db(Path(path))
        out.put(conn.execute("PRAGMA journal_mode").fetchone()[0])
        conn.close()
    except Exception as exc:  # the report of the race is what the test asserts on
        out.put(f"error: {exc}")


def test_processes_opening_a_new_state_file_together_all_get_wal(tmp_path):
    """Runs that start together open the new state file together: none may fail with
    "database is locked" while another switches it to WAL."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(20):
        path = str(tmp_path / f"state-{round_}.sqlite")
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, out)) for _ in range(6)]
        for proc in procs:
            proc.start()
        answers = [out.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        assert answers == ["wal"] * 6, answers
