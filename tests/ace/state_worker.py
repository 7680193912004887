"""Test-only entry point: one "host" using the shared limiter or breaker in its own process.

``python -m tests.ace.state_worker '<json job>'`` prints one JSON line per event.
``VITALS_TEST_CLOCK_OFFSET`` (seconds) shifts this process's wall clock (``time.time``,
``time.time_ns``), as on a host whose clock is wrong; the limiter and breaker must not
care, because they read the state database's clock. ``hold-*`` jobs stop inside the
state transaction (after their write) and wait to be killed, so a test can SIGKILL a
holder mid-transaction.
"""

from __future__ import annotations

import json
import os
import sys
import time

OFFSET = float(os.environ.get("VITALS_TEST_CLOCK_OFFSET") or 0.0)
if OFFSET:
    _real_time, _real_time_ns = time.time, time.time_ns
    time.time = lambda: _real_time() + OFFSET
    time.time_ns = lambda: _real_time_ns() + int(OFFSET * 1e9)

from vitals.ace.circuit_breaker import BreakerOpenError, SharedCircuitBreaker  # noqa: E402
from vitals.ace.rate_limit import SharedRateLimiter  # noqa: E402


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def wait_for_go() -> None:
    """Tell the test this process is ready, then start when it writes a line."""
    emit(event="ready", host_time=time.time())
    sys.stdin.readline()


def hold_forever() -> None:
    emit(event="holding")
    time.sleep(600)


def main(job: dict) -> None:
    kind, state = job["kind"], job["state"]
    if kind == "acquire":
        limiter = SharedRateLimiter(
            state, limit=job["limit"], window_seconds=job["window"], bucket=job["bucket"]
        )
        wait_for_go()
        for _ in range(job["count"]):
            permit = limiter.acquire(max_wait_seconds=30)
            emit(event="grant", db=permit.granted_at, mono=time.monotonic(), host=time.time())
    elif kind == "probe":
        breaker = SharedCircuitBreaker(
            state, name=job["name"], failure_threshold=1, cooldown_seconds=job["cooldown"]
        )
        wait_for_go()
        deadline = time.monotonic() + job["for_seconds"]
        while time.monotonic() < deadline:  # keep asking, as retrying runs do
            try:
                breaker.before_request()
            except BreakerOpenError:
                time.sleep(0.02)
                continue
            emit(event="through", mono=time.monotonic())
            return
        emit(event="refused")
    elif kind == "hold-limiter":
        limiter = SharedRateLimiter(state, limit=100, window_seconds=60, bucket=job["bucket"])
        take = SharedRateLimiter._take

        def take_and_hold(self: SharedRateLimiter, tx) -> float:
            wait = take(self, tx)  # the send is inserted, the transaction still open
            hold_forever()
            return wait

        SharedRateLimiter._take = take_and_hold  # type: ignore[method-assign]
        limiter.acquire()
    elif kind == "hold-breaker":
        breaker = SharedCircuitBreaker(state, name=job["name"], failure_threshold=1)
        write = SharedCircuitBreaker._write

        def write_and_hold(self: SharedCircuitBreaker, *args: object) -> None:
            write(self, *args)  # the breaker is written open, not yet committed
            hold_forever()

        SharedCircuitBreaker._write = write_and_hold  # type: ignore[method-assign]
        breaker.record_failure("HTTP 503 from a process about to be killed")
    else:
        raise SystemExit(f"unknown job kind {kind!r}")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
