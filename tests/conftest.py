"""Shared test set-up: a non-UTC local zone, an isolated data folder, real PostgreSQL,
and the rules for running the suite on several pytest-xdist workers (`bash scripts/test`)."""

from __future__ import annotations

import os
import time

os.environ["TZ"] = "America/Chicago"  # local-time bugs must show (CONVENTIONS.md)
time.tzset()

import pytest  # noqa: E402

# The heaviest modules (each one `dagster dev` or daemon run, minutes long), heaviest
# first: each one xdist group, scheduled before everything else (`--no-loadscope-reorder`
# keeps the scheduler to collection order: the first unit goes to worker 0, the second to
# worker 1, the third to whichever frees first), so the two heaviest run on different
# workers and none of them queues at the end of the run.
HEAVIEST_GROUPS = ("readme_ui_route", "backfill_daemon", "multi_host")

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.simulator",
    "tests.support.s3",
]


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets its own VITALS_DATA_DIR and no stray Vitals settings."""
    for name in list(os.environ):
        if name.startswith("VITALS_") or name in (
            "ACE_API_URL",
            "ACE_API_KEY",
            "HOT_STORAGE_DAYS",
            "ACE_REQUESTS_PER_MINUTE",
        ):
            monkeypatch.delenv(name, raising=False)
    data_dir = tmp_path / "vitals-data"
    data_dir.mkdir()
    monkeypatch.setenv("VITALS_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture(autouse=True)
def _forget_closed_dagster_instances():
    """Dagster keeps the entered instance's definitions-state storage in a context
    variable, and an entered instance's exit stack restores an older value whenever it
    is garbage-collected; a later `materialize` then trips on a dead instance. Collect
    now, then clear it, so no test inherits another's instance."""
    yield
    import gc

    from dagster._core.storage.defs_state import base

    gc.collect()
    base._current_storage.set(None)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serial",
        choices=("include", "skip", "only"),
        default="include",
        help="tests marked `serial` (they measure wall time): run them with the rest "
        "(default), skip them (the parallel pass) or run only them (the pass run alone)",
    )


def _group_names(item: pytest.Item) -> set[str]:
    return {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Select the serial pass, and order the modules for `--dist loadfile`."""
    mode = config.getoption("serial")
    if mode != "include":
        wanted = mode == "only"
        keep = [i for i in items if (i.get_closest_marker("serial") is not None) == wanted]
        dropped = [i for i in items if (i.get_closest_marker("serial") is not None) != wanted]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    if not hasattr(config, "workerinput"):  # only xdist workers schedule
        return
    # `--dist loadfile` keeps each module on one worker (its module fixtures are built
    # once); with `--no-loadscope-reorder` modules go out in this order, so the heaviest
    # start first, on different workers. (pytest-xdist 3.8's `loadgroup` does not group
    # under pytest 9: checked with a marked module, its tests went to both workers.)

    def rank(item: pytest.Item) -> int:
        groups = _group_names(item)
        ranks = [HEAVIEST_GROUPS.index(g) for g in groups if g in HEAVIEST_GROUPS]
        return min(ranks, default=len(HEAVIEST_GROUPS))

    items.sort(key=rank)  # stable: every other test keeps its collection order
