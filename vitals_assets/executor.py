"""Where a run's steps execute: in the run's own process, or on Celery workers.

In-process is the default: a run's steps form one chain over a site-day, so one process
per run keeps the overhead of rate-limited backfills small. With ``VITALS_CELERY_BROKER``
set, each step is sent to the Celery queue ``VITALS_CELERY_QUEUE`` and runs on whichever
worker host takes it (``dagster-celery worker start``, see docs/deploy.md). The broker
and result-backend URLs can carry passwords, so they are bound as ``{"env": ...}``: the
run's snapshot names the variables, never their values.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from vitals.config import Settings

BROKER_ENV = "VITALS_CELERY_BROKER"
BACKEND_ENV = "VITALS_CELERY_BACKEND"

# Worker-side settings the executor's app shares with deploy/celery.yaml: a step whose
# worker dies (host lost, SIGKILL) is not acknowledged, so the broker gives it to another
# worker; one step at a time per worker process, as the rate-limited steps are long.
CELERY_APP_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


def celery_executor_config(settings: Settings) -> dict[str, Any]:
    """The ``celery_executor`` config: URLs by variable name, the queue by value."""
    return {
        "broker": {"env": BROKER_ENV},
        "backend": {"env": BACKEND_ENV} if settings.celery_backend else "rpc://",
        "config_source": {**CELERY_APP_SETTINGS, "task_default_queue": settings.celery_queue},
    }


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The Celery executor when a broker is configured, else the in-process one."""
    if not settings.celery_broker:
        return dg.in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(settings), name="celery")
