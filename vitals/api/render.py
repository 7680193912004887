"""Turn a :class:`QueryResult` into the bytes of a JSON, CSV or Arrow IPC answer.

JSON is the chart shape (one ``t`` array and one value array per aggregate per
series); CSV and Arrow are long tables for analysts (``point, timestamp, value`` or
one column per aggregate) built through one Arrow table so the two cannot drift.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.ipc as pa_ipc

from vitals.api.contract import ARROW_MEDIA_TYPE
from vitals.names import fold_name
from vitals.query.types import QueryResult, SeriesResult

MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "arrow": ARROW_MEDIA_TYPE,
}


def ordered_series(result: QueryResult, requested: Sequence[str]) -> list[SeriesResult]:
    """Series in the order the client listed the points (exact name first, else case-folded)."""
    remaining = list(result.series)
    ordered: list[SeriesResult] = []
    for name in requested:
        match = next((s for s in remaining if s.point == name), None)
        if match is None:
            folded = fold_name(name)
            match = next((s for s in remaining if fold_name(s.point) == folded), None)
        if match is not None:
            ordered.append(match)
            remaining.remove(match)
    return ordered + remaining


def value_columns(result: QueryResult) -> tuple[str, ...]:
    """``("v",)`` for raw answers, else the aggregates in the order asked."""
    return result.aggs if result.aggs else ("v",)


def _finite(values: list[float | None]) -> list[float | None]:
    return [v if v is None or math.isfinite(v) else None for v in values]


def dumps(payload: object) -> bytes:
    """Compact UTF-8 JSON; non-finite floats (never expected) become null, not invalid JSON.

    orjson writes a chart's numbers ~7x faster than ``json.dumps`` (year at 1 h, 4 points:
    70,000 numbers, 1.4 ms of CPU instead of 9 ms) with the same text for every finite
    float (shortest round-trip repr, ``55.0`` stays ``55.0``) and null for NaN/inf. What
    it refuses (integers beyond 64 bits, lone surrogates, non-string keys) goes through
    the standard library exactly as before.
    """
    try:
        return orjson.dumps(payload)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        pass
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_scrub(payload), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _scrub(payload: object) -> object:
    if isinstance(payload, float):
        return payload if math.isfinite(payload) else None
    if isinstance(payload, list):
        return [_scrub(item) for item in payload]
    if isinstance(payload, dict):
        return {key: _scrub(value) for key, value in payload.items()}
    return payload


def series_payload(result: QueryResult, series: list[SeriesResult]) -> list[dict[str, object]]:
    """``[{"point", "t", "v"}]`` or ``[{"point", "t", "avg", "min", ...}]``."""
    columns = value_columns(result)
    out = []
    for item in series:
        entry: dict[str, object] = {"point": item.point, "t": item.t}
        for column in columns:
            entry[column] = item.values.get(column, [None] * len(item.t))
        entry.update(item.meta)  # mode, avg_kind, unit, quality (docs/query.md)
        out.append(entry)
    return out


def render_json(result: QueryResult, series: list[SeriesResult]) -> bytes:
    """The v1 JSON answer (docs/design.md "Operator interface")."""
    return dumps(
        {
            "site": result.site,
            "start": result.start_ms,
            "end": result.end_ms,
            "interval": result.interval,
            **result.extra,
            "series": series_payload(result, series),
        }
    )


def long_table(result: QueryResult, series: list[SeriesResult]) -> pa.Table:
    """One row per (point, timestamp): ``value`` for raw, one column per aggregate otherwise."""
    columns = value_columns(result)
    names: list[str] = []
    stamps: list[int] = []
    values: dict[str, list[float | None]] = {c: [] for c in columns}
    for item in series:
        names.extend([item.point] * len(item.t))
        stamps.extend(item.t)
        for column in columns:
            values[column].extend(_finite(item.values.get(column, [None] * len(item.t))))
    fields = [
        ("point", pa.array(names, pa.string())),
        ("timestamp", pa.array(stamps, pa.timestamp("ms", tz="UTC"))),
    ]
    for column in columns:
        fields.append(
            ("value" if column == "v" else column, pa.array(values[column], pa.float64()))
        )
    metadata = {
        "site": result.site,
        "start_ms": str(result.start_ms),
        "end_ms": str(result.end_ms),
        "interval": result.interval,
    }
    return pa.table(dict(fields)).replace_schema_metadata(metadata)


def render_csv(result: QueryResult, series: list[SeriesResult]) -> bytes:
    """CSV with a header row; timestamps are UTC (``YYYY-MM-DD HH:MM:SS.mmmZ``)."""
    sink = io.BytesIO()
    pa_csv.write_csv(long_table(result, series), sink, pa_csv.WriteOptions(quoting_style="needed"))
    return sink.getvalue()


def render_arrow(result: QueryResult, series: list[SeriesResult]) -> bytes:
    """An Arrow IPC stream (``pyarrow.ipc.open_stream`` reads it)."""
    table = long_table(result, series)
    sink = pa.BufferOutputStream()
    with pa_ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def render(result: QueryResult, requested: Sequence[str], fmt: str) -> tuple[bytes, str]:
    """(body, media type) of the answer in ``fmt`` (json, csv or arrow)."""
    series = ordered_series(result, requested)
    if fmt == "csv":
        return render_csv(result, series), MEDIA_TYPES["csv"]
    if fmt == "arrow":
        return render_arrow(result, series), MEDIA_TYPES["arrow"]
    return render_json(result, series), MEDIA_TYPES["json"]
