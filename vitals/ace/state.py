"""Where the rate limiter and circuit breaker keep their shared state: SQLite or PostgreSQL.

Why: every Dagster run is its own process, and in production runs start on other
machines (Celery workers, Kubernetes pods). A limit or a breaker kept per process, or
per machine, lets N runs send N times the vendor's limit and keeps hammering ACE during
an outage. State therefore lives in one database every process reaches:

- a SQLite file under the state folder (the embedded default; processes of one machine);
- PostgreSQL (``postgresql://`` URL, ``VITALS_STATE_URL``, by default the hot store when
  that is PostgreSQL), shared by every host.

Both give the same two things to :mod:`vitals.ace.rate_limit` and
:mod:`vitals.ace.circuit_breaker`: a transaction that holds a lock on one key (a
bucket, a breaker), and the time read from the database inside it, after the lock was
taken. The database's clock, never the host's, times windows and cool-downs, so hosts
whose clocks disagree still share one timeline. (SQLite's clock is the clock of the one
machine its file lives on.) A holder that dies mid-transaction releases its lock: the
operating system drops a dead process's SQLite file locks, and PostgreSQL rolls back
the transaction of a connection that is gone (``idle_in_transaction_session_timeout``
also ends one whose process hangs).

URLs are never shown with their password (:mod:`vitals.redact`).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.rows import TupleRow

from vitals.redact import redact_url, scrub

BUSY_TIMEOUT_SECONDS = 60.0  # the longest one caller waits for another's lock
# PostgreSQL ends a session left idle inside a transaction this long (a hung holder).
IDLE_IN_TRANSACTION_SECONDS = 30
_SQLITE_NOW = "SELECT (julianday('now') - 2440587.5) * 86400.0"
_PG_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"


class StateStoreError(RuntimeError):
    """The shared state database could not be reached or used (password masked)."""


def is_postgres_state(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL state database."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class StateTx(Protocol):
    """One open transaction holding the lock of one key."""

    now: float  # the database's clock, epoch seconds, read after the lock was taken

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) and return its rows (empty for none)."""
        ...


class StateBackend(Protocol):
    """A database shared by every process that limits or breaks for the same service."""

    kind: str  # "sqlite" | "postgres"
    location: str  # for messages: a file path or a URL with its password masked

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create the tables (idempotent; safe when many processes do it at once)."""
        ...

    def locked(self, key: str) -> Any:
        """A context manager: one transaction holding ``key``'s lock, yielding a StateTx."""
        ...

    def now(self) -> float:
        """The database's clock (epoch seconds) outside any transaction."""
        ...


def open_state(target: str | Path) -> StateBackend:
    """The state backend for ``target``: a ``postgresql://`` URL, else a SQLite file path.

    A ``redis://`` URL, or any other URL, is refused with its password masked.
    """
    if is_postgres_state(target):
        return PostgresState(str(target))
    text = str(target)
    path = text.removeprefix("sqlite:///")
    if "://" in path:
        raise ValueError(
            f"state location {redact_url(text)!r} is neither a SQLite file path nor a "
            "postgresql:// URL"
        )
    return SqliteState(Path(path))


# ----------------------------------------------------------------------------- SQLite


def open_state_db(path: Path) -> sqlite3.Connection:
    """Open a state SQLite file for short cross-process transactions.

    Autocommit mode (``isolation_level=None``) so each caller issues its own
    ``BEGIN IMMEDIATE``; WAL so readers never block the writer.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
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
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise sqlite3.OperationalError(f"state file {path}: {exc}") from exc
            time.sleep(0.02)


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self._conn = conn
        self.now = now

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()


class SqliteState:
    """State in one SQLite file: ``BEGIN IMMEDIATE`` is the lock (one writer per file)."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create the tables in the file (``IF NOT EXISTS``; one writer at a time)."""
        conn = open_state_db(self.path)
        try:
            conn.executescript(";\n".join(statements) + ";")
        finally:
            conn.close()

    @contextmanager
    def locked(self, key: str) -> Iterator[StateTx]:
        """The whole file is locked (keys are not separate locks in SQLite)."""
        conn = open_state_db(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                (now,) = conn.execute(_SQLITE_NOW).fetchone()
                yield _SqliteTx(conn, float(now))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def now(self) -> float:
        """SQLite's clock (this machine's, read by SQLite), epoch seconds."""
        conn = open_state_db(self.path)
        try:
            return float(conn.execute(_SQLITE_NOW).fetchone()[0])
        finally:
            conn.close()


# ------------------------------------------------------------------------- PostgreSQL


def _lock_id(key: str) -> int:
    """A stable signed 64-bit advisory-lock id for ``key`` (same in every process)."""
    digest = hashlib.blake2b(f"vitals-state:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _PgTx:
    def __init__(self, conn: psycopg.Connection[TupleRow], now: float) -> None:
        self._conn = conn
        self.now = now

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        cur = self._conn.execute(sql.replace("?", "%s"), tuple(params) or None)
        return cur.fetchall() if cur.description is not None else []


# One connection per (process, thread, URL): a new connection per request would cost a
# TCP and auth round trip for each of the three state calls a request makes.
_local = threading.local()
_schemas_done: set[tuple[str, tuple[str, ...]]] = set()


class PostgresState:
    """State in PostgreSQL: a transaction-scoped advisory lock per key."""

    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = redact_url(url)

    def _error(self, exc: BaseException) -> StateStoreError:
        return StateStoreError(
            f"state database {self.location}: {type(exc).__name__}: {scrub(str(exc), self.url)}"
        )

    def _connection(self) -> psycopg.Connection[TupleRow]:
        cache: dict[tuple[int, str], psycopg.Connection[TupleRow]] | None = getattr(
            _local, "connections", None
        )
        if cache is None:
            cache = _local.connections = {}
        key = (os.getpid(), self.url)  # a forked child must not share its parent's socket
        conn = cache.get(key)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=10,
                application_name="vitals-state",
                options=(
                    f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_SECONDS * 1000}"
                    f" -c lock_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}"
                ),
            )
        except psycopg.Error as exc:
            raise self._error(exc) from None
        cache[key] = conn
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[TupleRow]]:
        """One transaction; a connection found dead before it starts is replaced once."""
        conn = self._connection()
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            conn = self._connection()  # the broken one was dropped by the check above
        try:
            with conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise self._error(exc) from None

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create the tables once per process, serialised by an advisory lock."""
        done = (self.url, tuple(statements))
        if done in _schemas_done:
            return
        with self._transaction() as conn:
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalogue.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("schema"),))
            for statement in statements:
                conn.execute(statement)  # our own DDL text, no parameters
        _schemas_done.add(done)

    @contextmanager
    def locked(self, key: str) -> Iterator[StateTx]:
        """A transaction holding ``key``'s advisory lock; released at its end or on disconnect."""
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id(key),))
            row = conn.execute(_PG_NOW).fetchone()
            assert row is not None
            yield _PgTx(conn, float(row[0]))

    def now(self) -> float:
        """The server's ``clock_timestamp()``, epoch seconds."""
        with self._transaction() as conn:
            row = conn.execute(_PG_NOW).fetchone()
            assert row is not None
            return float(row[0])
