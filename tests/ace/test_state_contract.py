"""One contract for the shared limiter/breaker state, on SQLite and on PostgreSQL.

Each "host" is its own process (``tests/ace/state_worker.py``), optionally with its
wall clock shifted by minutes; they share only the state database. The contract:
exactly N sends per window across processes, every breaker transition, one timeline
although the hosts' clocks disagree (the database's clock is used), and a holder
killed with SIGKILL inside its transaction leaves nothing behind and blocks no one.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
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
from vitals.ace.rate_limit import SharedRateLimiter
from vitals.ace.state import StateStoreError, open_state
from vitals.config import load_settings

REPO = Path(__file__).resolve().parents[2]
SKEWED = (-120.0, 0.0, 120.0)  # seconds: hosts two minutes behind, on time, ahead


def max_in_any_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t < first + window) for i, first in enumerate(stamps))


class Worker:
    """One state_worker process; its JSON events arrive on a queue."""

    def __init__(self, job: dict, *, clock_offset: float = 0.0) -> None:
        env = {**os.environ, "VITALS_TEST_CLOCK_OFFSET": str(clock_offset)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ace.state_worker", json.dumps(job)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, event: str, timeout: float = 30.0) -> dict:
        got = self.events.get(timeout=timeout)
        assert got["event"] == event, got
        return got

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self) -> None:
        assert self.proc.wait(timeout=30) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state(request, tmp_path) -> str:
    """A fresh shared state: a SQLite file, or an empty PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "ace_client.sqlite")
    return request.getfixturevalue("pg_url")


def start_all(workers: list[Worker]) -> list[dict]:
    ready = [w.next("ready") for w in workers]
    for w in workers:
        w.go()
    return ready


# ----------------------------------------------------------------------- rate limiter


def run_limiter_hosts(state: str, offsets: tuple[float, ...], limit: int, window: float):
    SharedRateLimiter(state, limit=limit, window_seconds=window, bucket="ace")  # schema once
    job = {"kind": "acquire", "state": state, "limit": limit, "window": window, "bucket": "ace"}
    workers = [Worker({**job, "count": limit}, clock_offset=o) for o in offsets]
    try:
        ready = start_all(workers)
        grants = [w.next("grant") for w in workers for _ in range(limit)]
        for w in workers:
            w.finish()
    finally:
        for w in workers:
            w.kill()
    return ready, grants


def assert_exactly_n_per_window(grants: list[dict], limit: int, window: float, hosts: int):
    assert len(grants) == hosts * limit
    # As the processes saw their sends (one machine's monotonic clock), with jitter slack.
    assert max_in_any_window([g["mono"] for g in grants], 0.75 * window) <= limit
    # As the state database recorded them: exact.
    db = sorted(g["db"] for g in grants)
    # Never more than N in any window, and the limiter does let N through (not stricter).
    assert max_in_any_window(db, window) == limit
    for earlier, later in zip(db, db[limit:], strict=False):
        assert later - earlier >= window
    assert (hosts - 1) * window <= db[-1] - db[0] < (hosts - 1) * window + 3.0


def test_exactly_n_sends_per_window_across_processes(state):
    limit, window = 4, 1.0
    _ready, grants = run_limiter_hosts(state, (0.0, 0.0, 0.0), limit, window)
    assert_exactly_n_per_window(grants, limit, window, hosts=3)


def test_hosts_whose_clocks_disagree_still_share_one_window(state):
    """Host clocks two minutes apart: with host time, the host ahead would drop every
    other host's sends as older than the window and send a full window of its own."""
    limit, window = 4, 1.0
    ready, grants = run_limiter_hosts(state, SKEWED, limit, window)
    host_clocks = [r["host_time"] for r in ready]
    assert max(host_clocks) - min(host_clocks) > 200  # the fake clocks really disagree
    assert_exactly_n_per_window(grants, limit, window, hosts=3)
    db_now = open_state(state).now()
    assert all(abs(g["db"] - db_now) < 30 for g in grants)  # one timeline: the database's


def test_a_limiter_holder_killed_mid_transaction_blocks_no_one_and_leaves_no_send(state):
    limiter = SharedRateLimiter(state, limit=100, window_seconds=60, bucket="ace")
    holder = Worker({"kind": "hold-limiter", "state": state, "bucket": "ace"})
    try:
        holder.next("holding")  # inside acquire's transaction, its send inserted
        granted: list[float] = []
        waiter = threading.Thread(target=lambda: granted.append(limiter.acquire().granted_at))
        waiter.start()
        waiter.join(0.7)
        assert waiter.is_alive(), "a second acquire must wait for the holder's lock"
        killed_at = time.monotonic()
        holder.kill()
        waiter.join(15)
        assert not waiter.is_alive() and granted
        assert time.monotonic() - killed_at < 5.0
    finally:
        holder.kill()
    assert holder.proc.returncode == -signal.SIGKILL
    assert limiter.sends_in_window() == 1  # the killed holder's send was rolled back


# -------------------------------------------------------------------- circuit breaker


def breaker(state: str, **kwargs) -> SharedCircuitBreaker:
    kwargs.setdefault("failure_threshold", 3)
    kwargs.setdefault("cooldown_seconds", 1.0)
    return SharedCircuitBreaker(state, name="ace", **kwargs)


