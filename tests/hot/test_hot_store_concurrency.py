"""Several processes writing one hot store at once (as Dagster's multi-process runs do).

Each worker is a separate spawned interpreter that opens the store itself (so the
first-use migration races too), waits at a barrier, then upserts overlapping slices in
many small transactions. Afterwards every key must be there exactly once with the
value its writers agreed on, and no worker may have failed with "database is locked".
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import sys
import time

import pytest

from tests.support.hot_store_helpers import T0, hot_url, points, samples
from tests.support.hot_store_worker import (
    POINTS,
    SITE,
    SLICE,
    expected_value,
    upsert_overlapping_slices,
)
from vitals.hot.store import HotStore

__all__ = ["hot_url"]

WORKERS = 3


@pytest.mark.timeout(120)
def test_concurrent_writers_store_every_key_exactly_once(hot_url: str) -> None:
    ctx = mp.get_context("spawn")  # fresh interpreters, like Dagster's run workers
    barrier = ctx.Barrier(WORKERS)
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=upsert_overlapping_slices, args=(hot_url, w, barrier, errors))
        for w in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=110)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, "\n".join(failures)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    store = HotStore(hot_url)
    last = (WORKERS - 1) * SLICE // 2 + SLICE
    assert len(store.list_points(SITE)) == len(POINTS)
    table = store.read_samples(SITE, T0, T0 + last)
    expected = sorted(
        (name, T0 + o, expected_value(i, o)) for i, name in enumerate(POINTS) for o in range(last)
    )
    got = list(
        zip(*(table.column(c).to_pylist() for c in ("point_name", "ts", "value")), strict=True)
    )
    assert got == expected
    assert store.count_samples(SITE, T0, T0 + last) == len(POINTS) * last


def test_sqlite_writer_waits_for_a_held_lock_instead_of_failing(tmp_path) -> None:
    """Another process's long write transaction delays an upsert; it does not fail it."""
    path = tmp_path / "hot.sqlite"
    store = HotStore(str(path))
    store.upsert_points(SITE, points(["p"]))
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = store.upsert_samples(SITE, samples([("p", T0, 1.0)]))
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert holder.returncode == 0
    assert result.rows == 1
    assert waited >= 0.8  # it queued behind the lock (held ~1.5 s after "locked")
    assert store.count_samples(SITE, T0, T0 + 1) == 1


_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_postgres_plain_insert_race_falls_back_to_upsert(pg_url: str) -> None:
    """A key committed by another writer after the new-range check still ends exactly once.

    The other writer inserts one of our keys and holds its transaction open, so our
    overlap check cannot see it and takes the plain INSERT path; when it commits, our
    INSERT hits the unique key and the chunk is re-applied as an upsert (we write last,
    so our values win).
    """
    import threading

    import psycopg

    store = HotStore(pg_url)
    store.upsert_points(SITE, points(["p", "q"]))
    [p] = store.resolve_points(SITE, ["p"])
    other = psycopg.connect(pg_url)
    other.execute(
        "INSERT INTO samples (point_id, ts, value) VALUES (%s, %s, %s)", (p.point_id, T0 + 5, -1.0)
    )
    ours = samples([(name, T0 + t, float(t)) for name in ("p", "q") for t in range(10)])
    outcome: dict[str, object] = {}
    writer = threading.Thread(
        target=lambda: outcome.update(result=store.upsert_samples(SITE, ours))
    )
    writer.start()
    time.sleep(1.0)
    assert writer.is_alive()  # waiting on the other writer's uncommitted key
    other.commit()
    other.close()
    writer.join(timeout=60)
    assert outcome["result"].rows == 20
    got = store.read_samples(SITE, T0, T0 + 10)
    assert list(
        zip(got.column("point_name").to_pylist(), got.column("value").to_pylist(), strict=True)
    ) == [(name, float(t)) for name in ("p", "q") for t in range(10)]
