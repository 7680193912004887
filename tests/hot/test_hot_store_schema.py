"""Hot store schema versions: forward migration, and a clear error on a newer database."""

from __future__ import annotations

import adbc_driver_sqlite.dbapi as adbc_sqlite
import psycopg
import pytest

from tests.support.hot_store_helpers import T0, hot_url, points, rows_of, samples
from vitals.hot.base import is_postgres_url
from vitals.hot.postgres import PostgresHotStore
from vitals.hot.schema import SCHEMA_VERSION, HotSchemaError
from vitals.hot.sqlite import SqliteHotStore
from vitals.hot.store import HotStore
from vitals.samples import day_of_ms

__all__ = ["hot_url"]


def _open_at(url: str, version: int) -> SqliteHotStore | PostgresHotStore:
    """A backend whose database was migrated only up to ``version`` (an older release)."""
    if is_postgres_url(url):
        return PostgresHotStore(url, schema_target=version)
    return SqliteHotStore(url, schema_target=version)


def _execute(url: str, sql: str) -> None:
    if is_postgres_url(url):
        with psycopg.connect(url) as conn:
            conn.execute(sql)
    else:
        # ADBC, like the store: its own SQLite copy must be the only one on this file
        with adbc_sqlite.connect(url) as conn, conn.cursor() as cur:
            cur.execute(sql)
            conn.commit()


def test_fresh_database_gets_the_code_version(hot_url: str) -> None:
    assert SCHEMA_VERSION >= 2
    assert HotStore(hot_url).schema_version() == SCHEMA_VERSION


def test_older_database_is_migrated_forward_keeping_its_rows(hot_url: str) -> None:
    old = _open_at(hot_url, 1)
    assert old.schema_version() == 1
    old.upsert_points("s1", points(["p"]))
    old.upsert_samples("s1", samples([("p", T0, 4.5)]))
    old.set_watermark("s1", T0)

    store = HotStore(hot_url)
    assert store.schema_version() == SCHEMA_VERSION
    assert rows_of(store.read_samples("s1", T0, T0 + 1)) == [("p", T0, 4.5)]
    assert store.get_watermark("s1") == T0
    store.record_archive("s1", day_of_ms(T0), rows=1, checksum="c", key="k")  # v2 table
    assert store.get_archive("s1", day_of_ms(T0)) is not None
    assert HotStore(hot_url).schema_version() == SCHEMA_VERSION  # re-open: no-op


def test_newer_database_is_refused_naming_both_versions(hot_url: str) -> None:
    HotStore(hot_url).schema_version()
    _execute(hot_url, "INSERT INTO vitals_schema_version (version, applied_ms) VALUES (99, 0)")

    with pytest.raises(HotSchemaError) as refused:
        HotStore(hot_url).list_sites()
    message = str(refused.value)
    assert "schema version 99" in message
    assert f"code's version {SCHEMA_VERSION}" in message


def test_bad_urls_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="neither a SQLite file path nor a postgresql"):
        HotStore("mysql://db/x").list_sites()
    with pytest.raises(ValueError, match="hot store url"):
        HotStore("  ").list_sites()
    store = HotStore(f"sqlite:///{tmp_path}/via-scheme.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    assert (tmp_path / "via-scheme.sqlite").exists()
