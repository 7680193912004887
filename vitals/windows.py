"""Which window of a site-day a run pulls, and where the hot window ends.

The archive threshold comes from one place (``Settings.hot_storage_days``); the
incremental sync's overlap is always far smaller than it, so sync never reaches an
archived day (DESIGN.md invariant 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from vitals.samples import MS_PER_DAY, day_bounds_ms

SYNC_OVERLAP_MS = 15 * 60_000  # re-pull the last 15 minutes: ACE delivers late samples


def now_ms() -> int:
    """The current time as epoch milliseconds (the one clock every module reads)."""
    return int(datetime.now(UTC).timestamp() * 1000)


def check_window(start_ms: int, end_ms: int, *, subject: str, allow_empty: bool = False) -> None:
    """Refuse a window that is not a half-open ``[start_ms, end_ms)`` of epoch-ms ints.

    One rule for every reader and writer: booleans and floats are not times, and a
    window may be empty (``start == end``) only where the caller says so.
    """
    for label, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{subject}: {label} must be epoch ms (int), got {value!r}")
    if start_ms > end_ms or (start_ms == end_ms and not allow_empty):
        raise ValueError(
            f"{subject}: window start {start_ms} must be before end {end_ms} "
            "(windows are half-open [start, end))"
        )


def today_utc(now: int | None = None) -> date:
    """The UTC day of ``now`` (default: the current time)."""
    return date.fromordinal(
        ((now if now is not None else now_ms()) // MS_PER_DAY) + date(1970, 1, 1).toordinal()
    )


def is_past_hot_window(day: date, hot_storage_days: int, now: int | None = None) -> bool:
    """True when the day ended more than ``hot_storage_days`` days ago (archive it)."""
    _, day_end = day_bounds_ms(day)
    current = now if now is not None else now_ms()
    return day_end + hot_storage_days * MS_PER_DAY <= current


@dataclass(frozen=True)
class PullWindow:
    """A half-open [start, end) slice of one site-day to pull from ACE."""

    start_ms: int
    end_ms: int
    incremental: bool

    @property
    def empty(self) -> bool:
        """True when nothing of the day can be pulled yet."""
        return self.end_ms <= self.start_ms


def pull_window(
    day: date, *, watermark_ms: int | None, mode: str, now: int | None = None
) -> PullWindow:
    """The window to pull for a site-day.

    ``full_day`` pulls the whole (ended part of the) day; ``incremental`` starts at the
    watermark minus the overlap; ``auto`` is incremental when the watermark falls inside
    this day, else a full day.
    """
    if mode not in ("auto", "full_day", "incremental"):
        raise ValueError(f"pull mode {mode!r} is not one of auto, full_day, incremental")
    day_start, day_end = day_bounds_ms(day)
    current = now if now is not None else now_ms()
    end = min(day_end, current)
    incremental = mode == "incremental" or (
        mode == "auto" and watermark_ms is not None and day_start <= watermark_ms < day_end
    )
    start = day_start
    if incremental and watermark_ms is not None:
        start = max(day_start, min(watermark_ms - SYNC_OVERLAP_MS, end))
    return PullWindow(start, end, incremental)
