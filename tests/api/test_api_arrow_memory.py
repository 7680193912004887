"""The query API's processes run Arrow on jemalloc, set at start-up (the app's lifespan).

mimalloc's default hands freed pages back to the OS after ~10 ms, so every uncached
answer paid page faults again; the operator's ``ARROW_DEFAULT_MEMORY_POOL`` still wins.
Run in a fresh interpreter: the pool is process-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import pyarrow as pa
from starlette.testclient import TestClient
from vitals.api.app import create_app
from vitals.config import load_settings

app = create_app(load_settings())
before = pa.default_memory_pool().backend_name
with TestClient(app) as client:  # runs the lifespan, as uvicorn does in each worker
    status = client.get("/healthz").status_code
    print(before, pa.default_memory_pool().backend_name, status)
"""


def _pools(tmp_path: Path, extra_env: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    env.update(
        extra_env,
        PYTHONPATH=str(REPO),
        VITALS_DATA_DIR=str(tmp_path),
        VITALS_HOT_STORE=str(tmp_path / "hot.sqlite"),
        VITALS_COLD_STORE=str(tmp_path / "cold"),
    )
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_server_start_up_moves_arrow_to_jemalloc(tmp_path: Path) -> None:
    before, after, status = _pools(tmp_path, {})
    assert before != "jemalloc"  # building the app changes nothing global (mimalloc here)
    assert (after, status) == ("jemalloc", "200")


def test_the_operators_pool_wins(tmp_path: Path) -> None:
    assert _pools(tmp_path, {"ARROW_DEFAULT_MEMORY_POOL": "system"}) == ["system", "system", "200"]
