"""``vitals dev`` keeps its generated API key owner-only (0600) on disk."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from vitals_cli.dev import dev_environment


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def dev_args(tmp_path, monkeypatch) -> argparse.Namespace:
    monkeypatch.setenv("VITALS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VITALS_API_KEYS", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return argparse.Namespace(simulator_port=18080, dagster_port=13000)


def test_new_api_key_file_is_owner_only_whatever_the_umask(dev_args, tmp_path):
    previous = os.umask(0)  # the widest umask: the file's own mode must still be 0600
    try:
        env = dev_environment(dev_args)
    finally:
        os.umask(previous)
    key_file = tmp_path / "data" / "api_key.txt"
    assert _mode(key_file) == 0o600
    assert env["VITALS_API_KEYS"] == key_file.read_text() and len(env["VITALS_API_KEYS"]) >= 24
    assert (
        dev_environment(dev_args)["VITALS_API_KEYS"] == env["VITALS_API_KEYS"]
    )  # reused, not rotated


def test_existing_world_readable_key_file_is_tightened(dev_args, tmp_path):
    key_file = tmp_path / "data" / "api_key.txt"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("an-old-dev-key-0123456789\n")
    key_file.chmod(0o644)
    env = dev_environment(dev_args)
    assert _mode(key_file) == 0o600
    assert env["VITALS_API_KEYS"] == "an-old-dev-key-0123456789"
