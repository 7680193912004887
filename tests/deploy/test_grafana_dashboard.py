"""The Grafana dashboard reads only metrics our exporters expose, and all of the plan's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.exported_metrics import metric_names_in

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "vitals.json"

# One figure of the monitoring plan each: the dashboard must show them all.
PLAN = {
    "vitals_api_query_seconds_bucket",  # latency p50/p95/p99 by tier
    "vitals_api_query_seconds_count",  # tier distribution
    "vitals_api_cache_hits_total",
    "vitals_api_requests_total",  # error rate, throughput
    "vitals_api_samples_returned_total",
    "vitals_archival_seconds_bucket",
    "vitals_archival_samples_total",
    "vitals_archival_files_written_total",
    "vitals_archival_hot_rows_deleted_total",
    "vitals_runs_failed_total",
    "vitals_hot_store_rows",
    "vitals_backfill_site_days",
    "vitals_ace_samples_pulled_total",
    "vitals_ace_requests_total",
    "vitals_ace_responses_429_total",
    "vitals_backfill_eta_seconds",
    "vitals_hot_rows_upserted_total",
}


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_every_panel_queries_exported_metrics(exported_metric_names):
    for panel in panels():
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            named = metric_names_in(target["expr"])
            assert named, f"panel {panel['title']!r}: {target['expr']!r} names no vitals metric"
            missing = named - exported_metric_names
            assert not missing, f"panel {panel['title']!r} reads unexported {sorted(missing)}"


def test_the_dashboard_shows_every_figure_of_the_plan():
    shown = set().union(
        *(metric_names_in(t["expr"]) for panel in panels() for t in panel["targets"])
    )
    assert shown >= PLAN, f"missing: {sorted(PLAN - shown)}"
