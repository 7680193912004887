"""SQLite hot store backend: one file, WAL mode, safe with several writing processes.

Dagster runs each step in its own process, so several processes may write the same
file at once. Every write runs in ``BEGIN IMMEDIATE`` (the write lock is taken up
front, so a transaction never has to upgrade a read snapshot, which fails without
waiting) with a generous busy timeout, and a lock error still left over is retried
with backoff until a deadline. Bulk reads go through ADBC straight to Arrow.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa

from resources.hot_arrow import key_samples, names_for_ids
from resources.hot_schema import (
    SCHEMA_VERSION,
    SQLITE_MIGRATIONS,
    VERSION_TABLE_SQL,
    check_version,
    pending_steps,
)
from resources.hot_backend import AcePointLike, ArchiveRecord, PointRecord, UpsertResult
from vitals.names import fold_name

BUSY_TIMEOUT_SECONDS = 60.0
LOCK_RETRY_SECONDS = 600.0  # give up on a lock only after this long
ROWS_PER_TRANSACTION = 1_000_000  # bounds WAL growth and lets other writers in between
ROWS_PER_EXECUTEMANY = 100_000

T = TypeVar("T")

_UPSERT_SAMPLE_SQL = (
    "INSERT INTO samples (point_id, ts, value) VALUES (?, ?, ?) "
    "ON CONFLICT (point_id, ts) DO UPDATE SET value = excluded.value "
    "WHERE samples.value IS NOT excluded.value"
)
_READ_SQL = (
    "SELECT s.point_id AS point_id, s.ts AS ts, s.value AS value "
    "FROM points p JOIN samples s ON s.point_id = p.id "
    "WHERE p.site = ? AND s.ts >= ? AND s.ts < ? {ids} "
    "ORDER BY p.name, s.ts"
)


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteHotStore:
    """Hot store in one SQLite file (see module docstring for concurrency)."""

    def __init__(self, path: str | Path, *, schema_target: int = SCHEMA_VERSION) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate(schema_target)

    # -- connections and transactions -------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints, safe in WAL
        return conn

    def _retry_locked(self, action: Callable[[], T]) -> T:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.05
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction, retried on lock errors."""

        def attempt() -> T:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                return result
            finally:
                conn.close()

        return self._retry_locked(attempt)

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connect()
        try:
            return work(conn)
        finally:
            conn.close()

    # -- schema -----------------------------------------------------------------------

    def _database_version(self, conn: sqlite3.Connection) -> int:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vitals_schema_version'"
        ).fetchone()
        if not exists:
            return 0
        return int(conn.execute("SELECT coalesce(max(version), 0) FROM vitals_schema_version").fetchone()[0])

    def _migrate(self, target: int) -> None:
        current = self._read(self._database_version)
        check_version(current, location=str(self.path))
        if current >= target:
            return

        def upgrade(conn: sqlite3.Connection) -> None:
            conn.execute(VERSION_TABLE_SQL["sqlite"])
            found = self._database_version(conn)  # another process may have migrated
            check_version(found, location=str(self.path))
            for version, statements in pending_steps(SQLITE_MIGRATIONS, found, target):
                for statement in statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO vitals_schema_version (version, applied_ms) VALUES (?, ?)",
                    (version, _now_ms()),
                )

        self._write(upgrade)

    def schema_version(self) -> int:
        return self._read(self._database_version)

    # -- catalogue --------------------------------------------------------------------

    def upsert_points(self, site: str, points: Sequence[AcePointLike]) -> int:
        now = _now_ms()
        rows = [
            (
                site, p.name, fold_name(p.name), p.point_type, p.point_id,
                None if p.collect_enabled is None else int(bool(p.collect_enabled)),
                p.collect_interval, p.created, p.updated, now, now,
            )
            for p in points
        ]
        sql = (
            "INSERT INTO points (site, name, folded, data_type, ace_point_id, collect_enabled, "
            "collect_interval, ace_created, ace_updated, created_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (site, name) DO UPDATE SET data_type = excluded.data_type, "
            "ace_point_id = excluded.ace_point_id, collect_enabled = excluded.collect_enabled, "
            "collect_interval = excluded.collect_interval, ace_created = excluded.ace_created, "
            "ace_updated = excluded.ace_updated, updated_ms = excluded.updated_ms"
        )
        self._write(lambda conn: conn.executemany(sql, rows))
        return len(rows)

    def list_sites(self) -> list[str]:
        rows = self._read(lambda c: c.execute("SELECT DISTINCT site FROM points ORDER BY site").fetchall())
        return [r[0] for r in rows]

    def list_points(self, site: str, q: str | None, limit: int | None) -> list[PointRecord]:
        sql = "SELECT site, name, folded, id, data_type FROM points WHERE site = ?"
        params: list[object] = [site]
        if q:
            sql += " AND instr(folded, ?) > 0"  # literal substring: no LIKE wildcards
            params.append(q)
        sql += " ORDER BY name"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._read(lambda c: c.execute(sql, params).fetchall())
        return [PointRecord(*row) for row in rows]

    def points_by_folded(self, site: str, folded: Sequence[str]) -> list[PointRecord]:
        sql = (
            "SELECT site, name, folded, id, data_type FROM points WHERE site = ? "
            "AND folded IN (SELECT value FROM json_each(?)) ORDER BY name"
        )
        payload = json.dumps(list(folded), ensure_ascii=False)
        rows = self._read(lambda c: c.execute(sql, (site, payload)).fetchall())
        return [PointRecord(*row) for row in rows]

    def _catalogue(self, conn: sqlite3.Connection, site: str) -> tuple[pa.Array, pa.Array]:
        rows = conn.execute("SELECT id, name FROM points WHERE site = ?", (site,)).fetchall()
        return (
            pa.array([r[0] for r in rows], pa.int64()),
            pa.array([r[1] for r in rows], pa.string()),
        )

    # -- samples ----------------------------------------------------------------------

    def upsert_samples(self, site: str, samples: pa.Table) -> UpsertResult:
        ids, names = self._read(lambda c: self._catalogue(c, site))
        keyed = key_samples(samples, ids, names)
        table = keyed.table

        def write_chunk(chunk: pa.Table) -> Callable[[sqlite3.Connection], None]:
            def work(conn: sqlite3.Connection) -> None:
                conn.execute("PRAGMA cache_size = -262144")  # 256 MB page cache for the batch
                for offset in range(0, chunk.num_rows, ROWS_PER_EXECUTEMANY):
                    part = chunk.slice(offset, ROWS_PER_EXECUTEMANY)
                    conn.executemany(
                        _UPSERT_SAMPLE_SQL,
                        zip(
                            part.column(0).to_pylist(),
                            part.column(1).to_pylist(),
                            part.column(2).to_pylist(),
                            strict=True,
                        ),
                    )

            return work

        for offset in range(0, table.num_rows, ROWS_PER_TRANSACTION):
            self._write(write_chunk(table.slice(offset, ROWS_PER_TRANSACTION)))
        return UpsertResult(rows=table.num_rows, unknown_points=keyed.unknown_rows)

    def read_samples(
        self, site: str, start_ms: int, end_ms: int, point_names: Sequence[str] | None
    ) -> pa.Table:
        ids, names = self._read(lambda c: self._catalogue(c, site))
        params: list[object] = [site, start_ms, end_ms]
        ids_filter = ""
        if point_names is not None:
            wanted = set(point_names)
            chosen = [i for i, n in zip(ids.to_pylist(), names.to_pylist(), strict=True) if n in wanted]
            if not chosen:
                return names_for_ids(pa.table({"point_id": pa.array([], pa.int64())}), ids, names)
            ids_filter = "AND p.id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(chosen))
        with adbc_sqlite.connect(str(self.path)) as conn, conn.cursor() as cur:
            cur.execute(_READ_SQL.format(ids=ids_filter), params)
            rows = cur.fetch_arrow_table()
        return names_for_ids(rows, ids, names)

    def count_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        sql = (
            "SELECT count(*) FROM points p JOIN samples s ON s.point_id = p.id "
            "WHERE p.site = ? AND s.ts >= ? AND s.ts < ?"
        )
        return int(self._read(lambda c: c.execute(sql, (site, start_ms, end_ms)).fetchone()[0]))

    def delete_samples(self, site: str, start_ms: int, end_ms: int) -> int:
        sql = (
            "DELETE FROM samples WHERE point_id IN (SELECT id FROM points WHERE site = ?) "
            "AND ts >= ? AND ts < ?"
        )
        return int(self._write(lambda c: c.execute(sql, (site, start_ms, end_ms)).rowcount))

    def next_sample_ms(self, site: str, from_ms: int, before_ms: int) -> int | None:
        # One seek per point on the (point_id, ts) key, never a scan of the samples.
        sql = (
            "SELECT min((SELECT min(s.ts) FROM samples s WHERE s.point_id = p.id "
            "AND s.ts >= ? AND s.ts < ?)) FROM points p WHERE p.site = ?"
        )
        row = self._read(lambda c: c.execute(sql, (from_ms, before_ms, site)).fetchone())
        return None if row[0] is None else int(row[0])

    def latest_sample_ms(self, site: str) -> int | None:
        sql = (
            "SELECT max((SELECT max(s.ts) FROM samples s WHERE s.point_id = p.id)) "
            "FROM points p WHERE p.site = ?"
        )
        row = self._read(lambda c: c.execute(sql, (site,)).fetchone())
        return None if row[0] is None else int(row[0])

    # -- sync state and archive records ------------------------------------------------

    def get_watermark(self, site: str) -> int | None:
        sql = "SELECT watermark_ms FROM sync_state WHERE site = ?"
        row = self._read(lambda c: c.execute(sql, (site,)).fetchone())
        return None if row is None else int(row[0])

    def set_watermark(self, site: str, ts_ms: int) -> None:
        sql = (
            "INSERT INTO sync_state (site, watermark_ms, updated_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (site) DO UPDATE SET watermark_ms = excluded.watermark_ms, "
            "updated_ms = excluded.updated_ms"
        )
        self._write(lambda c: c.execute(sql, (site, ts_ms, _now_ms())))

    def record_archive(self, site: str, day: date, rows: int, checksum: str, key: str) -> None:
        sql = (
            "INSERT INTO archives (site, day, rows, checksum, key, verified_at_ms) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, day) DO UPDATE SET "
            "rows = excluded.rows, checksum = excluded.checksum, key = excluded.key, "
            "verified_at_ms = excluded.verified_at_ms"
        )
        params = (site, day.isoformat(), rows, checksum, key, _now_ms())
        self._write(lambda c: c.execute(sql, params))

    def get_archive(self, site: str, day: date) -> ArchiveRecord | None:
        sql = (
            "SELECT site, day, rows, checksum, key, verified_at_ms FROM archives "
            "WHERE site = ? AND day = ?"
        )
        row = self._read(lambda c: c.execute(sql, (site, day.isoformat())).fetchone())
        if row is None:
            return None
        return ArchiveRecord(
            site=row[0],
            day=date.fromisoformat(row[1]),
            rows=int(row[2]),
            checksum=row[3],
            key=row[4],
            verified_at=datetime.fromtimestamp(row[5] / 1000, tz=UTC),
        )
