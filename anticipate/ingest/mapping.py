"""mapping.yml: how a shop's files differ from the contract (names, dialect, codes), read without guessing.

Everything the mapping does not say takes the contract's default: contract file and column names,
strict UTF-8, comma delimiter, '.' decimals, ISO 8601 times, naive times in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from anticipate.contract import SOURCES
from anticipate.ingest.errors import FileError

#: Keys a source (or `defaults`, or `flat_order_lines`) may set about how its file is read.
DIALECT_KEYS = ("file", "delimiter", "encoding", "decimal_separator", "date_format", "timezone")
SOURCE_KEYS = DIALECT_KEYS + ("columns", "values")
FLAT_KEYS = SOURCE_KEYS + ("cancellation", "exclude_products", "on_missing_customer", "currency")

#: Columns a flat order-lines export may map, and the contract column each one feeds.
#: Names are unique across the four derived sources, hence `order_status`, `product_name`, ...
FLAT_COLUMNS: dict[str, tuple[str, str]] = {
    "order_id": ("orders", "order_id"),
    "customer_id": ("orders", "customer_id"),
    "ordered_at": ("orders", "ordered_at"),
    "order_status": ("orders", "status"),
    "channel": ("orders", "channel"),
    "currency": ("orders", "currency"),
    "line_number": ("order_items", "line_number"),
    "product_id": ("order_items", "product_id"),
    "quantity": ("order_items", "quantity"),
    "unit_price": ("order_items", "unit_price"),
    "line_amount": ("order_items", "unit_price"),  # line revenue: unit_price = line_amount / quantity
    "line_discount_amount": ("order_items", "discount_amount"),
    "product_name": ("products", "name"),
    "category": ("products", "category"),
    "subcategory": ("products", "subcategory"),
    "brand": ("products", "brand"),
    "email": ("customers", "email"),
    "first_name": ("customers", "first_name"),
    "last_name": ("customers", "last_name"),
    "phone": ("customers", "phone"),
    "country": ("customers", "country"),
    "city": ("customers", "city"),
    "postal_code": ("customers", "postal_code"),
    "birth_date": ("customers", "birth_date"),
    "gender": ("customers", "gender"),
    "age_group": ("customers", "age_group"),
}
FLAT_REQUIRED = ("order_id", "customer_id", "ordered_at", "product_id")
FLAT_SOURCES = ("customers", "products", "orders", "order_items")


@dataclass(frozen=True)
class Concat:
    """A column built from several file columns, e.g. Ta-Feng's basket id = customer + day."""

    parts: tuple[str, ...]
    separator: str = "|"


@dataclass(frozen=True)
class SourceMapping:
    """How one source's file(s) are read. `columns` maps contract name -> file header."""

    source: str
    file: str | None = None
    delimiter: str = ","
    encoding: str | None = None  # None: UTF-8, strict, byte-order mark allowed
    decimal_separator: str = "."
    date_format: str | None = None
    timezone: str = "UTC"
    columns: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FlatMapping(SourceMapping):
    """One flat order-lines export from which customers, products, orders and order_items are derived."""

    cancellation_prefix: str | None = None
    exclude_products: tuple[str, ...] = ()
    #: "reject" (default) or a customer id to assign to lines without one.
    missing_customer_id: str | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Mapping:
    path: Path | None
    sources: dict[str, SourceMapping]
    flat: FlatMapping | None = None

    def for_source(self, name: str) -> SourceMapping:
        return self.sources[name]


def default_mapping() -> Mapping:
    return Mapping(path=None, sources={name: SourceMapping(name) for name in SOURCES})


