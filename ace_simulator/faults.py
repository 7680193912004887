"""Switchable faults: what a misbehaving ACE API does, on demand and repeatably.

A fault spec is text (``rate_limit:every=5:retry_after=1,bad_values:p=0.02,shuffle``)
or the equivalent JSON object (``{"rate_limit": {"every": 5, "retry_after": 1}}``).
Request faults fire by trigger: ``count=K`` (the next K requests, then off),
``every=N`` (every Nth request), ``p=0.1`` (seeded random draw, so a given request
sequence always fails the same way), or always when no trigger is given.

Faults and their parameters:
- ``rate_limit``: 429 with ``Retry-After`` (``retry_after`` seconds, default 1). Default every=10.
- ``server_error``: a transient 5xx (``status``, default 503). Default count=3.
- ``outage``: every API request answers 5xx (``status``, default 503) until cleared.
- ``slow``: sample responses wait ``delay`` seconds (default 2) before answering.
- ``drop``: send headers and ``fraction`` (default 0.5) of a sample body, then close. Default count=1.
- ``malformed``: 200 with a broken JSON body. Default count=1.
- ``bad_values``: a share ``p`` (default 0.01) of values become null/"NaN"/"inf"/"n/a".
- ``duplicates``: a share ``p`` (default 0.01) of samples appear twice in their page.
- ``shuffle``: samples inside each page are served out of time order.
- ``case_twin``: an extra point whose name differs from another only in case.
``slow``, ``drop`` and ``malformed`` hit sample endpoints only unless ``scope=all``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any

REQUEST_FAULTS = ("outage", "rate_limit", "server_error", "slow", "drop", "malformed")
SAMPLE_FAULTS = ("bad_values", "duplicates", "shuffle", "case_twin")
KNOWN = REQUEST_FAULTS + SAMPLE_FAULTS
DEFAULT_TRIGGER = {
    "rate_limit": {"every": 10},
    "server_error": {"count": 3},
    "drop": {"count": 1},
    "malformed": {"count": 1},
}
PARAMS = {
    "outage": {"status"},
    "rate_limit": {"retry_after"},
    "server_error": {"status"},
    "slow": {"delay", "scope"},
    "drop": {"fraction", "scope"},
    "malformed": {"scope"},
    "bad_values": {"p"},
    "duplicates": {"p"},
    "shuffle": set(),
    "case_twin": set(),
}
TRIGGERS = {"count", "every", "p"}


class FaultSpecError(ValueError):
    """A fault spec that names an unknown fault or parameter, or a bad value."""


@dataclass
class Fault:
    """One active fault with its parameters and its trigger state."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    seen: int = 0  # requests considered so far
    fired: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def fires(self) -> bool:
        """Advance the trigger by one request; True when this request gets the fault."""
        self.seen += 1
        if "count" in self.params:
            hit = self.fired < int(self.params["count"])
        elif "every" in self.params:
            hit = self.seen % int(self.params["every"]) == 0
        elif "p" in self.params and self.name in REQUEST_FAULTS:
            hit = self.rng.random() < float(self.params["p"])
        else:
            hit = True
        self.fired += hit
        return hit


def _coerce(name: str, key: str, raw: Any) -> Any:
    if key == "scope":
        if raw not in ("samples", "all"):
            raise FaultSpecError(f"fault {name!r}: scope {raw!r} must be 'samples' or 'all'")
        return raw
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise FaultSpecError(f"fault {name!r}: {key}={raw} is not a number") from None
    if key in ("count", "every", "status") and value != int(value):
        raise FaultSpecError(f"fault {name!r}: {key}={raw} must be a whole number")
    if key == "every" and value < 1:
        raise FaultSpecError(f"fault {name!r}: every={raw} must be 1 or more")
    if key in ("count", "delay", "retry_after") and value < 0:
        raise FaultSpecError(f"fault {name!r}: {key}={raw} must not be negative")
    if key in ("p", "fraction") and not 0 <= value <= 1:
        raise FaultSpecError(f"fault {name!r}: {key}={raw} must be between 0 and 1")
    if key == "status" and not 500 <= value <= 599:
        raise FaultSpecError(f"fault {name!r}: status={raw} must be a 5xx code")
    return int(value) if key in ("count", "every", "status") else value


