"""The automation-condition sensor that keeps stored rollups current.

``cold_rollups`` declares ``AutomationCondition.eager()``, but Dagster evaluates
automation conditions only through an automation-condition sensor, and the one it adds
by itself (``default_automation_condition_sensor``) starts STOPPED: without this sensor
no rollup is ever built outside tests. Defined in the code location with a RUNNING
default, it is on wherever the location is loaded (``vitals dev``, or the runbook's
``dagster-webserver`` + ``dagster-daemon``), with no switch to flip in the UI.
"""

import dagster as dg

from vitals_assets.rollups import cold_rollups

rollups_automation_sensor = dg.AutomationConditionSensorDefinition(
    "rollups_automation_sensor",
    target=dg.AssetSelection.assets(cold_rollups),
    default_status=dg.DefaultSensorStatus.RUNNING,
    # Rollups follow a new or rewritten cold file within about half a minute.
    minimum_interval_seconds=30,
    description="Rebuilds cold_rollups partitions whenever their cold_timeseries file changes.",
)
