"""``vitals sites add|list|remove``: the Dagster instance's ``site`` partitions.

A site-day partition exists only once its site is a dynamic partition of the instance
(``DAGSTER_HOME``). ``vitals dev`` and ``site_discovery_sensor`` add sites by
themselves; this command is for the CLI (``dagster asset materialize``) and for
deployments that pin their sites, so an operator never has to edit instance storage.
"""

from __future__ import annotations

import argparse
import os

import dagster as dg

from vitals.names import validate_site_name


class UnknownSiteError(ValueError):
    """``remove`` of a site the instance does not hold."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitals sites",
        description="Manage the site partitions of the Dagster instance in DAGSTER_HOME.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    add = commands.add_parser("add", help="register sites as partitions (idempotent)")
    add.add_argument("sites", nargs="+", metavar="SITE")
    commands.add_parser("list", help="print the registered sites, one per line")
    remove = commands.add_parser(
        "remove",
        help="unregister sites (their stored data stays; the discovery sensor "
        "re-adds a site the ACE API still lists unless VITALS_SITES leaves it out)",
    )
    remove.add_argument("sites", nargs="+", metavar="SITE")
    return parser


def add_sites(instance: dg.DagsterInstance, sites: list[str]) -> list[str]:
    """Register ``sites`` (validated first, all or none); returns those that were new."""
    from vitals_assets.partitions import SITE_PARTITIONS_NAME

    names = [validate_site_name(site) for site in sites]
    known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    new = list(dict.fromkeys(name for name in names if name not in known))
    if new:
        instance.add_dynamic_partitions(SITE_PARTITIONS_NAME, new)
    return new


def remove_sites(instance: dg.DagsterInstance, sites: list[str]) -> None:
    """Unregister ``sites``; refuses (removing none) if any is not registered."""
    from vitals_assets.partitions import SITE_PARTITIONS_NAME

    names = [validate_site_name(site) for site in sites]
    known = set(instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    unknown = [name for name in names if name not in known]
    if unknown:
        registered = ", ".join(sorted(known)) or "none"
        raise UnknownSiteError(
            f"not a registered site: {', '.join(map(repr, unknown))} (registered: {registered})"
        )
    for name in dict.fromkeys(names):
        instance.delete_dynamic_partition(SITE_PARTITIONS_NAME, name)


def main(argv: list[str]) -> int:
    """``vitals sites add|list|remove``: the site partitions of the Dagster instance."""
    args = _parser().parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        raise RuntimeError(
            "DAGSTER_HOME is not set: point it at the Dagster instance folder "
            "(`vitals dev` uses $VITALS_DATA_DIR/dagster_home, default ./.vitals/dagster_home)"
        )
    with dg.DagsterInstance.get() as instance:
        if args.action == "list":
            from vitals_assets.partitions import SITE_PARTITIONS_NAME

            for site in instance.get_dynamic_partitions(SITE_PARTITIONS_NAME):
                print(site)
        elif args.action == "add":
            new = add_sites(instance, args.sites)
            already = [site for site in dict.fromkeys(args.sites) if site not in new]
            for site in new:
                print(f"added site {site}")
            for site in already:
                print(f"site {site} was already registered")
        else:
            remove_sites(instance, args.sites)
            for site in dict.fromkeys(args.sites):
                print(f"removed site {site} (its raw pulls, hot rows and cold files are kept)")
    return 0
