"""JSON text for sample pages, assembled from vectorised string columns.

Each sample becomes one ``{"name":...,"time":...,"value":...},`` string built with
pyarrow's element-wise join; the page body is the string column's data buffer between
a fixed head and tail, so no per-sample Python object is ever created. Sample-level
faults (bad values, duplicates, shuffling) are applied to those columns here.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ace_simulator.export import Chunk
from ace_simulator.signals import SiteSignals, time_parts, time_text

BAD_VALUE_TEXTS = ("null", '"NaN"', '"inf"', '"-inf"', '"n/a"', '"Infinity"', '"error"', "NaN")


@dataclass(frozen=True)
class SampleFaults:
    """Sample-level faults for one response; ``seed`` makes them repeatable per request."""

    bad_value_p: float = 0.0
    duplicate_p: float = 0.0
    shuffle: bool = False
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.bad_value_p > 0 or self.duplicate_p > 0 or self.shuffle


def _choose(count: int, p: float, rng: random.Random) -> list[int]:
    """Deterministic positions, each chosen with probability ``p`` (at least one if p > 0)."""
    if count == 0 or p <= 0:
        return []
    picks = [i for i in range(count) if rng.random() < p] if p < 1 else list(range(count))
    return picks or [rng.randrange(count)]


def sample_elements(
    signals: SiteSignals, chunk: Chunk, faults: SampleFaults | None = None
) -> pa.Array:
    """One JSON object text (with a trailing comma) per sample, faults applied."""
    _, text = signals.values(chunk.pidx, chunk.sample_us)
    names = pc.take(signals.json_prefix, chunk.pidx)
    if not (faults and faults.bad_value_p > 0):
        elements = pc.binary_join_element_wise(
            names, *time_parts(chunk.emit_us), '","value":"', text, '"},', ""
        )
    else:
        value_json = pc.binary_join_element_wise('"', text, '"', "")
        rng = random.Random(f"bad:{faults.seed}")
        picks = _choose(len(chunk), faults.bad_value_p, rng)
        mask = [False] * len(chunk)
        for i in picks:
            mask[i] = True
        replacements = pa.array(
            [BAD_VALUE_TEXTS[n % len(BAD_VALUE_TEXTS)] for n in range(len(picks))]
        )
        value_json = pc.replace_with_mask(value_json, pa.array(mask), replacements)
        elements = pc.binary_join_element_wise(
            names, *time_parts(chunk.emit_us), '","value":', value_json, "},", ""
        )
    if faults and faults.duplicate_p > 0:
        rng = random.Random(f"dup:{faults.seed}")
        doubled = set(_choose(len(chunk), faults.duplicate_p, rng))
        order = [j for i in range(len(chunk)) for j in ((i, i) if i in doubled else (i,))]
        elements = pc.take(elements, pa.array(order, pa.int64()))
    if faults and faults.shuffle and len(elements) > 1:
        order = list(range(len(elements)))
        random.Random(f"shuffle:{faults.seed}").shuffle(order)
        elements = pc.take(elements, pa.array(order, pa.int64()))
    return elements


def joined_text(elements: pa.Array) -> bytes:
    """The concatenated values of a string array, straight from its data buffer."""
    if len(elements) == 0:
        return b""
    if isinstance(elements, pa.ChunkedArray):
        elements = elements.combine_chunks()
    offsets = memoryview(elements.buffers()[1]).cast("i")  # int32 offsets of a string array
    start, end = offsets[elements.offset], offsets[elements.offset + len(elements)]
    return memoryview(elements.buffers()[2])[start:end].tobytes()


def samples_body(elements: pa.Array, extra: dict[str, object] | None = None) -> bytes:
    """``{"point_samples":[...], **extra}`` as bytes."""
    text = joined_text(elements)
    if text:
        text = text[:-1]  # the last element's trailing comma
    tail = b"]"
    if extra:
        tail += b"," + json.dumps(extra, separators=(",", ":")).encode()[1:-1]
    return b'{"point_samples":[' + text + tail + b"}"


def chunk_table(signals: SiteSignals, chunk: Chunk) -> pa.Table:
    """Samples as a table: name, time (wire text), value_text (wire text), ts_us, value."""
    values, text = signals.values(chunk.pidx, chunk.sample_us)
    return pa.table(
        {
            "name": pc.take(signals.names, chunk.pidx),
            "time": time_text(chunk.emit_us),
            "value_text": text,
            "ts_us": chunk.emit_us,
            "value": values,
        }
    )
