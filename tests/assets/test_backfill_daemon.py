"""A backfill launched the way the UI and `vitals backfill` do, run by a real Dagster
daemon (separate processes): cancelled mid-request, then resumed to verified cold files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.execution.backfill import BulkActionStatus

from resources.cold_store import ColdStoreResource
from tests.support.platform_helpers import expected_hot_rows
from vitals.cold.keys import cold_day_key
from vitals.cold.raw_pulls import list_raw_pulls
from vitals.samples import day_bounds_ms
from vitals_assets.backfill_progress import backfill_progress
from vitals_cli.backfill import submit_backfill
from vitals_cli.dagster_home import ensure_dagster_home

# Daemon runs minutes long: one worker, away from test_readme_ui_route's `dagster dev`
# (tests/conftest.py HEAVIEST_GROUPS).
pytestmark = pytest.mark.xdist_group("backfill_daemon")

REPO = Path(__file__).resolve().parents[2]
SITE = "acme_hq"
TODAY = datetime.now(UTC).date()


def _wait_for(condition, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id})))


def _pulling_run(instance: dg.DagsterInstance, backfill_id: str) -> str | None:
    """A run of the backfill whose ace_raw_samples step has started (mid-pull)."""
    for run in _backfill_runs(instance, backfill_id):
        started = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
        if any("ace_raw_samples" in (record.step_key or "") for record in started):
            return run.run_id
    return None


def _finished(instance: dg.DagsterInstance, backfill_id: str, wanted: str) -> bool:
    status = instance.get_backfill(backfill_id).status.value
    runs = _backfill_runs(instance, backfill_id)
    return status == wanted and all(run.is_finished for run in runs)


def test_launched_backfill_cancels_promptly_and_resumes_to_completion(
    simulator, tmp_path, monkeypatch
):
    """Cancel as the UI does (backfill -> CANCELING) while a partition is blocked in a slow
    ACE request: the run stops at once (not after the request), leaves no cold file and no
    partial raw pull; the same range submitted again completes with exact data."""
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
    cold = ColdStoreResource(url=str(data_dir / "cold"))
    try:
        with dg.DagsterInstance.get() as instance:
            simulator.set_faults("slow:delay=45")  # every sample request hangs 45 s
            cancelled = submit_backfill(instance, sites=[SITE], start=first, end=last)
            run_id = _wait_for(lambda: _pulling_run(instance, cancelled), 150, "a run mid-pull")
            time.sleep(1.0)  # inside the slow request
            backfill = instance.get_backfill(cancelled)
            instance.update_backfill(
                backfill.with_status(BulkActionStatus.CANCELING)
            )  # the UI's cancel
            _wait_for(
                lambda: _finished(instance, cancelled, "CANCELED"), 90, "the cancelled backfill"
            )
            run = instance.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.CANCELED
            asked = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_CANCELING)
            done = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_CANCELED)
            stopped_after = done[-1].timestamp - asked[0].timestamp
            assert stopped_after < 15, f"run took {stopped_after:.1f} s to stop after the cancel"
            # nothing half-made: no cold file, no raw pull of the interrupted request
            for day in (first, last):
                assert not cold.exists(cold_day_key(SITE, day))
                assert list_raw_pulls(cold, SITE, day) == []

            simulator.set_faults(None)
            resumed = submit_backfill(instance, sites=[SITE], start=first, end=last)
            _wait_for(
                lambda: _finished(instance, resumed, "COMPLETED_SUCCESS"),
                420,
                "the resumed backfill",
                every=2,
            )
            progress = backfill_progress(instance, resumed)
            assert progress is not None and progress.fraction_done == 1.0
            # 2 days x 3 assets: days past the hot window are not hot_samples partitions'
            # to materialise, so the backfill does not target them there (issue 9)
            assert progress.materialized == progress.targeted == 2 * 3
    finally:
        simulator.set_faults(None)
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=30)

    for day in (first, last):
        start, end = day_bounds_ms(day)
        table = pq.read_table(cold.local_copy(cold_day_key(SITE, day)))
        expected = expected_hot_rows(simulator, SITE, start, end)
        assert table.num_rows == len(expected)
        got = dict(
            zip(
                zip(
                    table.column("point_name").to_pylist(),
                    table.column("ts").cast(pa.int64()).to_pylist(),
                    strict=True,
                ),
                table.column("value").to_pylist(),
                strict=True,
            )
        )
        assert got == expected
