"""Object keys inside the cold store: the one place that spells them.

DESIGN.md invariant 2: one path per site-day, ``timeseries/{site}/{YYYY}/{MM}/{DD}.parquet``.
Raw pulls and rollups live beside it under their own prefixes.
"""

from __future__ import annotations

import re
from datetime import date

from vitals.names import validate_site_name

TIMESERIES_PREFIX = "timeseries/"
RAW_PREFIX = "raw/"
ROLLUP_PREFIX = "rollups/"

_COLD_KEY_RE = re.compile(r"^timeseries/([^/]+)/(\d{4})/(\d{2})/(\d{2})\.parquet$")


def cold_day_key(site: str, day: date) -> str:
    """``timeseries/{site}/{YYYY}/{MM}/{DD}.parquet`` for a validated site name."""
    validate_site_name(site)
    return f"{TIMESERIES_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}.parquet"


def parse_cold_day_key(key: str) -> tuple[str, date] | None:
    """(site, day) for a contracted cold key, or ``None`` for anything else."""
    match = _COLD_KEY_RE.match(key)
    if not match:
        return None
    site, yyyy, mm, dd = match.groups()
    try:
        validate_site_name(site)
        return site, date(int(yyyy), int(mm), int(dd))
    except ValueError:
        return None


def raw_day_prefix(site: str, day: date) -> str:
    """Folder holding every raw pull of one site-day (one Parquet file per pull window)."""
    validate_site_name(site)
    return f"{RAW_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}/"


def raw_pull_key(site: str, day: date, start_ms: int, end_ms: int) -> str:
    """Key of one raw pull covering [start_ms, end_ms) within ``day``."""
    return f"{raw_day_prefix(site, day)}{start_ms}_{end_ms}.parquet"


def rollup_day_key(site: str, day: date) -> str:
    """``rollups/{site}/{YYYY}/{MM}/{DD}.parquet``: per-point 15 min / 1 h / 1 d aggregates."""
    validate_site_name(site)
    return f"{ROLLUP_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}.parquet"


ROLLUP_MONTH_PREFIX = "rollup_months/"


def rollup_month_prefix(site: str, year: int) -> str:
    """Folder of one site-year's month rollup files."""
    validate_site_name(site)
    return f"{ROLLUP_MONTH_PREFIX}{site}/{year:04d}/"


def rollup_month_key(site: str, year: int, month: int) -> str:
    """``rollup_months/{site}/{YYYY}/{MM}.parquet``: a month's 1 h and 1 d rollups in one file."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1-12, got {month}")
    return f"{rollup_month_prefix(site, year)}{month:02d}.parquet"