def load_mapping(path: Path | None) -> Mapping:
    """Read and check mapping.yml; a mistake in it is a FileError naming the mapping file and the key."""
    if path is None:
        return default_mapping()
    where = str(path)
    if not path.is_file():
        raise FileError(where, "mapping file not found")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise FileError(where, f"not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise FileError(where, "must be a YAML mapping of source names to settings")

    known = set(SOURCES) | {"defaults", "flat_order_lines"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise FileError(where, f"unknown key(s) {', '.join(map(repr, unknown))}; expected source names "
                        f"({', '.join(SOURCES)}), 'defaults' or 'flat_order_lines'")
    defaults = _settings(where, "defaults", document.get("defaults") or {}, DIALECT_KEYS)
    if "file" in defaults:
        raise FileError(where, "defaults: 'file' can only be set per source")

    sources = {}
    for name in SOURCES:
        settings = {**defaults, **_settings(where, name, document.get(name) or {}, SOURCE_KEYS)}
        sources[name] = _source_mapping(where, name, settings, SOURCES[name].column_names)

    flat = None
    if document.get("flat_order_lines") is not None:
        settings = {**defaults, **_settings(where, "flat_order_lines", document["flat_order_lines"], FLAT_KEYS)}
        flat = _flat_mapping(where, settings)
    return Mapping(path=path, sources=sources, flat=flat)


def _settings(where: str, name: str, settings: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(settings, dict):
        raise FileError(where, f"{name}: must be a mapping of settings, got {type(settings).__name__}")
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise FileError(where, f"{name}: unknown setting(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}")
    return dict(settings)


def _source_mapping(where: str, name: str, settings: dict[str, Any], column_names: tuple[str, ...], cls=SourceMapping, **extra):
    delimiter = settings.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise FileError(where, f"{name}: delimiter must be one character, got {delimiter!r}")
    decimal_separator = settings.get("decimal_separator", ".")
    if decimal_separator not in (".", ","):
        raise FileError(where, f"{name}: decimal_separator must be '.' or ',', got {decimal_separator!r}")
    encoding = settings.get("encoding")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise FileError(where, f"{name}: unknown encoding {encoding!r}") from None
    columns = settings.get("columns") or {}
    if not isinstance(columns, dict):
        raise FileError(where, f"{name}: columns must map contract column -> file column")
    for column, header in columns.items():
        if column not in column_names:
            raise FileError(where, f"{name}: columns: {column!r} is not a column of {name}; columns are {', '.join(column_names)}")
        if not isinstance(header, (str, int, dict)) or isinstance(header, bool):
            raise FileError(where, f"{name}: columns: {column}: expected a file column name, got {header!r}")
    columns = {column: _column_source(where, name, column, header) for column, header in columns.items()}
    values = settings.get("values") or {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise FileError(where, f"{name}: values must map column -> {{file value: contract value}}")
    for column in values:
        if column not in column_names:
            raise FileError(where, f"{name}: values: {column!r} is not a column of {name}")
    values = {column: {str(k).strip().lower(): str(v) for k, v in mapping.items()} for column, mapping in values.items()}
    return cls(
        source=name,
        file=None if settings.get("file") is None else str(settings["file"]),
        delimiter=delimiter,
        encoding=None if encoding is None else str(encoding),
        decimal_separator=decimal_separator,
        date_format=None if settings.get("date_format") is None else str(settings["date_format"]),
        timezone=str(settings.get("timezone", "UTC")),
        columns=columns,
        values=values,
        **extra,
    )


def _column_source(where: str, name: str, column: str, header: Any) -> str | Concat:
    if isinstance(header, dict):
        parts = header.get("concat")
        if set(header) - {"concat", "separator"} or not isinstance(parts, list) or len(parts) < 2:
            raise FileError(where, f"{name}: columns: {column}: expected a column name or {{concat: [A, B], separator: '|'}}")
        return Concat(tuple(str(part) for part in parts), str(header.get("separator", "|")))
    return str(header)


def _flat_mapping(where: str, settings: dict[str, Any]) -> FlatMapping:
    name = "flat_order_lines"
    if not settings.get("file"):
        raise FileError(where, f"{name}: 'file' (name or glob of the export in the landing folder) is required")
    missing = [column for column in FLAT_REQUIRED if column not in (settings.get("columns") or {})]
    if missing:
        raise FileError(where, f"{name}: columns must map {', '.join(missing)}")
    columns = settings.get("columns") or {}
    if "unit_price" not in columns and "line_amount" not in columns and "quantity" in columns:
        pass  # a shop may export no prices; unit_price stays null
    cancellation = settings.get("cancellation") or {}
    if not isinstance(cancellation, dict) or set(cancellation) - {"order_id_prefix"}:
        raise FileError(where, f"{name}: cancellation must be {{order_id_prefix: 'C'}}")
    exclude = settings.get("exclude_products") or []
    if not isinstance(exclude, list):
        raise FileError(where, f"{name}: exclude_products must be a list of product codes or glob patterns")
    on_missing = settings.get("on_missing_customer", "reject")
    if on_missing == "reject":
        missing_customer_id = None
    elif isinstance(on_missing, dict) and set(on_missing) == {"assign"}:
        missing_customer_id = str(on_missing["assign"])
    else:
        raise FileError(where, f"{name}: on_missing_customer must be 'reject' or {{assign: <customer id>}}, got {on_missing!r}")
    return _source_mapping(
        where, name, settings, tuple(FLAT_COLUMNS), cls=FlatMapping,
        cancellation_prefix=None if cancellation.get("order_id_prefix") is None else str(cancellation["order_id_prefix"]),
        exclude_products=tuple(str(code) for code in exclude),
        missing_customer_id=missing_customer_id,
        currency=None if settings.get("currency") is None else str(settings["currency"]),
    )
