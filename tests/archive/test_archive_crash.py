"""Crash safety: SIGKILL the archival process at each step, re-run, compare.

Each case kills a real subprocess running ``archive_site_day`` (SQLite hot store, local
cold folder), then re-runs archival to completion. 0 samples lost, 0 duplicated, and the
file is byte-identical to an uninterrupted run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from resources.cold_store import ColdStoreResource
from resources.hot_store import HotStoreResource
from tests.archive.test_archival import OLD_DAY, SITE, seed_day
from vitals.archive import archive_site_day
from vitals.cold.keys import cold_day_key
from vitals.samples import day_bounds_ms

REPO = Path(__file__).resolve().parents[2]

KILLER = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    from datetime import date
    sys.path.insert(0, {repo!r})
    from resources.cold_store import ColdStoreResource
    from resources.hot_store import HotStoreResource
    from vitals.archive import archive_site_day

    target, delay = sys.argv[1], float(sys.argv[2])

    def on_step(name):
        if name != target:
            return
        if delay <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
        # Kill while the next step (the delete transaction) is running.
        threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()

    archive_site_day(
        HotStoreResource(url={hot!r}),
        ColdStoreResource(url={cold!r}),
        {site!r},
        date.fromisoformat({day!r}),
        delete_hot=True,
        on_step=on_step,
    )
    time.sleep(5)  # a mid-step kill must land before the process could exit on its own
    """
)


def _fresh(base: Path):
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    hot = HotStoreResource(url=str(base / "hot.sqlite"))
    cold = ColdStoreResource(url=str(base / "cold"))
    from tests.support.helpers import catalogue

    hot.upsert_points(SITE, catalogue(SITE, 12))
    expected = seed_day(hot, cold)
    return hot, cold, expected


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    hot, cold, expected = _fresh(base / "data")
    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    return cold.get_bytes(outcome.key), expected


@pytest.mark.parametrize(
    ("step", "delay"),
    [
        ("built", 0.0),
        ("written", 0.0),
        ("verified", 0.0),
        ("recorded", 0.0),
        ("deleting", 0.0),
        ("deleting", 0.002),  # mid-delete
        ("deleted", 0.0),
    ],
)
def test_kill_at_each_step_then_rerun_converges(tmp_path, reference, step, delay):
    reference_bytes, expected = reference
    hot, cold, _ = _fresh(tmp_path / "data")
    script = KILLER.format(
        repo=str(REPO),
        hot=hot.url,
        cold=cold.url,
        site=SITE,
        day=OLD_DAY.isoformat(),
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, step, str(delay)], capture_output=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]

    # Whatever the kill left, the data is readable and nothing is lost.
    start, end = day_bounds_ms(OLD_DAY)
    key = cold_day_key(SITE, OLD_DAY)
    hot_left = hot.count_samples(SITE, start, end)
    if hot_left == 0:
        assert cold.exists(key) and pq.read_table(cold.local_copy(key)).num_rows == len(expected)

    outcome = archive_site_day(hot, cold, SITE, OLD_DAY, delete_hot=True)
    assert outcome.rows == len(expected)
    assert hot.count_samples(SITE, start, end) == 0
    assert cold.get_bytes(key) == reference_bytes
    table = pq.read_table(cold.local_copy(key))
    keys = list(
        zip(table.column("point_name").to_pylist(), table.column("ts").to_pylist(), strict=True)
    )
    assert len(keys) == len(set(keys)) == len(expected)
