"""The one epoch-ms window check shared by the ACE client and the hot store."""

from __future__ import annotations

import pytest

from vitals.windows import check_window


def test_a_window_with_start_before_end_passes():
    check_window(0, 1, subject="s")
    check_window(5, 5, subject="s", allow_empty=True)


@pytest.mark.parametrize(
    "start, end, allow_empty, message",
    [
        (5, 5, False, "s: window start 5 must be before end 5"),
        (6, 5, False, "s: window start 6 must be before end 5"),
        (6, 5, True, "s: window start 6 is after its end 5"),
    ],
)
def test_an_empty_or_inverted_window_is_a_value_error(start, end, allow_empty, message):
    with pytest.raises(ValueError, match=message):
        check_window(start, end, subject="s", allow_empty=allow_empty)


@pytest.mark.parametrize("start, end", [(1.5, 2), (0, "2"), (True, 2), (0, None)])
def test_a_bound_that_is_not_an_int_is_a_type_error(start, end):
    with pytest.raises(TypeError, match=r"s: (start|end)_ms must be epoch ms"):
        check_window(start, end, subject="s")
