"""Which samples exist in a window, in the order the API pages them.

Every point samples at ``phase + k * interval``. Time is cut into super-blocks whose
length is a multiple of every interval, so each block holds the same pattern of
(offset, point) pairs: one precomputed template, sorted by (time, point), shifted by
the block start. A page is a run of that sequence; the cursor is the (block start,
index into the template) of the next sample, so paging needs no stored state.

With ``raw_data=false`` the API serves 5-minute buckets; the simulator serves one
sample per point per bucket (points slower than 5 minutes: per interval), stamped at
the bucket start and carrying the value of the first raw sample in that bucket.
"""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ace_simulator.catalog import SimSite
from ace_simulator.signals import US_PER_S, SiteSignals
from ace_simulator.wire import BadRequest

BUCKET_US = 300 * US_PER_S
TEMPLATE_TARGET = 20_000  # entries per super-block: amortises kernel calls, cheap for tiny pages


@dataclass(frozen=True)
class Template:
    """Samples of one super-block, sorted by (emitted time, point)."""

    block_us: int
    emit_off: pa.Array  # int64 offset of the emitted timestamp from the block start
    sample_off: pa.Array  # int64 offset of the raw sample whose value is served
    pidx: pa.Array  # int32 point index
    visible: pa.Array  # bool: exported and not the case twin
    visible_twin: pa.Array  # bool: exported, case twin included


