"""Response cache shared by the worker processes of one host: one SQLite (WAL) file.

With ``vitals serve --workers N`` each process keeps its in-memory LRU
(:class:`vitals.api.cache.ResponseCache`) in front of this file, so an answer computed
by one worker is a hit on every other (before, a repeat was a hit only on the worker
that computed it: 81 % hits on 2 workers against 95 % on 1).

It never serves what the in-process cache would not: entries carry the absolute
(wall-clock) expiry the computing worker gave its own copy, so an answer lives exactly
its hot or cold TTL however many workers pass it around; keys are the in-process keys
prefixed with a namespace holding the entry format and the *generation* of the server
run (a new ``vitals serve`` never reads answers cached by an earlier one, whose data
may since have changed while it was down). Bodies carry a CRC-32 checked on every read.

Any SQLite error (file locked past ``busy_timeout_s``, corrupt, unreadable) is counted
and answered as a miss (or a skipped write): the worker computes the answer as if there
were no shared cache. After a corruption the worker reopens the file a few seconds later
and, when it is not a database, moves it aside and starts a new one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from isal import isal_zlib

from vitals.api.cache import ENTRY_OVERHEAD, CachedResponse

_LOG = logging.getLogger("vitals.api.shared_cache")

ENTRY_FORMAT = 1  # bump when CachedResponse or rendering changes what a body means
DEFAULT_SHARED_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_BUSY_TIMEOUT_S = 0.05
REOPEN_AFTER_S = 5.0
_EVICT_BATCH = 16
# A worker computing an answer claims its key; the others poll for the entry instead of
# computing it too (on 2 workers, duplicate computations were a fifth of the misses). A
# claim older than this, or of a dead process, is void.
CLAIM_MAX_S = 60.0
POLL_S = (0.01, 0.02, 0.05, 0.1)
# No mmap (PRAGMA mmap_size): it halves a 1 MB shared hit (1.35 -> 0.76 ms CPU) but a
# file truncated under a mapping kills the worker with SIGBUS instead of an error.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    expires_at REAL NOT NULL,
    used_at REAL NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    samples INTEGER NOT NULL,
    tiers TEXT NOT NULL,
    body BLOB NOT NULL,
    gzip_body BLOB,
    crc INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_used_at ON entries (used_at);
CREATE INDEX IF NOT EXISTS entries_expires_at ON entries (expires_at);
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES (1, 0);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, pid INTEGER NOT NULL, since REAL NOT NULL);
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries
    BEGIN UPDATE meta SET total = total + NEW.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries
    BEGIN UPDATE meta SET total = total - OLD.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries
    BEGIN UPDATE meta SET total = total + NEW.size - OLD.size WHERE id = 1; END;
"""

_UPSERT = """
INSERT INTO entries (key, expires_at, used_at, size, media_type, samples, tiers, body,
                     gzip_body, crc)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, used_at = excluded.used_at,
    size = excluded.size, media_type = excluded.media_type, samples = excluded.samples,
    tiers = excluded.tiers, body = excluded.body, gzip_body = excluded.gzip_body,
    crc = excluded.crc
"""


def default_path(data_dir: Path) -> Path:
    """Where ``vitals serve`` keeps the shared cache of a data folder."""
    return data_dir / "cache" / "api-responses.sqlite"


def _crc(body: bytes, gzip_body: bytes | None) -> int:
    return zlib.crc32(gzip_body or b"", zlib.crc32(body))


@dataclass
class SharedStats:
    """What this process saw of the shared cache (exported as metrics)."""

    hits: int = 0
    misses: int = 0
    errors: int = 0  # SQLite errors and failed checksums: each one a fallback to computing
    evictions: int = 0  # entries this process dropped to keep the file within its bound
    repairs: int = 0  # corrupt files moved aside and started anew
    waits: int = 0  # answers this worker waited for while another worker computed them


class SharedStore(Protocol):
    """What the in-memory cache needs from a shared one (this file, or Redis)."""

    stats: SharedStats
    generation: str

    def get(self, key: str, *, count: bool = True) -> tuple[CachedResponse, float] | None:
        """The live entry and its absolute wall-clock expiry, or ``None``."""
        ...

    def put(self, key: str, value: CachedResponse, expires_at: float) -> bool:
        """Store until ``expires_at``; gives up this worker's claim on ``key``."""
        ...

    def claim(self, key: str) -> bool:
        """True when this worker should compute ``key``; False while another does."""
        ...

    def get_or_claim(self, key: str) -> tuple[tuple[CachedResponse, float] | None, bool]:
        """(entry, False) for a live entry, else (None, whether this worker holds the claim).

        :meth:`get`, :meth:`claim` and the look after a won claim, in one call.
        """
        ...

    def release(self, key: str) -> None:
        """Give up this worker's claim on ``key``."""
        ...

    def total_bytes(self) -> int:
        """Bytes held, or -1 when unknown."""
        ...

    def prepare(self) -> None:
        """At server start, before workers fork."""
        ...


