"""Raw ACE pulls as Arrow tables, and their vectorised conversion to sample tables.

A raw pull keeps every ``point_samples`` record exactly as ACE sent it (nothing is
dropped before the pull is stored), so a day can be rebuilt without calling ACE again.
The columns are strings: JSON strings as-is, numbers and booleans as their JSON text,
``null`` as null, and a non-string name as null (it can never become a point).

:func:`raw_to_samples` converts a raw table to a sample table with the same results as
:func:`vitals.samples.parse_wire_samples` on the decoded records, but vectorised with
``pyarrow.compute``: the shapes ACE really sends ("72.5", "true", "NaN",
``2025-10-12T14:50:36.055960``) take a columnar fast path, and only odd rows (spaces,
non-ASCII digits, "1_000", offsets without minutes, ...) fall back to the scalar
parsers, so both paths agree by construction. One documented difference: a time text
made only of ASCII digits is read as epoch milliseconds, because a JSON *number* time
is stored as that text and ``parse_ts_ms`` accepts integers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc

from vitals.samples import SAMPLE_SCHEMA, BadTimestampError, ParsedSamples, parse_ts_ms, parse_value

RAW_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("time", pa.string()),
        pa.field("value", pa.string()),
    ]
)

MAX_POINT_NAME_LENGTH = 512
_BATCH_ROWS = 1_000_000
_INT64_MAX = 2**63 - 1

# Fast paths: ASCII-only shapes whose meaning is identical under the scalar parsers.
_NUMBER_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_EPOCH_MS_RE = r"^-?[0-9]{1,18}$"
_COMMON_ISO_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,9})?[Zz]?$"
)
_ISO_RE = (
    r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})[T ]"
    r"(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?"
    r"(?P<tz>Z|z|[+-][0-9]{2}:?[0-9]{2})?$"
)
# An ASCII text with no digit and no whitespace is never a finite float (float() needs a
# digit; "nan"/"inf" spellings are not finite), unless it is a boolean word.
_NO_DIGIT_NO_SPACE_RE = r"^[^0-9\s\x1c-\x1f]*$"
_TRUE_WORDS = ["true", "on", "active", "yes"]
_FALSE_WORDS = ["false", "off", "inactive", "no"]
_ASCII_INT_RE = re.compile(r"-?[0-9]+")


def empty_raw_table() -> pa.Table:
    """A raw table with no rows."""
    return RAW_SCHEMA.empty_table()


# --------------------------------------------------------------------------- wire -> raw


def _json_text(item: object) -> str | None:
    """The text a raw column keeps for one decoded JSON item."""
    if item is None:
        return None
    if isinstance(item, str):
        return _utf8_safe(item)
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return repr(item)  # round-trips exactly; nan/inf read back as non-finite
    return _utf8_safe(json.dumps(item, separators=(",", ":"), ensure_ascii=False))


def _utf8_safe(text: str) -> str:
    """Lone surrogates (legal in JSON escapes) cannot be stored in Arrow; escape them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _name_text(item: object) -> str | None:
    return _utf8_safe(item) if isinstance(item, str) else None


def _text_array(items: list[object], *, names: bool) -> StringArray:
    try:
        return pa.array(items, pa.string())  # fast path: only str / None
    except (pa.ArrowTypeError, pa.ArrowInvalid, UnicodeEncodeError):
        convert = _name_text if names else _json_text
        return pa.array([convert(item) for item in items], pa.string())


def records_to_raw_table(records: Sequence[object]) -> pa.Table:
    """Turn decoded ``point_samples`` records into a raw table (one row per record).

    Why: this is the hot path of every pull (100k records a page), so the common case
    (dicts of strings) is three list comprehensions and three Arrow conversions.
    """
    dicts: Sequence[Any] = records
    if not all(isinstance(record, dict) for record in records):
        # A record that is not an object is kept as an all-null row (counted as a bad name).
        dicts = [record if isinstance(record, dict) else {} for record in records]
    names = [record.get("name") for record in dicts]
    times = [record.get("time") for record in dicts]
    values = [record.get("value") for record in dicts]
    return pa.Table.from_arrays(
        [
            _text_array(names, names=True),
            _text_array(times, names=False),
            _text_array(values, names=False),
        ],
        schema=RAW_SCHEMA,
    )


