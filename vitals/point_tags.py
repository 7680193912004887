"""What a point's ACE tags say: unit, kind, equipment, history mode, plausible range.

ACE point records carry ``kv_tags`` (string -> string), ``marker_tags`` (strings) and,
for BACnet points, ``bacnet_data.object_units`` (docs: ``../shared/ACE_API.md`` 6.2-6.3).
These rules turn them into the few facts the query layer and the quality report use.
Pure functions: no store, no I/O.

History modes (Project Haystack ``hisMode``): ``sampled`` (a polled analog: samples are
averaged), ``cov`` (change of value: a value holds until the next one, so means are
time-weighted), ``binary`` (on/off: time in state and starts), ``consumption`` (a
totaliser: deltas, resets handled). Resolution order: configuration, tags, the data
(:func:`infer_mode`), else ``sampled``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

HISTORY_MODES = ("sampled", "cov", "binary", "consumption")

# BACnet engineering-unit names and Haystack symbols -> one canonical symbol.
_UNIT_ALIASES: dict[str, str] = {
    "degreesfahrenheit": "°F",
    "°f": "°F",
    "degf": "°F",
    "fahrenheit": "°F",
    "f": "°F",
    "degreescelsius": "°C",
    "°c": "°C",
    "degc": "°C",
    "celsius": "°C",
    "c": "°C",
    "percent": "%",
    "%": "%",
    "percentrelativehumidity": "%RH",
    "%rh": "%RH",
    "kilowatts": "kW",
    "kw": "kW",
    "kilowatthours": "kWh",
    "kwh": "kWh",
    "megawatthours": "MWh",
    "mwh": "MWh",
    "cubicfeetperminute": "cfm",
    "cfm": "cfm",
    "inchesofwater": "inH₂O",
    "inh2o": "inH₂O",
    "inh₂o": "inH₂O",
    "volts": "V",
    "v": "V",
    "hectopascals": "hPa",
    "hpa": "hPa",
    "milesperhour": "mph",
    "mph": "mph",
    "degreesangular": "°",
    "°": "°",
    "deg": "°",
    "poundsforcepersquareinch": "psi",
    "psi": "psi",
    "cubicmeters": "m³",
    "m³": "m³",
    "usgallons": "gal",
    "gal": "gal",
    "therms": "thm",
    "thm": "thm",
}
# Totaliser units: a point in one of these is a consumption register unless tagged otherwise.
CUMULATIVE_UNITS = frozenset({"kWh", "MWh", "m³", "gal", "thm"})
TEMPERATURE_UNITS = frozenset({"°F", "°C"})
# Values outside these are physically implausible for building equipment.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "°F": (-60.0, 250.0),
    "°C": (-50.0, 120.0),
    "%": (0.0, 100.0),
    "%RH": (0.0, 100.0),
    "cfm": (0.0, 200_000.0),
    "inH₂O": (-10.0, 20.0),
    "V": (0.0, 1_000.0),
    "hPa": (850.0, 1_100.0),
    "mph": (0.0, 200.0),
    "°": (0.0, 360.0),
    "psi": (-15.0, 1_000.0),
    "kWh": (0.0, 1e12),
    "MWh": (0.0, 1e9),
}
_EQUIP_MARKERS = ("ahu", "vav", "rtu", "fcu", "chiller", "boiler", "meter", "plant", "weather")
_MODE_TAG_VALUES = {
    "sampled": "sampled",
    "cov": "cov",
    "consumption": "consumption",
    "totalized": "consumption",
    "totalised": "consumption",
    "binary": "binary",
}


def canonical_unit(raw: object) -> str | None:
    """One symbol for a unit however ACE spells it; unknown units stay as given."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    return _UNIT_ALIASES.get(text.lower().replace(" ", "").replace("_", ""), text)


