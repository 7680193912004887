"""SQLite hot store backend: one file, WAL mode, safe with several writing processes.

Dagster runs each step in its own process, so several processes may write the same
file at once. Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken before
anything is read, so a transaction never has to upgrade a read snapshot, which fails
without waiting) with a generous busy timeout, and a lock error still left over is
retried with backoff until a deadline.

All access goes through the ADBC SQLite driver, which carries its own SQLite library.
Python's ``sqlite3`` module is deliberately not used on the same file: two SQLite
copies in one process do not see each other's POSIX locks (and closing a file in one
drops the other's locks), which is a documented way to corrupt a database. ADBC also
moves bulk rows to and from Arrow without a Python loop per row.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import adbc_driver_manager.dbapi as adbc_errors
import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa

from vitals.hot.arrow import (
    PointIds,
    PointNames,
    concat_rows,
    key_samples,
    name_ranges,
    samples_from_rows,
    samples_of_points,
)
from vitals.hot.base import (
    AcePointLike,
    ArchiveRecord,
    HotBackend,
    PointRecord,
    UpsertResult,
)
from vitals.hot.schema import SCHEMA_VERSION, SQLITE, database_version, ensure_schema
from vitals.hot.tables import (
    LIST_SITES_SQL,
    POINT_RECORD_COLUMNS,
    Statements,
    archive_record,
    point_rows,
)
from vitals.windows import now_ms

BUSY_TIMEOUT_SECONDS = 60.0
LOCK_RETRY_SECONDS = 600.0  # give up on a lock only after this long
ROWS_PER_TRANSACTION = 1_000_000  # bounds WAL growth and lets other writers in between

T = TypeVar("T")

_BATCH_TABLE = "vitals_upsert_batch"
_CONNECT_PRAGMAS = (
    f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # durable at checkpoints; the WAL keeps it consistent
)
_BULK_PRAGMAS = ("PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -262144")  # 256 MB
# "WHERE true" resolves SQLite's parse ambiguity of INSERT ... SELECT ... ON CONFLICT.
# Unchanged values are not rewritten, so a re-run dirties no pages.
_APPLY_BATCH_SQL = (
    f"INSERT INTO samples (point_id, ts, value) "
    f"SELECT point_id, ts, value FROM temp.{_BATCH_TABLE} WHERE true "
    "ON CONFLICT (point_id, ts) DO UPDATE SET value = excluded.value "
    "WHERE samples.value IS NOT excluded.value"
)
_READ_SQL = (
    "SELECT s.point_id AS point_id, s.ts AS ts, s.value AS value "
    "FROM points p JOIN samples s ON s.point_id = p.id "
    "WHERE p.site = ? AND s.ts >= ? AND s.ts < ? {filter} "
    "ORDER BY p.name, s.ts"
)
_CATALOGUE_STAMP_SQL = (
    "SELECT count(*), coalesce(max(id), 0), coalesce(sum(updated_ms), 0) FROM points"
)
# One point's rows on the (point_id, ts) key: a seek and an ordered range, no sort and no
# join; the id comes from the unique (site, name) index, so no catalogue query is needed.
_POINT_READ_SQL = (
    "SELECT ts, value FROM samples "
    "WHERE point_id = (SELECT id FROM points WHERE site = ? AND name = ?) "
    "AND ts >= ? AND ts < ? ORDER BY ts"
)
_POINT_BATCH_ROWS = 65_536
_POINT_PARAM_FIELDS: list[pa.Field[Any]] = [
    pa.field("site", pa.string()),
    pa.field("name", pa.string()),
    pa.field("start", pa.int64()),
    pa.field("end", pa.int64()),
]
_POINT_PARAMS = pa.schema(_POINT_PARAM_FIELDS)
_SHARED_SQL = Statements(placeholder="?", contains="instr(folded, {}) > 0")


def _is_lock_error(exc: Exception) -> bool:
    """SQLite's "database is locked" / "busy" as the ADBC driver reports it."""
    if not isinstance(exc, adbc_errors.Error):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _Connection:
    """One ADBC connection in autocommit mode: our own BEGIN/COMMIT decide transactions."""

    def __init__(self, path: Path) -> None:
        self._conn: adbc_sqlite.Connection = adbc_sqlite.connect(str(path), autocommit=True)
        self._cur: adbc_sqlite.Cursor = self._conn.cursor()
        # own statement: the DB-API cursor caches its SQL
        self._raw: adbc_sqlite.Cursor = self._conn.cursor()
        # one point's range read, prepared once (see point_rows)
        self._points: adbc_sqlite.Cursor = self._conn.cursor()
        self._points_ready = False
        self._closed = False
        try:
            for pragma in _CONNECT_PRAGMAS:
                self.run(pragma)
        except BaseException:
            self.close()
            raise

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute a statement that returns no rows; returns the rows it changed."""
        if not params:
            statement = self._raw.adbc_statement
            statement.set_sql_query(sql)
            return int(statement.execute_update())
        self._cur.executemany(sql, [tuple(params)])
        return int(self._cur.rowcount)

    def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Execute a statement once per row of parameters."""
        if rows:
            self._cur.executemany(sql, [tuple(r) for r in rows])

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        self._cur.execute(sql, tuple(params) if params else None)
        return list(self._cur.fetchall())

    def int_value(self, sql: str, params: Sequence[object] = ()) -> int | None:
        """The first value of the first row as an int (None for no row or NULL)."""
        found = self.rows(sql, params)
        return None if not found or found[0][0] is None else int(found[0][0])

    def first_value(self, sql: str) -> object:
        """The first value of a parameterless query, on the bare ADBC statement.

        ~11 us against ~27 us through the DB-API cursor: for probes run on every request.
        """
        statement = self._raw.adbc_statement
        statement.set_sql_query(sql)
        stream, _rows = statement.execute_query()
        table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
        return table.column(0)[0].as_py() if table.num_rows else None

    def arrow(self, sql: str, params: Sequence[object]) -> pa.Table:
        """A query's rows as one Arrow table, with no Python loop per row."""
        self._cur.execute(sql, tuple(params))
        table: pa.Table = self._cur.fetch_arrow_table()
        return table

    def point_rows(self, site: str, name: str, start_ms: int, end_ms: int) -> pa.Table:
        """(ts, value) of one point in [start_ms, end_ms), ts ascending (:data:`_POINT_READ_SQL`).

        On the prepared statement itself: the DB-API's execute converts the parameters
        and wraps the call for cancellation, ~60 us a query that a chart of 1-8 points
        paid once per point (as much as reading a day of the point).
        """
        statement = self._points.adbc_statement
        if not self._points_ready:
            # one batch for a point's range (the driver's default is 1,024 rows): ~4 %
            # less CPU a point-week of 5 min rows, and one chunk for the merge to walk
            statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_POINT_BATCH_ROWS)})
            statement.set_sql_query(_POINT_READ_SQL)
            statement.prepare()
            self._points_ready = True
        params = pa.record_batch(
            [
                pa.array([site], pa.string()),
                pa.array([name], pa.string()),
                pa.array([start_ms], pa.int64()),
                pa.array([end_ms], pa.int64()),
            ],
            schema=_POINT_PARAMS,
        )
        statement.bind(params)
        stream, _rows = statement.execute_query()
        table: pa.Table = pa.RecordBatchReader._import_from_c(stream.address).read_all()
        return table

    def ingest_temp(self, name: str, table: pa.Table) -> None:
        """Bulk-load ``table`` into a new temporary table ``name``."""
        batches = table.to_reader(max_chunksize=100_000)  # streamed: bounds client memory
        self._cur.adbc_ingest(name, batches, mode="create", temporary=True)

    def close(self) -> None:
        """Close the statements, then the connection (ADBC refuses the other order)."""
        if self._closed:
            return
        self._closed = True
        self._points.close()
        self._raw.close()
        self._cur.close()
        self._conn.close()

    def __del__(self) -> None:
        # a thread's cached reader is dropped with its store
        try:
            if "_closed" in self.__dict__:
                self.close()
        except Exception:
            pass


