"""Keeps the ``site`` partition dimension equal to the sites Vitals syncs."""

import dagster as dg

from resources.ace import AceApiResource
from vitals.names import InvalidNameError, validate_site_name
from vitals_assets.partitions import SITE_PARTITIONS_NAME, site_partitions


def wanted_sites(ace: AceApiResource) -> list[str]:
    """VITALS_SITES if set, else every site the API lists (hostile names skipped)."""
    names = list(ace.sites) if ace.sites else ace.list_sites()
    valid = []
    for name in names:
        try:
            valid.append(validate_site_name(name))
        except InvalidNameError:
            continue
    return valid


@dg.sensor(minimum_interval_seconds=600, default_status=dg.DefaultSensorStatus.RUNNING)
def site_discovery_sensor(
    context: dg.SensorEvaluationContext, ace: AceApiResource
) -> dg.SensorResult:
    """Adds newly listed sites as partitions (never removes: their history stays)."""
    known = set(context.instance.get_dynamic_partitions(SITE_PARTITIONS_NAME))
    new = [site for site in wanted_sites(ace) if site not in known]
    return dg.SensorResult(
        dynamic_partitions_requests=[site_partitions.build_add_request(new)] if new else []
    )
