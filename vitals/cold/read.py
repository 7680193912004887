"""Reading cold Parquet day files: the schema, the metadata, and decoding that never lies.

Readers anywhere in Vitals (verification, rollups, checks) go through here so damaged
bytes always surface as :class:`ColdVerificationError`, never as a stray pyarrow or
Unicode exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vitals.samples import SAMPLE_SCHEMA

COLD_SCHEMA_VERSION = 1
_COLD_FIELDS: list[pa.Field[Any]] = [
    pa.field("site_name", pa.string(), nullable=False),
    pa.field("point_name", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
    pa.field("value", pa.float64(), nullable=False),
]
COLD_SCHEMA = pa.schema(_COLD_FIELDS)
META_PREFIX = "vitals."


class ColdVerificationError(ValueError):
    """A cold file that does not hold exactly what it should (or is not Parquet at all)."""


def _undecodable(data: bytes, exc: Exception) -> ColdVerificationError:
    return ColdVerificationError(f"cold file of {len(data)} bytes cannot be decoded: {exc}")


def open_cold_parquet(data: bytes, read_dictionary: Sequence[str] | None = None) -> pq.ParquetFile:
    """Open file bytes (footer only); unreadable bytes raise ColdVerificationError."""
    try:
        names = list(read_dictionary) if read_dictionary is not None else None
        return pq.ParquetFile(pa.BufferReader(data), read_dictionary=names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ColdVerificationError(
            f"cold file of {len(data)} bytes is not a readable Parquet file: {exc}"
        ) from exc


def read_valid(
    data: bytes, columns: Sequence[str] | None = None, read_dictionary: Sequence[str] | None = None
) -> pa.Table:
    """Decode the file and fully validate the arrays (Parquet readers do not check UTF-8).

    Any decoding problem of damaged bytes becomes a :class:`ColdVerificationError`.
    """
    try:
        parquet = open_cold_parquet(data, read_dictionary)
        table = parquet.read(columns=list(columns) if columns else None)
        for column in table.columns:
            for chunk in column.chunks:
                chunk.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _undecodable(data, exc) from exc
    return table


def read_cold_bytes(data: bytes) -> pa.Table:
    """Read a cold file's samples as a sample table (SAMPLE_SCHEMA)."""
    table = read_valid(data, ["point_name", "ts", "value"])
    return pa.Table.from_arrays(
        [
            table.column("point_name"),
            pc.cast(table.column("ts"), pa.int64()),
            table.column("value"),
        ],
        schema=SAMPLE_SCHEMA,
    )


def cold_metadata(parquet: pq.ParquetFile) -> dict[str, str]:
    """The file's ``vitals.*`` key-value metadata, without the prefix."""
    raw = parquet.schema_arrow.metadata or {}
    texts = {
        key.decode(errors="replace"): value.decode(errors="replace") for key, value in raw.items()
    }
    cut = len(META_PREFIX)
    return {key[cut:]: value for key, value in texts.items() if key.startswith(META_PREFIX)}