def concat_raw_tables(tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate raw tables (no copy); an empty input gives an empty raw table."""
    tables = list(tables)
    if not tables:
        return empty_raw_table()
    return pa.concat_tables(tables)


# --------------------------------------------------------------------------- raw -> samples
# pyarrow-stubs type most of ``pyarrow.compute`` loosely (``if_else`` returns a union of
# everything, ``replace_with_mask`` and ``binary_slice`` return nothing typed, a few
# kernels such as ``modulo`` are missing): the results are cast to the array type the
# kernel documents, in one place each.

StringArray = pa.StringArray
BoolArray = pa.BooleanArray
Int64Array = pa.Int64Array
DoubleArray = pa.DoubleArray


def _int64(value: int) -> pa.Int64Scalar:
    """An int64 scalar operand (the stubs take no Python ints where pyarrow does)."""
    return pa.scalar(value, pa.int64())


def _replace(base: pa.Array[Any], mask: BoolArray, replacements: pa.Array[Any]) -> pa.Array[Any]:
    """``pc.replace_with_mask`` (untyped in the stubs): the mask's rows take the replacements."""
    return cast("pa.Array[Any]", pc.replace_with_mask(base, mask, replacements))


def _scatter(
    base: pa.Array[Any], mask: BoolArray, replacement: list[Any], type_: pa.DataType
) -> pa.Array[Any]:
    if not replacement:
        return base
    return _replace(base, mask, pa.array(replacement, type_))


def _pick(cond: BoolArray, left: object, right: object) -> pa.Array[Any]:
    """``pc.if_else`` over arrays (its stub returns a union of every array and scalar)."""
    return cast("pa.Array[Any]", pc.if_else(cond, left, right))


def _true(mask: BoolArray) -> BoolArray:
    """A boolean mask with nulls read as False."""
    return cast(BoolArray, mask.fill_null(False))


def _fallback_time(text: str) -> int | None:
    if _ASCII_INT_RE.fullmatch(text):
        number = int(text)
        return number if -_INT64_MAX - 1 <= number <= _INT64_MAX else None
    try:
        return parse_ts_ms(text)
    except (BadTimestampError, ValueError, OverflowError):
        return None


def _odd_texts(values: StringArray, odd: BoolArray) -> list[str]:
    """The texts the fast paths left unsettled (never null: ``odd`` excludes nulls)."""
    return [text for text in pc.filter(values, odd).to_pylist() if text is not None]


def parse_raw_values(values: StringArray) -> DoubleArray:
    """Raw value texts to float64; null where ``parse_value`` would drop the sample.

    Why dictionary-encode first: BMS values are quantised ("72.5", "true"), so a day
    holds far fewer distinct texts than samples; each distinct text is parsed once.
    """
    if len(values) == 0:
        return pa.array([], pa.float64())
    probe = values.slice(0, 50_000)
    if len(pc.unique(probe)) * 4 > len(probe):  # mostly distinct texts: parse directly
        return _parse_value_texts(values)
    encoded = cast("pa.DictionaryArray[Any, Any]", pc.dictionary_encode(values))
    distinct = cast(StringArray, encoded.dictionary)
    return pc.take(_parse_value_texts(distinct), encoded.indices)


def _parse_value_texts(values: StringArray) -> DoubleArray:
    valid = pc.is_valid(values)
    is_number = _true(pc.match_substring_regex(values, _NUMBER_RE))
    numbers = pc.cast(_pick(is_number, values, pa.scalar(None, pa.string())), pa.float64())
    out = _pick(pc.is_finite(numbers), numbers, pa.scalar(None, pa.float64()))
    ascii_ = _true(pc.string_is_ascii(values))
    lowered = pc.ascii_lower(values)  # only trusted where ascii_
    is_true = pc.and_(ascii_, _true(pc.is_in(lowered, pa.array(_TRUE_WORDS))))
    is_false = pc.and_(ascii_, _true(pc.is_in(lowered, pa.array(_FALSE_WORDS))))
    out = _pick(is_true, pa.scalar(1.0), out)
    out = _pick(is_false, pa.scalar(0.0), out)
    plain_word = pc.and_(ascii_, _true(pc.match_substring_regex(values, _NO_DIGIT_NO_SPACE_RE)))
    settled = pc.or_(pc.or_(is_number, pc.or_(is_true, is_false)), plain_word)
    odd = pc.and_(valid, pc.invert(settled))
    fallback = [parse_value(text) for text in _odd_texts(values, odd)]
    return cast(DoubleArray, _scatter(out, odd, fallback, pa.float64()))


def _int(column: pa.Array[Any]) -> Int64Array:
    return cast(Int64Array, pc.cast(column, pa.int64()))


def _modulo(values: Int64Array, divisor: int) -> Int64Array:
    """``values % divisor`` for non-negative values (``pc.modulo`` is missing from the stubs)."""
    return pc.subtract(values, pc.multiply(pc.divide(values, divisor), divisor))


def _iso_fields_to_ms(fields: pa.StructArray) -> tuple[Int64Array, BoolArray]:
    """Epoch ms for regex-matched ISO parts, and a mask of rows whose ranges are valid."""
    y, mo, d = _int(fields.field("y")), _int(fields.field("mo")), _int(fields.field("d"))
    h, mi, s = _int(fields.field("h")), _int(fields.field("mi")), _int(fields.field("s"))
    frac = pc.utf8_rpad(pc.utf8_slice_codeunits(fields.field("f"), 0, 3), width=3, padding="0")
    millis = _int(frac)
    leap = pc.or_(
        pc.and_(pc.equal(_modulo(y, 4), _int64(0)), pc.not_equal(_modulo(y, 100), _int64(0))),
        pc.equal(_modulo(y, 400), _int64(0)),
    )
    month_days = pa.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int64())
    # min/max_element_wise of an array are arrays (the stubs say scalars)
    month = cast(Int64Array, pc.min_element_wise(pc.max_element_wise(mo, _int64(0)), _int64(12)))
    dim = pc.take(month_days, month)
    dim = pc.add(dim, _int(pc.and_(leap, pc.equal(mo, _int64(2)))))
    ok = pc.and_(
        pc.and_(
            pc.greater_equal(y, _int64(1)),
            pc.and_(pc.greater_equal(mo, _int64(1)), pc.less_equal(mo, _int64(12))),
        ),
        pc.and_(
            pc.and_(pc.greater_equal(d, _int64(1)), pc.less_equal(d, dim)),
            pc.less_equal(h, _int64(23)),
        ),
    )
    ok = pc.and_(ok, pc.and_(pc.less_equal(mi, _int64(59)), pc.less_equal(s, _int64(59))))
    # days_from_civil (H. Hinnant), all operands non-negative so integer division floors.
    yy = pc.subtract(y, _int(pc.less_equal(mo, _int64(2))))
    era = pc.divide(yy, 400)
    yoe = pc.subtract(yy, pc.multiply(era, 400))
    mp = cast(Int64Array, _pick(pc.greater(mo, _int64(2)), pc.subtract(mo, 3), pc.add(mo, 9)))
    doy = pc.add(pc.divide(pc.add(pc.multiply(mp, 153), 2), 5), pc.subtract(d, 1))
    doe = pc.add(
        pc.subtract(pc.add(pc.multiply(yoe, 365), pc.divide(yoe, 4)), pc.divide(yoe, 100)), doy
    )
    days = pc.subtract(pc.add(pc.multiply(era, 146097), doe), 719468)
    total = pc.add(pc.multiply(pc.add(pc.multiply(days, 24), h), 60), mi)
    total = pc.add(pc.add(pc.multiply(total, 60_000), pc.multiply(s, 1000)), millis)
    tz = pc.replace_substring(cast(StringArray, fields.field("tz")), ":", "")
    has_offset = pc.greater(pc.utf8_length(tz), _int64(1))
    tz_digits = cast(StringArray, _pick(has_offset, tz, pa.scalar("+0000")))
    offset_h = _int(pc.utf8_slice_codeunits(tz_digits, 1, 3))
    offset_m = _int(pc.utf8_slice_codeunits(tz_digits, 3, 5))
    # the same offset range as parse_ts_ms: at most 23:59
    ok = pc.and_(
        ok, pc.and_(pc.less_equal(offset_h, _int64(23)), pc.less_equal(offset_m, _int64(59)))
    )
    offset_min = pc.add(pc.multiply(offset_h, 60), offset_m)
    negative = pc.equal(pc.utf8_slice_codeunits(tz_digits, 0, 1), pa.scalar("-"))
    sign = cast(Int64Array, _pick(negative, -1, 1))
    total = pc.subtract(total, pc.multiply(pc.multiply(sign, offset_min), 60_000))
    return total, ok


