"""Object keys of the cold store: validated so a key can never leave the store's root.

Keys are relative, '/'-separated paths (``timeseries/site/2026/10/01.parquet``). The
local backend joins them onto a folder and the S3 backend onto a bucket prefix, so the
rules are strict and the same for both: no absolute paths, no ``.``/``..`` or empty
segments, no hidden segments (the local backend's temp files start with a dot), no
backslashes or control characters.
"""

from __future__ import annotations

import unicodedata

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
    text = _check_text(key)
    if not text:
        raise _bad(text, "empty")
    if text.endswith("/"):
        raise _bad(text, "ends with '/' (that is a prefix, not an object)")
    _check_segments(text, text.split("/"))
    return text


def validate_prefix(prefix: object) -> str:
    """Return a listing prefix ('' for everything, 'a/b/' or a partial 'a/b/2026-')."""
    text = _check_text(prefix)
    if text:
        segments = text.split("/")
        if segments[-1] == "":
            segments = segments[:-1]
        _check_segments(text, segments)
    return text