class SharedCache:
    """Rendered answers in one SQLite file, bounded by body bytes, LRU by last use."""

    def __init__(
        self,
        path: Path,
        *,
        generation: str,
        max_bytes: int = DEFAULT_SHARED_MAX_BYTES,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"shared cache max_bytes must be >= 0, got {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.generation = generation
        self.namespace = f"{ENTRY_FORMAT}:{generation}:"
        self.busy_timeout_s = busy_timeout_s
        self.stats = SharedStats()
        self._clock = clock
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._retry_at = 0.0

    # -- connection -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a cache: a lost write is a miss
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection | None:
        """The connection, (re)opened when due; ``None`` while the file is unusable."""
        if self._conn is not None:
            return self._conn
        if time.monotonic() < self._retry_at:
            return None
        try:
            self._conn = self._connect()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise
            self._repair(exc)
            self._conn = self._connect()
        return self._conn

    def _repair(self, exc: BaseException) -> None:
        """Move a file that is not a database aside (with its WAL and index) and start anew."""
        stamp = f"corrupt-{int(time.time())}-{os.getpid()}"
        _LOG.warning(
            "shared response cache %s unusable (%s): moved aside as *.%s", self.path, exc, stamp
        )
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            try:
                part.rename(Path(f"{self.path}{suffix}.{stamp}"))
            except FileNotFoundError:
                pass
        self.stats.repairs += 1

    def _failed(self, exc: BaseException) -> None:
        """Count a fallback; drop the connection after anything but a busy file."""
        self.stats.errors += 1
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            return
        _LOG.warning("shared response cache error (answers are computed meanwhile): %s", exc)
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None
        self._retry_at = time.monotonic() + REOPEN_AFTER_S

    # -- operations ---------------------------------------------------------------------

    def get(self, key: str, *, count: bool = True) -> tuple[CachedResponse, float] | None:
        """The live entry for ``key`` and its absolute expiry (wall clock), or ``None``.

        ``count=False``: a poll while another worker computes (not a miss of its own).
        """
        with self._lock:
            try:
                conn = self._open()
                if conn is None:
                    self.stats.errors += 1
                    return None
                now = self._clock()
                row = conn.execute(
                    "SELECT expires_at, media_type, samples, tiers, body, gzip_body, crc "
                    "FROM entries WHERE key = ?",
                    (self.namespace + key,),
                ).fetchone()
                if row is None or row[0] <= now:
                    self.stats.misses += count
                    return None
                expires_at, media_type, samples, tiers, body, gzip_body, crc = row
                if not isinstance(body, bytes) or not isinstance(gzip_body, bytes | None):
                    raise sqlite3.DatabaseError("shared cache entry holds no bytes")
                if _crc(body, gzip_body) != crc:
                    raise sqlite3.DatabaseError("shared cache entry fails its checksum")
                if not body and gzip_body:  # stored compressed only (see put)
                    try:
                        body = isal_zlib.decompress(gzip_body, wbits=31)  # gzip framing
                    except Exception as exc:  # isal's IsalError: not gzip after all
                        raise sqlite3.DatabaseError(f"shared cache entry: {exc}") from exc
                try:  # LRU position; a busy file only costs the refresh
                    conn.execute(
                        "UPDATE entries SET used_at = ? WHERE key = ?", (now, self.namespace + key)
                    )
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
            except sqlite3.Error as exc:
                self._failed(exc)
                return None
            self.stats.hits += 1
            value = CachedResponse(
                body, media_type, int(samples), tuple(t for t in tiers.split(",") if t), gzip_body
            )
            return value, float(expires_at)

    def put(self, key: str, value: CachedResponse, expires_at: float) -> bool:
        """Store ``value`` until ``expires_at`` (wall clock), evicting the least recently used."""
        if value.size > self.max_bytes or expires_at <= self._clock():
            return False
        # An answer with its gzip is stored compressed only: 3-9x fewer bytes to write
        # (every computed answer is written; with unique requests none is read back), and
        # a shared hit decompresses it once (ISA-L, ~0.3 ms for 575 kB).
        body = b"" if value.gzip_body is not None else value.body
        stored_size = len(body) + len(value.gzip_body or b"") + ENTRY_OVERHEAD
        with self._lock:
            try:
                conn = self._open()
                if conn is None:
                    self.stats.errors += 1
                    return False
                now = self._clock()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(
                        _UPSERT,
                        (
                            self.namespace + key,
                            expires_at,
                            now,
                            stored_size,
                            value.media_type,
                            value.samples,
                            ",".join(value.tiers),
                            body,
                            value.gzip_body,
                            _crc(body, value.gzip_body),
                        ),
                    )
                    self._evict(conn, now)
                    conn.execute(
                        "DELETE FROM claims WHERE key = ? AND pid = ?",
                        (self.namespace + key, os.getpid()),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._failed(exc)
                return False
            return True

    def claim(self, key: str) -> bool:
        """True when this worker should compute ``key``: nobody else is, or it is now ours.

        False while another live worker of this host holds a claim younger than
        ``CLAIM_MAX_S`` (it is computing the answer: wait for its entry instead of
        computing the same thing twice). Any error answers True (compute).
        """
        claimed, _stored = self._try_claim(key, unless_stored=False)
        return claimed

    def get_or_claim(self, key: str) -> tuple[tuple[CachedResponse, float] | None, bool]:
        """A live entry, or this worker's claim on computing it, in one worker-thread hop.

        A miss used to cost three hops (look, claim, look again in case the other
        worker stored its entry just before the claim); the look after a won claim
        is now inside the claim's write transaction, so nothing can slip between.
        """
        found = self.get(key)
        if found is not None:
            return found, False
        claimed, stored = self._try_claim(key, unless_stored=True)
        if stored:  # stored by the other worker between the two looks
            found = self.get(key, count=False)
            return (found, False) if found is not None else (None, True)
        return None, claimed

    def _try_claim(self, key: str, *, unless_stored: bool) -> tuple[bool, bool]:
        """(claimed, stored): take the key's claim unless another live worker holds it.

        With ``unless_stored`` a live entry found inside the write transaction is not
        claimed: (False, True). Any SQLite error answers (True, False): compute.
        """
        full_key = self.namespace + key
        with self._lock:
            try:
                conn = self._open()
                if conn is None:
                    return True, False
                row = conn.execute(
                    "SELECT pid, since FROM claims WHERE key = ?", (full_key,)
                ).fetchone()
                if row is not None and self._held_by_other(row):
                    return False, False
                conn.execute("BEGIN IMMEDIATE")
                try:
                    stored = unless_stored and (
                        conn.execute(
                            "SELECT 1 FROM entries WHERE key = ? AND expires_at > ?",
                            (full_key, self._clock()),
                        ).fetchone()
                        is not None
                    )
                    row = conn.execute(
                        "SELECT pid, since FROM claims WHERE key = ?", (full_key,)
                    ).fetchone()
                    if stored or (row is not None and self._held_by_other(row)):
                        conn.execute("ROLLBACK")
                        return False, stored
                    conn.execute(
                        "INSERT INTO claims (key, pid, since) VALUES (?, ?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET pid = excluded.pid, since = excluded.since",
                        (full_key, os.getpid(), self._clock()),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                self._failed(exc)
            return True, False

    def _held_by_other(self, row: tuple[int, float]) -> bool:
        pid, since = row
        if pid == os.getpid() or self._clock() - since > CLAIM_MAX_S:
            return False
        try:
            os.kill(pid, 0)  # same host: a claim of a dead worker is void
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def release(self, key: str) -> None:
        """Give up this worker's claim on ``key`` (its answer was not cached)."""
        with self._lock:
            try:
                conn = self._open()
                if conn is not None:
                    conn.execute(
                        "DELETE FROM claims WHERE key = ? AND pid = ?",
                        (self.namespace + key, os.getpid()),
                    )
            except sqlite3.Error as exc:
                self._failed(exc)

    def _evict(self, conn: sqlite3.Connection, now: float) -> None:
        """Within the writing transaction: drop expired entries, then the least recently used."""
        total = conn.execute("SELECT total FROM meta WHERE id = 1").fetchone()[0]
        if total <= self.max_bytes:
            return
        conn.execute("DELETE FROM entries WHERE expires_at <= ?", (now,))
        while True:
            total = conn.execute("SELECT total FROM meta WHERE id = 1").fetchone()[0]
            if total <= self.max_bytes:
                return
            victims = conn.execute(
                "SELECT key FROM entries ORDER BY used_at LIMIT ?", (_EVICT_BATCH,)
            ).fetchall()
            if not victims:
                return
            for (victim,) in victims:
                conn.execute("DELETE FROM entries WHERE key = ?", (victim,))
                self.stats.evictions += 1
                total = conn.execute("SELECT total FROM meta WHERE id = 1").fetchone()[0]
                if total <= self.max_bytes:
                    return

    def attach_gzip(self, key: str, value: CachedResponse, expires_at: float) -> None:
        """Replace ``key``'s entry by ``value`` (now with its gzip body), same expiry."""
        self.put(key, value, expires_at)

    def total_bytes(self) -> int:
        """Bytes the file's entries hold (all generations), or -1 when unreadable."""
        with self._lock:
            try:
                conn = self._open()
                if conn is None:
                    return -1
                return int(conn.execute("SELECT total FROM meta WHERE id = 1").fetchone()[0])
            except sqlite3.Error as exc:
                self._failed(exc)
                return -1

    def prepare(self) -> None:
        """At server start (before workers fork): drop expired and other runs' entries.

        A corrupt file is moved aside here; a busy one is left as it is.
        """
        with self._lock:
            try:
                conn = self._open()
                if conn is None:
                    return
                conn.execute(
                    "DELETE FROM entries WHERE expires_at <= ? OR substr(key, 1, ?) != ?",
                    (self._clock(), len(self.namespace), self.namespace),
                )
                conn.execute("DELETE FROM claims")
            except sqlite3.Error as exc:
                self._failed(exc)
            finally:
                self._close_locked()

    def _close_locked(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close this process's connection (the file stays for the other workers)."""
        with self._lock:
            self._close_locked()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
