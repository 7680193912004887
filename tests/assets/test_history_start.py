"""VITALS_HISTORY_START sets the first partition day (a site with history before 2024
can be backfilled), and a bad value stops the code location with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from vitals.config import DEFAULT_HISTORY_START, load_settings

REPO = Path(__file__).resolve().parents[2]
PROBE = "from vitals_assets.partitions import site_day_partitions as p; print(p.partitions_defs[0].partitions_def.start.date())"


def _first_day(value: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VITALS_HISTORY_START"}
    if value is not None:
        env["VITALS_HISTORY_START"] = value
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_partitions_start_on_the_configured_day():
    assert _first_day("2019-06-01").stdout.strip() == "2019-06-01"
    assert _first_day(None).stdout.strip() == DEFAULT_HISTORY_START.isoformat()


def test_a_bad_history_start_is_refused_with_its_value():
    failed = _first_day("06/01/2019")
    assert failed.returncode != 0
    assert "VITALS_HISTORY_START must be a day as YYYY-MM-DD, got '06/01/2019'" in failed.stderr


@pytest.mark.parametrize("raw", ["2999-01-01"])
def test_a_future_history_start_is_refused(raw):
    with pytest.raises(ValueError, match="is in the future"):
        load_settings({"VITALS_HISTORY_START": raw})


def test_default_history_start():
    assert load_settings({}).history_start == date(2024, 1, 1)
