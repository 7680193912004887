"""Site-local buckets: local days (23 h and 25 h at DST changes) and local hours.

Day files, partitions and stored rollups stay UTC. A local bucket is a run of whole UTC
sub-buckets: every zone in use today has offsets that are multiples of 15 minutes, so a
local midnight or local hour always falls on a UTC 15-minute boundary, and on a UTC hour
when the zone's offsets over the window are whole hours (US, EU: most of the world;
not Asia/Kolkata +5:30 or Asia/Kathmandu +5:45). So a local-day answer is composed
from 1 h rollups (month files) or 15 min rollups (day files) for any zone, with no
rollup built per zone; :mod:`vitals.query.semantics` merges the sub-buckets
(count/sum/min/max/last compose exactly).

Bucket edges come from :mod:`zoneinfo`: the start of local day D is the first instant
whose local date is D (midnight, or the end of a DST gap at midnight); a local hour
starts at each instant whose local minute and second are zero.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vitals.query.types import BadQueryError

UTC_NAMES = ("utc", "z", "etc/utc", "gmt")
LOCAL_INTERVALS_MS = {"1h": 3_600_000, "1d": 86_400_000}
HOUR_MS = 3_600_000
QUARTER_MS = 900_000


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``UTC`` in any casing is UTC); unknown names are a 400."""
    if name.strip().lower() in UTC_NAMES:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError) as exc:
        raise BadQueryError(
            f"tz {name[:80]!r} is not an IANA time zone (e.g. America/Chicago), UTC or site"
        ) from exc


def is_utc(name: str) -> bool:
    """Whether a zone name means UTC (then buckets are plain epoch arithmetic)."""
    return name.strip().lower() in UTC_NAMES


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def local_day_start_ms(day: date, tz: ZoneInfo) -> int:
    """The first UTC instant whose local date in ``tz`` is ``day``."""
    guess = _ms(datetime(day.year, day.month, day.day, tzinfo=tz))
    # A DST gap at midnight: fold=0 maps the missing midnight to the gap's end or start.
    while datetime.fromtimestamp(guess / 1000, tz).date() < day:
        guess += QUARTER_MS
    while datetime.fromtimestamp((guess - QUARTER_MS) / 1000, tz).date() >= day:
        guess -= QUARTER_MS
    return guess


def local_edges(start_ms: int, end_ms: int, interval: str, tz_name: str) -> list[int]:
    """Bucket starts in [start, end) plus the bucket end after the last, in UTC ms.

    The first bucket starts at or before ``start`` (the bucket holding it), as UTC
    buckets do; a bucket at the edge of the range aggregates only samples inside it.
    """
    tz = zone(tz_name)
    if interval == "1d":
        first = datetime.fromtimestamp(start_ms / 1000, tz).date()
        edges = [local_day_start_ms(first, tz)]
        day = first
        while edges[-1] < end_ms:
            day += timedelta(days=1)
            edges.append(local_day_start_ms(day, tz))
        return edges
    if interval == "1h":
        # every local hour starts on a UTC quarter hour: test each quarter once
        edges = []
        t = start_ms - start_ms % QUARTER_MS
        while True:
            local = datetime.fromtimestamp(t / 1000, tz)
            if local.minute == 0 and local.second == 0:
                edges.append(t)
                break
            t -= QUARTER_MS
        t = edges[0] + QUARTER_MS
        while edges[-1] < end_ms:
            local = datetime.fromtimestamp(t / 1000, tz)
            if local.minute == 0:
                edges.append(t)
            t += QUARTER_MS
        return edges
    raise BadQueryError(f"local buckets exist for 1h and 1d only, not {interval!r}")


def needs_local(interval: str, tz_name: str) -> bool:
    """Whether ``interval`` in ``tz_name`` differs from plain UTC buckets."""
    return interval in LOCAL_INTERVALS_MS and not is_utc(tz_name)


def sub_width(edges: list[int]) -> int:
    """The UTC sub-bucket the local buckets are made of: 1 h when every edge is on an hour."""
    if all(edge % HOUR_MS == 0 for edge in edges):
        return HOUR_MS
    if all(edge % QUARTER_MS == 0 for edge in edges):
        return QUARTER_MS
    return 60_000  # historical offsets (LMT); never a stored rollup, always raw


def edge_labels(edges: list[int], tz_name: str) -> list[str]:
    """Local ISO labels of bucket starts (with their offset), for answers people read."""
    tz = zone(tz_name)
    return [
        datetime.fromtimestamp(edge / 1000, UTC).astimezone(tz).isoformat() for edge in edges[:-1]
    ]
