"""The alerting rules in deploy/prometheus: promtool's unit tests, and real metric names."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.exported_metrics import metric_names_in

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: scripts/system-packages installs Debian's prometheus")
        pytest.skip("promtool not installed (Debian package prometheus; scripts/system-packages)")
    return found


def rules() -> list[dict]:
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_and_unit_tests_the_rules():
    tool = promtool()
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]):
        done = subprocess.run(
            [tool, *command], cwd=DEPLOY, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_alert_has_a_unit_test():
    tests = yaml.safe_load((DEPLOY / "alerts_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in rules()}
    assert len(names) == 10
    assert names == tested == firing


def test_every_metric_in_the_rules_is_one_we_export(exported_metric_names):
    exported = exported_metric_names
    used = set().union(*(metric_names_in(rule["expr"]) for rule in rules()))
    assert used, "no vitals_* metric found in the rules"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
