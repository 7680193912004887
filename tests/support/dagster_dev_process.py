"""`dagster dev` (webserver + daemon, the way `vitals dev` starts it) as a test fixture,
on its own DAGSTER_HOME, with a small GraphQL client for the UI's own mutations."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
from dagster._core.instance.ref import InstanceRef

from vitals_cli.dagster_home import ensure_dagster_home

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, what: str, every: float = 1.0):
    """Poll ``condition`` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class DagsterDev:
    url: str
    home: Path
    env: dict[str, str]

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def instance(self) -> dg.DagsterInstance:
        """A second client of the same instance storage (the test's view)."""
        return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.home)))


def _webserver_up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def dagster_dev(
    data_dir: Path, simulator, *, rpm: int = 6000, extra_env: dict[str, str] | None = None
) -> Iterator[DagsterDev]:
    """Start `dagster dev -w workspace.yaml` on a fresh DAGSTER_HOME; stop it on exit."""
    home = ensure_dagster_home(data_dir)
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VITALS_") and not key.startswith("ACE_")
    }
    env.update(
        {
            "VITALS_DATA_DIR": str(data_dir),
            "ACE_API_URL": simulator.url,
            "ACE_API_KEY": simulator.api_key,
            "ACE_REQUESTS_PER_MINUTE": str(rpm),
            "DAGSTER_HOME": str(home),
            **(extra_env or {}),
        }
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _webserver_up(url), 120, "dagster dev")
        assert process.poll() is None, f"dagster dev exited with {process.returncode}"
        yield DagsterDev(url=url, home=home, env=env)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
