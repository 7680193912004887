"""A deterministic, realistic full-load BMS site-day as a sample table (for benchmarks).

Points are named in ACE production style (client/site/ip/station/device/path or
BACnet objects, 40-100 characters) and behave like building points do: quantised
temperatures that drift, setpoints that step with occupancy, binaries with a few
transitions, dampers/valves, noisy kW meters with four decimals, kWh counters, and
stuck sensors. Each point reports 35-37.5 s past the minute (as ACE collects), with
optional per-sample millisecond jitter.
Everything is vectorised with Arrow compute (no numpy on this machine).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from vitals.samples import SAMPLE_SCHEMA


@dataclass(frozen=True)
class PointKind:
    """How one kind of point moves: level, daily swing, random-walk step, resolution."""

    suffix: str
    base: float
    swing: float
    step: float
    decimals: int
    binary: bool = False
    counter: bool = False
    stuck: bool = False
    lo: float = -1e12
    hi: float = 1e12


KINDS: tuple[tuple[PointKind, float], ...] = (
    (PointKind("points.ZN_T", 72.0, 1.5, 0.05, 1), 0.22),
    (PointKind("points.ZN_SP", 72.0, 2.0, 0.0, 1), 0.12),
    (PointKind("points.DA_T", 60.0, 3.0, 0.15, 1), 0.06),
    (PointKind("points.Exhaust_Damper", 35.0, 20.0, 0.8, 1, lo=0.0, hi=100.0), 0.10),
    (PointKind("points.HW_Valve_Pos", 25.0, 25.0, 1.2, 1, lo=0.0, hi=100.0), 0.06),
    (PointKind("points.Air_Flow", 450.0, 250.0, 12.0, 0, lo=0.0), 0.10),
    (PointKind("points.Fan_Status", 0.0, 0.0, 0.0, 0, binary=True), 0.14),
    (PointKind("points.Demand_kW", 40.0, 25.0, 1.5, 4), 0.05),
    (PointKind("points.Energy_kWh", 1000.0, 0.0, 0.0, 1, counter=True), 0.04),
    (PointKind("points.Static_Press", 1.0, 0.2, 0.01, 3, lo=0.0), 0.05),
    (PointKind("points.Space_RH", 45.0, 5.0, 0.1, 2), 0.05),
    (PointKind("points.Stuck_Sensor", 72.34567, 0.0, 0.0, 5, stuck=True), 0.01),
)
DEVICES = ("AHU", "VAV", "FCU", "RTU", "CHLR", "BLR", "MTR", "EF")
NETWORKS = ("LonNetwork1", "BacnetNetwork", "ModbusNetwork", "LonNetwork2")


@dataclass(frozen=True)
class DayPoint:
    name: str
    kind: PointKind
    phase_ms: int


def point_catalog(site: str, points: int, *, seed: int = 7) -> list[DayPoint]:
    """Deterministic point names (unique, 40-100 characters) and kinds for one site."""
    rng = random.Random(seed)
    city = site.split("_", 1)[-1].title().replace("_", "")
    weights = [share for _, share in KINDS]
    catalog: list[DayPoint] = []
    seen: set[str] = set()
    object_types = ("analogValue", "analogInput", "binaryValue", "multiStateValue")
    while len(catalog) < points:
        kind = rng.choices([k for k, _ in KINDS], weights)[0]
        if rng.random() < 0.25:  # BACnet object style, e.g. ses/site/2000:43-2043/analogValue/6
            device = rng.randint(1, 60)
            name = (
                f"ses/{site}/2000:{device}-{2000 + device}/{rng.choice(object_types)}/"
                f"{rng.randint(1, 400)}"
            )
        else:  # Niagara n4 style, e.g. .../n4/FallsCity_CMC/C.Drivers.LonNetwork1.AHU_2.points.X
            device = f"{rng.choice(DEVICES)}{rng.randint(1, 40)}"
            ip = f"192.168.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
            name = (
                f"ses/{site}/{ip}/n4/{city}_CMC/C.Drivers.{rng.choice(NETWORKS)}."
                f"{device}.{kind.suffix}"
            )
        if not 40 <= len(name) <= 100 or name in seen:
            continue
        seen.add(name)
        catalog.append(DayPoint(name, kind, 35_000 + rng.randrange(2_500)))
    return sorted(catalog, key=lambda p: p.name.encode())


def _per_row(values: list, point_of_row: pa.Array, type_: pa.DataType) -> pa.Array:
    """Repeat one value per point for each of its rows (point-major order)."""
    return pa.array(values, type_).take(point_of_row)


def full_load_day(
    site: str,
    day_start_ms: int,
    *,
    points: int = 4_600,
    per_point: int = 1_440,
    seed: int = 7,
    jitter_ms: int = 0,
) -> pa.Table:
    """One site-day, every point sampled each minute, sorted by (point_name, ts).

    Each point reports 35-37.5 s past its interval mark (as observed in production);
    ``jitter_ms`` adds per-sample collection jitter on top.
    """
    catalog = point_catalog(site, points, seed=seed)
    n = len(catalog) * per_point
    row = pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), n))
    row = pc.subtract(row, 1)
    point_of_row = pc.divide(row, per_point)
    minute = pc.subtract(row, pc.multiply(point_of_row, per_point))
    step_ms = 86_400_000 // per_point
    phases = [p.phase_ms % max(step_ms - jitter_ms, 1) for p in catalog]
    phase = _per_row(phases, point_of_row, pa.int64())
    jitter = pc.cast(
        pc.floor(pc.multiply(pc.random(n, initializer=seed), float(jitter_ms))), pa.int64()
    )
    ts = pc.add(pc.add(day_start_ms, pc.multiply(minute, step_ms)), pc.add(phase, jitter))
    angle = pc.multiply(pc.cast(minute, pa.float64()), 2 * math.pi / per_point)
    daily = pc.sin(pc.subtract(angle, 2.0))
    occupied = pc.and_(
        pc.greater_equal(minute, per_point * 7 // 24), pc.less(minute, per_point * 18 // 24)
    )
    noise = pc.subtract(pc.random(n, initializer=seed + 1), 0.5)

    def param(attr: str) -> pa.Array:
        return _per_row([float(getattr(p.kind, attr)) for p in catalog], point_of_row, pa.float64())

    step = param("step")
    walk = pc.cumulative_sum(pc.multiply(noise, step))
    start_idx = pc.multiply(point_of_row, per_point)
    walk = pc.subtract(walk, walk.take(start_idx))
    analog = pc.add(pc.add(param("base"), pc.multiply(param("swing"), daily)), walk)
    analog = pc.max_element_wise(pc.min_element_wise(analog, param("hi")), param("lo"))
    setpoint_like = pc.add(param("base"), pc.multiply(pc.cast(occupied, pa.float64()), -2.0))
    binary = pc.cast(pc.xor(occupied, pc.greater(walk, 10.0)), pa.float64())
    counter = pc.add(param("base"), pc.multiply(pc.cast(minute, pa.float64()), 0.4))
    is_binary = _per_row([p.kind.binary for p in catalog], point_of_row, pa.bool_())
    is_counter = _per_row([p.kind.counter for p in catalog], point_of_row, pa.bool_())
    flat = [
        p.kind.step == 0.0 and not (p.kind.binary or p.kind.counter or p.kind.stuck)
        for p in catalog
    ]
    is_setpoint = _per_row(flat, point_of_row, pa.bool_())
    is_stuck = _per_row([p.kind.stuck for p in catalog], point_of_row, pa.bool_())
    value = pc.if_else(is_binary, binary, analog)
    value = pc.if_else(is_counter, counter, value)
    value = pc.if_else(is_setpoint, setpoint_like, value)
    value = pc.if_else(is_stuck, param("base"), value)
    scale = _per_row([10.0**p.kind.decimals for p in catalog], point_of_row, pa.float64())
    rounded = pc.divide(pc.round(pc.multiply(value, scale)), scale)
    names = _per_row([p.name for p in catalog], point_of_row, pa.string())
    return pa.Table.from_arrays([names, ts, rounded], schema=SAMPLE_SCHEMA)
