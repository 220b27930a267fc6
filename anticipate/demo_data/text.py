"""Vectorised formatting of ids and numbers as the text a shop's export holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded number, e.g. C0000042."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def format_integers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def format_amounts(values: np.ndarray) -> pa.Array:
    """Two-decimal text (`12.50`, `-3.05`) from exact integer cents, so no float noise reaches the file."""
    cents = np.round(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    sign = pa.array(np.where(cents < 0, "-", ""))
    magnitude = np.abs(cents)
    whole = pc.cast(pa.array(magnitude // 100), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(magnitude % 100), pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(sign, whole, ".", fraction, "")


def with_nulls(values: pa.Array, is_null: np.ndarray) -> pa.Array:
    """`values` with nulls where `is_null` holds (an empty CSV field, a JSON null, a Parquet null)."""
    return pc.if_else(pa.array(np.asarray(is_null, dtype=bool)), pa.scalar(None, values.type), values)


def pick(choices: list[str] | tuple[str, ...], index: np.ndarray) -> pa.Array:
    """`choices[index]` for every row, as an Arrow string array."""
    return pa.array(list(choices), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))
