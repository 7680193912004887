"""A request rate limit shared by every process that reaches one state database.

Why: ACE allows a fixed number of requests per minute per account, and Dagster runs
each partition in its own process, on this machine or on others, so an in-memory
limiter would let N concurrent runs send N times the limit. The limiter keeps the send
times of the last window in the shared state database (:mod:`vitals.ace.state`: a
SQLite file under the state folder by default, PostgreSQL when ``VITALS_STATE_URL`` or
a PostgreSQL hot store says so); every acquire is one transaction holding the bucket's
lock, so at most ``limit`` requests start in any window of ``window_seconds`` across
all processes that share the database. Send times come from the database's clock, read
after the lock is taken, so hosts whose clocks disagree still count one window. A
sliding log is used rather than a token bucket because it is exact for "N per minute"
(a bucket lets a burst plus a refill exceed N inside one minute).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from vitals.ace.state import StateBackend, StateTx, open_state, open_state_db

__all__ = ["Permit", "SharedRateLimiter", "open_state_db"]


def _schema(real: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS rate_limit_sends (bucket TEXT NOT NULL, sent_at {real} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS rate_limit_sends_bucket ON rate_limit_sends (bucket, sent_at)",
    ]


SCHEMAS = {"sqlite": _schema("REAL"), "postgres": _schema("DOUBLE PRECISION")}


@dataclass(frozen=True)
class Permit:
    """One granted request slot and how long the caller waited for it."""

    waited_seconds: float
    waits: int  # how many times the caller had to sleep (0 when the slot was free)
    granted_at: float  # the state database's clock (epoch s) recorded for this send


class SharedRateLimiter:
    """At most ``limit`` acquisitions per ``window_seconds``, across processes and hosts.

    ``state`` is a SQLite file path or a ``postgresql://`` URL; every process that opens
    the same state with the same ``bucket`` shares the limit. Entries from a database
    clock that jumped back beyond a window are discarded.
    """

    def __init__(
        self,
        state: Path | str,
        *,
        limit: int,
        window_seconds: float = 60.0,
        bucket: str = "default",
    ) -> None:
        if limit <= 0:
            raise ValueError(f"rate limit must be a positive number of requests, got {limit!r}")
        if window_seconds <= 0:
            raise ValueError(f"rate limit window must be positive seconds, got {window_seconds!r}")
        self.state: StateBackend = open_state(state)
        self.limit = limit
        self.window_seconds = float(window_seconds)
        self.bucket = bucket
        self.state.ensure_schema(SCHEMAS[self.state.kind])

    def _take(self, tx: StateTx) -> float:
        """Take a slot (return 0.0) or return how long to wait before trying again."""
        now = tx.now
        tx.execute(
            "DELETE FROM rate_limit_sends WHERE bucket = ? AND (sent_at <= ? OR sent_at > ?)",
            (self.bucket, now - self.window_seconds, now + self.window_seconds),
        )
        [(count, oldest)] = tx.execute(
            "SELECT COUNT(*), MIN(sent_at) FROM rate_limit_sends WHERE bucket = ?",
            (self.bucket,),
        )
        if count < self.limit:
            tx.execute(
                "INSERT INTO rate_limit_sends (bucket, sent_at) VALUES (?, ?)", (self.bucket, now)
            )
            return 0.0
        # The slot frees when the (count - limit + 1)-th oldest send leaves the window.
        nth = tx.execute(
            "SELECT sent_at FROM rate_limit_sends WHERE bucket = ? "
            "ORDER BY sent_at LIMIT 1 OFFSET ?",
            (self.bucket, count - self.limit),
        )
        start = nth[0][0] if nth else oldest
        return float(max(start + self.window_seconds - now, 0.001))

    def acquire(self, *, max_wait_seconds: float | None = None) -> Permit:
        """Block until a request may be sent; return how long (and how often) we waited.

        Raises ``TimeoutError`` naming the limit if ``max_wait_seconds`` would be
        exceeded (used so a run never hangs silently behind other runs). Waits are
        durations (the host's monotonic clock); only instants come from the database.
        """
        started = time.monotonic()
        waits = 0
        while True:
            with self.state.locked(f"rate_limit:{self.bucket}") as tx:
                wait = self._take(tx)
                granted_at = tx.now
            if wait == 0.0:
                return Permit(time.monotonic() - started, waits, granted_at)
            elapsed = time.monotonic() - started
            if max_wait_seconds is not None and elapsed + wait > max_wait_seconds:
                raise TimeoutError(
                    f"rate limit of {self.limit} requests per {self.window_seconds:g} s "
                    f"(bucket {self.bucket!r}) kept this request waiting over "
                    f"{max_wait_seconds:g} s"
                )
            waits += 1
            time.sleep(wait)

    def sends_in_window(self) -> int:
        """Requests started within the last window (for tests and metrics)."""
        with self.state.locked(f"rate_limit:{self.bucket}") as tx:
            [(count,)] = tx.execute(
                "SELECT COUNT(*) FROM rate_limit_sends WHERE bucket = ? AND sent_at > ?",
                (self.bucket, tx.now - self.window_seconds),
            )
        return int(count)
