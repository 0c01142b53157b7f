"""risk-platform: domain logic for multi-asset portfolio risk (no Dagster imports outside definitions.py)."""

__version__ = "0.1.0"
