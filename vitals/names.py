"""Site and point names: validation and the case-folded look-up key.

Names are untrusted input (docs/design.md invariants 6 and 7). Site names become path
segments under ``timeseries/``, so anything that could escape that prefix is refused
here, before any path or SQL is built.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_NAME_LENGTH = 512
# How much of a refused name an error message shows: a 900 KB name must not come back
# in a 900 KB answer.
_SHOWN_CHARS = 80
# ACE's own site-name rule (docs/ace_client.md) plus path and control characters.
_FORBIDDEN_SITE_CHARS = set(" /\\?#[]@!$&'()*+,;=%:\"<>|`{}^~")


class InvalidNameError(ValueError):
    """A site or point name that Vitals refuses to store or look up."""


class QueryError(ValueError):
    """A request Vitals refuses; ``status`` is the HTTP code the API answers with.

    It lives here, below the hot store and the query layer, because looking points up
    by name (the hot store's catalogue) refuses requests as well as the query engine
    does; :mod:`vitals.query.types` builds its other refusals on it.
    """

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnknownPointError(QueryError):
    """Point names that match nothing in a site's catalogue."""

    status = 404


class AmbiguousPointError(QueryError):
    """A name whose case-folded form matches more than one point of a site."""

    status = 409


_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")


def _has_control_chars(name: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name)


def _is_noncharacter(ch: str) -> bool:
    r"""Surrogates and Unicode's 66 non-characters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF).

    A lone surrogate (JSON allows ``"\ud800"``) cannot be encoded as UTF-8, so it would
    fail later in a cache key, a SQL parameter or a Parquet file; non-characters are
    never meant for interchange. Both are refused here, once for every path.
    """
    code = ord(ch)
    return 0xD800 <= code <= 0xDFFF or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _first_noncharacter(name: str) -> str | None:
    return next((f"U+{ord(ch):04X}" for ch in name if _is_noncharacter(ch)), None)


def shown(name: str) -> str:
    """``repr`` of at most the first 80 characters of a refused name, safe to echo."""
    if len(name) <= _SHOWN_CHARS:
        return repr(name)
    return f"{name[:_SHOWN_CHARS]!r}... ({len(name)} characters)"


def _check_characters(kind: str, name: str) -> None:
    """The checks site and point names share: length, control and non-characters.

    An ASCII name holds no surrogate, non-character, format or separator character, so
    only its C0 controls and DEL need a look: one regex search instead of two Python
    loops over every character (most of a chart plan's name checks before).
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"{kind} name {shown(name)} must be 1-{MAX_NAME_LENGTH} characters")
    if name.isascii():
        if _ASCII_CONTROL.search(name):
            raise InvalidNameError(f"{kind} name {shown(name)} is not allowed: control characters")
        return
    bad = _first_noncharacter(name)
    if bad:
        raise InvalidNameError(
            f"{kind} name {shown(name)} is not allowed: {bad} is a surrogate or non-character"
        )
    if _has_control_chars(name):
        raise InvalidNameError(f"{kind} name {shown(name)} is not allowed: control characters")


def validate_site_name(name: object) -> str:
    """Return ``name`` if it is a safe site name, else raise :class:`InvalidNameError`.

    A site name is one path segment: no slashes, no ``..``, no control characters,
    no surrogates or non-characters, nothing from ACE's forbidden set, 1-512 characters.
    """
    if not isinstance(name, str):
        raise InvalidNameError(f"site name must be a string, got {type(name).__name__}")
    return _checked_site_name(name)


@functools.lru_cache(maxsize=4096)
def _checked_site_name(name: str) -> str:
    """The checks of :func:`validate_site_name`, remembered for names that passed.

    Every object key is built through it: a year-long chart builds ~400 keys of one site,
    and the character checks were ~15 us each (a refusal raises, so it is never cached).
    """
    _check_characters("site", name)
    if name in (".", "..") or name.startswith("."):
        raise InvalidNameError(
            f"site name {shown(name)} is not allowed: it could escape the prefix"
        )
    bad = sorted(set(name) & _FORBIDDEN_SITE_CHARS)
    if bad:
        raise InvalidNameError(f"site name {shown(name)} is not allowed: contains {''.join(bad)!r}")
    return name


def validate_point_name(name: object) -> str:
    """Return ``name`` if it can be stored as a point name (stored exactly as sent)."""
    if not isinstance(name, str):
        raise InvalidNameError(f"point name must be a string, got {type(name).__name__}")
    _check_characters("point", name)
    return name


def fold_name(name: str) -> str:
    """The case-folded key used for look-ups (invariant 6)."""
    return unicodedata.normalize("NFC", name).casefold()
