"""The ``vitals`` console script (docs/design.md "Operator interface")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date

from vitals.arrow_memory import configure_arrow_memory
from vitals.cold.store import ColdStore
from vitals.config import Settings, load_settings
from vitals.hot.store import HotStore

USAGE = """\
usage: vitals <command> [options]

commands:
  dev            everything on embedded defaults: ACE simulator, Dagster UI + daemon, query API
  simulate       the ACE simulator alone
  serve          the query API alone
  metrics-exporter  the pipeline's Prometheus figures, read from the Dagster instance
  archive-day    build, verify and record a site-day's cold file (deletes hot rows only
                 when the day is past HOT_STORAGE_DAYS and the file verified)
  rebuild-day    rebuild a site-day's cold file from its raw pulls (and hot rows), keep hot rows
  restore-day    copy a cold site-day back into the hot store
  backfill       submit a Dagster partition backfill for sites x dates
  sites          add|list|remove the site partitions of the Dagster instance (DAGSTER_HOME)
  state          where the ACE rate limiter and circuit breaker share state, and what it holds

`vitals <command> --help` for options.
"""


def _site_day_args(
    prog: str, argv: list[str], extra: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--site", required=True)
    parser.add_argument(
        "--date", required=True, type=date.fromisoformat, help="UTC day, YYYY-MM-DD"
    )
    if extra:
        extra(parser)
    return parser.parse_args(argv)


def _stores() -> tuple[Settings, HotStore, ColdStore]:
    """The configured settings and the library stores they name (no Dagster resources)."""
    settings = load_settings()
    return (
        settings,
        HotStore(settings.hot_store),
        ColdStore(settings.cold_store, s3_endpoint_url=settings.s3_endpoint_url),
    )


def _archive(argv: list[str], *, rebuild: bool) -> int:
    from vitals.archive import archive_site_day
    from vitals.names import validate_site_name
    from vitals.windows import is_past_hot_window

    args = _site_day_args("vitals rebuild-day" if rebuild else "vitals archive-day", argv)
    validate_site_name(args.site)
    settings, hot, cold = _stores()
    delete_hot = (not rebuild) and is_past_hot_window(args.date, settings.hot_storage_days)
    outcome = archive_site_day(
        hot, cold, args.site, args.date, delete_hot=delete_hot, include_existing=not rebuild
    )
    print(
        f"{outcome.key}: {outcome.rows} rows ({outcome.raw_rows} raw, {outcome.hot_rows} hot, "
        f"{outcome.cold_rows_before} in the previous file), {outcome.bytes} bytes, verified; "
        f"{'rewritten' if outcome.rewritten else 'unchanged'}; "
        f"{outcome.hot_rows_deleted} hot rows deleted; {outcome.seconds:.2f} s"
    )
    if outcome.rewritten:
        from vitals_cli.cold_events import report_cold_file_change

        if report_cold_file_change(outcome):
            print("recorded in Dagster: its rollups follow (rollups_follow_cold_files)")
        else:
            print(
                "DAGSTER_HOME is not set: not recorded in Dagster; materialise its "
                "cold_rollups partition to rebuild the day's rollups (and then the "
                "month's rollup_months partition)"
            )
    return 0


def _restore(argv: list[str]) -> int:
    from vitals.archive import restore_site_day
    from vitals.names import validate_site_name

    args = _site_day_args("vitals restore-day", argv)
    validate_site_name(args.site)
    _settings, hot, cold = _stores()
    rows = restore_site_day(hot, cold, args.site, args.date)
    print(f"restored {rows} rows of {args.site} {args.date} into the hot store")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one ``vitals`` command; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    configure_arrow_memory()
    try:
        if command == "dev":
            from vitals_cli.dev import run_dev

            return run_dev(rest)
        if command == "simulate":
            from ace_simulator.cli import main as simulate

            return simulate(rest) or 0
        if command == "serve":
            from vitals.api.serve import main as serve

            return serve(rest) or 0
        if command == "archive-day":
            return _archive(rest, rebuild=False)
        if command == "rebuild-day":
            return _archive(rest, rebuild=True)
        if command == "restore-day":
            return _restore(rest)
        if command == "backfill":
            from vitals_cli.backfill import main as backfill

            return backfill(rest)
        if command == "metrics-exporter":
            from vitals_cli.metrics_exporter import main as metrics_exporter

            return metrics_exporter(rest)
        if command == "sites":
            from vitals_cli.sites import main as sites

            return sites(rest)
        if command == "state":
            from vitals_cli.state import main as state

            return state(rest)
    except (ValueError, KeyError, RuntimeError) as exc:
        print(f"vitals {command}: {exc}", file=sys.stderr)
        return 2
    print(f"vitals: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2
