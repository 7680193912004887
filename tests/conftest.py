"""Shared test set-up: a non-UTC local zone, an isolated data folder, real PostgreSQL."""

from __future__ import annotations

import os
import time

os.environ["TZ"] = "America/Chicago"  # local-time bugs must show (CONVENTIONS.md)
time.tzset()

import pytest  # noqa: E402

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.simulator",
    "tests.support.s3",
]


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own VITALS_DATA_DIR and no stray Vitals settings."""
    for name in list(os.environ):
        if name.startswith("VITALS_") or name in (
            "ACE_API_URL",
            "ACE_API_KEY",
            "HOT_STORAGE_DAYS",
            "ACE_REQUESTS_PER_MINUTE",
        ):
            monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "vitals-data"
    data_dir.mkdir()
    monkeypatch.setenv("VITALS_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture(autouse=True)
def _forget_closed_dagster_instances():
    """Dagster keeps the entered instance's definitions-state storage in a context
    variable, and an entered instance's exit stack restores an older value whenever it
    is garbage-collected; a later `materialize` then trips on a dead instance. Collect
    now, then clear it, so no test inherits another's instance."""
    yield
    import gc

    from dagster._core.storage.defs_state import base

    gc.collect()
    base._current_storage.set(None)
