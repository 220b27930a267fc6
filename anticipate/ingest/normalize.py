"""Match a staged file's header to contract columns: trimmed, case-insensitive, in any order, via the mapping's renames."""

from __future__ import annotations

from collections.abc import Sequence

from anticipate.ingest.errors import FileError
from anticipate.ingest.mapping import Concat
from anticipate.ingest.readers import StagedFile
from anticipate.ingest.validate import ident, sql_string


def _normalized(name: str) -> str:
    return name.strip().lower()


def file_select(staged: StagedFile, file_idx: int, column_names: Sequence[str], renames: dict,
                required: Sequence[str], fill: dict[str, str] | None = None) -> tuple[str, list[str], set[str]]:
    """SQL selecting `column_names` as text from the staged table, the warnings (ignored columns), and the
    columns the file carries.

    A required column absent from the header is a FileError; `fill` gives a constant for an empty value
    (a flat export's `on_missing_customer: {assign: ...}`).
    """
    positions: dict[str, int] = {}
    for index, name in enumerate(staged.header):
        key = _normalized(name)
        if key in positions:
            raise FileError(staged.name, f"column {name.strip()!r} appears twice in the header")
        positions[key] = index

    used: set[int] = set()
    present: set[str] = set()
    missing: list[str] = []
    expressions: list[str] = []
    for column in column_names:
        wanted = renames.get(column, column)
        if isinstance(wanted, Concat):
            parts = [positions.get(_normalized(part)) for part in wanted.parts]
            if any(position is None for position in parts):
                absent = [part for part, position in zip(wanted.parts, parts) if position is None]
                raise FileError(staged.name, f"column(s) {', '.join(absent)} for {column} not in the header "
                                f"(header is: {', '.join(staged.header)})")
            used.update(parts)
            empty = " or ".join(f"nullif(trim(c{position}), '') is null" for position in parts)
            joined = f", {sql_string(wanted.separator)}, ".join(f"c{position}" for position in parts)
            expression = f"case when {empty} then null else concat({joined}) end"
            present.add(column)
        else:
            position = positions.get(_normalized(str(wanted)))
            if position is None:
                if column in required:
                    missing.append(column if wanted == column else f"{column} (mapped to {wanted!r})")
                expression = "null::varchar"
            else:
                used.add(position)
                present.add(column)
                expression = f"c{position}"
        if fill and column in fill:
            present.add(column)
            expression = f"coalesce(nullif(trim({expression}), ''), {sql_string(fill[column])})"
        expressions.append(f"{expression} as {ident(column)}")

    # A JSON Lines file of only non-object lines has no keys at all: its lines are rejected rows instead.
    if missing and (staged.header or not staged.rows_read):
        hint = "; is the header row missing?" if not used else ""
        raise FileError(staged.name, f"missing required column(s) {', '.join(missing)} "
                        f"(header is: {', '.join(staged.header) or 'empty'}){hint}")
    ignored = [name.strip() for index, name in enumerate(staged.header) if index not in used]
    warnings = [f"ignored unknown columns: {', '.join(ignored)}"] if ignored else []
    select = (f"select {', '.join(expressions)}, {sql_string(staged.name)} as _file, {file_idx} as _file_idx, "
              f"_row_number, _problem from {staged.table}")
    return select, warnings, present