class SqliteHotStore(HotBackend):
    """Hot store in one SQLite file (see module docstring for concurrency)."""

    def __init__(self, path: str | Path, *, schema_target: int = SCHEMA_VERSION) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._readers = threading.local()  # one reader connection per thread (see _read)
        # catalogue_version's own connection (data_version is per connection)
        self._probe: _Connection | None = None
        self._probe_pid = 0
        self._probe_seen: object = None
        self._probe_stamp: tuple[int, int, int] | None = None
        self._probe_lock = threading.Lock()
        ensure_schema(
            SQLITE,
            read=self._read,
            write=self._write,
            location=str(self.path),
            target=schema_target,
        )

    # -- connections and transactions -------------------------------------------------

    def _retry_locked(self, action: Callable[[], T]) -> T:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.05
        while True:
            try:
                return action()
            except Exception as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _write(self, work: Callable[[_Connection], T], *pragmas: str) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction, retried on lock errors."""

        def attempt() -> T:
            conn = _Connection(self.path)
            try:
                for pragma in pragmas:
                    conn.run(pragma)
                conn.run("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.run("COMMIT")
                except BaseException:
                    conn.run("ROLLBACK")
                    raise
                return result
            finally:
                conn.close()

        return self._retry_locked(attempt)

    def _read(self, work: Callable[[_Connection], T]) -> T:
        """Run ``work`` on this thread's reader connection.

        The connection is opened once per thread (a connect and its pragmas cost more
        than a chart's hot read). Autocommit reads see every committed write; a failed
        read drops the connection so the retry starts clean.
        """

        def attempt() -> T:
            conn = self._reader()
            try:
                return work(conn)
            except BaseException:
                self._drop_reader()
                raise

        return self._retry_locked(attempt)

    def _reader(self) -> _Connection:
        local = self._readers
        conn: _Connection | None = getattr(local, "conn", None)
        if conn is None or getattr(local, "pid", None) != os.getpid():
            conn = local.conn = _Connection(self.path)  # a forked child opens its own
            local.pid = os.getpid()
        return conn

    def _drop_reader(self) -> None:
        local = self._readers
        conn: _Connection | None = getattr(local, "conn", None)
        if conn is not None:
            local.conn = None
            if getattr(local, "pid", None) == os.getpid():
                try:
                    conn.close()
                except Exception:
                    pass

    def _int_value(self, sql: str, params: Sequence[object] = ()) -> int | None:
        return self._read(lambda c: c.int_value(sql, params))

    # -- schema -----------------------------------------------------------------------

    def schema_version(self) -> int:
        """The version recorded in the file."""
        return self._read(lambda c: database_version(c, SQLITE))

    # -- catalogue --------------------------------------------------------------------

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """One write transaction for the whole listing."""
        rows = point_rows(site, points, now_ms=now_ms())
        self._write(lambda conn: conn.run_many(_SHARED_SQL.upsert_points, rows))
        return len(rows)

    def list_sites(self) -> list[str]:
        """Distinct sites of the catalogue."""
        rows = self._read(lambda c: c.rows(LIST_SITES_SQL))
        return [r[0] for r in rows]

    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]:
        """``instr`` on the folded name: a literal substring, no LIKE wildcards."""
        sql, params = _SHARED_SQL.list_points(site, q, limit)
        return [PointRecord(*row) for row in self._read(lambda c: c.rows(sql, params))]

    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]:
        """The folded names go in as one JSON array parameter (any number of them)."""
        # INDEXED BY: left alone, the planner walks the (site, name) key for its order,
        # reading every point of the site (0.7 ms for 4,600) to find three
        sql = (
            f"SELECT {POINT_RECORD_COLUMNS} FROM points INDEXED BY points_site_folded "
            "WHERE site = ? AND folded IN (SELECT value FROM json_each(?)) ORDER BY name"
        )
        params = (site, json.dumps(list(folded), ensure_ascii=False))
        return [PointRecord(*row) for row in self._read(lambda c: c.rows(sql, params))]

    def catalogue_version(self) -> tuple[int, int, int]:
        """(points, highest id, sum of update times), re-read only after a commit elsewhere.

        ``PRAGMA data_version`` on one probe connection changes whenever another
        connection (any process, this one's writers included: each write opens its own)
        has committed. Most commits write samples, so the catalogue's own figures are
        read then, and they move with every insert, delete or update of a point.
        """
        with self._probe_lock:
            if self._probe is None or self._probe_pid != os.getpid():
                self._probe, self._probe_pid, self._probe_seen = (
                    _Connection(self.path),
                    os.getpid(),
                    None,
                )
            try:
                seen = self._probe.first_value("PRAGMA data_version")
                if seen != self._probe_seen or self._probe_stamp is None:
                    row = self._probe.rows(_CATALOGUE_STAMP_SQL)[0]
                    self._probe_stamp = (int(row[0]), int(row[1]), int(row[2]))
                    self._probe_seen = seen
            except BaseException:
                probe, self._probe = self._probe, None
                probe.close()
                raise
            return self._probe_stamp

    @staticmethod
    def _catalogue(
        conn: _Connection, site: str, names: Sequence[str] | None = None
    ) -> tuple[PointIds, PointNames]:
        """(ids, names) of the site's points, or of just ``names``.

        Fetched as Arrow: a row-by-row fetch of 4,600 points cost more than a chart's
        whole hot read.
        """
        sql = "SELECT id, name FROM points WHERE site = ?"
        params: list[object] = [site]
        if names is not None:
            sql += " AND name IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(names), ensure_ascii=False))
        table = conn.arrow(sql, params)
        return (
            table.column("id").combine_chunks().cast(pa.int64()),
            table.column("name").combine_chunks().cast(pa.string()),
        )

    # -- samples ----------------------------------------------------------------------

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Sorted chunks of at most ``ROWS_PER_TRANSACTION`` rows, one transaction each."""
        ids, names = self._read(lambda c: self._catalogue(c, site))
        keyed = key_samples(samples, ids, names)
        table = keyed.table
        for offset in range(0, table.num_rows, ROWS_PER_TRANSACTION):
            chunk = table.slice(offset, ROWS_PER_TRANSACTION)
            self._write(partial(self._apply_chunk, chunk=chunk), *_BULK_PRAGMAS)
        return UpsertResult(rows=table.num_rows, unknown_points=keyed.unknown_rows)

    @staticmethod
    def _apply_chunk(conn: _Connection, *, chunk: pa.Table) -> None:
        """Bulk-load a sorted chunk into a temp table (no Python loop), then upsert it."""
        conn.ingest_temp(_BATCH_TABLE, chunk)
        conn.run(_APPLY_BATCH_SQL)
        conn.run(f"DROP TABLE temp.{_BATCH_TABLE}")

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None
    ) -> pa.Table:
        """A full-site read runs as name ranges on parallel reader connections."""
        if point_names is not None:
            return self._read(partial(self._read_points, site, start_ms, end_ms, point_names))
        ids, names = self._read(lambda c: self._catalogue(c, site))

        def read_range(bounds: tuple[str, str | None]) -> pa.Table:
            lo, hi = bounds
            extra = "AND p.name >= ?" + ("" if hi is None else " AND p.name < ?")
            params = [site, start_ms, end_ms, lo] + ([] if hi is None else [hi])
            return self._read(lambda c: c.arrow(_READ_SQL.format(filter=extra), params))

        ranges = name_ranges(names)
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            parts = list(pool.map(read_range, ranges))
        return samples_from_rows(concat_rows(parts), ids, names)

    @staticmethod
    def _read_points(
        site: str, start_ms: int, end_ms: int, point_names: Sequence[str], conn: _Connection
    ) -> pa.Table:
        """One ordered range read per point (by name order), in one read transaction.

        Cheaper than one join of all points (no join, no sort, two columns to decode:
        ~25 % less CPU for 3 points x 20 days); the transaction keeps the single
        snapshot the join had, so a write committed meanwhile is seen by all points or
        none.
        """
        parts: list[tuple[str, pa.Table]] = []
        conn.run("BEGIN")
        try:
            for name in sorted(set(point_names)):  # code point order, as SQLite's BINARY
                rows = conn.point_rows(site, name, start_ms, end_ms)
                if rows.num_rows:
                    parts.append((name, rows))
        finally:
            conn.run("COMMIT")
        return samples_of_points(parts)

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """A join on the site's points: the samples table holds no site column."""
        sql = (
            "SELECT count(*) FROM points p JOIN samples s ON s.point_id = p.id "
            "WHERE p.site = ? AND s.ts >= ? AND s.ts < ?"
        )
        return self._int_value(sql, (site, start_ms, end_ms)) or 0

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """One write transaction."""
        sql = (
            "DELETE FROM samples WHERE point_id IN (SELECT id FROM points WHERE site = ?) "
            "AND ts >= ? AND ts < ?"
        )
        return self._write(lambda c: c.run(sql, (site, start_ms, end_ms)))

    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None:
        """One seek per point on the (point_id, ts) key, never a scan of the samples."""
        sql = (
            "SELECT min((SELECT min(s.ts) FROM samples s WHERE s.point_id = p.id "
            "AND s.ts >= ? AND s.ts < ?)) FROM points p WHERE p.site = ?"
        )
        return self._int_value(sql, (from_ms, before_ms, site))

    def latest_sample_ms(self, site: str) -> int | None:
        """One seek per point on the (point_id, ts) key."""
        sql = (
            "SELECT max((SELECT max(s.ts) FROM samples s WHERE s.point_id = p.id)) "
            "FROM points p WHERE p.site = ?"
        )
        return self._int_value(sql, (site,))

    # -- sync state and archive records ------------------------------------------------

    def get_watermark(self, site: str) -> int | None:
        """The ``sync_state`` row of the site."""
        return self._int_value("SELECT watermark_ms FROM sync_state WHERE site = ?", (site,))

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """Insert or replace the ``sync_state`` row of the site."""
        self._write(lambda c: c.run(_SHARED_SQL.set_watermark, (site, ts_ms, now_ms())))

    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None:
        """The day is stored as ISO text (SQLite has no date type)."""
        params = (site, day.isoformat(), rows, checksum, key, now_ms())
        self._write(lambda c: c.run(_SHARED_SQL.record_archive, params))

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """The ``archives`` row of the site-day."""
        rows = self._read(lambda c: c.rows(_SHARED_SQL.get_archive, (site, day.isoformat())))
        return archive_record(rows[0]) if rows else None
