"""Key and prefix checks are kept per text, and a refused one is refused every time."""

from __future__ import annotations

import pytest

from vitals.cold.keys import InvalidKeyError, validate_key, validate_prefix


@pytest.mark.parametrize("key", ["../escape.parquet", "a//b", ".hidden", "a/\x00b", "a/"])
def test_a_refused_key_is_refused_again(key: str) -> None:
    for _ in range(3):
        with pytest.raises(InvalidKeyError, match="is not allowed"):
            validate_key(key)


def test_a_refused_prefix_is_refused_again() -> None:
    for _ in range(3):
        with pytest.raises(InvalidKeyError, match=r"'\.\.' segment could escape"):
            validate_prefix("timeseries/../")


def test_non_strings_are_refused_with_their_type() -> None:
    for bad in (None, 3, b"timeseries/a"):
        with pytest.raises(InvalidKeyError, match=f"got {type(bad).__name__}"):
            validate_key(bad)
        with pytest.raises(InvalidKeyError, match=f"got {type(bad).__name__}"):
            validate_prefix(bad)


def test_good_keys_and_prefixes_come_back_unchanged() -> None:
    for _ in range(2):
        assert validate_key("timeseries/s/2026/07/01.parquet") == "timeseries/s/2026/07/01.parquet"
        assert validate_prefix("timeseries/s/2026/") == "timeseries/s/2026/"
        assert validate_prefix("") == ""
