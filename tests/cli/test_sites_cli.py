"""`vitals sites add|list|remove` on a fresh DAGSTER_HOME, then a site-day materialised
from the Dagster CLI, which needs the site registered first."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from vitals_assets.partitions import site_day_key
from vitals_cli.dagster_home import ensure_dagster_home
from vitals_cli.main import main as vitals

REPO = Path(__file__).resolve().parents[2]
SITE = "acme_hq"


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    home = ensure_dagster_home(tmp_path / "data")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def test_sites_add_then_dagster_cli_materialises_a_site_day(dagster_home, simulator, tmp_path):
    env = dict(
        os.environ,
        ACE_API_URL=simulator.url,
        ACE_API_KEY=simulator.api_key,
        ACE_REQUESTS_PER_MINUTE="6000",
    )
    day = datetime.now(UTC).date() - timedelta(days=30)
    partition = str(site_day_key(SITE, day))  # "YYYY-MM-DD|acme_hq": dimensions by name
    materialize = [
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "vitals_assets.definitions",
        "--select",
        "ace_points",
        "--partition",
        partition,
    ]
    before = _run(materialize, env)
    assert before.returncode != 0  # the site is not a partition yet

    added = _run([sys.executable, "-m", "vitals_cli", "sites", "add", SITE], env)
    assert added.returncode == 0, added.stderr
    assert f"added site {SITE}" in added.stdout
    ran = _run(materialize, env)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home))) as instance:
        records = instance.fetch_materializations(dg.AssetKey("ace_points"), limit=5).records
        assert [record.partition_key for record in records] == [partition]
        run = instance.get_run_by_id(records[0].run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS


def test_sites_list_add_remove(dagster_home, capsys):
    assert vitals(["sites", "add", "acme_hq", "beta_site", "acme_hq"]) == 0
    assert vitals(["sites", "add", "acme_hq"]) == 0
    assert "acme_hq was already registered" in capsys.readouterr().out
    assert vitals(["sites", "list"]) == 0
    assert capsys.readouterr().out.split() == ["acme_hq", "beta_site"]
    assert vitals(["sites", "remove", "beta_site"]) == 0
    capsys.readouterr()
    assert vitals(["sites", "list"]) == 0
    assert capsys.readouterr().out.split() == ["acme_hq"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "../etc"], "not allowed"),
        (["add", "ok_site", "bad/site"], "not allowed"),
        (["remove", "nowhere"], "not a registered site: 'nowhere' (registered: acme_hq)"),
    ],
)
def test_sites_refuses_bad_names_and_unknown_sites(dagster_home, capsys, args, message):
    assert vitals(["sites", "add", "acme_hq"]) == 0
    capsys.readouterr()
    assert vitals(["sites", *args]) == 2
    assert message in capsys.readouterr().err
    assert vitals(["sites", "list"]) == 0
    assert capsys.readouterr().out.split() == ["acme_hq"]  # nothing half-done


def test_sites_needs_dagster_home(monkeypatch, capsys):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert vitals(["sites", "list"]) == 2
    assert "DAGSTER_HOME is not set" in capsys.readouterr().err
