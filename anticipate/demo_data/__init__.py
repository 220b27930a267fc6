"""Deterministic demo data: a simulated shop's landing files, with realistic structure and a few dirty rows.

One module per concern: `timeline` (window, seasonality), `catalog` (products), `people` (customers and
their latent traits), `commerce` (orders, lines, reviews), `browsing` (web events), `marketing`, `dirty`
(rows ingestion must quarantine), `writers` (files) and `generator` (the entry point).
"""

from .generator import DEFAULT_END_DATE, DemoDataSummary, generate_demo_data
from .dirty import DIRTY_KINDS
from .writers import FILE_NAMES

__all__ = ["DEFAULT_END_DATE", "DIRTY_KINDS", "FILE_NAMES", "DemoDataSummary", "generate_demo_data"]
