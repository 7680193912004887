"""One look at the exporters' registries for every deploy/ test."""

from __future__ import annotations

import pytest

from tests.support.exported_metrics import exposed_names


@pytest.fixture(scope="session")
def exported_metric_names(tmp_path_factory) -> set[str]:
    """Sample names the query API and the pipeline exporter expose."""
    return exposed_names(tmp_path_factory.mktemp("exported"))
