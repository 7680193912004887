"""A Settings repr (logged by anyone who prints it) carries no secret value."""

from __future__ import annotations

from pathlib import Path

from vitals.config import load_settings

ACE_KEY = "ace-key-7f3b9c1e5a2d"
DB_PASSWORD = "hot-pw-91c4e7a2b8"


def test_settings_repr_masks_the_ace_key_and_the_hot_store_password(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "VITALS_DATA_DIR": str(tmp_path),
            "ACE_API_KEY": ACE_KEY,
            "VITALS_HOT_STORE": f"postgresql://vitals:{DB_PASSWORD}@127.0.0.1:5432/test",
            "VITALS_API_KEYS": "api-key-0123456789abcdef",
        }
    )
    text = repr(settings)
    assert ACE_KEY not in text
    assert DB_PASSWORD not in text
    assert "api-key-0123456789abcdef" not in text
    # What is safe to show still is: the URL without its password, and that a key is set.
    assert "postgresql://vitals:***@127.0.0.1:5432/test" in text
    assert "ace_api_key='set'" in text
    assert str(tmp_path) in text


def test_settings_repr_without_secrets_says_none(tmp_path: Path) -> None:
    text = repr(load_settings({"VITALS_DATA_DIR": str(tmp_path)}))
    assert "ace_api_key=None" in text
    assert "hot.sqlite" in text
