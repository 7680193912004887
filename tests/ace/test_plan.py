"""The one pull planner: sub-windows that tile the window, sized from the catalogue."""

from __future__ import annotations

import pytest

from vitals.ace.plan import MIN_CHUNK_MS, plan_pull
from vitals.samples import parse_ts_ms

START = parse_ts_ms("2025-10-12T00:00:00Z")
DAY = 86_400_000


def test_a_full_load_day_is_cut_into_windows_just_under_whole_pages():
    plan = plan_pull(START, START + DAY, [60] * 4600, page_size=100_000)
    assert plan.windows[0][0] == START and plan.windows[-1][1] == START + DAY
    assert all(a[1] == b[0] for a, b in zip(plan.windows, plan.windows[1:], strict=False))
    per_window = plan.samples_per_hour * (plan.windows[0][1] - plan.windows[0][0]) / 3_600_000
    assert 0.98 * 1_000_000 <= per_window < 1_000_000  # just under 10 pages of 100,000
    assert plan.expected_samples == 4600 * 1440 and 67 <= plan.expected_requests <= 69


def test_a_sparse_catalogue_never_cuts_below_the_minimum_window():
    plan = plan_pull(START, START + 3_600_000, [1] * 100_000, page_size=10)
    assert all(b - a == MIN_CHUNK_MS for a, b in plan.windows)


@pytest.mark.parametrize("start, end", [(START, START), (START + 1, START)])
def test_an_empty_or_inverted_window_is_refused(start, end):
    with pytest.raises(ValueError, match="ACE pull plan: window start"):
        plan_pull(start, end, [300])


def test_a_bound_that_is_not_epoch_ms_is_refused():
    with pytest.raises(TypeError, match="start_ms must be epoch ms"):
        plan_pull(float(START), START + DAY, [300])
