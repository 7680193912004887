"""A request rate limit shared by every process on the machine (SQLite sliding window).

Why: ACE allows a fixed number of requests per minute per account, and Dagster runs
each partition in its own process, so an in-memory limiter would let N concurrent runs
send N times the limit. The limiter keeps the send times of the last window in a small
SQLite file under the state folder; every acquire is one ``BEGIN IMMEDIATE``
transaction (a machine-wide lock), so at most ``limit`` requests start in any window
of ``window_seconds`` across all processes that share the file. A sliding log is used
rather than a token bucket because it is exact for "N per minute" (a bucket lets a
burst plus a refill exceed N inside one minute).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limit_sends (
    bucket TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limit_sends_bucket ON rate_limit_sends (bucket, sent_at);
"""
_BUSY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Permit:
    """One granted request slot and how long the caller waited for it."""

    waited_seconds: float
    waits: int  # how many times the caller had to sleep (0 when the slot was free)
    granted_at: float  # wall-clock time recorded in the shared window for this send


def open_state_db(path: Path) -> sqlite3.Connection:
    """Open a state SQLite file for short cross-process transactions.

    Autocommit mode (``isolation_level=None``) so each caller issues its own
    ``BEGIN IMMEDIATE``; WAL so readers never block the writer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
    _enable_wal(conn, path)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _enable_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch the file to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock and SQLite answers "database is
    locked" at once, without its busy handler, while another process holds one: two runs
    opening a new state file together raced here. WAL is stored in the file, so the
    switch happens once; later opens see it and skip it.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"state file {path}: {exc}") from exc
            time.sleep(0.02)


class SharedRateLimiter:
    """At most ``limit`` acquisitions per ``window_seconds``, across processes.

    Every process that opens the same ``path`` with the same ``bucket`` shares the
    limit. The wall clock is used because it is the one clock all processes share;
    entries from a clock that jumped back beyond a window are discarded.
    """

    def __init__(
        self, path: Path | str, *, limit: int, window_seconds: float = 60.0, bucket: str = "default"
    ) -> None:
        if limit <= 0:
            raise ValueError(f"rate limit must be a positive number of requests, got {limit!r}")
        if window_seconds <= 0:
            raise ValueError(f"rate limit window must be positive seconds, got {window_seconds!r}")
        self.path = Path(path)
        self.limit = limit
        self.window_seconds = float(window_seconds)
        self.bucket = bucket
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> _Closing:
        return _Closing(open_state_db(self.path))

    def _try_take(self, conn: sqlite3.Connection, now: float) -> float:
        """Take a slot (return 0.0) or return how long to wait before trying again."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM rate_limit_sends WHERE bucket = ? AND (sent_at <= ? OR sent_at > ?)",
                (self.bucket, now - self.window_seconds, now + self.window_seconds),
            )
            count, oldest = conn.execute(
                "SELECT COUNT(*), MIN(sent_at) FROM rate_limit_sends WHERE bucket = ?",
                (self.bucket,),
            ).fetchone()
            if count < self.limit:
                conn.execute(
                    "INSERT INTO rate_limit_sends (bucket, sent_at) VALUES (?, ?)",
                    (self.bucket, now),
                )
                wait = 0.0
            else:
                # The slot frees when the (count - limit + 1)-th oldest send leaves the window.
                nth = conn.execute(
                    "SELECT sent_at FROM rate_limit_sends WHERE bucket = ? "
                    "ORDER BY sent_at LIMIT 1 OFFSET ?",
                    (self.bucket, count - self.limit),
                ).fetchone()
                wait = max((nth[0] if nth else oldest) + self.window_seconds - now, 0.001)
            conn.execute("COMMIT")
            return wait
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def acquire(self, *, max_wait_seconds: float | None = None) -> Permit:
        """Block until a request may be sent; return how long (and how often) we waited.

        Raises ``TimeoutError`` naming the limit if ``max_wait_seconds`` would be
        exceeded (used so a run never hangs silently behind other runs).
        """
        started = time.monotonic()
        waits = 0
        with self._connect() as conn:
            while True:
                now = time.time()
                wait = self._try_take(conn, now)
                if wait == 0.0:
                    return Permit(time.monotonic() - started, waits, now)
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
        now = time.time()
        with self._connect() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM rate_limit_sends WHERE bucket = ? AND sent_at > ?",
                (self.bucket, now - self.window_seconds),
            ).fetchone()
        return int(count)


class _Closing:
    """Context manager that closes a sqlite3 connection (sqlite3's own only commits)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