@dataclass(frozen=True)
class PointTags:
    """A point's tags as ACE lists them."""

    marker_tags: tuple[str, ...] = ()
    kv_tags: Mapping[str, str] | None = None
    object_units: str | None = None

    @cached_property
    def markers(self) -> frozenset[str]:
        """Marker tags, lower-cased."""
        return frozenset(m.lower() for m in self.marker_tags)

    @cached_property
    def _kv_by_lower_key(self) -> dict[str, str]:
        # built once per point: every chart plan asks each of its points' history mode
        return {k.lower(): v for k, v in (self.kv_tags or {}).items()}

    def kv(self, *names: str) -> str | None:
        """The first kv tag present among ``names`` (case-insensitive keys)."""
        tags = self._kv_by_lower_key
        for name in names:
            value = tags.get(name.lower())
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    @property
    def unit(self) -> str | None:
        """``unit`` kv tag, else BACnet ``object_units``, canonical."""
        return canonical_unit(self.kv("unit", "units") or self.object_units)

    @property
    def kind(self) -> str | None:
        """What the point measures: ``kind`` kv tag, else a Haystack point marker."""
        found = self.kv("kind", "pointKind")
        if found:
            return found
        for marker in ("sensor", "sp", "cmd"):
            if marker in self.markers:
                return marker
        return None

    @property
    def equipment(self) -> str | None:
        """``equip``/``equipRef``/``equipment`` kv tag, else an equipment marker."""
        found = self.kv("equip", "equipRef", "equipment")
        if found:
            return found
        return next((m for m in _EQUIP_MARKERS if m in self.markers), None)

    def history_mode(self) -> str | None:
        """The mode the tags state, or ``None`` when they state none.

        ``hisMode`` kv tag (sampled, cov, consumption, totalized); a ``Bool`` kind or a
        ``binary``/``bool`` marker is binary; ``totalizer``/``consumption`` markers are
        consumption; a ``cov`` marker is cov.
        """
        tagged = self.kv("hisMode", "history_mode")
        if tagged and tagged.lower() in _MODE_TAG_VALUES:
            return _MODE_TAG_VALUES[tagged.lower()]
        markers = self.markers
        if (self.kv("kind") or "").lower() == "bool" or markers & {"binary", "bool"}:
            return "binary"
        if markers & {"totalizer", "totaliser", "consumption", "totalized"}:
            return "consumption"
        if "cov" in markers:
            return "cov"
        return None


def infer_mode(
    values: Sequence[float],
    gaps_ms: Sequence[int],
    unit: str | None,
    interval_s: int | None,
) -> str:
    """History mode from a day of data (the stated rules, in order).

    1. binary: at least 2 samples and every value is 0 or 1;
    2. consumption: a cumulative unit (kWh, MWh, m³, gal, therms) and at most 1 % of steps
       going down (resets);
    3. cov: gaps between samples are irregular (max gap over 4x the median gap) and the
       median gap is over twice the configured interval;
    4. else sampled.
    """
    if len(values) >= 2 and all(v in (0.0, 1.0) for v in values):
        return "binary"
    if unit in CUMULATIVE_UNITS and len(values) >= 2:
        downs = sum(1 for a, b in itertools.pairwise(values) if b < a)
        if downs <= 0.01 * (len(values) - 1):
            return "consumption"
    if len(gaps_ms) >= 3 and interval_s:
        ordered = sorted(gaps_ms)
        median = ordered[len(ordered) // 2]
        if ordered[-1] > 4 * median and median > 2 * interval_s * 1000:
            return "cov"
    return "sampled"


def convert_temperature(value: float, from_unit: str, to_unit: str) -> float:
    """°F <-> °C (an affine change); same unit returns the value."""
    if from_unit == to_unit:
        return value
    if (from_unit, to_unit) == ("°F", "°C"):
        return (value - 32.0) * 5.0 / 9.0
    if (from_unit, to_unit) == ("°C", "°F"):
        return value * 9.0 / 5.0 + 32.0
    raise ValueError(f"no conversion from {from_unit} to {to_unit}")


def temperature_scale(from_unit: str, to_unit: str) -> float:
    """The factor a temperature difference (a delta) changes by."""
    if from_unit == to_unit:
        return 1.0
    return 5.0 / 9.0 if (from_unit, to_unit) == ("°F", "°C") else 9.0 / 5.0
