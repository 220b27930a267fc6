"""Vectorised formatting of ids and numbers as the text a shop's export holds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`prefix` + zero-padded number, e.g. C0000042."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"numbers must be between 0 and {10**width - 1} for {width}-digit ids, got {numbers.min()}..{numbers.max()}")
    # 10**width + n is "1" followed by n zero-padded: swapping the "1" for the prefix is one pass, not three.
    return pc.utf8_replace_slice(pc.cast(pa.array(numbers + 10**width), pa.string()), start=0, stop=1, replacement=prefix)


def format_integers(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def format_amounts(values: np.ndarray) -> pa.Array:
    """Two-decimal text (`12.50`, `-3.05`) from exact integer cents, so no float noise reaches the file."""
    cents = np.round(np.asarray(values, dtype=np.float64) * 100).astype(np.int64)
    # A decimal128(18, 2) holds the cents as its unscaled 128-bit integer: low word, then the sign extension.
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    decimals = pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words.reshape(-1))])
    return pc.cast(decimals, pa.string())


def with_nulls(values: pa.Array, is_null: np.ndarray) -> pa.Array:
    """`values` with nulls where `is_null` holds (an empty CSV field, a JSON null, a Parquet null)."""
    return pc.if_else(pa.array(np.asarray(is_null, dtype=bool)), pa.scalar(None, values.type), values)


def pick(choices: list[str] | tuple[str, ...], index: np.ndarray) -> pa.Array:
    """`choices[index]` for every row, as an Arrow string array."""
    return pa.array(list(choices), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))
