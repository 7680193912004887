"""Sample values and timestamps as ACE sends them, and the Arrow shape we keep them in.

ACE sends values as strings ("72.5", "true", "NaN", null) and naive ISO timestamps
with microseconds. Vitals keeps samples as Arrow tables with columns
``point_name`` (string), ``ts`` (int64 epoch milliseconds, UTC) and ``value`` (float64).
Conversions use integer arithmetic so no timestamp is rounded (invariant 8).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_SAMPLE_FIELDS: list[pa.Field[Any]] = [
    pa.field("point_name", pa.string(), nullable=False),
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
]
SAMPLE_SCHEMA = pa.schema(_SAMPLE_FIELDS)
# The same samples with dictionary-encoded names, as Parquet hands them over cheaply
# (``read_dictionary``): a day's 6.6 M rows name only ~4,600 points.
DICTIONARY_NAMES = pa.dictionary(pa.int32(), pa.string())
DICTIONARY_SAMPLE_SCHEMA = SAMPLE_SCHEMA.set(0, SAMPLE_SCHEMA.field(0).with_type(DICTIONARY_NAMES))


def check_sample_table(
    samples: object, *, label: str = "samples", dictionary_names: bool = False
) -> pa.Table:
    """Return ``samples`` if it is a sample table fit to store, else raise naming the fault.

    The one rule for both tiers: ``SAMPLE_SCHEMA`` columns and types (``dictionary_names``
    also admits dictionary-encoded names, as Parquet reads hand them over), no nulls, no
    NaN or infinite values. The parser drops and counts such samples, so meeting one
    here is a bug upstream and fails loudly. ``label`` names the table in messages.
    """
    if not isinstance(samples, pa.Table):
        raise TypeError(f"{label} must be a pyarrow.Table, got {type(samples).__name__}")
    allowed = [SAMPLE_SCHEMA.types] + [DICTIONARY_SAMPLE_SCHEMA.types] * dictionary_names
    if samples.schema.names != SAMPLE_SCHEMA.names or samples.schema.types not in allowed:
        raise ValueError(
            f"{label} must have the sample schema {SAMPLE_SCHEMA}, got {samples.schema}"
        )
    for column in SAMPLE_SCHEMA.names:
        nulls = samples.column(column).null_count
        if nulls:
            raise ValueError(
                f"{label} has nulls in column {column!r}: {column!r} holds {nulls} null(s)"
            )
    finite = pc.is_finite(samples.column("value"))
    if samples.num_rows and not pc.all(finite).as_py():
        bad = samples.filter(pc.invert(finite))
        first = bad.slice(0, 1).to_pylist()[0]
        raise ValueError(
            f"{label}: {bad.num_rows} non-finite value(s), e.g. point {first['point_name']!r} at "
            f"ts {first['ts']}: NaN or infinite values are dropped by the parser, never stored"
        )
    return samples


def plain_names(table: pa.Table) -> pa.Table:
    """A sample table with string names (dictionary names decoded), in ``SAMPLE_SCHEMA``."""
    if table.schema.field("point_name").type == DICTIONARY_NAMES:
        table = table.set_column(0, "point_name", table.column("point_name").cast(pa.string()))
    return pa.Table.from_arrays(table.columns, schema=SAMPLE_SCHEMA)


MS_PER_DAY = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_RE = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?)?"
    r"[ ]?(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?$",
    re.ASCII,
)
_TRUE = {"true", "on", "active", "yes"}
_FALSE = {"false", "off", "inactive", "no"}


class BadTimestampError(ValueError):
    """A timestamp string Vitals cannot read."""


def parse_value(raw: object) -> float | None:
    """Convert an ACE value to a finite float, or ``None`` if it must be dropped.

    Booleans and numeric strings are converted; NULL, NaN, +/-inf and other strings
    are dropped (and the caller counts them).
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        lowered = text.lower()
        if lowered in _TRUE:
            return 1.0
        if lowered in _FALSE:
            return 0.0
        try:
            value = float(text)
        except ValueError:
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def parse_ts_ms(raw: object) -> int:
    """Parse an ISO 8601 timestamp (naive means UTC) or epoch ms to epoch milliseconds.

    Sub-millisecond digits are truncated, never rounded.
    """
    if isinstance(raw, bool):
        raise BadTimestampError(f"timestamp {raw!r} is not a time")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, datetime):
        dt = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if not isinstance(raw, str):
        raise BadTimestampError(f"timestamp {raw!r} is not a string")
    match = _ISO_RE.match(raw.strip())
    if not match:
        raise BadTimestampError(f"timestamp {raw!r} is not ISO 8601")
    year, month, day, hh, mm, ss, frac, tz = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise BadTimestampError(f"timestamp {raw!r}: {exc}") from exc
    hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise BadTimestampError(f"timestamp {raw!r} has an out-of-range time")
    millis = int((frac or "0")[:3].ljust(3, "0"))
    total = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            raise BadTimestampError(f"timestamp {raw!r} has an out-of-range UTC offset")
        offset_min = hours * 60 + minutes
        total -= sign * offset_min * 60_000
    return total


def ms_to_iso(ts_ms: int) -> str:
    """Epoch ms to ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC)."""
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ts_ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def day_bounds_ms(day: date) -> tuple[int, int]:
    """Half-open [start, end) of a UTC day in epoch ms."""
    start = (day.toordinal() - _EPOCH_ORDINAL) * MS_PER_DAY
    return start, start + MS_PER_DAY


def day_of_ms(ts_ms: int) -> date:
    """The UTC day a timestamp falls in."""
    return date.fromordinal(ts_ms // MS_PER_DAY + _EPOCH_ORDINAL)


@dataclass(frozen=True)
class ParsedSamples:
    """Samples converted from the wire, with counts of what was dropped and why."""

    table: pa.Table
    dropped_bad_value: int
    dropped_bad_time: int
    dropped_bad_name: int

    @property
    def dropped(self) -> int:
        """Samples dropped for any reason."""
        return self.dropped_bad_value + self.dropped_bad_time + self.dropped_bad_name


def parse_wire_samples(records: Sequence[object]) -> ParsedSamples:
    """Convert ``point_samples`` records (``name``, ``time``, ``value``) to a sample table.

    Records with a missing/invalid name, time or value are dropped and counted; no
    exception escapes for bad records.
    """
    names: list[str] = []
    stamps: list[int] = []
    values: list[float] = []
    bad_value = bad_time = bad_name = 0
    for record in records:
        if not isinstance(record, dict):
            bad_name += 1
            continue
        name = record.get("name")
        if not isinstance(name, str) or not name or len(name) > 512:
            bad_name += 1
            continue
        try:
            ts = parse_ts_ms(record.get("time"))
        except BadTimestampError:
            bad_time += 1
            continue
        value = parse_value(record.get("value"))
        if value is None:
            bad_value += 1
            continue
        names.append(name)
        stamps.append(ts)
        values.append(value)
    table = pa.Table.from_arrays(
        [
            pa.array(names, pa.string()),
            pa.array(stamps, pa.int64()),
            pa.array(values, pa.float64()),
        ],
        schema=SAMPLE_SCHEMA,
    )
    return ParsedSamples(table, bad_value, bad_time, bad_name)
