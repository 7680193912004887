"""Which window of a site-day a run pulls, and where the hot window ends.

The archive threshold comes from one place (``Settings.hot_storage_days``); the
incremental sync's overlap is always far smaller than it, so sync never reaches an
archived day (docs/design.md, invariant 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from vitals.samples import MS_PER_DAY, day_bounds_ms

SYNC_OVERLAP_MS = 15 * 60_000  # re-pull the last 15 minutes: ACE delivers late samples


class WindowBoundTypeError(TypeError, ValueError):
    """A window bound that is not an int.

    A TypeError by kind, and still a ValueError for callers of the ACE client, which
    has always refused bad windows with one.
    """


def check_window(
    start_ms: object, end_ms: object, *, subject: str, allow_empty: bool = False
) -> None:
    """Refuse a half-open window [start_ms, end_ms) that no store or API call can serve.

    Why one check: the ACE client and the hot store both take epoch-ms windows, and two
    copies had drifted (one refused empty windows, one did not; different errors).
    Bounds must be ints (not bools, not floats: a float ms would round a timestamp,
    docs/design.md invariant 8); start must not be after end, nor equal to it unless
    ``allow_empty``.
    ``subject`` names the call in the message (e.g. "ACE site 'acme_hq'").
    """
    start = _epoch_ms(start_ms, label="start_ms", subject=subject)
    end = _epoch_ms(end_ms, label="end_ms", subject=subject)
    if start > end and allow_empty:
        raise ValueError(f"{subject}: window start {start} is after its end {end}")
    if start > end or (start == end and not allow_empty):
        raise ValueError(
            f"{subject}: window start {start} must be before end {end} "
            "(windows are half-open [start, end))"
        )


def _epoch_ms(value: object, *, label: str, subject: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise WindowBoundTypeError(f"{subject}: {label} must be epoch ms (int), got {value!r}")
    return value


def now_ms() -> int:
    """The wall clock as epoch ms (UTC): the one definition the library uses."""
    return int(datetime.now(UTC).timestamp() * 1000)


def today_utc(now: int | None = None) -> date:
    """The UTC date of ``now`` (epoch ms; default: the wall clock)."""
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
        """True when there is nothing to pull (the window has not started yet)."""
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