def _common_iso_to_ms(texts: StringArray) -> Int64Array | None:
    """Epoch ms for texts of the common shape, or None if any holds an impossible date.

    Why: this is ACE's own shape (naive, microseconds); Arrow's ISO cast validates the
    calendar and clock exactly like ``datetime.date`` + the range checks of
    ``parse_ts_ms``, and is ~10x faster than splitting fields.
    """
    ascii_bytes = texts.cast(pa.binary())  # the shape regex admits ASCII only
    try:
        prefix = cast("pa.BinaryArray", pc.binary_slice(ascii_bytes, 0, 19)).cast(pa.string())
        seconds = pc.cast(prefix, pa.timestamp("s"))
    except pa.ArrowInvalid:
        return None
    frac = cast("pa.BinaryArray", pc.binary_slice(ascii_bytes, 20, 23)).cast(pa.string())
    millis = _int(pc.ascii_rpad(pc.ascii_rtrim(frac, characters="Zz"), width=3, padding="0"))
    return pc.add(pc.multiply(_int(seconds), 1000), millis)


def parse_raw_times(times: StringArray) -> Int64Array:
    """Raw time texts to int64 epoch ms; null where ``parse_ts_ms`` would reject them."""
    n = len(times)
    if n == 0:
        return pa.array([], pa.int64())
    out: pa.Array[Any] = pa.nulls(n, pa.int64())
    settled: BoolArray = pa.repeat(False, n)
    common = pc.and_(
        _true(pc.match_substring_regex(times, _COMMON_ISO_RE)),
        pc.invert(_true(pc.starts_with(times, "0000"))),
    )
    if pc.any(common).as_py():
        stamps = _common_iso_to_ms(pc.filter(times, common))
        if stamps is not None:
            out = _replace(out, common, stamps)
            settled = common
    rest = pc.and_(pc.is_valid(times), pc.invert(settled))
    if pc.any(rest).as_py():
        candidates = _pick(rest, times, pa.scalar(None, pa.string()))
        matched = pc.extract_regex(cast(StringArray, candidates), _ISO_RE)
        iso_mask = _true(pc.is_valid(matched))
        if pc.any(iso_mask).as_py():
            iso_stamps, ok = _iso_fields_to_ms(pc.filter(matched, iso_mask))
            # Shape matched but the date/time is impossible: the scalar parser decides.
            iso_stamps = cast(Int64Array, _pick(ok, iso_stamps, pa.scalar(None, pa.int64())))
            in_range = cast(BoolArray, _replace(pa.repeat(False, n), iso_mask, ok))
            out = _replace(out, iso_mask, iso_stamps)
            settled = pc.or_(settled, in_range)
        epoch_mask = _true(pc.match_substring_regex(times, _EPOCH_MS_RE))
        if pc.any(epoch_mask).as_py():
            out = _replace(out, epoch_mask, _int(pc.filter(times, epoch_mask)))
            settled = pc.or_(settled, epoch_mask)
    odd = pc.and_(pc.is_valid(times), pc.invert(settled))
    fallback = [_fallback_time(text) for text in _odd_texts(times, odd)]
    return cast(Int64Array, _scatter(out, odd, fallback, pa.int64()))


