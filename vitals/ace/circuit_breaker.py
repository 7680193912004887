"""A circuit breaker whose state is shared by every process (the shared state database).

Why: when ACE is down, every concurrent Dagster run (one process each, on this machine
or on others) would otherwise keep hammering it with retries. The breaker counts
consecutive failures of the service (5xx, connection errors, timeouts, malformed
bodies) across all processes; after ``failure_threshold`` of them it opens and every
caller fails fast. After ``cooldown_seconds`` it half-opens: exactly one caller (across
every host sharing the state) is let through as a probe; success closes the breaker,
failure re-opens it for another cool-down. A probe whose process died is forgotten
after ``probe_timeout_seconds``. State lives where the rate limiter's does
(:mod:`vitals.ace.state`: SQLite file or PostgreSQL), and every instant (opened at,
probe started at) is the database's clock, so hosts whose clocks disagree agree on
when the cool-down ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

from vitals.ace.state import StateBackend, StateTx, open_state

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

T = TypeVar("T")
# (state, failures, opened_at, probe_started_at, last_error)
Row = tuple[str, int, float | None, float | None, str | None]


def _schema(real: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS circuit_breakers (name TEXT PRIMARY KEY, state TEXT NOT NULL, "
        f"failures INTEGER NOT NULL, opened_at {real}, probe_started_at {real}, last_error TEXT)"
    ]


SCHEMAS = {"sqlite": _schema("REAL"), "postgres": _schema("DOUBLE PRECISION")}


class BreakerOpenError(RuntimeError):
    """The breaker is open (or half-open with a probe already in flight)."""

    def __init__(self, name: str, retry_in_seconds: float, last_error: str | None) -> None:
        self.name = name
        self.retry_in_seconds = retry_in_seconds
        self.last_error = last_error
        detail = f"; last failure: {last_error}" if last_error else ""
        super().__init__(
            f"circuit {name!r} is open after repeated failures; next probe in "
            f"{retry_in_seconds:.1f} s{detail}"
        )


@dataclass(frozen=True)
class BreakerState:
    """A snapshot of one breaker (for tests, metrics and error messages)."""

    name: str
    state: str
    failures: int
    opened_at: float | None
    last_error: str | None


class SharedCircuitBreaker:
    """Closed -> open after N consecutive failures -> half-open probe -> closed.

    ``state`` is a SQLite file path or a ``postgresql://`` URL (see
    :mod:`vitals.ace.state`); processes sharing it and ``name`` share one breaker.
    """

    def __init__(
        self,
        state: Path | str,
        *,
        name: str,
        failure_threshold: int = 5,
        cooldown_seconds: float = 60.0,
        probe_timeout_seconds: float = 120.0,
    ) -> None:
        if failure_threshold <= 0:
            raise ValueError(
                f"breaker failure threshold must be positive, got {failure_threshold!r}"
            )
        if cooldown_seconds < 0:
            raise ValueError(f"breaker cool-down must be >= 0 seconds, got {cooldown_seconds!r}")
        self.state: StateBackend = open_state(state)
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = float(cooldown_seconds)
        self.probe_timeout_seconds = float(probe_timeout_seconds)
        self.state.ensure_schema(SCHEMAS[self.state.kind])

    def _transact(self, change: Callable[[StateTx, Row, float], T]) -> T:
        """Run ``change(tx, row, now)`` in one transaction holding this breaker's lock."""
        with self.state.locked(f"breaker:{self.name}") as tx:
            rows = tx.execute(
                "SELECT state, failures, opened_at, probe_started_at, last_error "
                "FROM circuit_breakers WHERE name = ?",
                (self.name,),
            )
            current = cast(Row, rows[0]) if rows else (CLOSED, 0, None, None, None)
            return change(tx, current, tx.now)

    def _write(
        self,
        tx: StateTx,
        state: str,
        failures: int,
        opened_at: float | None,
        probe_started_at: float | None,
        last_error: str | None,
    ) -> None:
        tx.execute(
            "INSERT INTO circuit_breakers (name, state, failures, opened_at, probe_started_at, "
            "last_error) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
            "state = excluded.state, failures = excluded.failures, opened_at = excluded.opened_at, "
            "probe_started_at = excluded.probe_started_at, last_error = excluded.last_error",
            (self.name, state, failures, opened_at, probe_started_at, last_error),
        )

    def before_request(self) -> None:
        """Let a request through, or raise :class:`BreakerOpenError` (fail fast)."""

        def change(tx: StateTx, row: Row, now: float) -> None:
            state, failures, opened_at, probe_started_at, last_error = row
            if state == CLOSED:
                return
            if state == OPEN:
                reopen_at = (opened_at or now) + self.cooldown_seconds
                if now < reopen_at:
                    raise BreakerOpenError(self.name, reopen_at - now, last_error)
                self._write(tx, HALF_OPEN, failures, opened_at, now, last_error)
                return  # this caller is the probe
            # HALF_OPEN: one probe at a time; a probe that never reported is replaced.
            probe_age = now - (probe_started_at or 0.0)
            if probe_age < self.probe_timeout_seconds:
                wait = self.probe_timeout_seconds - probe_age
                raise BreakerOpenError(self.name, wait, last_error)
            self._write(tx, HALF_OPEN, failures, opened_at, now, last_error)

        self._transact(change)

    def record_success(self) -> None:
        """The service answered: close the breaker and reset the failure count."""

        def change(tx: StateTx, row: Row, now: float) -> None:
            if row[0] != CLOSED or row[1] != 0:
                self._write(tx, CLOSED, 0, None, None, None)

        self._transact(change)

    def record_failure(self, error: str) -> None:
        """The service failed: count it; open on the threshold or on a failed probe."""

        def change(tx: StateTx, row: Row, now: float) -> None:
            state, failures, opened_at, _probe, _last = row
            failures += 1
            if state == HALF_OPEN or (state == CLOSED and failures >= self.failure_threshold):
                self._write(tx, OPEN, failures, now, None, error)
            elif state == OPEN:
                self._write(tx, OPEN, failures, opened_at, None, error)
            else:
                self._write(tx, CLOSED, failures, None, None, error)

        self._transact(change)

    def snapshot(self) -> BreakerState:
        """The current shared state."""

        def change(tx: StateTx, row: Row, now: float) -> BreakerState:
            return BreakerState(self.name, row[0], row[1], row[2], row[4])

        return self._transact(change)