def parse_faults(spec: str | dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Validate a text or JSON fault spec into ``{name: params}``."""
    if spec is None or spec == "":
        return {}
    if isinstance(spec, str):
        parsed: dict[str, dict[str, Any]] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, *pairs = item.split(":")
            params: dict[str, Any] = {}
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep:
                    raise FaultSpecError(
                        f"fault {name!r}: parameter {pair!r} must look like key=value"
                    )
                params[key.strip()] = value.strip()
            parsed[name.strip()] = params
        spec = parsed
    if not isinstance(spec, dict):
        raise FaultSpecError(f"fault spec {spec!r} must be a string or an object")
    out: dict[str, dict[str, Any]] = {}
    for name, params in spec.items():
        if name not in KNOWN:
            raise FaultSpecError(f"unknown fault {name!r}; known faults: {', '.join(KNOWN)}")
        params = params or {}
        if not isinstance(params, dict):
            raise FaultSpecError(f"fault {name!r}: parameters {params!r} must be an object")
        allowed = PARAMS[name] | (TRIGGERS if name in REQUEST_FAULTS else set())
        for key in params:
            if key not in allowed:
                raise FaultSpecError(
                    f"fault {name!r} has no parameter {key!r}; allowed: {sorted(allowed)}"
                )
        if name in REQUEST_FAULTS and not TRIGGERS & set(params):
            params = {**DEFAULT_TRIGGER.get(name, {}), **params}
        out[name] = {key: _coerce(name, key, value) for key, value in params.items()}
    return out


@dataclass(frozen=True)
class RequestFaults:
    """What the faults decided for one request."""

    status: int | None = None  # answer with this error status instead
    retry_after: float | None = None
    delay: float = 0.0
    drop_fraction: float | None = None
    malformed: bool = False
    bad_value_p: float = 0.0
    duplicate_p: float = 0.0
    shuffle: bool = False
    case_twin: bool = False
    seed: int = 0
    fired: tuple[str, ...] = ()


class FaultState:
    """The active faults, shared by all server threads (every decision under one lock)."""

    def __init__(self, spec: str | dict[str, Any] | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._requests = 0
        self._faults: dict[str, Fault] = {}
        self.set(spec)

    def set(self, spec: str | dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Replace the active faults (an empty spec clears them); counters start afresh."""
        parsed = parse_faults(spec)
        with self._lock:
            self._faults = {
                name: Fault(name, params, rng=random.Random(f"{self._seed}:{name}"))
                for name, params in parsed.items()
            }
        return parsed

    def describe(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: {**f.params, "fired": f.fired} for name, f in self._faults.items()}

    def case_twin(self) -> bool:
        with self._lock:
            return "case_twin" in self._faults

    def decide(self, *, samples: bool) -> RequestFaults:
        """Draw the faults for one authenticated API request (``samples``: a sample endpoint)."""
        with self._lock:
            self._requests += 1
            decision = RequestFaults(seed=self._seed * 1_000_003 + self._requests)
            fired: list[str] = []
            for name in ("outage", "rate_limit", "server_error"):
                fault = self._faults.get(name)
                if fault and fault.fires():
                    fired.append(name)
                    status = 429 if name == "rate_limit" else int(fault.params.get("status", 503))
                    retry = (
                        float(fault.params.get("retry_after", 1)) if name == "rate_limit" else None
                    )
                    return replace(decision, status=status, retry_after=retry, fired=tuple(fired))
            for name in ("slow", "drop", "malformed"):
                fault = self._faults.get(name)
                if not fault or not (samples or fault.params.get("scope") == "all"):
                    continue
                if fault.fires():
                    fired.append(name)
                    if name == "slow":
                        decision = replace(decision, delay=float(fault.params.get("delay", 2.0)))
                    elif name == "drop":
                        decision = replace(
                            decision, drop_fraction=float(fault.params.get("fraction", 0.5))
                        )
                    else:
                        decision = replace(decision, malformed=True)
            bad = self._faults.get("bad_values")
            dup = self._faults.get("duplicates")
            return replace(
                decision,
                bad_value_p=float(bad.params.get("p", 0.01)) if bad else 0.0,
                duplicate_p=float(dup.params.get("p", 0.01)) if dup else 0.0,
                shuffle="shuffle" in self._faults,
                case_twin="case_twin" in self._faults,
                fired=tuple(fired),
            )
