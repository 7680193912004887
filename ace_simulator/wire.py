"""Lenient parsing of query values, as the real ACE API accepts them.

The vendor's clients forward caller strings unchanged, so the simulator accepts every
timestamp form they produce (``Z``, offsets, fractions, naive, date-only; naive means
UTC) and booleans in any case (``True``/``true``/``1``). Times are kept as integer
epoch microseconds so no sample time is ever rounded.
"""

from __future__ import annotations

import re
from datetime import date

US_PER_S = 1_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class BadRequest(ValueError):
    """Input the API answers with 400; the message is the response ``detail``."""


def parse_time_us(raw: str, *, field: str) -> int:
    """Parse an ISO 8601 timestamp (or a date) to epoch microseconds, naive meaning UTC."""
    match = _ISO_RE.match(raw.strip())
    if not match:
        raise BadRequest(f"{field} {raw!r} is not a valid ISO 8601 timestamp")
    year, month, day, hh, mm, ss, frac, tz = match.groups()
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise BadRequest(f"{field} {raw!r} is not a valid date: {exc}") from exc
    hour, minute, second = int(hh or 0), int(mm or 0), int(ss or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise BadRequest(f"{field} {raw!r} has an out-of-range time of day")
    micros = int((frac or "0")[:6].ljust(6, "0"))
    total = (((days * 24 + hour) * 60 + minute) * 60 + second) * US_PER_S + micros
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset_min = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        total -= sign * offset_min * 60 * US_PER_S
    return total


def parse_bool(raw: str | None, *, field: str, default: bool = False) -> bool:
    """Parse ``True``/``true``/``1`` (and their opposites) case-insensitively."""
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"{field} {raw!r} is not a boolean (use true or false)")


def parse_int(raw: str | None, *, field: str, default: int) -> int:
    """Parse an integer query parameter, naming the field when it is not one."""
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{field} {raw!r} is not an integer") from None


def parse_window(start_raw: str | None, end_raw: str | None) -> tuple[int, int]:
    """A ``[start_time, end_time)`` window in epoch microseconds; start after end is a 400."""
    if not start_raw:
        raise BadRequest("start_time is required")
    if not end_raw:
        raise BadRequest("end_time is required")
    start_us = parse_time_us(start_raw, field="start_time")
    end_us = parse_time_us(end_raw, field="end_time")
    if start_us > end_us:
        raise BadRequest(f"start_time {start_raw!r} is after end_time {end_raw!r}")
    return start_us, end_us
