"""PostgreSQL hot store backend: psycopg 3 for statements, ADBC for bulk Arrow I/O.

Bulk upserts stream the prepared rows into a temporary table with ADBC's ingest (binary
COPY from Arrow, no Python loop per row), then apply them with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` in (point_id, ts) order, so concurrent
writers take row locks in the same order; a deadlock or serialization failure that
still happens is retried. Reads come back as Arrow through ADBC.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from functools import partial
from typing import Any, TypeVar

import adbc_driver_postgresql.dbapi as adbc_pg
import psycopg
import pyarrow as pa
from psycopg.rows import TupleRow

from vitals.hot.arrow import (
    PointIds,
    PointNames,
    concat_rows,
    key_samples,
    name_ranges,
    samples_from_rows,
)
from vitals.hot.base import (
    AcePointLike,
    ArchiveRecord,
    HotBackend,
    PointRecord,
    UpsertResult,
)
from vitals.hot.schema import POSTGRES, SCHEMA_VERSION, database_version, ensure_schema
from vitals.hot.tables import (
    LIST_SITES_SQL,
    POINT_RECORD_COLUMNS,
    Statements,
    archive_record,
    point_rows,
)
from vitals.redact import scrub
from vitals.samples import SAMPLE_SCHEMA
from vitals.windows import now_ms

ROWS_PER_TRANSACTION = 1_000_000
ROWS_PER_INGEST_BATCH = 100_000  # Arrow batches streamed to COPY: bounds client memory
RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
UNIQUE_VIOLATION = "23505"
MAX_ATTEMPTS = 8
_BATCH_TABLE = "vitals_upsert_batch"

T = TypeVar("T")

_SHARED_SQL = Statements(placeholder="%s", contains="strpos(folded, {}) > 0")

# The batch table was filled in (point_id, ts) order and is read back in that order.
_APPLY_BATCH_SQL = (
    f"INSERT INTO samples (point_id, ts, value) "
    f"SELECT point_id::integer, ts, value FROM {_BATCH_TABLE} "
    "ON CONFLICT (point_id, ts) DO UPDATE SET value = EXCLUDED.value "
    "WHERE samples.value IS DISTINCT FROM EXCLUDED.value"
)
# For a batch over empty ranges (see _apply_chunk): no per-row conflict arbitration.
_INSERT_BATCH_SQL = (
    "INSERT INTO samples (point_id, ts, value) "
    f"SELECT point_id::integer, ts, value FROM {_BATCH_TABLE}"
)
# Does any point of the batch already hold a sample inside the batch's range for it?
# One index probe per point, not per row.
_BATCH_OVERLAPS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM (SELECT point_id::integer AS point_id, min(ts) AS lo, "
    f"max(ts) AS hi FROM {_BATCH_TABLE} GROUP BY point_id) r WHERE EXISTS (SELECT 1 FROM "
    "samples s WHERE s.point_id = r.point_id AND s.ts >= r.lo AND s.ts <= r.hi))"
)
# Points in name order, each point's samples by ts through the primary key: rows come
# out in (name, ts) order without sorting the whole day (samples_from_rows checks it).
_READ_SQL = (
    "SELECT s.point_id AS point_id, s.ts AS ts, s.value AS value "
    "FROM (SELECT id, name FROM points WHERE site = $1 {filter} ORDER BY name) p "
    "CROSS JOIN LATERAL (SELECT point_id, ts, value FROM samples "
    "WHERE point_id = p.id AND ts >= $2 AND ts < $3 ORDER BY ts) s"
)


class HotStoreConnectError(ConnectionError):
    """Connecting failed; the driver's message is kept with the URL's password masked."""


@contextmanager
def _password_masked(url: str) -> Iterator[None]:
    """Re-raise a connect error whose message echoes the URL's password, masked.

    libpq echoes parts of a malformed URL (e.g. ``invalid percent-encoded token``), and
    run failures are stored in Dagster's event log, shown to anyone with the UI.
    """
    try:
        yield
    except Exception as exc:
        message = str(exc)
        masked = scrub(message, url)
        if masked == message:
            raise
        raise HotStoreConnectError(f"{type(exc).__name__}: {masked}") from None


def _sqlstate(exc: BaseException) -> str | None:
    state: str | None = getattr(exc, "sqlstate", None)
    return state


class _Session:
    """A psycopg connection inside one transaction, with the SQLite backend's calls.

    Both backends' statements then read alike, and :mod:`vitals.hot.schema` migrates
    either through the same two calls.
    """

    def __init__(self, conn: psycopg.Connection[TupleRow]) -> None:
        self._conn = conn

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Execute a statement that returns no rows; returns the rows it changed."""
        return self._conn.execute(sql, params or None).rowcount

    def run_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Execute a statement once per row of parameters."""
        with self._conn.cursor() as cur:
            cur.executemany(sql, rows)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """All rows of a query."""
        return self._conn.execute(sql, params or None).fetchall()

    def int_value(self, sql: str, params: Sequence[object] = ()) -> int | None:
        """The first value of the first row as an int (None for no row or NULL)."""
        row = self._conn.execute(sql, params or None).fetchone()
        return None if row is None or row[0] is None else int(row[0])


class PostgresHotStore(HotBackend):
    """Hot store in a PostgreSQL database (``postgresql://`` URL)."""

    def __init__(self, url: str, *, schema_target: int = SCHEMA_VERSION) -> None:
        self.url = url
        self._location = url.split("@")[-1]  # never echo a password in messages
        ensure_schema(
            POSTGRES, read=self._run, write=self._run, location=self._location, target=schema_target
        )

    def _connect(self) -> psycopg.Connection[TupleRow]:
        with _password_masked(self.url):
            return psycopg.connect(self.url, connect_timeout=10)

    def _adbc_connect(self) -> adbc_pg.Connection:
        with _password_masked(self.url):
            return adbc_pg.connect(self.url)

    def _retry(self, action: Callable[[], T]) -> T:
        delay = 0.05
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return action()
            except Exception as exc:
                if _sqlstate(exc) not in RETRY_SQLSTATES or attempt == MAX_ATTEMPTS:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _run(self, work: Callable[[_Session], T]) -> T:
        """Run ``work`` in one transaction (committed on success), retried on deadlock."""

        def attempt() -> T:
            with self._connect() as conn:  # commits on success, rolls back on error
                return work(_Session(conn))

        return self._retry(attempt)

    def _int_value(self, sql: str, params: Sequence[object] = ()) -> int | None:
        return self._run(lambda s: s.int_value(sql, params))

    # -- schema -----------------------------------------------------------------------

    def schema_version(self) -> int:
        """The version recorded in the database."""
        return self._run(lambda s: database_version(s, POSTGRES))

    # -- catalogue --------------------------------------------------------------------

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        """One transaction, then ANALYZE: plans depend on how many points a site has."""
        rows = point_rows(site, points, now_ms=now_ms())

        def work(session: _Session) -> None:
            session.run_many(_SHARED_SQL.upsert_points, rows)
            session.run("ANALYZE points")

        self._run(work)
        return len(rows)

    def list_sites(self) -> list[str]:
        """Distinct sites of the catalogue."""
        rows = self._run(lambda s: s.rows(LIST_SITES_SQL))
        return [r[0] for r in rows]

    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]:
        """``strpos`` on the folded name: a literal substring, no LIKE wildcards."""
        sql, params = _SHARED_SQL.list_points(site, q, limit)
        return [PointRecord(*row) for row in self._run(lambda s: s.rows(sql, params))]

    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]:
        """The folded names go in as one array parameter (any number of them)."""
        sql = (
            f"SELECT {POINT_RECORD_COLUMNS} FROM points "
            "WHERE site = %s AND folded = ANY(%s) ORDER BY name"
        )
        rows = self._run(lambda s: s.rows(sql, (site, list(folded))))
        return [PointRecord(*row) for row in rows]

    def catalogue_version(self) -> None:
        """No cheap change probe here (a query is a network round trip): always ask."""
        return None

    def _catalogue(
        self, site: str, names: Sequence[str] | None = None
    ) -> tuple[PointIds, PointNames]:
        """(ids, names) of the site's points, or of just ``names`` (a chart asks for a few)."""
        sql = "SELECT id, name FROM points WHERE site = %s"
        params: list[object] = [site]
        if names is not None:
            sql += " AND name = ANY(%s)"
            params.append(list(names))
        rows = self._run(lambda s: s.rows(sql, params))
        return (
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[1] for r in rows], pa.string()),
        )

    # -- samples ----------------------------------------------------------------------

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        """Sorted chunks of at most ``ROWS_PER_TRANSACTION`` rows, one transaction each."""
        ids, names = self._catalogue(site)
        keyed = key_samples(samples, ids, names)
        table = keyed.table
        for offset in range(0, table.num_rows, ROWS_PER_TRANSACTION):
            chunk = table.slice(offset, ROWS_PER_TRANSACTION)
            try:
                self._retry(partial(self._apply_chunk, chunk, allow_plain_insert=True))
            except Exception as exc:
                if _sqlstate(exc) != UNIQUE_VIOLATION:
                    raise
                # a concurrent writer added some of these keys after our check: upsert them
                self._retry(partial(self._apply_chunk, chunk, allow_plain_insert=False))
        return UpsertResult(rows=table.num_rows, unknown_points=keyed.unknown_rows)

    def _apply_chunk(self, chunk: pa.Table, *, allow_plain_insert: bool) -> None:
        """COPY the chunk into a temp table, then add it in one statement.

        When none of the chunk's points holds a sample inside the chunk's time range
        (a new day, a backfill), a plain INSERT is enough and skips ON CONFLICT's per-row
        arbitration; should a concurrent writer add a key meanwhile, the INSERT fails
        whole on the unique key and the caller re-applies the chunk as an upsert.
        """
        with self._adbc_connect() as conn:
            with conn.cursor() as cur:
                cur.execute("SET temp_buffers = '256MB'")  # keep the batch out of temp files
                cur.execute("SET jit = off")  # compiling the big INSERT costs more than it saves
                batches = chunk.to_reader(max_chunksize=ROWS_PER_INGEST_BATCH)
                cur.adbc_ingest(_BATCH_TABLE, batches, mode="create", temporary=True)
                statement = _APPLY_BATCH_SQL
                if allow_plain_insert:
                    cur.execute(_BATCH_OVERLAPS_SQL)
                    if not cur.fetchone()[0]:
                        statement = _INSERT_BATCH_SQL
                cur.execute(statement)
                cur.execute(f"DROP TABLE {_BATCH_TABLE}")
            conn.commit()

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None
    ) -> pa.Table:
        """Through ADBC as Arrow; a full-site read runs as name ranges on parallel connections."""
        if point_names is not None:
            ids, names = self._catalogue(site, point_names)
            if len(ids) == 0:
                return SAMPLE_SCHEMA.empty_table()
            sql = _READ_SQL.format(
                filter="AND id IN (SELECT jsonb_array_elements_text($4::jsonb)::integer)"
            )
            rows = self._arrow(sql, [site, start_ms, end_ms, json.dumps(ids.to_pylist())])
            return samples_from_rows(rows, ids, names)
        ids, names = self._catalogue(site)

        def read_range(bounds: tuple[str, str | None]) -> pa.Table:
            lo, hi = bounds
            extra = "AND name >= $4" + ("" if hi is None else " AND name < $5")
            params = [site, start_ms, end_ms, lo] + ([] if hi is None else [hi])
            return self._arrow(_READ_SQL.format(filter=extra), params)

        ranges = name_ranges(names)
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            parts = list(pool.map(read_range, ranges))
        return samples_from_rows(concat_rows(parts), ids, names)

    def _arrow(self, sql: str, params: Sequence[object]) -> pa.Table:
        with self._adbc_connect() as conn, conn.cursor() as cur:
            cur.execute(sql, list(params))
            table: pa.Table = cur.fetch_arrow_table()
            return table

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """A count per point on the (point_id, ts) key, summed."""
        sql = (
            "SELECT coalesce(sum(c.n), 0) FROM points p CROSS JOIN LATERAL "
            "(SELECT count(*) AS n FROM samples s WHERE s.point_id = p.id "
            "AND s.ts >= %s AND s.ts < %s) c WHERE p.site = %s"
        )
        return self._int_value(sql, (start_ms, end_ms, site)) or 0

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        """One transaction: the site's point ids first, then one DELETE on the key."""

        def work(session: _Session) -> int:
            ids = [r[0] for r in session.rows("SELECT id FROM points WHERE site = %s", (site,))]
            return session.run(
                "DELETE FROM samples WHERE point_id = ANY(%s) AND ts >= %s AND ts < %s",
                (ids, start_ms, end_ms),
            )

        return self._run(work)

    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None:
        """One index probe per point (LIMIT 1 on the (point_id, ts) key), never a scan."""
        sql = (
            "SELECT min(m.ts) FROM points p CROSS JOIN LATERAL (SELECT s.ts FROM samples s "
            "WHERE s.point_id = p.id AND s.ts >= %s AND s.ts < %s ORDER BY s.ts LIMIT 1) m "
            "WHERE p.site = %s"
        )
        return self._int_value(sql, (from_ms, before_ms, site))

    def latest_sample_ms(self, site: str) -> int | None:
        """One backward index probe per point."""
        sql = (
            "SELECT max(m.ts) FROM points p CROSS JOIN LATERAL (SELECT s.ts FROM samples s "
            "WHERE s.point_id = p.id ORDER BY s.ts DESC LIMIT 1) m WHERE p.site = %s"
        )
        return self._int_value(sql, (site,))

    # -- sync state and archive records ------------------------------------------------

    def get_watermark(self, site: str) -> int | None:
        """The ``sync_state`` row of the site."""
        return self._int_value("SELECT watermark_ms FROM sync_state WHERE site = %s", (site,))

    def set_watermark(self, site: str, ts_ms: int) -> None:
        """Insert or replace the ``sync_state`` row of the site."""
        self._run(lambda s: s.run(_SHARED_SQL.set_watermark, (site, ts_ms, now_ms())))

    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None:
        """Insert or replace the ``archives`` row of the site-day."""
        params = (site, day, rows, checksum, key, now_ms())
        self._run(lambda s: s.run(_SHARED_SQL.record_archive, params))

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        """The ``archives`` row of the site-day."""
        rows = self._run(lambda s: s.rows(_SHARED_SQL.get_archive, (site, day)))
        return archive_record(rows[0]) if rows else None