def test_closed_opens_after_the_threshold_and_open_fails_fast(state):
    cb, other = breaker(state), breaker(state)
    for _ in range(2):
        cb.before_request()
        cb.record_failure("HTTP 503")
    assert other.snapshot().state == CLOSED
    other.record_failure("HTTP 503 from another caller")
    snap = cb.snapshot()
    assert (snap.state, snap.failures) == (OPEN, 3)
    with pytest.raises(BreakerOpenError, match="last failure: HTTP 503 from another caller") as e:
        cb.before_request()
    assert 0 < e.value.retry_in_seconds <= 1.0
    cb.record_success()  # a success in between resets the count
    cb.record_failure("x")
    assert cb.snapshot().state == CLOSED and cb.snapshot().failures == 1


def test_half_open_lets_one_probe_through_and_its_success_closes(state):
    cb, other = breaker(state), breaker(state)
    for _ in range(3):
        cb.record_failure("down")
    time.sleep(1.05)
    cb.before_request()  # the probe
    assert other.snapshot().state == HALF_OPEN
    with pytest.raises(BreakerOpenError):
        other.before_request()  # a second caller while the probe is in flight
    cb.record_success()
    assert other.snapshot().state == CLOSED
    other.before_request()


def test_a_failed_probe_reopens_for_another_cooldown(state):
    cb = breaker(state)
    for _ in range(3):
        cb.record_failure("down")
    time.sleep(1.05)
    cb.before_request()
    cb.record_failure("still down")
    assert cb.snapshot().state == OPEN
    with pytest.raises(BreakerOpenError) as info:
        cb.before_request()
    assert 0.8 < info.value.retry_in_seconds <= 1.0


def test_exactly_one_probe_across_hosts_whose_clocks_disagree(state):
    """The host two minutes ahead must not see the cool-down as long over."""
    cooldown = 1.5
    cb = breaker(state, failure_threshold=1, cooldown_seconds=cooldown)
    job = {"kind": "probe", "state": state, "name": "ace", "cooldown": cooldown}
    workers = [Worker({**job, "for_seconds": cooldown + 1.0}, clock_offset=o) for o in SKEWED]
    try:
        for w in workers:
            w.next("ready")
        cb.record_failure("HTTP 503")
        opened = time.monotonic()
        for w in workers:
            w.go()
        answers = [w.events.get(timeout=30) for w in workers]
        for w in workers:
            w.finish()
    finally:
        for w in workers:
            w.kill()
    through = [a for a in answers if a["event"] == "through"]
    assert len(through) == 1, answers
    assert through[0]["mono"] - opened >= cooldown - 0.05
    assert cb.snapshot().state == HALF_OPEN


def test_a_breaker_holder_killed_mid_transaction_leaves_it_closed(state):
    cb = breaker(state, failure_threshold=1)
    holder = Worker({"kind": "hold-breaker", "state": state, "name": "ace"})
    try:
        holder.next("holding")  # has written "open" inside its transaction
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.append(cb.snapshot().state))
        reader.start()
        reader.join(0.7)
        assert reader.is_alive(), "the breaker row must be locked by the holder"
        holder.kill()
        reader.join(15)
        assert seen == [CLOSED]  # the uncommitted "open" was rolled back
    finally:
        holder.kill()
    cb.record_failure("HTTP 503")
    assert cb.snapshot().state == OPEN  # and the breaker still works


# ------------------------------------------------------------------ selection, secrets


def test_state_url_defaults_to_a_postgres_hot_store_and_sqlite_stays_embedded(tmp_path):
    pg = "postgresql://u:SECRET-ST@127.0.0.1:5432/vitals"
    base = {"VITALS_DATA_DIR": str(tmp_path)}
    assert load_settings(base).state_url is None
    assert load_settings({**base, "VITALS_HOT_STORE": pg}).state_url == pg
    assert (
        load_settings({**base, "VITALS_HOT_STORE": pg, "VITALS_STATE_URL": "sqlite"}).state_url
        is None
    )
    other = "postgresql://state@db2/state"
    assert load_settings({**base, "VITALS_STATE_URL": other}).state_url == other
    assert "SECRET-ST" not in repr(load_settings({**base, "VITALS_STATE_URL": pg}))
    with pytest.raises(ValueError, match=r"VITALS_STATE_URL must be .*redis://u:\*\*\*@") as bad:
        load_settings({**base, "VITALS_STATE_URL": "redis://u:SECRET-ST@127.0.0.1:6379/0"})
    assert "SECRET-ST" not in str(bad.value)


def test_an_unreachable_state_database_is_named_without_its_password():
    url = "postgresql://vitals:SECRET-STATE-pw@127.0.0.1:1/state"
    with pytest.raises(StateStoreError, match=r"127\.0\.0\.1:1") as failed:
        SharedRateLimiter(url, limit=1)
    assert "SECRET-STATE-pw" not in str(failed.value) and "***" in str(failed.value)
    malformed = url.replace("SECRET-STATE-pw", "SECRET-STATE-pw%ZZ")  # libpq echoes the token
    with pytest.raises(StateStoreError) as echoed:
        SharedCircuitBreaker(malformed, name="ace")
    assert "SECRET-STATE-pw" not in str(echoed.value)
