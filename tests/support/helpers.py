"""Small builders for test data (real tables, real stores; no fakes of our code)."""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from vitals.samples import SAMPLE_SCHEMA, day_bounds_ms


def point_names(site: str, count: int) -> list[str]:
    """Point names in the production style (slashes, dots, colons, case)."""
    return [
        f"acme/{site}/192.168.1.{index % 250}/n4/AHU_{index // 10}/C.Drivers.Zone{index}.ZN-T"
        for index in range(count)
    ]


def catalogue(site: str, count: int):
    from vitals.ace.client import AcePoint

    return [
        AcePoint(
            name=name,
            point_id=index + 1,
            point_type="bacnet",
            collect_enabled=True,
            collect_interval=300,
            created="2024-01-01T00:00:00Z",
            updated="2024-01-01T00:00:00Z",
        )
        for index, name in enumerate(point_names(site, count))
    ]


def day_samples(
    names: list[str], day: date, *, step_ms: int = 300_000, offset_ms: int = 36_055, seed: int = 1
) -> pa.Table:
    """Every point every ``step_ms`` over the UTC day, deterministic values."""
    start, end = day_bounds_ms(day)
    rows_names, rows_ts, rows_values = [], [], []
    for index, name in enumerate(names):
        for ts in range(start + offset_ms, end, step_ms):
            rows_names.append(name)
            rows_ts.append(ts)
            rows_values.append(round(((ts // step_ms) * 7 + index * 13 + seed) % 1000 / 10.0, 1))
    return pa.Table.from_arrays(
        [pa.array(rows_names, pa.string()), pa.array(rows_ts, pa.int64()), pa.array(rows_values)],
        schema=SAMPLE_SCHEMA,
    )


def as_key_dict(table: pa.Table) -> dict[tuple[str, int], float]:
    """{(point, ts): value} from a sample table (ts as epoch ms)."""
    import pyarrow.compute as pc

    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = pc.cast(ts, pa.int64())
    return dict(
        zip(
            zip(table.column("point_name").to_pylist(), ts.to_pylist(), strict=True),
            table.column("value").to_pylist(),
            strict=True,
        )
    )
