"""Raw pulls: wire records -> raw table -> samples equals the scalar parse_wire_samples."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitals.ace.pages import decode_page_body
from vitals.ace.parse import (
    RAW_SCHEMA,
    filter_raw_window,
    parse_raw_times,
    parse_raw_values,
    raw_to_samples,
    records_to_raw_table,
)
from vitals.samples import SAMPLE_SCHEMA, parse_wire_samples

HOSTILE_VALUES = [
    None,
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "Infinity",
    "-Infinity",
    "abc",
    "",
    " ",
    "true",
    "TRUE",
    "True",
    "false",
    "on",
    "off",
    "active",
    "Inactive",
    "yes",
    "no",
    "72.5",
    "-24.8571",
    "71.0",
    "+5",
    ".5",
    "5.",
    "1e5",
    "1E-3",
    "1e400",
    "-1e400",
    "1e-400",
    " 72.5 ",
    "\t3\n",
    "1_000",
    "0x10",
    "72.5 degF",
    "n/a",
    "١٢٣",
    "actİve",
    "\uff17",  # FULLWIDTH DIGIT SEVEN
    "-0",
    "00072.50",
    "123456789012345678901234567890",
    72.5,
    0,
    -3,
    1.0e300,
    10**30,
    True,
    False,
    {"a": 1},
    [1, 2],
    float("nan"),
    float("inf"),
    float("-inf"),
]
HOSTILE_TIMES = [
    None,
    "2025-10-12T14:50:36.055960",
    "2025-10-12T14:50:36",
    "2025-10-12T14:50:36Z",
    "2025-10-12T14:50:36.123456789Z",
    "2025-10-12T14:50:36.1234567890",
    "2025-10-12 14:50:36",
    "2025-10-12T14:50:36+05:30",
    "2025-10-12T14:50:36.9-0530",
    "2025-10-12T14:50:36+05",
    "2025-10-12T14:50:36+01:60",
    "2025-10-12T14:50:36-24:00",
    "0001-01-01T00:30:00+00:59",
    "2025-10-12T14:50:36 Z",
    " 2025-10-12T14:50:36 ",
    "2025-10-12",
    "2025-10-12T14:50",
    "2025-10-12T14:50:36,5z",
    "1969-12-31T23:59:59.9995",
    "2024-02-29T00:00:00",
    "2023-02-29T00:00:00",
    "2025-13-01T00:00:00",
    "2025-10-12T24:00:00",
    "2025-10-12T23:60:00",
    "2025-10-12T23:59:60",
    "0000-01-01T00:00:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59.999",
    "abc",
    "",
    "٢٠٢٥-10-12T14:50:36",
    1_760_280_636_055,
    -5,
    1.5,
    True,
    {"t": 1},
    "2025-10-12T14:50:36.055960\n",
]
HOSTILE_NAMES = [
    "ses/site/2000:43-2043/analogValue/6",
    "a",
    "",
    None,
    5,
    "x" * 512,
    "x" * 513,
    "Vav 1/Temp",
    "é/ü",
]


def assert_same_as_scalar(records: list) -> None:
    """raw_to_samples(records -> raw) must equal parse_wire_samples(records)."""
    expected = parse_wire_samples(records)
    got = raw_to_samples(records_to_raw_table(records))
    assert got.table.schema == SAMPLE_SCHEMA
    assert got.table.to_pylist() == expected.table.to_pylist()
    assert (got.dropped_bad_value, got.dropped_bad_time, got.dropped_bad_name) == (
        expected.dropped_bad_value,
        expected.dropped_bad_time,
        expected.dropped_bad_name,
    )


def test_hostile_values_match_scalar_parse():
    records = [
        {"name": "p", "time": "2025-10-12T14:50:36.055960", "value": v} for v in HOSTILE_VALUES
    ]
    assert_same_as_scalar(records)


def test_hostile_times_match_scalar_parse():
    records = [{"name": "p", "time": t, "value": "1.5"} for t in HOSTILE_TIMES]
    assert_same_as_scalar(records)


def test_hostile_names_and_record_shapes_match_scalar_parse():
    records: list = [{"name": n, "time": "2025-10-12T00:00:00Z", "value": 1} for n in HOSTILE_NAMES]
    records += ["junk", 5, None, {}, {"name": "p"}, {"name": None, "time": "bad", "value": None}]
    assert_same_as_scalar(records)


def test_every_combination_of_hostile_fields_matches_scalar_parse():
    records = [
        {"name": n, "time": t, "value": v}
        for n in HOSTILE_NAMES[:5]
        for t in HOSTILE_TIMES
        for v in HOSTILE_VALUES
    ]
    assert_same_as_scalar(records)


def test_values_times_and_truncation_are_exact():
    records = [
        {"name": "p", "time": "2025-10-12T14:50:36.055960", "value": "72.5"},
        {"name": "p", "time": "2025-10-12T14:50:36.0559Z", "value": "true"},
        {"name": "p", "time": "2025-10-12T14:50:36.999999+00:00", "value": False},
        {"name": "p", "time": "1969-12-31T23:59:59.9995", "value": 3},
        {"name": "p", "time": "2025-10-12T20:20:36.5+05:30", "value": "-24.8571"},
    ]
    got = raw_to_samples(records_to_raw_table(records)).table.to_pylist()
    assert [row["ts"] for row in got] == [
        1_760_280_636_055,
        1_760_280_636_055,
        1_760_280_636_999,
        -1,
        1_760_280_636_500,
    ]
    assert [row["value"] for row in got] == [72.5, 1.0, 0.0, 3.0, -24.8571]


def test_raw_table_keeps_wire_text():
    table = records_to_raw_table(
        [{"name": "p", "time": "t", "value": v} for v in ("72.5", 72.5, 7, True, None, {"a": 1})]
    )
    assert table.schema == RAW_SCHEMA
    assert table.column("value").to_pylist() == ["72.5", "72.5", "7", "true", None, '{"a":1}']
    odd = records_to_raw_table([{"name": 5, "time": 17, "value": "x"}, "junk"])
    assert odd.to_pylist() == [
        {"name": None, "time": "17", "value": "x"},
        {"name": None, "time": None, "value": None},
    ]


def test_lone_surrogates_are_stored_escaped_not_crashing():
    page = b'{"point_samples": [{"name": "p\\ud800", "time": "2025-10-12T00:00:00", "value": "1"}]}'
    table = decode_page_body(page).table
    assert table.column("name").to_pylist() == ["p\\ud800"]


def test_digit_only_time_text_is_epoch_ms_documented_difference():
    """A JSON number time is stored as digits and read as epoch ms, like parse_ts_ms(int)."""
    texts = pa.array(["1760280636055", "-5", "99999999999999999999"])
    assert parse_raw_times(texts).to_pylist() == [1_760_280_636_055, -5, None]


def test_parse_helpers_on_empty_and_all_null():
    assert parse_raw_values(pa.array([], pa.string())).to_pylist() == []
    assert parse_raw_times(pa.array([None, None], pa.string())).to_pylist() == [None, None]
    empty = raw_to_samples(RAW_SCHEMA.empty_table())
    assert empty.table.num_rows == 0 and empty.dropped == 0


def test_raw_to_samples_rejects_a_table_of_the_wrong_shape():
    with pytest.raises(ValueError, match="raw table must have columns"):
        raw_to_samples(pa.table({"point_name": ["p"], "ts": [1], "value": [1.0]}))


def test_filter_window_is_half_open_and_keeps_unreadable_times():
    table = records_to_raw_table(
        [
            {"name": "p", "time": "2025-10-11T23:59:59.999999", "value": "1"},  # before
            {"name": "p", "time": "2025-10-12T00:00:00", "value": "2"},  # == start: kept
            {"name": "p", "time": "2025-10-12T23:59:59.9999", "value": "3"},  # kept
            {"name": "p", "time": "2025-10-13T00:00:00", "value": "4"},  # == end: out
            {"name": "p", "time": "garbage", "value": "5"},  # unreadable: kept for counting
            {"name": "p", "time": None, "value": "6"},
        ]
    )
    start, end = 1_760_227_200_000, 1_760_313_600_000
    windowed = filter_raw_window(table, start, end)
    kept, outside = windowed.table, windowed.outside
    assert kept.column("value").to_pylist() == ["2", "3", "5", "6"]
    assert outside == 2
    assert raw_to_samples(kept).dropped_bad_time == 2


def test_large_batches_are_split_and_keep_order():
    rows = [
        {"name": f"p{i % 7}", "time": f"2025-10-12T00:00:{i % 60:02d}.{i:06d}", "value": str(i)}
        for i in range(3000)
    ]
    table = pa.concat_tables([records_to_raw_table(rows[:1000]), records_to_raw_table(rows[1000:])])
    got = raw_to_samples(table)
    assert got.table.column("value").to_pylist() == [float(i) for i in range(3000)]


_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(HOSTILE_VALUES[:45]),
    st.from_regex(r"\A[ +-]?[0-9]{0,4}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,3})?\s?\Z"),
)
_time = st.one_of(
    st.sampled_from(HOSTILE_TIMES),
    st.from_regex(
        r"\A[0-9]{4}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9]"
        r"([.,][0-9]{1,10})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?\Z"
    ),
    st.integers(-(10**15), 10**15),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=5)),
                "time": _time,
                "value": _json_scalar,
            }
        ),
        max_size=40,
    )
)
def test_property_vectorised_equals_scalar(records):
    # Records go through JSON like real pages (so floats/ints are what the wire can hold).
    decoded = json.loads(json.dumps(records))
    assert_same_as_scalar(decoded)


def test_samples_from_the_window_filters_parsed_times_equal_a_fresh_parse():
    """The pull's times are parsed once (by the window filter) and reused for its samples."""
    records = [
        {"name": f"p{i % 3}", "time": time, "value": str(i)}
        for i, time in enumerate(
            [
                "2025-10-12T00:00:00.5",
                "2025-10-12T01:00:00+02:00",
                "1760227200123",
                "2025-02-30T00:00:00",  # impossible date: unreadable, kept, counted
                "garbage",
                None,
                "2025-10-12T23:59:59.999999",
                "2025-10-13T00:00:00",  # == end: outside
            ]
        )
    ]
    table = records_to_raw_table(records * 400)
    start, end = 1_760_227_200_000, 1_760_313_600_000
    windowed = filter_raw_window(table, start, end)
    assert windowed.times.type == pa.int64() and len(windowed.times) == windowed.table.num_rows
    reused = raw_to_samples(windowed.table, times=windowed.times)
    fresh = raw_to_samples(windowed.table)
    assert reused.table.equals(fresh.table)
    assert reused.dropped_bad_time == fresh.dropped_bad_time == 3 * 400
    with pytest.raises(ValueError, match="parsed times must be"):
        raw_to_samples(windowed.table, times=windowed.times.slice(1))
