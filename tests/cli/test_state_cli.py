"""`vitals state`: the shared limiter/breaker state as every host should see it."""

from __future__ import annotations

import pytest

from vitals.ace.circuit_breaker import SharedCircuitBreaker
from vitals.ace.rate_limit import SharedRateLimiter
from vitals_cli.main import main

BUCKET = "http://127.0.0.1:8765/api"


@pytest.mark.postgres
def test_state_shows_postgres_sends_and_breakers_without_the_password(pg_url, monkeypatch, capsys):
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:SECRET-STATE-cli@")
    monkeypatch.setenv("VITALS_STATE_URL", url)  # trust auth: the password is not checked
    limiter = SharedRateLimiter(url, limit=30, bucket=BUCKET)
    limiter.acquire()
    limiter.acquire()
    SharedCircuitBreaker(url, name=BUCKET, failure_threshold=1).record_failure("HTTP 503 down")
    assert main(["state"]) == 0
    out = capsys.readouterr().out
    assert "SECRET-STATE-cli" not in out
    assert f"state: postgres {url.replace('SECRET-STATE-cli', '***')}" in out
    assert f"sends in the last 60 s: {BUCKET} 2" in out
    assert f"breaker {BUCKET}: open, 1 consecutive failures" in out
    assert "last error: HTTP 503 down" in out


def test_state_defaults_to_the_sqlite_file_under_the_data_dir(_isolated_data_dir, capsys):
    assert main(["state"]) == 0
    out = capsys.readouterr().out
    assert f"state: sqlite {_isolated_data_dir / 'state' / 'ace_client.sqlite'}" in out
    assert "breakers: none recorded (closed)" in out


def test_a_state_url_that_is_not_postgres_is_refused_with_its_password_masked(monkeypatch, capsys):
    monkeypatch.setenv("VITALS_STATE_URL", "redis://:SECRET-R@127.0.0.1:6379/0")
    assert main(["state"]) == 2
    err = capsys.readouterr().err
    assert "VITALS_STATE_URL must be a postgresql:// URL" in err and "SECRET-R" not in err
