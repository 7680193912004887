"""deploy/: the production instance, Celery and Helm files are what Dagster accepts, and
none of them holds a credential (every secret comes from the environment)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from tests.support.dagster_dev_process import REPO

DEPLOY = REPO / "deploy"
ENV = {
    "DAGSTER_PG_HOST": "pg.internal",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "pw-from-env",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOG_BUCKET": "logs",
    "VITALS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "DAGSTER_LOCAL_DIR": "/tmp/vitals-local",
    "VITALS_CELERY_BROKER": "pyamqp://guest:guest@127.0.0.1:5672//",
    "VITALS_CELERY_BACKEND": "redis://127.0.0.1:6379/0",
}


@pytest.fixture
def deploy_env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


def test_instance_config_is_valid_with_queue_limits_and_monitoring(tmp_path, deploy_env):
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] > 0
    assert {limit["key"] for limit in runs["tag_concurrency_limits"]} == {
        "vitals/ace",
        "dagster/backfill",
    }
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    assert config["retention"]["schedule"]["purge_after_days"] > 0


def test_celery_worker_config_is_valid(deploy_env):
    from dagster_celery.cli import get_validated_config

    config = get_validated_config(str(DEPLOY / "celery.yaml"))
    assert config["broker"] == ENV["VITALS_CELERY_BROKER"]
    assert config["config_source"]["task_acks_late"] is True


def test_workspace_points_at_the_grpc_server():
    for name in ("workspace.yaml", "workspace.compose.yaml"):
        server = yaml.safe_load((DEPLOY / name).read_text())["load_from"][0]["grpc_server"]
        assert server["port"] == 4266 and server["location_name"] == "vitals"


def test_helm_values_use_the_k8s_run_launcher_and_secrets_by_name():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"] == [
        {"name": "vitals-secrets"}
    ]
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlPassword"] == ""
    assert values["generatePostgresqlPasswordSecret"] is False
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "vitals_assets.definitions"]
    assert values["dagsterDaemon"]["runMonitoring"]["freeSlotsAfterRunEndSeconds"] > 0


@pytest.mark.parametrize(
    "path", sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".example"))
)
def test_no_credential_is_written_in_deploy_files(path: Path):
    text = path.read_text()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        # a URL with a password, or a password/key field with a literal value
        assert not re.search(r"://[^/\s:@]+:(?!change-me@)[^@\s/]+@", line), line
        match = re.search(r"([\w-]*(?:password|secret|api_key)[\w-]*)\s*[:=]\s*(\S+)", line, re.I)
        if match and not match.group(1).endswith(("Name", "Secrets")):  # names of k8s secrets
            assert match.group(2) in ('""', "change-me", "{}", "false") or match.group(
                2
            ).startswith(("env", "{env")), line
