"""Name character rules: the ASCII fast path refuses exactly what the full check refuses."""

from __future__ import annotations

import unicodedata

import pytest

from vitals.names import InvalidNameError, validate_point_name, validate_site_name


def _refused_by_the_rule(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
        or 0xD800 <= code <= 0xDFFF
        or 0xFDD0 <= code <= 0xFDEF
        or (code & 0xFFFE) == 0xFFFE
    )


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_follows_the_rule(code: int) -> None:
    name = f"AHU-1{chr(code)}SAT"
    if _refused_by_the_rule(chr(code)):
        with pytest.raises(InvalidNameError, match="control characters"):
            validate_point_name(name)
    elif chr(code) != "/":
        assert validate_point_name(name) == name


@pytest.mark.parametrize(
    "ch",
    ["\u00ad", "\u200b", "\u2028", "\u2029", "\ufeff", "\ufdd0", "\uffff", "\ud800", "\U0001fffe"],
)
def test_non_ascii_format_separator_and_non_characters_are_refused(ch: str) -> None:
    for check in (validate_point_name, validate_site_name):
        with pytest.raises(InvalidNameError):
            check(f"zone{ch}temp")


def test_non_ascii_names_that_follow_the_rule_pass() -> None:
    for name in ("Straße/Süd", "Zone Temp ☃ Ωmega", "emoji 🌡️ probe"):
        assert validate_point_name(name) == name
