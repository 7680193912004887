"""Vitals: building-automation telemetry on Dagster (see README.md and docs/).

Importing the library changes nothing global: processes that run Vitals (the Dagster
code location, the query API, the CLI) call :func:`vitals.arrow_memory.configure_arrow_memory`
at start-up.
"""