def _name_ok(names: StringArray) -> BoolArray:
    length = pc.utf8_length(names)
    ok = pc.and_(
        pc.greater_equal(length, _int64(1)), pc.less_equal(length, _int64(MAX_POINT_NAME_LENGTH))
    )
    return _true(ok)


def _count(mask: BoolArray) -> int:
    return mask.true_count


def _batch_to_samples(
    batch: pa.RecordBatch, stamps: Int64Array | None
) -> tuple[pa.Table, int, int, int]:
    names = cast(StringArray, batch.column(0))
    values = cast(StringArray, batch.column(2))
    if stamps is None:
        stamps = parse_raw_times(cast(StringArray, batch.column(1)))
    name_ok = _name_ok(names)
    floats = parse_raw_values(values)
    time_ok = pc.and_(name_ok, pc.is_valid(stamps))
    keep = pc.and_(time_ok, pc.is_valid(floats))
    named, timed, kept = _count(name_ok), _count(time_ok), _count(keep)
    table = pa.Table.from_arrays(
        [pc.filter(names, keep), pc.filter(stamps, keep), pc.filter(floats, keep)],
        schema=SAMPLE_SCHEMA,
    )
    return table, timed - kept, named - timed, len(names) - named


def raw_to_samples(
    table: pa.Table, *, times: pa.ChunkedArray[Any] | pa.Array[Any] | None = None
) -> ParsedSamples:
    """Convert a raw table to a sample table, counting dropped rows by reason.

    Same results (rows, order, values, drop counts) as ``parse_wire_samples`` on the
    records the raw table was built from (see the module docstring for the one
    documented difference), at columnar speed. ``times``: the table's time column
    already parsed (``WindowedRaw.times``), so a pull's timestamps are parsed once.
    """
    if table.schema.names != RAW_SCHEMA.names:
        raise ValueError(
            f"raw table must have columns {RAW_SCHEMA.names}, got {table.schema.names}"
        )
    if times is not None and (len(times) != table.num_rows or times.type != pa.int64()):
        raise ValueError(
            f"parsed times must be {table.num_rows} int64 epoch ms (one per raw row), "
            f"got {len(times)} of {times.type}"
        )
    table = table.cast(RAW_SCHEMA)
    parts: list[pa.Table] = []
    bad_value = bad_time = bad_name = 0
    offset = 0
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        stamps = None if times is None else _contiguous(times.slice(offset, batch.num_rows))
        offset += batch.num_rows
        part, b_value, b_time, b_name = _batch_to_samples(batch, stamps)
        parts.append(part)
        bad_value, bad_time, bad_name = bad_value + b_value, bad_time + b_time, bad_name + b_name
    samples = pa.concat_tables(parts) if parts else SAMPLE_SCHEMA.empty_table()
    return ParsedSamples(samples, bad_value, bad_time, bad_name)


