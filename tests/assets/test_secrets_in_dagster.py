"""No credential reaches Dagster's storage or the UI's resource view (issue 9, section 4).

Every secret-bearing setting gets a distinctive value; real materialisations run through
a Dagster instance on disk (simulator as ACE, PostgreSQL hot store with a real role and
password, moto S3 as the cold store); then every SQLite file under DAGSTER_HOME (rows
read through SQLite, zlib-compressed snapshot bodies decompressed), every other file
there (compute logs) and the repository snapshot the webserver shows are searched.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.remote_representation.external_data import ResourceConfigEnvVarSnap
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._serdes import serialize_value

from resources.hot_store import HotStoreResource
from resources.query import QueryResource
from tests.support.platform_helpers import INGEST, materialize_day
from tests.support.postgres import PG_ADMIN_URL
from tests.support.simulator import SIMULATOR_SITE
from vitals.config import load_settings
from vitals.redact import redact_url, scrub
from vitals_assets.bindings import build_resources
from vitals_assets.cold import cold_timeseries
from vitals_assets.examples import point_hourly_summary
from vitals_assets.partitions import SITE_PARTITIONS_NAME

REPO = Path(__file__).resolve().parents[2]
SQLITE_MAGIC = b"SQLite format 3\x00"
ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")


@dataclass(frozen=True)
class Secrets:
    """One distinctive value per secret-bearing setting."""

    hot_password: str
    state_password: str
    ace_key: str
    s3_secret: str
    api_key: str
    webhook_url: str

    def all(self) -> dict[str, str]:
        return {
            "hot store password": self.hot_password,
            "state store password": self.state_password,
            "ACE key": self.ace_key,
            "S3 secret": self.s3_secret,
            "query API key": self.api_key,
            "alert webhook URL": self.webhook_url,
        }


@contextmanager
def role_database(kind: str) -> Iterator[tuple[str, str]]:
    """A database owned by a new login role with a password: (URL with it, password)."""
    tag = uuid.uuid4().hex[:10]
    role, database = f"vitals_{kind}_{tag}", f"vitals_{kind}_secret_{tag}"
    password = f"SECRET-{kind.upper()}-{tag}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f'CREATE DATABASE "{database}" OWNER {role}')
    base = PG_ADMIN_URL.split("://", 1)[1].split("@", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql://{role}:{password}@{base}/{database}", password
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f"DROP ROLE IF EXISTS {role}")


@pytest.fixture
def pg_role_url() -> Iterator[tuple[str, str]]:
    """The hot store's database and role."""
    with role_database("hot") as url_password:
        yield url_password


@pytest.fixture
def pg_state_role_url() -> Iterator[tuple[str, str]]:
    """The limiter/breaker state's own database and role (VITALS_STATE_URL)."""
    with role_database("state") as url_password:
        yield url_password


