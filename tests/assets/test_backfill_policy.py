"""VITALS_BACKFILL_PARTITIONS_PER_RUN: how many site-days one backfill run covers."""

from __future__ import annotations

import dagster as dg
import pytest

from vitals.config import load_settings
from vitals_assets import partitions
from vitals_assets.definitions import defs
from vitals_assets.partitions import _backfill_policy, site_day_partitions


def test_one_run_per_site_day_by_default_and_ranges_of_n_when_set(tmp_path):
    assert load_settings({"VITALS_DATA_DIR": str(tmp_path)}).backfill_partitions_per_run == 1
    assert _backfill_policy(1) is None
    assert _backfill_policy(31) == dg.BackfillPolicy.multi_run(31)
    raw = {"VITALS_DATA_DIR": str(tmp_path), "VITALS_BACKFILL_PARTITIONS_PER_RUN": "31"}
    assert load_settings(raw).backfill_partitions_per_run == 31
    with pytest.raises(ValueError, match="VITALS_BACKFILL_PARTITIONS_PER_RUN must be a positive"):
        load_settings({**raw, "VITALS_BACKFILL_PARTITIONS_PER_RUN": "0"})


def test_every_site_day_asset_shares_the_policy():
    """Assets of one backfill share runs only when their policies agree."""
    graph = defs.resolve_asset_graph()
    site_day = [node for node in graph.asset_nodes if node.partitions_def == site_day_partitions]
    assert len(site_day) >= 5
    for node in site_day:
        assert node.backfill_policy == partitions.SITE_DAY_BACKFILL_POLICY, node.key
