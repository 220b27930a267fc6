"""anticipate: predictive-personalization analytics warehouse (ingestion, CLI, demo data)."""

__version__ = "0.1.0"
