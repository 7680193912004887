"""Vitals: building-automation telemetry on Dagster (see README.md and docs/)."""

from vitals.arrow_memory import configure_arrow_memory

configure_arrow_memory()
