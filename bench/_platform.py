"""Shared set-up for platform benches: a simulator subprocess and a fresh data folder."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimulatorProcess:
    """`vitals simulate` in its own process (its CPU is not the platform's)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ace_simulator", "--port", str(self.port), *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/_sim/health", timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("simulator did not start")

    def stats(self) -> dict:
        return httpx.get(f"http://127.0.0.1:{self.port}/_sim/stats", timeout=10).json()

    def reset(self) -> None:
        httpx.post(f"http://127.0.0.1:{self.port}/_sim/reset", timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def fresh_env(simulator: SimulatorProcess, *, rpm: int, name: str) -> Path:
    """Point the platform at the simulator with a new data folder; returns the folder."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"vitals-bench-{name}-"))
    os.environ.update(
        VITALS_DATA_DIR=str(data_dir),
        ACE_API_URL=simulator.url,
        ACE_API_KEY="bench-key",
        ACE_REQUESTS_PER_MINUTE=str(rpm),
    )
    for variable in ("VITALS_HOT_STORE", "VITALS_COLD_STORE"):
        os.environ.pop(variable, None)
    return data_dir


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
