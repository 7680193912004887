"""The metric names our exporters expose, from their real registries (for rules and dashboards)."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg

from vitals.api.metrics import ApiMetrics
from vitals.hot.store import HotStore
from vitals_cli.pipeline_metrics import PipelineCollector

SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}
METRIC_NAME = re.compile(r"\bvitals_[a-z0-9_]+\b")


def exposed_names(tmp_path: Path) -> set[str]:
    """Every sample name the query API and the pipeline exporter can expose.

    Taken from the collectors' own families (type and name), so labelled metrics that
    have seen no value yet count too.
    """
    families = list(ApiMetrics().registry.collect())
    collector = PipelineCollector(
        dg.DagsterInstance.ephemeral(), hot_store=HotStore(str(tmp_path / "hot.sqlite"))
    )
    families += list(collector.collect())
    names = set()
    for family in families:
        for suffix in SUFFIXES[family.type]:
            names.add(family.name + suffix)
    return names


def metric_names_in(expression: str) -> set[str]:
    """``vitals_*`` metric names a PromQL expression reads."""
    return set(METRIC_NAME.findall(expression))
