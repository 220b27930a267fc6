"""The source contract: which sources a shop's export may hold, their columns, types, keys and codes.

This module is the single definition that ingestion validates against, the raw tables are created from,
the demo generator writes, and `docs/source_contract.md` documents. Change it together with
`CONTRACT_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTRACT_VERSION = "1.0"

#: Logical column kinds and the DuckDB type a valid value is cast to in `raw`.
DUCKDB_TYPES = {
    "id": "VARCHAR",  # ids stay text: leading zeros and mixed codes survive
    "string": "VARCHAR",
    "code": "VARCHAR",  # lower-cased, checked against Column.codes
    "timestamp": "TIMESTAMPTZ",  # ISO 8601 or the mapping's date_format; naive values in the mapping's timezone
    "date": "DATE",
    "decimal": "DOUBLE",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
}

#: Largest absolute value accepted for a price or an amount; above it the row is rejected as implausible.
MAX_AMOUNT = 1e9

#: Metadata columns every raw table carries after the contract columns.
RAW_METADATA_COLUMNS = (
    ("_batch_id", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("_row_number", "BIGINT"),  # 1-based data row within the file, header excluded
    ("_loaded_at", "TIMESTAMPTZ"),
)

ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")
WEB_EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "purchase",
)
MARKETING_INTERACTION_TYPES = ("send", "open", "click", "like", "share", "comment", "mention")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    codes: tuple[str, ...] | None = None
    #: Inclusive bounds for numbers; values outside are rejected.
    min_value: float | None = None
    max_value: float | None = None
    pii: bool = False
    description: str = ""

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.kind]


@dataclass(frozen=True)
class Source:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required_source: bool
    #: For sources with a version column (customers, products carry `updated_at`), two rows with the same
    #: key and different content are both kept and staging takes the latest; elsewhere the later is rejected.
    version_column: str | None = None
    description: str = ""
    foreign_keys: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"source {self.name!r} has no column {name!r}; columns are {', '.join(self.column_names)}")


def _amount(name: str, description: str = "") -> Column:
    return Column(name, "decimal", min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, description=description)


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Source(
            "customers",
            (
                Column("customer_id", "id", required=True),
                Column("email", "string", pii=True),
                Column("first_name", "string", pii=True),
                Column("last_name", "string", pii=True),
                Column("phone", "string", pii=True),
                Column("country", "string", description="ISO 3166-1 alpha-2 code or country name"),
                Column("city", "string", pii=True),
                Column("postal_code", "string", pii=True),
                Column("signup_at", "timestamp"),
                Column("birth_date", "date", pii=True),
                Column("gender", "string"),
                Column("age_group", "string", description="banded age such as '35-39', when the shop has no birth date"),
                Column("marketing_opt_in", "boolean"),
                Column("updated_at", "timestamp"),
            ),
            key=("customer_id",),
            required_source=True,
            version_column="updated_at",
            description="CRM customer records, one row per customer version.",
        ),
        Source(
            "products",
            (
                Column("product_id", "id", required=True),
                Column("name", "string"),
                Column("category", "string"),
                Column("subcategory", "string"),
                Column("brand", "string"),
                Column("list_price", "decimal", min_value=0, max_value=MAX_AMOUNT),
                Column("currency", "string"),
                Column("created_at", "timestamp"),
                Column("is_active", "boolean"),
                Column("updated_at", "timestamp"),
            ),
            key=("product_id",),
            required_source=True,
            version_column="updated_at",
            description="Product catalogue, one row per product version.",
        ),
        Source(
            "orders",
            (
                Column("order_id", "id", required=True),
                Column("customer_id", "id", required=True),
                Column("ordered_at", "timestamp", required=True),
                Column("status", "code", codes=ORDER_STATUSES),
                Column("channel", "string"),
                Column("currency", "string"),
                _amount("shipping_amount"),
                _amount("discount_amount"),
            ),
            key=("order_id",),
            required_source=True,
            description="Order headers, one row per order.",
            foreign_keys={"customer_id": "customers"},
        ),
        Source(
            "order_items",
            (
                Column("order_id", "id", required=True),
                Column("line_number", "integer", min_value=1, description="derived from row order within the order when absent"),
                Column("product_id", "id", required=True),
                Column("quantity", "decimal", min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT, description="negative = return line"),
                _amount("unit_price"),
                _amount("discount_amount"),
            ),
            key=("order_id", "line_number"),
            required_source=True,
            description="Order lines, one row per line; a negative quantity is a return line.",
            foreign_keys={"order_id": "orders", "product_id": "products"},
        ),
        Source(
            "web_events",
            (
                Column("event_id", "id", required=True),
                Column("session_id", "id"),
                Column("customer_id", "id", description="null for anonymous visitors"),
                Column("anonymous_id", "id"),
                Column("event_type", "code", codes=WEB_EVENT_TYPES),
                Column("product_id", "id"),
                Column("occurred_at", "timestamp", required=True),
                Column("page_url", "string"),
                Column("referrer", "string"),
                Column("device", "string"),
            ),
            key=("event_id",),
            required_source=False,
            description="Browsing events, one row per event.",
            foreign_keys={"customer_id": "customers", "product_id": "products"},
        ),
        Source(
            "marketing_interactions",
            (
                Column("interaction_id", "id", required=True),
                Column("customer_id", "id", required=True),
                Column("channel", "string", description="email, social network name, sms ..."),
                Column("interaction_type", "code", codes=MARKETING_INTERACTION_TYPES),
                Column("campaign_id", "id"),
                Column("occurred_at", "timestamp", required=True),
                Column("sentiment", "decimal", min_value=-1, max_value=1, description="-1 negative .. 1 positive"),
            ),
            key=("interaction_id",),
            required_source=False,
            description="Email and social interactions, one row per interaction.",
            foreign_keys={"customer_id": "customers"},
        ),
        Source(
            "product_reviews",
            (
                Column("review_id", "id", required=True),
                Column("customer_id", "id"),
                Column("product_id", "id", required=True),
                Column("rating", "decimal", min_value=1, max_value=5),
                Column("reviewed_at", "timestamp", required=True),
            ),
            key=("review_id",),
            required_source=False,
            description="Product reviews, one row per review.",
            foreign_keys={"customer_id": "customers", "product_id": "products"},
        ),
    )
}

REQUIRED_SOURCES = tuple(name for name, source in SOURCES.items() if source.required_source)
OPTIONAL_SOURCES = tuple(name for name, source in SOURCES.items() if not source.required_source)

#: Load order: a batch loads parents before children so foreign keys can be checked within the batch.
LOAD_ORDER = ("customers", "products", "orders", "order_items", "web_events", "marketing_interactions", "product_reviews")


def raw_table_ddl(source_name: str, schema: str = "raw") -> str:
    """`create table if not exists` for a source's raw table: contract columns, then metadata."""
    source = SOURCES[source_name]
    columns = [f"{column.name} {column.duckdb_type}" for column in source.columns]
    columns += [f"{name} {sql_type}" for name, sql_type in RAW_METADATA_COLUMNS]
    return f"create table if not exists {schema}.{source_name} (\n    " + ",\n    ".join(columns) + "\n)"


REJECTED_ROWS_DDL = """
create table if not exists raw.rejected_rows (
    batch_id VARCHAR,
    source VARCHAR,
    file VARCHAR,
    row_number BIGINT,
    raw_values JSON,
    reason VARCHAR,
    rejected_at TIMESTAMPTZ
)
"""

INGESTION_LOG_DDL = """
create table if not exists raw.ingestion_log (
    batch_id VARCHAR,
    source VARCHAR,
    file VARCHAR,
    content_hash VARCHAR,
    status VARCHAR,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_rejected BIGINT,
    warnings VARCHAR,
    contract_version VARCHAR,
    loaded_at TIMESTAMPTZ
)
"""