@pytest.fixture
def secret_platform(
    monkeypatch, tmp_path, simulator, pg_role_url, pg_state_role_url, s3_endpoint_url, s3_cold_url
):
    """The environment of a production-like deployment, every secret distinctive."""
    hot_url, hot_password = pg_role_url
    state_url, state_password = pg_state_role_url
    tag = uuid.uuid4().hex[:10]
    secrets = Secrets(
        hot_password,
        state_password,
        f"SECRET-ACE-{tag}",
        f"SECRET-S3-{tag}",
        f"SECRET-API-{tag}",
        f"http://127.0.0.1:9/services/SECRET-HOOK-{tag}",
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    for name, value in {
        "DAGSTER_HOME": str(home),
        "ACE_API_URL": simulator.url,
        "ACE_API_KEY": secrets.ace_key,
        "ACE_REQUESTS_PER_MINUTE": "6000",
        "VITALS_HOT_STORE": hot_url,
        "VITALS_STATE_URL": state_url,
        "VITALS_COLD_STORE": s3_cold_url,
        "VITALS_S3_ENDPOINT_URL": s3_endpoint_url,
        "AWS_SECRET_ACCESS_KEY": secrets.s3_secret,  # moto accepts any secret
        "VITALS_API_KEYS": secrets.api_key,
        "VITALS_ALERT_WEBHOOK_URL": secrets.webhook_url,
        "VITALS_SITES": SIMULATOR_SITE,
    }.items():
        monkeypatch.setenv(name, value)
    return home, secrets


def _decompressed(data: bytes) -> list[bytes]:
    """Every zlib stream found in ``data`` (Dagster stores snapshot bodies compressed)."""
    found: list[bytes] = []
    for header in ZLIB_HEADERS:
        start = data.find(header)
        while start != -1:
            try:
                found.append(zlib.decompressobj().decompress(data[start:]))
            except zlib.error:
                pass
            start = data.find(header, start + 1)
    return found


@dataclass
class Haystack:
    """Text found under DAGSTER_HOME: as stored, and what decompressing it yielded."""

    stored: list[bytes] = field(default_factory=list)
    unpacked: list[bytes] = field(default_factory=list)
    databases: int = 0
    other_files: int = 0

    def add(self, value: object) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        if not isinstance(value, bytes):
            value = str(value).encode()
        self.stored.append(value)
        self.unpacked.extend(_decompressed(value))

    def holds(self, needle: str) -> bool:
        return any(needle.encode() in text for text in (*self.stored, *self.unpacked))

    def unpacked_holds(self, needle: str) -> bool:
        return any(needle.encode() in text for text in self.unpacked)


def _add_sqlite_cells(path: Path, haystack: Haystack) -> None:
    """Every cell of every table, read through SQLite (so WAL contents count too)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        listing = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        tables = [row[0] for row in listing]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    haystack.add(cell)


def instance_haystack(home: Path) -> Haystack:
    """All text held under DAGSTER_HOME: SQLite storages cell by cell, other files whole."""
    haystack = Haystack()
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        data = path.read_bytes()
        haystack.add(data)
        if data.startswith(SQLITE_MAGIC):
            _add_sqlite_cells(path, haystack)
            haystack.databases += 1
        else:
            haystack.other_files += 1
    return haystack


def run_real_materialisations(instance: dg.DagsterInstance) -> None:
    """A hot-window day (ingest + query) and an old day (ingest, cold file on S3, query)."""
    instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, [SIMULATOR_SITE])
    today = datetime.now(UTC).date()
    recent = materialize_day(
        instance, SIMULATOR_SITE, today - timedelta(days=1), assets=[*INGEST, point_hourly_summary]
    )
    old = materialize_day(
        instance,
        SIMULATOR_SITE,
        today - timedelta(days=30),
        assets=[*INGEST, cold_timeseries, point_hourly_summary],
    )
    assert recent.success and old.success


def ui_resource_snapshot(instance: dg.DagsterInstance) -> dict[str, dict[str, object]]:
    """The code location as the webserver loads it (workspace.yaml, a gRPC code server):
    resource name -> configured values, plus the whole repository snapshot serialised."""
    target = WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])
    with WorkspaceProcessContext(instance, target) as process:
        context = process.create_request_context()
        assert not context.get_code_location_error("vitals")
        repositories = context.get_code_location("vitals").get_repositories().values()
        values: dict[str, dict[str, object]] = {}
        for repository in repositories:
            for resource in repository.get_resources():
                values[resource.name] = dict(resource.configured_values)
            values["<snapshot>"] = {"text": serialize_value(repository.repository_snap)}
    return values


def _env_var(name: str) -> ResourceConfigEnvVarSnap:
    return ResourceConfigEnvVarSnap(name=name)


def test_no_secret_in_dagster_storage_logs_or_ui_resource_config(secret_platform):
    home, secrets = secret_platform
    instance = dg.DagsterInstance.get()
    assert Path(instance.root_directory) == home
    run_real_materialisations(instance)
    ui = ui_resource_snapshot(instance)
    instance.dispose()

    haystack = instance_haystack(home)
    leaked = [label for label, value in secrets.all().items() if haystack.holds(value)]
    assert not leaked, f"secrets found in the Dagster instance's storage or logs: {leaked}"
    snapshot_text = ui.pop("<snapshot>")["text"]
    leaked_ui = [label for label, value in secrets.all().items() if value in snapshot_text]
    assert not leaked_ui, f"secrets found in the repository snapshot the UI shows: {leaked_ui}"

    # The search itself works: run, event and schedule storage and the compute logs were
    # read, and snapshot bodies decompressed (env var names live in job snapshots).
    assert haystack.databases >= 3 and haystack.other_files >= 1
    for name in ("ACE_API_KEY", "VITALS_HOT_STORE", "VITALS_STATE_URL"):
        assert haystack.unpacked_holds(name), f"{name!r} not found: the storage search is broken"
    assert ui["ace"]["api_key"] == _env_var("ACE_API_KEY")
    assert ui["ace"]["state_url"] == _env_var("VITALS_STATE_URL")
    assert ui["hot_store"]["url"] == _env_var("VITALS_HOT_STORE")
    assert ui["query"]["hot_store_url"] == _env_var("VITALS_HOT_STORE")
    assert "VITALS_HOT_STORE" in snapshot_text
    # The runs really limited their ACE requests through the state database.
    with psycopg.connect(os.environ["VITALS_STATE_URL"]) as conn:
        (sends,) = conn.execute("SELECT COUNT(*) FROM rate_limit_sends").fetchone()
    assert sends > 0


def test_the_state_defaults_to_the_postgres_hot_store_variable(monkeypatch, tmp_path):
    """No VITALS_STATE_URL: the state is the hot store's database, bound by that name."""
    monkeypatch.setenv("VITALS_HOT_STORE", "postgresql://u:SECRET-HOT-y@127.0.0.1/db")
    resources = build_resources(load_settings())
    assert resources["ace"].state_url == dg.EnvVar("VITALS_HOT_STORE")
    assert "SECRET-HOT-y" not in repr(resources["ace"])
    monkeypatch.setenv("VITALS_STATE_URL", "sqlite")
    assert build_resources(load_settings())["ace"].state_url == ""


def test_a_state_url_with_a_password_not_from_the_environment_is_refused(tmp_path):
    settings = load_settings(
        {
            "VITALS_STATE_URL": "postgresql://u:SECRET-STATE-x@127.0.0.1/db",
            "VITALS_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(ValueError, match="VITALS_STATE_URL") as refused:
        build_resources(settings)
    assert "SECRET-STATE-x" not in str(refused.value)


def test_redact_url_masks_only_the_password():
    assert redact_url("postgresql://u:p%40ss@db.example:5432/vitals?sslmode=require") == (
        "postgresql://u:***@db.example:5432/vitals?sslmode=require"
    )
    assert redact_url("postgresql://u@db/vitals") == "postgresql://u@db/vitals"
    assert redact_url("/data/hot.sqlite") == "/data/hot.sqlite"
    masked = scrub('bad token "p%40ss" (p@ss)', "postgresql://u:p%40ss@db/v")
    assert masked == 'bad token "***" (***)'


def test_a_password_url_not_from_the_environment_is_refused(tmp_path):
    """Binding it as a value would store the password in every run's snapshot."""
    settings = load_settings(
        {
            "VITALS_HOT_STORE": "postgresql://u:SECRET-HOT-x@127.0.0.1/db",
            "VITALS_DATA_DIR": str(tmp_path),
        }
    )
    with pytest.raises(ValueError, match="PGPASSWORD") as refused:
        build_resources(settings)
    assert "SECRET-HOT-x" not in str(refused.value)


def test_the_default_sqlite_path_stays_a_plain_value(tmp_path):
    settings = load_settings({"VITALS_DATA_DIR": str(tmp_path)})
    resources = build_resources(settings)
    assert resources["hot_store"].url == str(tmp_path / "hot.sqlite")
    assert not isinstance(resources["query"].hot_store_url, dg.EnvVar)


def test_resources_bound_to_the_env_var_work_outside_dagster(monkeypatch, tmp_path):
    """The CLI, API and tests call resources directly: the variable's value is used,
    never its name (no SQLite file called VITALS_HOT_STORE)."""
    monkeypatch.setenv("VITALS_HOT_STORE", str(tmp_path / "hot.sqlite"))
    monkeypatch.chdir(tmp_path)
    resources = build_resources(load_settings())
    assert isinstance(resources["hot_store"].url, dg.EnvVar)
    assert resources["hot_store"].list_sites() == []
    assert resources["query"].engine() is not None
    assert (tmp_path / "hot.sqlite").exists() and not (tmp_path / "VITALS_HOT_STORE").exists()
    monkeypatch.delenv("VITALS_HOT_STORE")
    with pytest.raises(ValueError, match="VITALS_HOT_STORE, which is not set"):
        HotStoreResource(url=dg.EnvVar("VITALS_HOT_STORE")).list_sites()


def test_reprs_and_connect_errors_never_show_the_password(pg_role_url):
    url, password = pg_role_url
    assert password not in repr(HotStoreResource(url=url))
    assert password not in repr(QueryResource(hot_store_url=url, cold_store_url="/tmp/cold"))
    malformed = url.replace(password, password + "%ZZ")  # libpq echoes the bad token
    with pytest.raises(ConnectionError, match="percent-encoded") as failed:
        HotStoreResource(url=malformed).list_sites()
    assert password not in str(failed.value)
