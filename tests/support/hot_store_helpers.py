"""Helpers shared by the hot store tests: backend locations, ACE points, sample tables."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pytest

from vitals.ace.client import AcePoint
from vitals.samples import SAMPLE_SCHEMA

DAY_MS = 86_400_000
T0 = 1_780_000_000_000 // DAY_MS * DAY_MS  # a UTC midnight in 2026


def points(names: Iterable[str], point_type: str | None = "analog") -> list[AcePoint]:
    return [AcePoint(name=n, point_id=i, point_type=point_type) for i, n in enumerate(names)]


def samples(rows: Iterable[tuple[str, int, float]]) -> pa.Table:
    rows = list(rows)
    return pa.Table.from_arrays(
        [
            pa.array([r[0] for r in rows], pa.string()),
            pa.array([r[1] for r in rows], pa.int64()),
            pa.array([r[2] for r in rows], pa.float64()),
        ],
        schema=SAMPLE_SCHEMA,
    )


def rows_of(table: pa.Table) -> list[tuple[str, int, float]]:
    return list(
        zip(
            table.column("point_name").to_pylist(),
            table.column("ts").to_pylist(),
            table.column("value").to_pylist(),
            strict=True,
        )
    )


@pytest.fixture(params=["sqlite", "postgres"])
def hot_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty hot store location on each backend (SQLite file, PG database)."""
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return str(tmp_path / "hot" / "hot.sqlite")
