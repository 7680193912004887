"""``vitals dev``: the whole platform on embedded defaults, in one command.

Starts the ACE simulator, the Dagster webserver + daemon (``dagster dev``) and the
query API as child processes, all data under one folder (``VITALS_DATA_DIR``,
default ``./.vitals``). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from vitals.config import DEFAULT_SIMULATOR_PORT, load_settings
from vitals_cli.dagster_home import ensure_dagster_home

REPO_ROOT = Path(__file__).resolve().parent.parent


def _wait_http(url: str, *, timeout: float, headers: dict[str, str] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def dev_api_key(key_file: Path) -> str:
    """The dev API key, kept in ``key_file`` readable by its owner only (0600).

    Created with O_EXCL at mode 0600, so the secret is never on disk with wider rights
    (not even between a write and a chmod); a file left 0644 by an earlier version is
    tightened.
    """
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(key_file, 0o600)
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return key_file.read_text().strip()


def dev_environment(args: argparse.Namespace) -> dict[str, str]:
    """The environment every child process shares (one data folder, one set of settings)."""
    env = dict(os.environ)
    data_dir = Path(env.get("VITALS_DATA_DIR") or Path.cwd() / ".vitals").resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env["VITALS_DATA_DIR"] = str(data_dir)
    env.setdefault("ACE_API_URL", f"http://127.0.0.1:{args.simulator_port}/api")
    env.setdefault("ACE_API_KEY", "dev-simulator-key")
    if "VITALS_API_KEYS" not in env:
        env["VITALS_API_KEYS"] = dev_api_key(data_dir / "api_key.txt")
    # No CORS allowance by default: the explorer page is served by the API itself (same
    # origin). Set VITALS_ALLOWED_ORIGINS for a front end on another origin.
    env["DAGSTER_HOME"] = str(ensure_dagster_home(data_dir))
    return env


def _register_sites(env: dict[str, str]) -> list[str]:
    """Add the sites to the Dagster instance now, so partitions show at once."""
    os.environ.update(env)
    import dagster as dg

    from vitals.ace.client import AceClient
    from vitals_assets.partitions import SITE_PARTITIONS_NAME

    settings = load_settings()
    sites = list(settings.sites) or (
        AceClient(
            base_url=settings.ace_api_url,
            api_key=env["ACE_API_KEY"],
            requests_per_minute=settings.ace_requests_per_minute,
            state_dir=str(settings.state_dir),
            state_url=settings.state_url,
        ).list_sites()
    )
    with dg.DagsterInstance.get() as instance:
        known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
        new = [site for site in sites if site not in known]
        if new:
            instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, new)
    return sites


def run_dev(argv: list[str] | None = None) -> int:
    """``vitals dev``: start every part as a child process; Ctrl-C stops them all."""
    parser = argparse.ArgumentParser(prog="vitals dev", description=__doc__)
    parser.add_argument("--simulator-port", type=int, default=DEFAULT_SIMULATOR_PORT)
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--no-simulator", action="store_true", help="use ACE_API_URL as is")
    parser.add_argument("--simulator-args", default="", help="extra args for `vitals simulate`")
    args = parser.parse_args(argv)
    env = dev_environment(args)
    python = sys.executable

    def stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # same clean shutdown as Ctrl-C

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Started from a script in the background, SIGINT arrives ignored; Ctrl-C must work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    children: list[tuple[str, subprocess.Popen]] = []

    def start(name: str, command: list[str]) -> None:
        children.append(
            (name, subprocess.Popen(command, env=env, cwd=REPO_ROOT, start_new_session=True))
        )

    try:
        if not args.no_simulator:
            start(
                "simulator",
                [
                    python,
                    "-m",
                    "ace_simulator",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(args.simulator_port),
                    *args.simulator_args.split(),
                ],
            )
            if not _wait_http(
                f"{env['ACE_API_URL']}/sites",
                timeout=60,
                headers={"Authorization": f"Bearer {env['ACE_API_KEY']}"},
            ):
                raise RuntimeError("the ACE simulator did not start within 60 s")
        sites = _register_sites(env)
        start(
            "dagster",
            [
                python,
                "-m",
                "dagster",
                "dev",
                "-w",
                str(REPO_ROOT / "workspace.yaml"),
                "-h",
                "127.0.0.1",
                "-p",
                str(args.dagster_port),
            ],
        )
        start(
            "query-api",
            [
                python,
                "-m",
                "vitals_cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.api_port),
            ],
        )
        print(
            "\nVitals is starting (Ctrl-C stops everything):\n"
            f"  data folder     {env['VITALS_DATA_DIR']}\n"
            f"  ACE simulator   {env['ACE_API_URL']}  (sites: {', '.join(sites)})\n"
            f"  Dagster UI      http://127.0.0.1:{args.dagster_port}\n"
            f"  query API       http://127.0.0.1:{args.api_port}/v1/sites  "
            f"(Authorization: Bearer {env['VITALS_API_KEYS'].split(',')[0]})\n"
            f"  explorer        http://127.0.0.1:{args.api_port}/  (the same key)\n",
            flush=True,
        )
        while True:
            for name, child in children:
                if child.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {child.returncode}")
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping Vitals ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"vitals dev: {exc}", file=sys.stderr)
        return 1
    finally:
        for _name, child in reversed(children):
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGINT)
        deadline = time.monotonic() + 20
        for _name, child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
