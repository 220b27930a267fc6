"""`generate_demo_data`: a deterministic, realistic shop export for demos and tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np

from .browsing import ANONYMOUS_VISITORS_PER_CUSTOMER, build_web_events
from .catalog import build_catalogue, products_for
from .commerce import build_purchases
from .dirty import DIRTY_KINDS, add_dirty_rows
from .marketing import build_marketing
from .people import build_customers
from .timeline import Timeline
from .writers import FILE_NAMES, LandingWriter

#: Fixed, so the same arguments give byte-identical files whatever today's date is.
DEFAULT_END_DATE = date(2026, 10, 31)
#: Customers simulated at once: bounds memory (about 2 GB at this size) whatever the total.
CHUNK_CUSTOMERS = 50_000
MAX_DIRTY_SHARE = 0.2
#: Customer ids have seven digits.
MAX_CUSTOMERS = 9_999_999

# Independent random streams per chunk, so a chunk's content does not depend on the other chunks' draws.
_CUSTOMERS, _PURCHASES, _WEB, _MARKETING, _DIRTY = range(5)


@dataclass(frozen=True)
class DemoDataSummary:
    """What `generate_demo_data` wrote.

    `rows_by_file` counts data rows (header excluded, dirty rows included); `dirty_rows` counts each kind
    of deliberately broken row (see `anticipate.demo_data.dirty.DIRTY_KINDS` for the source of each), which
    ingestion should quarantine exactly.
    """

    out_dir: Path
    files: dict[str, Path]  # source -> landing file
    rows_by_file: dict[str, int]  # file name -> data rows
    dirty_rows: dict[str, int]  # dirty kind -> rows injected
    customers: int
    customer_versions: int  # customers appearing a second time with a newer updated_at
    seed: int
    history_start: datetime
    history_end: datetime  # exclusive
    seconds: float = field(compare=False)

    @property
    def dirty_rows_by_source(self) -> dict[str, int]:
        totals = {source: 0 for source in FILE_NAMES}
        for kind, count in self.dirty_rows.items():
            totals[DIRTY_KINDS[kind]] += count
        return totals

    @property
    def total_dirty_rows(self) -> int:
        return sum(self.dirty_rows.values())


def _validate(customers, seed, years, end_date, dirty_share) -> None:
    if isinstance(customers, bool) or not isinstance(customers, int) or not 1 <= customers <= MAX_CUSTOMERS:
        raise ValueError(f"customers must be an int between 1 and {MAX_CUSTOMERS}, got {customers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if not isinstance(years, (int, float)) or isinstance(years, bool) or not 0.25 <= years <= 20:
        raise ValueError(f"years must be a number between 0.25 and 20, got {years!r}")
    if end_date is not None and (not isinstance(end_date, date) or isinstance(end_date, datetime)):
        raise ValueError(f"end_date must be a datetime.date or None, got {end_date!r}")
    if not isinstance(dirty_share, (int, float)) or isinstance(dirty_share, bool) or not 0 <= dirty_share <= MAX_DIRTY_SHARE:
        raise ValueError(f"dirty_share must be a number between 0 and {MAX_DIRTY_SHARE}, got {dirty_share!r}")


def generate_demo_data(
    out_dir: Path,
    *,
    customers: int = 20_000,
    seed: int = 42,
    years: float = 2.0,
    end_date: date | None = None,
    dirty_share: float = 0.005,
    progress: Callable[[str], None] | None = None,
) -> DemoDataSummary:
    """Write the seven landing files for a simulated shop into `out_dir` and describe them.

    The same arguments give byte-identical files. History covers `years` up to the end of `end_date`
    (default 2026-10-31, UTC). Customers are simulated in chunks of `CHUNK_CUSTOMERS`, so memory stays
    bounded at any size. Files appear only once all are complete; existing files of the same name are
    replaced.
    """
    _validate(customers, seed, years, end_date, dirty_share)
    report = progress or (lambda message: None)
    started = time.perf_counter()
    timeline = Timeline.ending(end_date or DEFAULT_END_DATE, years)
    catalogue = build_catalogue(np.random.default_rng([seed, 0]), products_for(customers), timeline)
    dirty_rows = {kind: 0 for kind in DIRTY_KINDS}
    numbers = {"order": 0, "review": 0, "event": 0, "session": 0, "visitor": 0, "interaction": 0, "orphan": 0}
    customer_versions = 0

    writer = LandingWriter(Path(out_dir))
    try:
        writer.write("products", catalogue.table)
        n_chunks = -(-customers // CHUNK_CUSTOMERS)
        for chunk_index in range(n_chunks):
            first = chunk_index * CHUNK_CUSTOMERS
            size = min(CHUNK_CUSTOMERS, customers - first)

            def stream(kind: int) -> np.random.Generator:
                return np.random.default_rng([seed, 1 + chunk_index, kind])

            people = build_customers(stream(_CUSTOMERS), first, size, timeline, catalogue)
            purchases = build_purchases(stream(_PURCHASES), people, catalogue, timeline, numbers["order"], numbers["review"])
            events, n_sessions = build_web_events(
                stream(_WEB), people, purchases, catalogue, timeline, numbers["event"], numbers["session"], numbers["visitor"]
            )
            interactions = build_marketing(stream(_MARKETING), people, timeline, numbers["interaction"])
            numbers["order"] += purchases.orders.num_rows
            numbers["review"] += purchases.reviews.num_rows
            numbers["event"] += events.num_rows
            numbers["session"] += n_sessions
            numbers["visitor"] += int(round(ANONYMOUS_VISITORS_PER_CUSTOMER * size))
            numbers["interaction"] += interactions.num_rows

            dirty = add_dirty_rows(
                stream(_DIRTY),
                dirty_share,
                purchases,
                events,
                interactions.num_rows,
                next_order_number=numbers["order"],
                next_event_number=numbers["event"],
                next_orphan_number=numbers["orphan"],
            )
            numbers["order"] += dirty.counts["unparseable_ordered_at"] + dirty.counts["unknown_order_status"]
            numbers["event"] += dirty.counts["unknown_event_type"]
            numbers["orphan"] += dirty.counts["orphan_order_line"]
            for kind, count in dirty.counts.items():
                dirty_rows[kind] += count

            writer.flush()  # at most one chunk waits to be written: memory stays bounded
            writer.write("customers", people.table)
            writer.write("orders", dirty.orders)
            writer.write("order_items", dirty.order_items)
            writer.write("web_events", dirty.web_events)
            writer.write("marketing_interactions", interactions, dirty.json_lines)
            writer.write("product_reviews", purchases.reviews)
            customer_versions += people.table.num_rows - size
            report(
                f"chunk {chunk_index + 1}/{n_chunks}: customers {first + 1}-{first + size}, "
                f"{purchases.orders.num_rows} orders, {events.num_rows} web events ({time.perf_counter() - started:.1f}s)"
            )
        files = writer.commit()
    except BaseException:
        writer.abort()
        raise
    return DemoDataSummary(
        out_dir=Path(out_dir),
        files=files,
        rows_by_file={FILE_NAMES[source]: rows for source, rows in writer.rows.items()},
        dirty_rows=dirty_rows,
        customers=customers,
        customer_versions=customer_versions,
        seed=seed,
        history_start=datetime.fromtimestamp(timeline.start, timezone.utc),
        history_end=datetime.fromtimestamp(timeline.end, timezone.utc),
        seconds=time.perf_counter() - started,
    )