def build_template(site: SimSite, *, raw: bool) -> Template:
    """Precompute the super-block template of a site for raw or 5-minute-bucket export."""
    intervals = {p.interval_s for p in site.points} | {300}
    base_s = math.lcm(*intervals)
    per_base = sum(
        max(1, base_s // (p.interval_s if raw else max(300, p.interval_s))) for p in site.points
    )
    block_s = base_s * max(1, math.ceil(TEMPLATE_TARGET / per_base))
    rows: list[tuple[int, int, int]] = []
    for p in site.points:
        step_us = p.interval_s * US_PER_S
        if raw:
            for k in range(block_s // p.interval_s):
                off = p.phase_us + k * step_us
                rows.append((off, p.index, off))
        elif p.interval_s >= 300:
            for k in range(block_s // p.interval_s):
                off = p.phase_us + k * step_us
                rows.append((off - off % BUCKET_US, p.index, off))
        else:
            for bucket in range(block_s // 300):
                first = (p.phase_us - bucket * BUCKET_US) % step_us  # first raw sample in it
                rows.append((bucket * BUCKET_US, p.index, bucket * BUCKET_US + first))
    rows.sort()
    pidx = pa.array([r[1] for r in rows], pa.int32())
    exported = pa.array([p.exported and not p.case_twin for p in site.points])
    exported_twin = pa.array([p.exported for p in site.points])
    return Template(
        block_us=block_s * US_PER_S,
        emit_off=pa.array([r[0] for r in rows], pa.int64()),
        sample_off=pa.array([r[2] for r in rows], pa.int64()),
        pidx=pidx,
        visible=pc.take(exported, pidx),
        visible_twin=pc.take(exported_twin, pidx),
    )


@dataclass(frozen=True)
class Chunk:
    """Samples selected for a page: point index, emitted time, raw sample time (all arrays)."""

    pidx: pa.Array
    emit_us: pa.Array
    sample_us: pa.Array

    def __len__(self) -> int:
        return len(self.pidx)

    @staticmethod
    def concat(chunks: list[Chunk]) -> Chunk:
        if not chunks:
            return Chunk(
                pa.array([], pa.int32()), pa.array([], pa.int64()), pa.array([], pa.int64())
            )
        if len(chunks) == 1:
            return chunks[0]
        return Chunk(
            pa.concat_arrays([c.pidx for c in chunks]),
            pa.concat_arrays([c.emit_us for c in chunks]),
            pa.concat_arrays([c.sample_us for c in chunks]),
        )


@dataclass(frozen=True)
class Page:
    """One page of the export and the cursor of the page after it (None at the end)."""

    chunk: Chunk
    next_cursor: str | None


def encode_cursor(block_us: int, index: int) -> str:
    """Opaque base64 of the next position: a block timestamp and an offset into it."""
    return base64.urlsafe_b64encode(f"{block_us}:{index}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, template: Template, start_us: int, end_us: int) -> tuple[int, int]:
    """Position from a cursor; a cursor that is not ours or lies outside the window is a 400."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        block_text, index_text = text.split(":")
        block_us, index = int(block_text), int(index_text)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"cursor {cursor!r} is not a valid cursor") from None
    first_block = start_us - start_us % template.block_us
    if block_us % template.block_us or not first_block <= block_us < max(end_us, first_block + 1):
        raise BadRequest(f"cursor {cursor!r} does not belong to this time window")
    if not 0 <= index <= len(template.pidx):
        raise BadRequest(f"cursor {cursor!r} is out of range")
    return block_us, index


class SiteExport:
    """Generates pages of one site's samples, vectorised, from the site's templates."""

    def __init__(self, site: SimSite) -> None:
        self.site = site
        self.signals = SiteSignals.for_site(site)
        self._templates: dict[bool, Template] = {}
        self._lock = threading.Lock()

    def template(self, raw: bool) -> Template:
        """The raw or 5-minute-bucket template, built on first use."""
        with self._lock:
            if raw not in self._templates:
                self._templates[raw] = build_template(self.site, raw=raw)
            return self._templates[raw]

    def _scan(
        self, template: Template, start_us: int, end_us: int, block_us: int, index: int, twin: bool
    ) -> Iterator[tuple[int, int, pa.Array, Chunk]]:
        """Yield (block start, first index, positions of served samples, the samples) per block."""
        visible = template.visible_twin if twin else template.visible
        while block_us < end_us:
            emit = pc.add(template.emit_off.slice(index), block_us)
            sample = pc.add(template.sample_off.slice(index), block_us)
            pidx = template.pidx.slice(index)
            mask = pc.and_(
                pc.and_(pc.greater_equal(emit, start_us), pc.less(emit, end_us)),
                visible.slice(index),
            )
            mask = pc.and_(mask, pc.invert(self.signals.gap_mask(pidx, sample)))
            positions = pc.indices_nonzero(mask)
            if len(positions):
                yield block_us, index, positions, Chunk(pidx, emit, sample)
            block_us += template.block_us
            index = 0

    def page(
        self,
        start_us: int,
        end_us: int,
        page_size: int,
        *,
        raw: bool,
        cursor: str | None,
        twin: bool = False,
    ) -> Page:
        """The page at ``cursor`` (or the first page) of samples in ``[start_us, end_us)``."""
        template = self.template(raw)
        if cursor:
            block_us, index = decode_cursor(cursor, template, start_us, end_us)
        else:
            block_us, index = start_us - start_us % template.block_us, 0
        taken: list[Chunk] = []
        need = page_size
        next_cursor: str | None = None
        for block, first, positions, chunk in self._scan(
            template, start_us, end_us, block_us, index, twin
        ):
            if need == 0:  # one more sample exists after a full page
                next_cursor = encode_cursor(block, first + positions[0].as_py())
                break
            use = positions.slice(0, need)
            taken.append(
                Chunk(
                    pc.take(chunk.pidx, use),
                    pc.take(chunk.emit_us, use),
                    pc.take(chunk.sample_us, use),
                )
            )
            need -= len(use)
            if need == 0 and len(positions) > len(use):
                next_cursor = encode_cursor(block, first + positions[len(use)].as_py())
                break
        return Page(Chunk.concat(taken), next_cursor)

    def points_window(
        self, pidx_list: list[int], start_us: int, end_us: int, *, limit: int
    ) -> Chunk:
        """Raw samples of the given points in ``[start_us, end_us)``, sorted by (time, point)."""
        total = 0
        plans = []
        for i in pidx_list:
            p = self.site.points[i]
            step = p.interval_s * US_PER_S
            k0 = -(-(start_us - p.phase_us) // step)
            k1 = -(-(end_us - p.phase_us) // step)
            plans.append((i, k0, max(k0, k1), step, p.phase_us))
            total += max(0, k1 - k0)
        if total > limit:
            raise BadRequest(
                f"window holds {total} samples for these points, more than {limit}; "
                "use a shorter window or /sites/{site}/timeseries/paginated"
            )
        pidx = pa.array([i for i, k0, k1, _, _ in plans for _ in range(k1 - k0)], pa.int32())
        ts = pa.array(
            [phase + k * step for _, k0, k1, step, phase in plans for k in range(k0, k1)],
            pa.int64(),
        )
        keep = pc.invert(self.signals.gap_mask(pidx, ts))
        pidx, ts = pc.filter(pidx, keep), pc.filter(ts, keep)
        order = pc.sort_indices(
            pa.table({"t": ts, "p": pidx}), sort_keys=[("t", "ascending"), ("p", "ascending")]
        )
        ts = pc.take(ts, order)
        return Chunk(pc.take(pidx, order), ts, ts)
