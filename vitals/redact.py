"""Masking the password of a store URL wherever a URL could be echoed.

Store URLs (``postgresql://user:password@host/db``) carry a password; error messages,
reprs and logs must show where a store is, never how to get in (issue 9, section 4).
"""

from __future__ import annotations

from urllib.parse import unquote

MASK = "***"


def _split_userinfo(url: str) -> tuple[str, str, str] | None:
    """(``scheme://``, user info, rest from the host on), or ``None`` without user info."""
    if not isinstance(url, str) or "://" not in url:
        return None
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return None
    return f"{scheme}://", userinfo, host + slash + path


def url_password(url: str) -> str | None:
    """The password in ``url``'s user info (as written, not decoded), or ``None``."""
    parts = _split_userinfo(url)
    if parts is None:
        return None
    _user, sep, password = parts[1].partition(":")
    return password if sep and password else None


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (anything else unchanged)."""
    parts = _split_userinfo(url)
    if parts is None or url_password(url) is None:
        return url
    scheme, userinfo, rest = parts
    return f"{scheme}{userinfo.partition(':')[0]}:{MASK}@{rest}"


def scrub(text: str, url: str) -> str:
    """``text`` with every spelling of ``url``'s password (raw and decoded) masked."""
    password = url_password(url)
    if password is None:
        return text
    for spelling in sorted({password, unquote(password)}, key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text
