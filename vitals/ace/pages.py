"""Decoding ACE response bodies: cursor pages of samples and page-envelope lists.

Why apart: decoding is the hot path of a pull (a 50-100k-sample page is 8-16 MB of
JSON) and the place where a malformed answer must be told apart from an empty one.
JSON is decoded with ``pydantic_core.from_json`` (Rust, a declared dependency; ~2x
the stdlib with string caching for the repeated point names) and the records become Arrow arrays in one pass per column (vitals/ace/parse.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pydantic_core import from_json

from vitals.ace.http import MalformedBodyError
from vitals.ace.parse import records_to_raw_table
from vitals.names import InvalidNameError, validate_point_name


def loads(body: bytes) -> Any:
    """Decode JSON like the stdlib (NaN/Infinity allowed), fast.

    The Rust decoder refuses a few things the stdlib accepts (lone surrogate escapes),
    so a refusal is re-checked with the stdlib before a body is called malformed.
    """
    try:
        return from_json(body, cache_strings=True)
    except ValueError:
        return json.loads(body)


# ACE's accepted page sizes (its own CLI's choices) and per_page values: docs/ace_client.md.
VALID_PAGE_SIZES = frozenset(
    {3, 10, 50, 100, 500, 1000, 5000, 10000, 50000, 100000, 300000, 500000}
)
VALID_PER_PAGE = frozenset({2, 10, 20, 30, 40, 50, 100, 500, 1000, 5000, 10000, 100000})


@dataclass(frozen=True)
class SamplePage:
    """One cursor page of ``/timeseries/paginated`` as a raw table."""

    table: pa.Table
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True)
class EnvelopePage:
    """One page of a ``{page, pages, per_page, total, items}`` list."""

    items: list[Any]
    page: int
    pages: int
    total: int | None


def _decode_object(body: bytes) -> dict[str, Any]:
    if not body or not body.strip():
        raise MalformedBodyError("empty body")
    try:
        doc = loads(body)
    except (ValueError, RecursionError) as exc:
        raise MalformedBodyError(f"not JSON ({str(exc)[:120]})") from None
    if not isinstance(doc, dict):
        raise MalformedBodyError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def decode_page_body(body: bytes) -> SamplePage:
    """Decode a cursor page; raise :class:`MalformedBodyError` for a broken one."""
    doc = _decode_object(body)
    samples = doc.get("point_samples")
    if samples is None:
        samples = []
    if not isinstance(samples, list):
        raise MalformedBodyError(f"point_samples is {type(samples).__name__}, not a list")
    has_more = doc.get("has_more", False)
    if not isinstance(has_more, bool) and has_more is not None:
        raise MalformedBodyError(f"has_more is {has_more!r}, not a boolean")
    cursor = doc.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise MalformedBodyError(f"next_cursor is {type(cursor).__name__}, not a string")
    return SamplePage(records_to_raw_table(samples), bool(has_more), cursor or None)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode_envelope_page(body: bytes) -> EnvelopePage:
    """Decode a page-envelope list (``pages`` falls back to ``total_pages``, then 1)."""
    doc = _decode_object(body)
    items = doc.get("items")
    if not isinstance(items, list):
        raise MalformedBodyError(f"items is {type(items).__name__}, not a list")
    pages = _int_or_none(doc.get("pages"))
    if pages is None:
        pages = _int_or_none(doc.get("total_pages"))
    total = _int_or_none(doc.get("total"))
    if total is None:
        total = _int_or_none(doc.get("total_items"))
    return EnvelopePage(items, _int_or_none(doc.get("page")) or 1, pages or 1, total)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def point_from_item(item: object) -> tuple[dict[str, Any] | None, str]:
    """The ``AcePoint`` fields of one listed point, or ``(None, why)`` if unusable."""
    if not isinstance(item, dict):
        return None, f"not an object: {str(item)[:80]!r}"
    try:
        name = validate_point_name(item.get("name"))
    except InvalidNameError as exc:
        return None, str(exc)
    collect = item.get("collect_enabled")
    return {
        "name": name,
        "point_id": _int_or_none(item.get("id")),
        "point_type": _str_or_none(item.get("point_type")),
        "collect_enabled": True if collect is None else bool(collect),
        "collect_interval": _int_or_none(item.get("collect_interval")),
        "created": _str_or_none(item.get("created") or item.get("created_at")),
        "updated": _str_or_none(item.get("updated") or item.get("updated_at")),
        **_tags(item),
    }, ""


def _tags(item: dict[str, Any]) -> dict[str, Any]:
    """marker_tags, kv_tags (string values only, as ACE's model says) and BACnet units."""
    markers = item.get("marker_tags")
    kv = item.get("kv_tags")
    bacnet = item.get("bacnet_data")
    units = bacnet.get("object_units") if isinstance(bacnet, dict) else None
    return {
        "marker_tags": tuple(
            sorted({m for m in markers if isinstance(m, str)}) if isinstance(markers, list) else ()
        ),
        "kv_tags": tuple(
            sorted((k, v) for k, v in kv.items() if isinstance(k, str) and isinstance(v, str))
        )
        if isinstance(kv, dict)
        else (),
        "object_units": units if isinstance(units, str) and units else None,
    }
