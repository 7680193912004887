"""Sample values and wire text, computed vectorised with pyarrow from (point, time).

Nothing is stored: a sample's value is a pure function of the point's parameters and
its timestamp (a daily swing, an occupied-hours offset and hashed noise, quantised to
the sensor's resolution), so any historical window can be regenerated identically.
numpy is not available, so the hashing (splitmix64) runs on pyarrow uint64 kernels,
which wrap on overflow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ace_simulator.catalog import KINDS, SimSite

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S
_M1 = pa.scalar(0xBF58476D1CE4E5B9, pa.uint64())
_M2 = pa.scalar(0x94D049BB133111EB, pa.uint64())
_GOLDEN = pa.scalar(0x9E3779B97F4A7C15, pa.uint64())
_TWO_PI = 2.0 * math.pi
BINARY_TEXT = pa.array(["0", "1", "false", "true"])  # by (style - 1) * 2 + state
SECOND_TEXT = pa.array([f"{s:02d}." for s in range(60)])


def _u64(value: int) -> pa.Scalar:
    return pa.scalar(value & 0xFFFFFFFFFFFFFFFF, pa.uint64())


def hash_unit(keys: pa.Array, counter: pa.Array, salt: int) -> pa.Array:
    """Uniform floats in [0, 1) from (uint64 key, int64 counter, salt): splitmix64 finaliser."""
    x = pc.add(keys, pc.multiply(pc.cast(counter, pa.uint64(), safe=False), _GOLDEN))
    x = pc.add(x, _u64(salt * 0x632BE59BD9B4E019))
    x = pc.multiply(pc.bit_wise_xor(x, pc.shift_right(x, _u64(30))), _M1)
    x = pc.multiply(pc.bit_wise_xor(x, pc.shift_right(x, _u64(27))), _M2)
    x = pc.bit_wise_xor(x, pc.shift_right(x, _u64(31)))
    return pc.divide(pc.cast(pc.shift_right(x, _u64(11)), pa.float64()), float(1 << 53))


def occupied(ts_s: pa.Array) -> pa.Array:
    """Weekdays 12:00-24:00 UTC (06:00-18:00 in the building's US Central time)."""
    weekday = pc.less(pc.remainder(pc.add(pc.divide(ts_s, 86_400), 3), 7), 5)
    hour = pc.remainder(pc.divide(ts_s, 3600), 24)
    return pc.and_(weekday, pc.greater_equal(hour, 12))


@dataclass(frozen=True)
class SiteSignals:
    """Per-point parameter columns of one site, indexed by point index."""

    key: pa.Array
    interval_us: pa.Array
    base: pa.Array
    amp: pa.Array
    occ: pa.Array
    noise: pa.Array
    lo: pa.Array
    hi: pa.Array
    scale: pa.Array
    peak: pa.Array
    binary_style: pa.Array  # 0 analog, 1 "0"/"1", 2 "true"/"false"
    on_occ: pa.Array
    on_unocc: pa.Array
    counter: pa.Array
    gappy: pa.Array
    json_prefix: pa.Array  # '{"name":"<escaped name>","time":"'
    names: pa.Array
    site_key: int

    @classmethod
    def for_site(cls, site: SimSite) -> SiteSignals:
        cols: dict[str, list[object]] = {
            k: []
            for k in (
                "key",
                "interval_us",
                "base",
                "amp",
                "occ",
                "noise",
                "lo",
                "hi",
                "scale",
                "peak",
                "binary_style",
                "on_occ",
                "on_unocc",
                "counter",
                "gappy",
                "json_prefix",
                "names",
            )
        }
        for p in site.points:
            kind = KINDS[p.kind]
            frozen = p.stuck
            cols["key"].append(p.key)
            cols["interval_us"].append(p.interval_s * US_PER_S)
            # a stuck sensor sits at a fixed reading somewhere in its normal range
            cols["base"].append(kind.base + (((p.key >> 8) % 1000) / 1000.0 - 0.5) * kind.amp)
            cols["amp"].append(0.0 if frozen else kind.amp)
            cols["occ"].append(0.0 if frozen else kind.occ)
            cols["noise"].append(0.0 if frozen else kind.noise)
            cols["lo"].append(kind.lo)
            cols["hi"].append(kind.hi)
            cols["scale"].append(float(10**kind.decimals))
            cols["peak"].append(0.55 + ((p.key >> 20) % 100) / 1000.0)  # ~15:00 local
            cols["binary_style"].append({"": 0, "01": 1, "tf": 2}[p.binary_style])
            cols["on_occ"].append(kind.on_occ)
            cols["on_unocc"].append(kind.on_unocc)
            cols["counter"].append(kind.counter)
            cols["gappy"].append(p.gappy)
            cols["json_prefix"].append('{"name":' + json.dumps(p.name) + ',"time":"')
            cols["names"].append(p.name)
        types = {"key": pa.uint64(), "interval_us": pa.int64(), "binary_style": pa.int8()}
        arrays = {k: pa.array(v, type=types.get(k)) for k, v in cols.items()}
        return cls(site_key=site.key, **arrays)

    def gap_mask(self, pidx: pa.Array, sample_us: pa.Array) -> pa.Array:
        """True where a sample is missing.

        Gappy points lose ~30% of hours, and the site's gateway drops out for 10-20
        minutes on ~30% of days.
        """
        hour = pc.divide(sample_us, 3600 * US_PER_S)
        lost_hour = pc.and_(
            pc.take(self.gappy, pidx),
            pc.less(hash_unit(pc.take(self.key, pidx), hour, 11), 0.3),
        )
        day = pc.divide(sample_us, 86_400 * US_PER_S)
        site_keys = pc.cast(pc.multiply(day, 0), pa.uint64())
        site_keys = pc.add(site_keys, _u64(self.site_key))
        outage_day = pc.less(hash_unit(site_keys, day, 12), 0.3)
        start_s = pc.multiply(hash_unit(site_keys, day, 13), 84_000.0)
        length_s = pc.add(pc.multiply(hash_unit(site_keys, day, 14), 600.0), 600.0)
        sec_of_day = pc.divide(
            pc.cast(pc.remainder(sample_us, 86_400 * US_PER_S), pa.float64()), 1e6
        )
        in_outage = pc.and_(
            pc.greater_equal(sec_of_day, start_s),
            pc.less(sec_of_day, pc.add(start_s, length_s)),
        )
        return pc.or_(lost_hour, pc.and_(outage_day, in_outage))

    def values(self, pidx: pa.Array, sample_us: pa.Array) -> tuple[pa.Array, pa.Array]:
        """(float64 values, JSON value text) for samples of points ``pidx`` at ``sample_us``."""

        def take(column: pa.Array) -> pa.Array:
            return pc.take(column, pidx)

        interval = take(self.interval_us)
        tick = pc.divide(sample_us, interval)
        ts_s = pc.divide(sample_us, US_PER_S)
        keys = take(self.key)
        occ = occupied(ts_s)
        occ_f = pc.cast(occ, pa.float64())
        day_frac = pc.divide(pc.cast(pc.remainder(ts_s, 86_400), pa.float64()), 86_400.0)
        swing = pc.sin(pc.multiply(pc.subtract(day_frac, take(self.peak)), _TWO_PI))
        noise = pc.subtract(pc.multiply(hash_unit(keys, tick, 1), 2.0), 1.0)
        analog = pc.add(
            pc.add(take(self.base), pc.multiply(take(self.amp), swing)),
            pc.add(pc.multiply(take(self.occ), occ_f), pc.multiply(take(self.noise), noise)),
        )
        hours = pc.divide(pc.cast(ts_s, pa.float64()), 3600.0)
        counter_value = pc.add(
            pc.multiply(take(self.base), hours), pc.cast(pc.remainder(keys, 100_000), pa.float64())
        )
        analog = pc.if_else(take(self.counter), counter_value, analog)
        analog = pc.max_element_wise(pc.min_element_wise(analog, take(self.hi)), take(self.lo))
        scale = take(self.scale)
        analog = pc.divide(pc.round(pc.multiply(analog, scale)), scale)
        # binaries hold their state for 15 minutes at a time
        on_p = pc.if_else(occ, take(self.on_occ), take(self.on_unocc))
        state = pc.less(hash_unit(keys, pc.divide(ts_s, 900), 2), on_p)
        style = take(self.binary_style)
        is_binary = pc.greater(style, 0)
        values = pc.if_else(is_binary, pc.cast(state, pa.float64()), analog)
        # Python's float text, as the real API sends it: "71.0", "-24.8571". Values are
        # finite and between 1e-4 and 1e15 in size by construction, so Arrow's shortest
        # round-trip text differs from Python's only by the ".0" of whole numbers.
        text = pc.cast(analog, pa.string())
        whole = pc.invert(pc.match_substring(text, "."))
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
        binary_index = pc.add(pc.multiply(pc.subtract(style, 1), 2), pc.cast(state, pa.int8()))
        binary_text = pc.take(BINARY_TEXT, pc.max_element_wise(binary_index, 0))
        text = pc.if_else(is_binary, binary_text, text)
        return values, text


def time_text(ts_us: pa.Array) -> pa.Array:
    """Naive ISO text with microseconds (``2025-10-12T14:50:36.055960``)."""
    return pc.binary_join_element_wise(*time_parts(ts_us), "")


def time_parts(ts_us: pa.Array) -> list[pa.Array]:
    """Pieces of the time text ("YYYY-MM-DDTHH:MM:", "SS.", "ffffff") for the caller to join.

    strftime runs once per distinct minute, not per sample.
    """
    minutes = pc.divide(ts_us, US_PER_MIN)
    distinct = pc.unique(minutes)
    prefixes = pc.strftime(
        pc.cast(pc.multiply(distinct, US_PER_MIN), pa.timestamp("us")), format="%Y-%m-%dT%H:%M:"
    )
    prefix = pc.take(prefixes, pc.index_in(minutes, distinct))
    in_minute = pc.remainder(ts_us, US_PER_MIN)
    seconds = pc.take(SECOND_TEXT, pc.divide(in_minute, US_PER_S))
    micros = pc.utf8_slice_codeunits(
        pc.cast(pc.add(pc.remainder(in_minute, US_PER_S), US_PER_S), pa.string()), 1
    )
    return [prefix, seconds, micros]
