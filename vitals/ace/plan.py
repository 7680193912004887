"""How to pull a site window with as few ACE requests as the API allows.

Arithmetic (README "Backfill arithmetic"): the bulk export answers at most
``page_size`` samples per request, and 100,000 is the largest page the real API served
reliably inside its 30 s timeout (~15.6 MB, ~10 s). A window of N samples costs
``ceil(N / page_size)`` requests, so the only waste is the last, partial page of each
sub-window. Long windows timed out on the real API, so a day is cut into sub-windows;
we size them from the point catalogue (expected samples per hour) so each holds just
under a whole number of pages: every page but the last of the day is full.

One full-load site-day (4,600 points x 1/min = 6.6 M samples) = 67-69 requests
(~2.2 min at 30 requests/minute, ~13.7 h per site-year); production (1/5 min,
1.3 M samples) = 14 requests (~28 s per site-day, ~2.9 h per site-year).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vitals.windows import check_window

MAX_PAGE_SIZE = 100_000
PAGES_PER_SUB_WINDOW = 10  # ~1 M samples: "windows of hours worked" on the real API
FILL_MARGIN = 0.99  # aim a little under whole pages: a sample too many costs a request
MIN_CHUNK_MS = 5 * 60_000
DEFAULT_INTERVAL_S = 300


@dataclass(frozen=True)
class PullPlan:
    """Sub-windows of one pull and what they are expected to cost."""

    windows: tuple[tuple[int, int], ...]
    samples_per_hour: float
    expected_samples: int
    expected_requests: int


def expected_samples_per_hour(intervals_s: Sequence[int | None]) -> float:
    """Samples an hour the catalogue implies (a point without an interval: 300 s)."""
    return sum(
        3600.0 / (interval if interval and interval > 0 else DEFAULT_INTERVAL_S)
        for interval in intervals_s
    )


def plan_pull(
    start_ms: int,
    end_ms: int,
    intervals_s: Sequence[int | None],
    *,
    page_size: int = MAX_PAGE_SIZE,
    pages_per_window: int = PAGES_PER_SUB_WINDOW,
) -> PullPlan:
    """Cut [start_ms, end_ms) into sub-windows of just under ``pages_per_window`` full pages."""
    check_window(start_ms, end_ms, subject="ACE pull plan")
    per_hour = expected_samples_per_hour(intervals_s) or 1.0
    span_ms = end_ms - start_ms
    target_samples = page_size * pages_per_window * FILL_MARGIN
    chunk_ms = int(target_samples / per_hour * 3_600_000)
    chunk_ms = max(MIN_CHUNK_MS, chunk_ms - chunk_ms % 60_000)
    windows = tuple(
        (chunk_start, min(chunk_start + chunk_ms, end_ms))
        for chunk_start in range(start_ms, end_ms, chunk_ms)
    )
    expected = int(per_hour * span_ms / 3_600_000)
    requests = sum(max(1, -(-int(per_hour * (b - a) / 3_600_000) // page_size)) for a, b in windows)
    return PullPlan(windows, per_hour, expected, requests)
