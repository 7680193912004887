"""Environment settings, read in exactly one place.

Every part of Vitals (assets, archival, backfill, query API, CLI) takes its settings
from :func:`load_settings`, so one threshold (``HOT_STORAGE_DAYS``) and one set of
store locations are shared by all of them (docs/design.md invariant 3).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path

from vitals.redact import redact_url

DEFAULT_HOT_STORAGE_DAYS = 20
DEFAULT_REQUESTS_PER_MINUTE = 30
DEFAULT_SIMULATOR_PORT = 8765
DEFAULT_HISTORY_START = date(2024, 1, 1)
DEFAULT_CELERY_QUEUE = "dagster"
DEFAULT_BREAKER_COOLDOWN_SECONDS = 60.0
# A month backfill writes a day rollup every few seconds: compact once they stop (5 min).
DEFAULT_ROLLUP_MONTH_QUIET_SECONDS = 300.0


def default_data_dir() -> Path:
    """The one local folder that holds everything on embedded defaults."""
    return Path(os.environ.get("VITALS_DATA_DIR", Path.cwd() / ".vitals")).resolve()


def _split_csv(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _positive_int(name: str, raw: str | None, default: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _non_negative_seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {raw!r}") from exc
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {raw!r}")
    return value


def _positive_seconds(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}") from exc
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class SiteOverrides:
    """Per-site configuration that outranks ACE: time zones and point history modes.

    Read from the JSON file ``VITALS_SITE_CONFIG`` names::

        {"sites": {"acme_hq": {"timezone": "America/Chicago",
                               "history_modes": {"<point name>": "cov"}}}}
    """

    timezones: dict[str, str] = field(default_factory=dict)
    history_modes: dict[str, dict[str, str]] = field(default_factory=dict)

    def timezone(self, site: str) -> str | None:
        """The configured zone of ``site``, if any."""
        return self.timezones.get(site)

    def history_mode(self, site: str, point: str) -> str | None:
        """The configured history mode of a point, if any."""
        return self.history_modes.get(site, {}).get(point)


def load_site_overrides(path: str | None) -> SiteOverrides:
    """The overrides file (``VITALS_SITE_CONFIG``); absent means none. A bad file is an error."""
    if not path:
        return SiteOverrides()
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"VITALS_SITE_CONFIG {path!r} is not a readable JSON file: {exc}") from exc
    sites = raw.get("sites") if isinstance(raw, dict) else None
    if not isinstance(sites, dict):
        raise ValueError(f"VITALS_SITE_CONFIG {path!r} must hold an object under 'sites'")
    zones: dict[str, str] = {}
    modes: dict[str, dict[str, str]] = {}
    for site, entry in sites.items():
        if not isinstance(entry, dict):
            raise ValueError(f"VITALS_SITE_CONFIG: site {site!r} must map to an object")
        zone = entry.get("timezone")
        if zone is not None:
            if not isinstance(zone, str):
                raise ValueError(f"VITALS_SITE_CONFIG: timezone of {site!r} must be a string")
            zones[site] = zone
        points = entry.get("history_modes", {})
        if not isinstance(points, dict) or not all(
            isinstance(k, str) and v in HISTORY_MODE_NAMES for k, v in points.items()
        ):
            raise ValueError(
                f"VITALS_SITE_CONFIG: history_modes of {site!r} must map point names to one of "
                f"{', '.join(HISTORY_MODE_NAMES)}"
            )
        modes[site] = dict(points)
    return SiteOverrides(zones, modes)


HISTORY_MODE_NAMES = ("sampled", "cov", "binary", "consumption")


@dataclass(frozen=True)
class Settings:
    """Resolved Vitals settings (see docs/design.md, "Operator interface")."""

    data_dir: Path
    ace_api_url: str
    # The ACE key and a hot-store URL's password must not reach logs through a repr
    # (``__repr__`` below shows the URL with its password masked, never the key).
    ace_api_key: str | None = field(repr=False)
    sites: tuple[str, ...]
    hot_store: str = field(repr=False)
    cold_store: str
    s3_endpoint_url: str | None
    hot_storage_days: int
    ace_requests_per_minute: int
    api_keys: tuple[str, ...] = field(repr=False, default=())
    allowed_origins: tuple[str, ...] = ()
    history_start: date = DEFAULT_HISTORY_START
    # Limiter/breaker state shared across hosts: a postgresql:// URL, or None for SQLite
    # files under state_dir. May carry a password, so it is kept out of the repr.
    state_url: str | None = field(repr=False, default=None)
    # Celery: steps go to workers on other hosts when a broker is set. The URL can carry
    # a password, so the code location binds it as {"env": ...}, never as a value.
    celery_broker: str | None = field(repr=False, default=None)
    # Open -> half-open of the shared ACE circuit breaker (ACE_BREAKER_COOLDOWN_SECONDS).
    ace_breaker_cooldown_seconds: float = DEFAULT_BREAKER_COOLDOWN_SECONDS
    celery_backend: str | None = field(repr=False, default=None)
    celery_queue: str = DEFAULT_CELERY_QUEUE
    site_overrides: SiteOverrides = field(default_factory=SiteOverrides)
    # Site-days one backfill run covers (VITALS_BACKFILL_PARTITIONS_PER_RUN): 1 is one
    # run per site-day; a portfolio backfill needs more (docs/scale.md).
    backfill_partitions_per_run: int = 1
    # How long a site-month's rollups must stay unchanged before the rollups sensor
    # compacts its month file (VITALS_ROLLUP_MONTH_QUIET_SECONDS; docs/rollups.md).
    rollup_month_quiet_seconds: float = DEFAULT_ROLLUP_MONTH_QUIET_SECONDS

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return (
            f"Settings({shown}, hot_store={redact_url(self.hot_store)!r}, "
            f"ace_api_key={'set' if self.ace_api_key else None!r})"
        )

    @property
    def state_dir(self) -> Path:
        """Folder for cross-process state (rate limiter, circuit breaker)."""
        return self.data_dir / "state"


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read every Vitals setting from the environment (or a given mapping)."""
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("VITALS_DATA_DIR") or default_data_dir()).resolve()
    hot_store = env.get("VITALS_HOT_STORE") or str(data_dir / "hot.sqlite")
    return Settings(
        data_dir=data_dir,
        ace_api_url=env.get("ACE_API_URL") or f"http://127.0.0.1:{DEFAULT_SIMULATOR_PORT}/api",
        ace_api_key=env.get("ACE_API_KEY") or None,
        sites=_split_csv(env.get("VITALS_SITES")),
        hot_store=hot_store,
        cold_store=env.get("VITALS_COLD_STORE") or str(data_dir / "cold"),
        s3_endpoint_url=env.get("VITALS_S3_ENDPOINT_URL") or None,
        hot_storage_days=_positive_int(
            "HOT_STORAGE_DAYS", env.get("HOT_STORAGE_DAYS"), DEFAULT_HOT_STORAGE_DAYS
        ),
        ace_requests_per_minute=_positive_int(
            "ACE_REQUESTS_PER_MINUTE",
            env.get("ACE_REQUESTS_PER_MINUTE"),
            DEFAULT_REQUESTS_PER_MINUTE,
        ),
        api_keys=_split_csv(env.get("VITALS_API_KEYS")),
        allowed_origins=_split_csv(env.get("VITALS_ALLOWED_ORIGINS")),
        history_start=_history_start(env.get("VITALS_HISTORY_START")),
        state_url=_state_url(env.get("VITALS_STATE_URL"), hot_store),
        ace_breaker_cooldown_seconds=_positive_seconds(
            "ACE_BREAKER_COOLDOWN_SECONDS",
            env.get("ACE_BREAKER_COOLDOWN_SECONDS"),
            DEFAULT_BREAKER_COOLDOWN_SECONDS,
        ),
        celery_broker=env.get("VITALS_CELERY_BROKER") or None,
        celery_backend=env.get("VITALS_CELERY_BACKEND") or None,
        celery_queue=env.get("VITALS_CELERY_QUEUE") or DEFAULT_CELERY_QUEUE,
        site_overrides=load_site_overrides(env.get("VITALS_SITE_CONFIG")),
        backfill_partitions_per_run=_positive_int(
            "VITALS_BACKFILL_PARTITIONS_PER_RUN", env.get("VITALS_BACKFILL_PARTITIONS_PER_RUN"), 1
        ),
        rollup_month_quiet_seconds=_non_negative_seconds(
            "VITALS_ROLLUP_MONTH_QUIET_SECONDS",
            env.get("VITALS_ROLLUP_MONTH_QUIET_SECONDS"),
            DEFAULT_ROLLUP_MONTH_QUIET_SECONDS,
        ),
    )


def _history_start(raw: str | None) -> date:
    """The first partition day: a site whose history is older must be able to reach it."""
    if raw is None or raw.strip() == "":
        return DEFAULT_HISTORY_START
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ValueError(f"VITALS_HISTORY_START must be a day as YYYY-MM-DD, got {raw!r}") from exc
    if day > datetime.now(UTC).date():
        raise ValueError(f"VITALS_HISTORY_START {raw!r} is in the future")
    return day


def _is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _state_url(raw: str | None, hot_store: str) -> str | None:
    """Where the ACE limiter and breaker share state (``VITALS_STATE_URL``).

    Unset: the hot store when that is PostgreSQL (every host already reaches it), else
    None (SQLite files under the state folder, shared by one machine's processes).
    ``sqlite`` asks for the files explicitly, even beside a PostgreSQL hot store.
    """
    if raw is None or raw.strip() == "":
        return hot_store if _is_postgres(hot_store) else None
    value = raw.strip()
    if value == "sqlite":
        return None
    if _is_postgres(value):
        return value
    raise ValueError(
        "VITALS_STATE_URL must be a postgresql:// URL or 'sqlite' (files under the state "
        f"folder), got {redact_url(value)!r}"
    )
