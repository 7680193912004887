"""The simulated building: sites and their points, named in the styles seen in production.

A site's catalogue is a pure function of (seed, site index, point count, interval), so
every run (and every test) sees the same names, intervals, phases and signal shapes.
Equipment is allocated in fixed shares (AHUs, VAVs, plant, meters, weather) so a small
test site still holds every kind of point: analogs, setpoints, binaries, counters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

CLIENT = "acme"
SITE_NAMES = ("acme_hq", "acme_plant", "acme_annex", "acme_lab", "acme_depot")
DEFAULT_INTERVALS = ((300, 0.88), (60, 0.05), (30, 0.02), (600, 0.05))
NOT_CONFIGURED_SHARE = 0.015  # points listed in /points but not collect-enabled
STUCK_SHARE = 0.01
GAPPY_SHARE = 0.03
ID_STRIDE = 10_000_000  # point ids of site n are n * ID_STRIDE + 1 ...


@dataclass(frozen=True)
class Kind:
    """How one kind of sensor behaves: level, daily swing, occupied offset, noise, resolution."""

    unit: str | None
    decimals: int
    base: float
    amp: float = 0.0
    occ: float = 0.0
    noise: float = 0.0
    lo: float = -1e12
    hi: float = 1e12
    binary: bool = False
    on_occ: float = 0.0
    on_unocc: float = 0.0
    counter: bool = False


KINDS: dict[str, Kind] = {
    "zone_temp": Kind("degreesFahrenheit", 1, 72.0, 1.5, -1.0, 0.3),
    "cool_sp": Kind("degreesFahrenheit", 1, 78.0, occ=-4.0),
    "heat_sp": Kind("degreesFahrenheit", 1, 64.0, occ=6.0),
    "sat": Kind("degreesFahrenheit", 1, 60.0, 3.0, -5.0, 0.5),
    "sat_sp": Kind("degreesFahrenheit", 1, 55.0),
    "rat": Kind("degreesFahrenheit", 1, 73.0, 1.5, 0.0, 0.3),
    "mat": Kind("degreesFahrenheit", 1, 63.0, 6.0, 0.0, 0.6),
    "dat": Kind("degreesFahrenheit", 1, 62.0, 4.0, -3.0, 0.5),
    "oat": Kind("degreesFahrenheit", 2, 58.0, 11.0, 0.0, 0.4),
    "damper": Kind("percent", 1, 35.0, 20.0, 15.0, 5.0, 0.0, 100.0),
    "valve": Kind("percent", 1, 25.0, 25.0, 10.0, 6.0, 0.0, 100.0),
    "flow": Kind("cubicFeetPerMinute", 0, 450.0, 250.0, 200.0, 40.0, 0.0),
    "flow_sp": Kind("cubicFeetPerMinute", 0, 300.0, occ=300.0),
    "static": Kind("inchesOfWater", 3, 0.9, 0.2, 0.4, 0.05, 0.0),
    "static_sp": Kind("inchesOfWater", 2, 1.25),
    "speed": Kind("percent", 1, 20.0, 15.0, 45.0, 3.0, 0.0, 100.0),
    "kw": Kind("kilowatts", 4, 8.0, 12.0, 25.0, 3.0),
    "net_kw": Kind("kilowatts", 4, -5.0, 30.0, 40.0, 6.0),
    "kwh": Kind("kilowattHours", 1, 18.0, counter=True),
    "volts": Kind("volts", 1, 480.0, 3.0, 0.0, 1.5),
    "pf": Kind(None, 3, 0.92, 0.03, 0.0, 0.01, 0.0, 1.0),
    "humidity": Kind("percentRelativeHumidity", 1, 48.0, 12.0, 0.0, 1.5, 0.0, 100.0),
    "pressure": Kind("hectopascals", 1, 1013.0, 3.0, 0.0, 0.5),
    "wind": Kind("milesPerHour", 2, 8.0, 4.0, 0.0, 3.0, 0.0),
    "wind_deg": Kind("degreesAngular", 0, 200.0, 60.0, 0.0, 40.0, 0.0, 359.0),
    "clouds": Kind("percent", 0, 40.0, 30.0, 0.0, 10.0, 0.0, 100.0),
    "chw_temp": Kind("degreesFahrenheit", 2, 44.5, 1.0, -1.0, 0.2),
    "cw_temp": Kind("degreesFahrenheit", 2, 82.0, 4.0, 3.0, 0.5),
    "hw_temp": Kind("degreesFahrenheit", 1, 160.0, 10.0, 8.0, 1.0),
    "dp": Kind("poundsForcePerSquareInch", 2, 12.0, 2.0, 4.0, 0.4, 0.0),
    "mode": Kind(None, 0, 1.0, occ=1.0),
    "status": Kind(None, 0, 0.0, binary=True, on_occ=0.97, on_unocc=0.08),
    "occupancy": Kind(None, 0, 0.0, binary=True, on_occ=0.65, on_unocc=0.04),
    "alarm": Kind(None, 0, 0.0, binary=True, on_occ=0.01, on_unocc=0.01),
}

# (suffix or BACnet object, kind) per piece of equipment.
AHU_POINTS = (
    ("SupplyAirTemp", "sat"),
    ("SupplyAirTempSP", "sat_sp"),
    ("ReturnAirTemp", "rat"),
    ("MixedAirTemp", "mat"),
    ("OutsideAirTemp", "oat"),
    ("Exhaust_Damper", "damper"),
    ("OutsideAir_Damper", "damper"),
    ("Return_Damper", "damper"),
    ("CoolingValve", "valve"),
    ("HeatingValve", "valve"),
    ("SupplyFanStatus", "status"),
    ("SupplyFanCmd", "status"),
    ("SupplyFanSpeed", "speed"),
    ("SupplyFan_kW", "kw"),
    ("ReturnFanStatus", "status"),
    ("ReturnFanSpeed", "speed"),
    ("DuctStaticPressure", "static"),
    ("DuctStaticSP", "static_sp"),
    ("SupplyAirFlow", "flow"),
    ("ReturnAirHumidity", "humidity"),
    ("FilterAlarm", "alarm"),
    ("FreezeStat", "alarm"),
    ("OccupiedMode", "mode"),
    ("EconEnable", "status"),
)
VAV_POINTS = (
    ("analogInput", "zone_temp"),
    ("analogValue", "cool_sp"),
    ("analogValue", "heat_sp"),
    ("analogOutput", "damper"),
    ("analogInput", "flow"),
    ("analogValue", "flow_sp"),
    ("analogOutput", "valve"),
    ("analogInput", "dat"),
    ("binaryValue", "occupancy"),
    ("multiStateValue", "mode"),
    ("binaryInput", "alarm"),
)
VAV_LEAVES = {
    "zone_temp": "ZoneTemp",
    "cool_sp": "CoolingSP",
    "heat_sp": "HeatingSP",
    "damper": "Damper",
    "flow": "Airflow",
    "flow_sp": "AirflowSP",
    "valve": "ReheatValve",
    "dat": "DischargeTemp",
    "occupancy": "Occupied",
    "mode": "Mode",
    "alarm": "Alarm",
}
PLANT_POINTS = (
    ("analogInput", "chw_temp"),
    ("analogInput", "chw_temp"),
    ("analogValue", "chw_temp"),
    ("analogInput", "cw_temp"),
    ("analogInput", "cw_temp"),
    ("analogInput", "kw"),
    ("analogInput", "dp"),
    ("binaryInput", "status"),
    ("binaryValue", "status"),
    ("analogOutput", "valve"),
    ("analogInput", "hw_temp"),
    ("analogInput", "hw_temp"),
    ("analogValue", "hw_temp"),
    ("binaryInput", "alarm"),
    ("analogOutput", "speed"),
)
METER_POINTS = (
    ("kW", "net_kw"),
    ("kWh", "kwh"),
    ("VoltsAN", "volts"),
    ("VoltsBN", "volts"),
    ("VoltsCN", "volts"),
    ("PowerFactor", "pf"),
    ("kW_Demand", "kw"),
    ("kVAR", "kw"),
)
WEATHER_POINTS = (
    ("temp", "oat"),
    ("feels_like", "oat"),
    ("humidity", "humidity"),
    ("pressure", "pressure"),
    ("dew_point", "oat"),
    ("wet_bulb", "oat"),
    ("wind_speed", "wind"),
    ("wind_deg", "wind_deg"),
    ("clouds", "clouds"),
)
SHARES = (("ahu", 0.16), ("plant", 0.10), ("meter", 0.06), ("vav", 1.0))


@dataclass(frozen=True)
class SimPoint:
    """One simulated point: its identity, collection settings and signal parameters."""

    index: int
    point_id: int
    name: str
    kind: str
    object_type: str
    device: str
    interval_s: int
    phase_us: int
    collect_enabled: bool
    exported: bool  # appears in the paginated export (some non-configured points leak in)
    stuck: bool
    gappy: bool
    binary_style: str  # "01" or "tf" for binaries, "" otherwise
    key: int  # 63-bit per-point hash key
    created: str
    updated: str
    case_twin: bool = False  # the extra point that differs from another only in case


@dataclass(frozen=True)
class SimSite:
    """One simulated site and its points (the case twin, if any, is the last point)."""

    index: int
    site_id: int
    name: str
    key: int
    points: tuple[SimPoint, ...] = field(repr=False)


def site_names(count: int) -> list[str]:
    """Names for ``count`` sites: realistic first, numbered after that."""
    if count < 1:
        raise ValueError(f"site count {count} must be at least 1")
    names = list(SITE_NAMES[:count])
    names += [f"{CLIENT}_site{n}" for n in range(len(names) + 1, count + 1)]
    return names


def _iso(rng: random.Random, start_s: int, span_s: int) -> str:
    """A naive UTC ISO time with microseconds somewhere in ``[start_s, start_s + span_s)``."""
    ts = start_s + rng.randrange(span_s)
    micros = rng.randrange(1_000_000)
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}"


def _phase_us(rng: random.Random, interval_s: int) -> int:
    """Seconds past the interval mark: 35-37 s like production, else anywhere."""
    if interval_s >= 60:
        return (35_000_000 + rng.randrange(2_500_000)) % (interval_s * 1_000_000)
    return rng.randrange(interval_s * 1_000_000)


def _equipment(
    site: str, station: str, rng: random.Random, count: int
) -> list[tuple[str, str, str, str]]:
    """(name, kind, object_type, device) for ``count`` points, equipment in fixed shares."""
    prefix = f"{CLIENT}/{site}"
    out: list[tuple[str, str, str, str]] = []
    for suffix, kind in WEATHER_POINTS:
        out.append((f"{prefix}/weather/{suffix}", kind, "weather", "weather"))
    budget = max(0, count - len(out))
    niagara_ip = f"192.168.96.{3 + rng.randrange(4)}"
    for family, share in SHARES:
        target = len(out) + (budget if family == "vav" else int(budget * share))
        target = min(target, count)
        unit = 1
        while len(out) < target:
            if family == "ahu":
                device = f"{niagara_ip}/n4/{station}"
                for suffix, kind in AHU_POINTS:
                    name = f"{prefix}/{device}/C.Drivers.LonNetwork1.AHU{unit}.points.{suffix}"
                    out.append((name, kind, "niagara", device))
            elif family == "plant":
                label = "chiller" if unit % 3 else "boiler"
                device = f"10.0.20.{20 + unit}-{3000 + unit}"
                for i, (obj, kind) in enumerate(PLANT_POINTS):
                    if (label == "chiller" and kind == "hw_temp") or (
                        label == "boiler" and kind in ("chw_temp", "cw_temp")
                    ):
                        continue
                    out.append((f"{prefix}/{device}/{obj}/{i + 1}", kind, obj, device))
            elif family == "meter":
                device = f"{niagara_ip}/n4/{station}"
                for suffix, kind in METER_POINTS:
                    name = f"{prefix}/{device}/S.{station}.Meters.MainMeter{unit}.{suffix}"
                    out.append((name, kind, "niagara", device))
            elif unit % 4 == 0:  # every fourth VAV is on the Niagara station
                device = f"{niagara_ip}/n4/{station}"
                for _obj, kind in VAV_POINTS:
                    name = f"{prefix}/{device}/S.{station}.Vav{400 + unit}.{VAV_LEAVES[kind]}"
                    out.append((name, kind, "niagara", device))
            else:
                network = 2000 + 100 * ((unit - 1) // 120)
                mac = 1 + (unit - 1) % 120
                device = f"{network}:{mac}-{network + mac}"
                seen: dict[str, int] = {}
                for obj, kind in VAV_POINTS:
                    seen[obj] = seen.get(obj, 0) + 1
                    out.append((f"{prefix}/{device}/{obj}/{seen[obj]}", kind, obj, device))
            unit += 1
        del out[target:]
    return out[:count]


def _case_twin_name(points: list[SimPoint]) -> tuple[int, str]:
    """The first Niagara point whose name changes under upper-casing, and its twin name."""
    for point in points:
        if point.object_type == "niagara" and point.name != point.name.upper():
            head, leaf = point.name.rsplit("/", 1)
            return point.index, f"{head}/{leaf.upper()}"
    point = points[0]
    return point.index, point.name.upper()


def build_site(index: int, name: str, *, seed: int, points: int, interval: int | None) -> SimSite:
    """Build one site's catalogue deterministically from the seed."""
    if points < 1:
        raise ValueError(f"point count {points} must be at least 1")
    rng = random.Random(f"{seed}:{index}:{name}")
    site_key = rng.getrandbits(63)
    station = "".join(part.capitalize() for part in name.split("_")) + "_CMC"
    specs = _equipment(name, station, rng, points)
    values = [v for v, _ in DEFAULT_INTERVALS]
    weights = [w for _, w in DEFAULT_INTERVALS]
    created_from = 1_704_067_200  # 2024-01-01
    # a few points are listed but not collect-enabled; about half of those still leak
    # into the export (at least one of each whenever the site has 3+ points)
    unconfigured_count = max(2, round(len(specs) * NOT_CONFIGURED_SHARE)) if len(specs) >= 3 else 0
    unconfigured = (
        rng.sample(range(1, len(specs)), unconfigured_count) if unconfigured_count else []
    )
    leaky = set(unconfigured[: (unconfigured_count + 1) // 2])
    not_configured = set(unconfigured)
    id_base = ID_STRIDE * (index + 1)
    sim_points: list[SimPoint] = []
    for i, (pname, kind, obj, device) in enumerate(specs):
        if interval is not None:
            every = interval
        elif obj == "weather":
            every = 600
        else:
            every = rng.choices(values, weights)[0]
        configured = i not in not_configured
        is_binary = KINDS[kind].binary
        sim_points.append(
            SimPoint(
                index=i,
                point_id=id_base + i + 1,
                name=pname,
                kind=kind,
                object_type=obj,
                device=device,
                interval_s=every,
                phase_us=_phase_us(rng, every),
                collect_enabled=configured,
                exported=configured or i in leaky,
                stuck=(not is_binary) and rng.random() < STUCK_SHARE,
                gappy=rng.random() < GAPPY_SHARE,
                binary_style=(rng.choice(("01", "tf")) if is_binary else ""),
                key=rng.getrandbits(63),
                created=_iso(rng, created_from, 365 * 86_400),
                updated=_iso(rng, created_from + 400 * 86_400, 250 * 86_400),
            )
        )
    twin_of, twin_name = _case_twin_name(sim_points)
    sim_points.append(
        replace(
            sim_points[twin_of],
            index=len(sim_points),
            point_id=id_base + ID_STRIDE - 1,
            name=twin_name,
            key=rng.getrandbits(63),
            collect_enabled=True,
            exported=True,
            case_twin=True,
        )
    )
    return SimSite(
        index=index, site_id=index + 1, name=name, key=site_key, points=tuple(sim_points)
    )
