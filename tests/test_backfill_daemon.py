"""A backfill launched the way the UI and `vitals backfill` do, run by a real Dagster
daemon (separate processes), ending in verified cold files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from resources.cold_store import ColdStoreResource
from tests.platform_helpers import expected_hot_rows
from vitals.backfill_cli import submit_backfill
from vitals.backfill_progress import backfill_progress
from vitals.dagster_home import ensure_dagster_home
from vitals.paths import cold_day_key
from vitals.samples import day_bounds_ms

REPO = Path(__file__).resolve().parent.parent
SITE = "acme_hq"
TODAY = datetime.now(UTC).date()


def test_launched_backfill_runs_to_completion(simulator, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    env = {
        "VITALS_DATA_DIR": str(data_dir),
        "ACE_API_URL": simulator.url,
        "ACE_API_KEY": simulator.api_key,
        "ACE_REQUESTS_PER_MINUTE": "600",
        "DAGSTER_HOME": str(ensure_dagster_home(data_dir)),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    first, last = TODAY - timedelta(days=35), TODAY - timedelta(days=34)
    try:
        with dg.DagsterInstance.get() as instance:
            backfill_id = submit_backfill(instance, sites=[SITE], start=first, end=last)
            deadline = time.monotonic() + 420
            status = None
            while time.monotonic() < deadline:
                backfill = instance.get_backfill(backfill_id)
                status = backfill.status
                if status.value.startswith("COMPLETED") or status.value in ("FAILED", "CANCELED"):
                    break
                time.sleep(2)
            assert status is not None and status.value == "COMPLETED_SUCCESS", status
            progress = backfill_progress(instance, backfill_id)
            assert progress is not None and progress.fraction_done == 1.0
            assert progress.materialized == progress.targeted == 2 * 4  # 2 days x 4 assets
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)

    cold = ColdStoreResource(url=str(data_dir / "cold"))
    for day in (first, last):
        start, end = day_bounds_ms(day)
        table = pq.read_table(cold.local_copy(cold_day_key(SITE, day)))
        assert table.num_rows == len(expected_hot_rows(simulator, SITE, start, end))
