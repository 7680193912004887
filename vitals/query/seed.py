"""The last sample before a window, wherever it lives: an earlier day file or either tier.

Gap fill and time-weighted aggregates need the value in force when the window opens.
It is read through the engine's own two-tier read (hot wins, every day file of the
range), over ``[start - lookback, start)``: first one day, then, for points still
without a value, up to ``max_lookback_ms`` (default 7 days, or the request's
``max_gap_ms`` when that is shorter: a seed older than the gap could not fill anyway).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from vitals.query.plan import QueryPlan
from vitals.samples import MS_PER_DAY

if TYPE_CHECKING:
    from vitals.query.engine import QueryEngine, ReadStats

DEFAULT_SEED_LOOKBACK_MS = 7 * MS_PER_DAY


def last_before(
    engine: QueryEngine,
    plan: QueryPlan,
    stats: ReadStats,
    *,
    max_lookback_ms: int = DEFAULT_SEED_LOOKBACK_MS,
) -> dict[str, tuple[int, float]]:
    """Point -> (ts, value) of its last sample before ``plan.start_ms`` (absent: none found)."""
    longest = min(max_lookback_ms, plan.max_gap_ms or max_lookback_ms)
    found: dict[str, tuple[int, float]] = {}
    wanted = list(plan.points)
    for lookback in sorted({min(MS_PER_DAY, longest), longest}):
        if not wanted:
            break
        window = replace(
            plan, points=tuple(wanted), start_ms=plan.start_ms - lookback, end_ms=plan.start_ms
        )
        for name, rows in engine.read_raw(window, stats).items():
            if len(rows):
                found[name] = (int(rows.ts[-1].as_py()), float(rows.value[-1].as_py()))
        wanted = [name for name in wanted if name not in found]
    return found
