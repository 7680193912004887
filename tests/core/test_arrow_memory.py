"""Vitals processes run Arrow on jemalloc unless the operator picked a pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A Vitals process: one that loads the code location (webserver, daemon, run workers).
PROBE = (
    "import vitals_assets.definitions, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
)
LIBRARY_PROBE = "import vitals, pyarrow as pa; print(pa.default_memory_pool().backend_name)"


def _backend(extra_env: dict[str, str], probe: str = PROBE) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env.update(extra_env, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_jemalloc_by_default_and_the_operators_choice_wins():
    assert _backend({}) == "jemalloc"
    assert _backend({"ARROW_DEFAULT_MEMORY_POOL": "system"}) == "system"


def test_importing_the_library_changes_no_global_state():
    assert _backend({}, LIBRARY_PROBE) != "jemalloc"
