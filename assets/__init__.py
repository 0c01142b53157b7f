"""Thin Dagster assets and asset checks, grouped by layer: ingestion, features, risk."""

from assets import features, ingestion, models, risk

ALL_ASSETS = [*ingestion.ASSETS, *features.ASSETS, *models.ASSETS, *risk.ASSETS]
ALL_CHECKS = [*ingestion.CHECKS, *features.CHECKS, *models.CHECKS, *risk.CHECKS]
DATA_GROUPS = ("ingestion", "features", "risk")
