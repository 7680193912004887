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
from datetime import UTC, date, datetime
from typing import TypeVar

import adbc_driver_postgresql.dbapi as adbc_pg
import psycopg
import pyarrow as pa

from vitals.hot.arrow import concat_rows, key_samples, name_ranges, samples_from_rows
from vitals.hot.base import AcePointLike, ArchiveRecord, PointRecord, UpsertResult
from vitals.hot.schema import (
    POSTGRES_MIGRATIONS,
    SCHEMA_VERSION,
    VERSION_TABLE_SQL,
    check_version,
    pending_steps,
)
from vitals.names import fold_name
from vitals.redact import scrub
from vitals.samples import SAMPLE_SCHEMA

ROWS_PER_TRANSACTION = 1_000_000
ROWS_PER_INGEST_BATCH = 100_000  # Arrow batches streamed to COPY: bounds client memory
RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
UNIQUE_VIOLATION = "23505"
MAX_ATTEMPTS = 8
_MIGRATION_LOCK_KEY = 0x76697461  # pg_advisory_xact_lock key: one migrator at a time
_BATCH_TABLE = "vitals_upsert_batch"

T = TypeVar("T")

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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


class PostgresHotStore:
    """Hot store in a PostgreSQL database (``postgresql://`` URL)."""

    def __init__(self, url: str, *, schema_target: int = SCHEMA_VERSION) -> None:
        self.url = url
        self._location = url.split("@")[-1]  # never echo a password in messages
        self._migrate(schema_target)

    def _connect(self) -> psycopg.Connection:
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

    def _run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """Run ``work`` in one transaction (committed on success), retried on deadlock."""

        def attempt() -> T:
            with self._connect() as conn:  # commits on success, rolls back on error
                return work(conn)

        return self._retry(attempt)

    # -- schema -----------------------------------------------------------------------

    @staticmethod
    def _database_version(conn: psycopg.Connection) -> int:
        exists = conn.execute("SELECT to_regclass('vitals_schema_version')").fetchone()
        if exists is None or exists[0] is None:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM vitals_schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self, target: int) -> None:
        current = self._run(self._database_version)
        check_version(current, location=self._location)
        if current >= target:
            return

        def upgrade(conn: psycopg.Connection) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
            conn.execute(VERSION_TABLE_SQL["postgres"])
            found = self._database_version(conn)  # another process may have migrated
            check_version(found, location=self._location)
            for version, statements in pending_steps(POSTGRES_MIGRATIONS, found, target):
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO vitals_schema_version (version, applied_ms) VALUES (%s, %s)",
                    (version, _now_ms()),
                )

        self._run(upgrade)

    def schema_version(self) -> int:
        return self._run(self._database_version)

    # -- catalogue --------------------------------------------------------------------

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        now = _now_ms()
        rows = [
            (
                site,
                p.name,
                fold_name(p.name),
                p.point_type,
                p.point_id,
                p.collect_enabled,
                p.collect_interval,
                p.created,
                p.updated,
                now,
                now,
            )
            for p in points
        ]
        sql = (
            "INSERT INTO points (site, name, folded, data_type, ace_point_id, collect_enabled, "
            "collect_interval, ace_created, ace_updated, created_ms, updated_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (site, name) DO UPDATE SET data_type = EXCLUDED.data_type, "
            "ace_point_id = EXCLUDED.ace_point_id, collect_enabled = EXCLUDED.collect_enabled, "
            "collect_interval = EXCLUDED.collect_interval, ace_created = EXCLUDED.ace_created, "
            "ace_updated = EXCLUDED.ace_updated, updated_ms = EXCLUDED.updated_ms"
        )

        def work(conn: psycopg.Connection) -> None:
            with conn.cursor() as cur:
                cur.executemany(sql, rows)
            conn.execute("ANALYZE points")  # plans depend on how many points a site has

        self._run(work)
        return len(rows)

    def list_sites(self) -> list[str]:
        rows = self._run(
            lambda c: c.execute("SELECT DISTINCT site FROM points ORDER BY site").fetchall()
        )
        return [r[0] for r in rows]

    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]:
        sql = "SELECT site, name, folded, id, data_type FROM points WHERE site = %s"
        params: list[object] = [site]
        if q:
            sql += " AND strpos(folded, %s) > 0"  # literal substring: no LIKE wildcards
            params.append(q)
        sql += " ORDER BY name"
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        rows = self._run(lambda c: c.execute(sql, params).fetchall())
        return [PointRecord(*row) for row in rows]

    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]:
        sql = (
            "SELECT site, name, folded, id, data_type FROM points "
            "WHERE site = %s AND folded = ANY(%s) ORDER BY name"
        )
        rows = self._run(lambda c: c.execute(sql, (site, list(folded))).fetchall())
        return [PointRecord(*row) for row in rows]

    def _catalogue(
        self, site: str, names: Sequence[str] | None = None
    ) -> tuple[pa.Array, pa.Array]:
        """(ids, names) of the site's points, or of just ``names`` (a chart asks for a few)."""
        if names is None:
            sql, params = "SELECT id, name FROM points WHERE site = %s", (site,)
        else:
            sql = "SELECT id, name FROM points WHERE site = %s AND name = ANY(%s)"
            params = (site, list(names))
        rows = self._run(lambda c: c.execute(sql, params).fetchall())
        return (
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[1] for r in rows], pa.string()),
        )

    # -- samples ----------------------------------------------------------------------

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        ids, names = self._catalogue(site)
        keyed = key_samples(samples, ids, names)
        table = keyed.table
        for offset in range(0, table.num_rows, ROWS_PER_TRANSACTION):
            chunk = table.slice(offset, ROWS_PER_TRANSACTION)
            try:
                self._retry(lambda chunk=chunk: self._apply_chunk(chunk, allow_plain_insert=True))
            except Exception as exc:
                if _sqlstate(exc) != UNIQUE_VIOLATION:
                    raise
                # a concurrent writer added some of these keys after our check: upsert them
                self._retry(lambda chunk=chunk: self._apply_chunk(chunk, allow_plain_insert=False))
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
            return cur.fetch_arrow_table()

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        sql = (
            "SELECT coalesce(sum(c.n), 0) FROM points p CROSS JOIN LATERAL "
            "(SELECT count(*) AS n FROM samples s WHERE s.point_id = p.id "
            "AND s.ts >= %s AND s.ts < %s) c WHERE p.site = %s"
        )
        return int(self._run(lambda c: c.execute(sql, (start_ms, end_ms, site)).fetchone()[0]))

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        def work(conn: psycopg.Connection) -> int:
            ids = [r[0] for r in conn.execute("SELECT id FROM points WHERE site = %s", (site,))]
            cur = conn.execute(
                "DELETE FROM samples WHERE point_id = ANY(%s) AND ts >= %s AND ts < %s",
                (ids, start_ms, end_ms),
            )
            return cur.rowcount

        return int(self._run(work))

    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None:
        # One index probe per point (LIMIT 1 on the (point_id, ts) key), never a scan.
        sql = (
            "SELECT min(m.ts) FROM points p CROSS JOIN LATERAL (SELECT s.ts FROM samples s "
            "WHERE s.point_id = p.id AND s.ts >= %s AND s.ts < %s ORDER BY s.ts LIMIT 1) m "
            "WHERE p.site = %s"
        )
        row = self._run(lambda c: c.execute(sql, (from_ms, before_ms, site)).fetchone())
        return None if row is None or row[0] is None else int(row[0])

    def latest_sample_ms(self, site: str) -> int | None:
        sql = (
            "SELECT max(m.ts) FROM points p CROSS JOIN LATERAL (SELECT s.ts FROM samples s "
            "WHERE s.point_id = p.id ORDER BY s.ts DESC LIMIT 1) m WHERE p.site = %s"
        )
        row = self._run(lambda c: c.execute(sql, (site,)).fetchone())
        return None if row is None or row[0] is None else int(row[0])

    # -- sync state and archive records ------------------------------------------------

    def get_watermark(self, site: str) -> int | None:
        sql = "SELECT watermark_ms FROM sync_state WHERE site = %s"
        row = self._run(lambda c: c.execute(sql, (site,)).fetchone())
        return None if row is None else int(row[0])

    def set_watermark(self, site: str, ts_ms: int) -> None:
        sql = (
            "INSERT INTO sync_state (site, watermark_ms, updated_ms) VALUES (%s, %s, %s) "
            "ON CONFLICT (site) DO UPDATE SET watermark_ms = EXCLUDED.watermark_ms, "
            "updated_ms = EXCLUDED.updated_ms"
        )
        self._run(lambda c: c.execute(sql, (site, ts_ms, _now_ms())))

    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None:
        sql = (
            "INSERT INTO archives (site, day, rows, checksum, key, verified_at_ms) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (site, day) DO UPDATE SET "
            "rows = EXCLUDED.rows, checksum = EXCLUDED.checksum, key = EXCLUDED.key, "
            "verified_at_ms = EXCLUDED.verified_at_ms"
        )
        self._run(lambda c: c.execute(sql, (site, day, rows, checksum, key, _now_ms())))

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        sql = (
            "SELECT site, day, rows, checksum, key, verified_at_ms FROM archives "
            "WHERE site = %s AND day = %s"
        )
        row = self._run(lambda c: c.execute(sql, (site, day)).fetchone())
        if row is None:
            return None
        return ArchiveRecord(
            site=row[0],
            day=row[1],
            rows=int(row[2]),
            checksum=row[3],
            key=row[4],
            verified_at=datetime.fromtimestamp(row[5] / 1000, tz=UTC),
        )
