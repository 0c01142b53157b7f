"""Thin Dagster assets, grouped by layer: ingestion, features, models, validation, risk. Asset checks are declared next
to their assets (``check_specs``) and so travel with ``ALL_ASSETS``."""

from assets import features, ingestion, limits, models, risk, validation

ALL_ASSETS = [*ingestion.ASSETS, *features.ASSETS, *models.ASSETS, *risk.ASSETS, *limits.ASSETS,
              *validation.ASSETS]
DATA_GROUPS = ("ingestion", "features", "risk")