def _contiguous(times: pa.ChunkedArray[Any] | pa.Array[Any]) -> Int64Array:
    if isinstance(times, pa.ChunkedArray):
        return cast(Int64Array, times.combine_chunks())
    return cast(Int64Array, times)


@dataclass(frozen=True)
class WindowedRaw:
    """A raw table cut to its half-open window, with the times parsed on the way.

    ``times`` holds each kept row's epoch ms (null where the text cannot be read), so
    the samples can be built without parsing the time column again.
    """

    table: pa.Table
    times: pa.ChunkedArray[Any]
    outside: int  # rows whose time lies outside the window: not kept


def filter_raw_window(table: pa.Table, start_ms: int, end_ms: int) -> WindowedRaw:
    """Keep rows in [start_ms, end_ms) plus rows whose time cannot be read.

    Why: the pull is filtered to its half-open window client-side, but an unreadable
    time must reach the parse step, which counts it as dropped (never silently lost).
    """
    keeps: list[BoolArray] = []
    stamps: list[Int64Array] = []
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        batch_stamps = parse_raw_times(cast(StringArray, batch.column(1)))
        inside = pc.and_(
            pc.greater_equal(batch_stamps, _int64(start_ms)), pc.less(batch_stamps, _int64(end_ms))
        )
        keeps.append(cast(BoolArray, inside.fill_null(True)))
        stamps.append(batch_stamps)
    keep = pa.chunked_array(keeps, pa.bool_())
    kept = table.filter(keep)
    times = pa.chunked_array(stamps, pa.int64()).filter(keep)
    return WindowedRaw(kept, times, table.num_rows - kept.num_rows)
