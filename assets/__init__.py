"""Thin Dagster assets and asset checks, grouped by layer: ingestion, features, risk."""

from assets import features, ingestion, risk

ALL_ASSETS = [*ingestion.ASSETS, *features.ASSETS, *risk.ASSETS]
ALL_CHECKS = [*ingestion.CHECKS, *features.CHECKS, *risk.CHECKS]
