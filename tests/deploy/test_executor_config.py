"""The code location's executor: in-process by default, Celery when a broker is set, with
the broker and backend URLs bound by variable name (never stored in a run snapshot)."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from tests.support.dagster_dev_process import REPO
from vitals.config import load_settings
from vitals_assets.executor import build_executor, celery_executor_config


def test_default_executor_is_in_process():
    assert build_executor(load_settings({})) is dg.in_process_executor


def test_celery_executor_binds_urls_by_variable_name():
    settings = load_settings(
        {
            "VITALS_CELERY_BROKER": "pyamqp://guest:s3cret@broker:5672//",
            "VITALS_CELERY_BACKEND": "redis://:s3cret@cache:6379/0",
            "VITALS_CELERY_QUEUE": "vitals-east",
        }
    )
    config = celery_executor_config(settings)
    assert config["broker"] == {"env": "VITALS_CELERY_BROKER"}
    assert config["backend"] == {"env": "VITALS_CELERY_BACKEND"}
    assert config["config_source"]["task_default_queue"] == "vitals-east"
    assert config["config_source"]["task_acks_late"] is True
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(config)
    assert build_executor(settings).name == "celery"


def test_definitions_load_with_celery_and_snapshot_holds_no_broker_password(tmp_path):
    """The job snapshot (what Dagster stores per run) holds neither URL."""
    code = (
        "from vitals_assets.definitions import defs\n"
        "from dagster._core.snap import JobSnap\n"
        "from dagster._serdes import serialize_value\n"
        "job = defs.resolve_implicit_global_asset_job_def()\n"
        "print(job.executor_def.name)\n"
        "print(serialize_value(JobSnap.from_job_def(job)))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "VITALS_DATA_DIR": str(tmp_path),
        "ACE_API_KEY": "unused",
        "VITALS_CELERY_BROKER": "pyamqp://guest:broker-pw-93c1@127.0.0.1:5672//",
        "VITALS_CELERY_BACKEND": "redis://:backend-pw-93c1@127.0.0.1:6379/0",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, snapshot = out.stdout.split("\n", 1)
    assert name == "celery"
    assert "broker-pw-93c1" not in snapshot and "backend-pw-93c1" not in snapshot


@pytest.mark.parametrize("raw", ["0", "-3", "soon", "inf"])
def test_breaker_cooldown_must_be_positive_seconds(raw):
    with pytest.raises(ValueError, match="ACE_BREAKER_COOLDOWN_SECONDS"):
        load_settings({"ACE_BREAKER_COOLDOWN_SECONDS": raw})


def test_breaker_cooldown_reaches_the_ace_resource():
    from vitals_assets.bindings import build_resources

    resources = build_resources(load_settings({"ACE_BREAKER_COOLDOWN_SECONDS": "7.5"}))
    assert resources["ace"].breaker_cooldown_seconds == 7.5
