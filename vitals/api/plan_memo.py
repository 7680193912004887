"""Plans of repeated requests, kept while the stores say nothing they read has changed.

A cache hit must still be planned (its key holds the stored names the request resolves
to), and planning was most of a hit's CPU: name checks, resolution, history modes, the
bucket arithmetic (~0.2 ms of ~0.25 ms in process). A dashboard asks the same requests
over and over, so the plan of a parsed request is kept beside the engine's
:meth:`~vitals.query.engine.QueryEngine.plan_version` at the time: the hot store's
catalogue token and the site facts' epoch. Equal version, equal plan. With a store that
cannot tell (``None``) nothing is kept, and refusals are never kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from vitals.api.params import ParsedRequest
from vitals.query.plan import QueryPlan

MAX_PLANS = 4096  # a plan is ~1 kB; dashboards repeat far fewer requests than this


class PlanMemo:
    """Parsed request -> (plan, version), least recently used dropped beyond ``max_plans``."""

    def __init__(self, max_plans: int = MAX_PLANS) -> None:
        self.max_plans = max_plans
        self._plans: OrderedDict[ParsedRequest, tuple[QueryPlan, Hashable]] = OrderedDict()
        self._lock = threading.Lock()
        self.reused = 0

    def plan(
        self,
        query: ParsedRequest,
        version: Hashable | None,
        make: Callable[[], QueryPlan],
    ) -> QueryPlan:
        """The kept plan of ``query`` if made at ``version``, else ``make()`` (kept if it plans)."""
        if version is None:
            return make()
        with self._lock:
            held = self._plans.get(query)
            if held is not None and held[1] == version:
                self._plans.move_to_end(query)
                self.reused += 1
                return held[0]
        plan = make()  # a refusal raises here: nothing is kept
        with self._lock:
            self._plans[query] = (plan, version)
            self._plans.move_to_end(query)
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
        return plan
