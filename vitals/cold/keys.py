"""Object keys of the cold store: how each kind is spelled, and the rules that keep it inside.

Every key obeys rules that keep it inside the store's root, and each kind of object has
one function here that spells its key.

Layout (``docs/design.md`` invariant 2: one path per site-day):
``timeseries/{site}/{YYYY}/{MM}/{DD}.parquet`` for the day files, with raw pulls
(``raw/``), day rollups (``rollups/``), month rollups (``rollup_months/``) and year rollups
(``rollup_years/``) beside them under their own prefixes.

Keys are relative, '/'-separated paths. The local backend joins them onto a folder and
the S3 backend onto a bucket prefix, so the rules are strict and the same for both: no
absolute paths, no ``.``/``..`` or empty segments, no hidden segments (the local
backend's temp files start with a dot), no backslashes or control characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date

from vitals.names import validate_site_name

MAX_KEY_LENGTH = 1024


class InvalidKeyError(ValueError):
    """An object key (or prefix) the cold store refuses to use."""


def _bad(key: str, why: str) -> InvalidKeyError:
    return InvalidKeyError(f"cold store key {key[:200]!r} is not allowed: {why}")


def _check_text(key: object) -> str:
    if not isinstance(key, str):
        raise InvalidKeyError(f"cold store key must be a string, got {type(key).__name__}")
    if len(key) > MAX_KEY_LENGTH:
        raise _bad(key, f"longer than {MAX_KEY_LENGTH} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in key):
        raise _bad(key, "control characters")
    if "\\" in key:
        raise _bad(key, "backslash")
    if key.startswith("/") or key.startswith("~"):
        raise _bad(key, "absolute path")
    return key


def _check_segments(key: str, segments: list[str]) -> None:
    for segment in segments:
        if segment == "":
            raise _bad(key, "empty path segment")
        if segment in (".", ".."):
            raise _bad(key, f"{segment!r} segment could escape the store")
        if segment.startswith("."):
            raise _bad(key, "hidden segment (names starting with '.' are reserved)")
    if segments and len(segments[0]) == 2 and segments[0][1] == ":":
        raise _bad(key, "drive letter")


def validate_key(key: object) -> str:
    """Return ``key`` if it names an object inside the store, else raise InvalidKeyError."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"cold store key must be a string, got {type(key).__name__}")
    return _valid_key(key)


def validate_prefix(prefix: object) -> str:
    """Return a listing prefix ('' for everything, 'a/b/' or a partial 'a/b/2026-')."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"cold store key must be a string, got {type(prefix).__name__}")
    return _valid_prefix(prefix)


# Checked keys and prefixes are kept (pure functions of the text; a refused one raises
# each time, lru_cache keeps no exception): a chart checks ~30 keys and prefixes, each
# check walks every character (~5 us), so a year chart paid ~0.2 ms for the same answers.
_VALID_CACHE = 16_384


@functools.lru_cache(maxsize=_VALID_CACHE)
def _valid_key(key: str) -> str:
    text = _check_text(key)
    if not text:
        raise _bad(text, "empty")
    if text.endswith("/"):
        raise _bad(text, "ends with '/' (that is a prefix, not an object)")
    _check_segments(text, text.split("/"))
    return text


@functools.lru_cache(maxsize=_VALID_CACHE)
def _valid_prefix(prefix: str) -> str:
    text = _check_text(prefix)
    if text:
        segments = text.split("/")
        if segments[-1] == "":
            segments = segments[:-1]
        _check_segments(text, segments)
    return text


# The areas of the store, one prefix each.
TIMESERIES_PREFIX = "timeseries/"
RAW_PREFIX = "raw/"
ROLLUP_PREFIX = "rollups/"
ROLLUP_MONTH_PREFIX = "rollup_months/"
ROLLUP_YEAR_PREFIX = "rollup_years/"
CATALOGUE_PREFIX = "catalogue/"

# site-days whose keys are kept (a few sites x a few years; ~150 bytes each)
_KEY_CACHE = 16_384
_COLD_KEY_RE = re.compile(r"^timeseries/([^/]+)/(\d{4})/(\d{2})/(\d{2})\.parquet$")


@functools.lru_cache(maxsize=_KEY_CACHE)
def cold_day_key(site: str, day: date) -> str:
    """``timeseries/{site}/{YYYY}/{MM}/{DD}.parquet`` for a validated site name.

    Memoised (a pure function; a refused name raises and is not kept): a year chart asks
    the keys of 365 days twice, and three ``strftime`` calls a key were ~1 ms of it.
    """
    validate_site_name(site)
    return f"{TIMESERIES_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}.parquet"


def cold_month_prefix(site: str, year: int, month: int) -> str:
    """Folder of one site-month's cold day files (one listing gives their identities)."""
    validate_site_name(site)
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1-12, got {month}")
    return f"{TIMESERIES_PREFIX}{site}/{year:04d}/{month:02d}/"


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


def parsed_key(raw_key: str) -> str:
    """Key of the parsed-samples cache beside a raw pull (``{start}_{end}.samples.parquet``)."""
    return raw_key.removesuffix(".parquet") + ".samples.parquet"


@functools.lru_cache(maxsize=_KEY_CACHE)
def rollup_day_key(site: str, day: date) -> str:
    """``rollups/{site}/{YYYY}/{MM}/{DD}.parquet``: per-point 15 min / 1 h / 1 d aggregates.

    Memoised like :func:`cold_day_key`.
    """
    validate_site_name(site)
    return f"{ROLLUP_PREFIX}{site}/{day:%Y}/{day:%m}/{day:%d}.parquet"


def rollup_month_prefix(site: str, year: int) -> str:
    """Folder of one site-year's month rollup files."""
    validate_site_name(site)
    return f"{ROLLUP_MONTH_PREFIX}{site}/{year:04d}/"


def rollup_month_key(site: str, year: int, month: int) -> str:
    """``rollup_months/{site}/{YYYY}/{MM}.parquet``: a month's 1 h and 1 d rollups in one file."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1-12, got {month}")
    return f"{rollup_month_prefix(site, year)}{month:02d}.parquet"


def rollup_year_prefix(site: str) -> str:
    """Folder of one site's year rollup files."""
    validate_site_name(site)
    return f"{ROLLUP_YEAR_PREFIX}{site}/"


def rollup_year_key(site: str, year: int) -> str:
    """``rollup_years/{site}/{YYYY}.parquet``: a year's 1 h rollups in one file."""
    if not 1 <= year <= 9999:
        raise ValueError(f"year must be 1-9999, got {year}")
    return f"{rollup_year_prefix(site)}{year:04d}.parquet"


def catalogue_key(site: str) -> str:
    """``catalogue/{site}.json``: the snapshot of a site's configured points."""
    return f"{CATALOGUE_PREFIX}{validate_site_name(site)}.json"
