"""The local Dagster instance folder used by ``vitals dev`` (under the data folder)."""

from __future__ import annotations

from pathlib import Path

# Pool "ace_api" (ingest assets) is capped by default_limit: at most 4 ACE-calling steps
# at once across all runs; the client's shared rate limiter still governs requests.
DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: {max_runs}
  pools:
    default_limit: {pool_limit}
run_monitoring:
  enabled: true
  cancel_timeout_seconds: 60
"""


def ensure_dagster_home(data_dir: Path, *, max_runs: int = 4, pool_limit: int = 4) -> Path:
    """Create ``{data_dir}/dagster_home/dagster.yaml`` if missing and return the folder."""
    home = data_dir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(max_runs=max_runs, pool_limit=pool_limit))
    return home
