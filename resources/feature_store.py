"""The Parquet feature store."""

import dagster as dg

from risk_platform.features.store import FeatureStore


class FeatureStoreResource(dg.ConfigurableResource):
    """The Parquet feature store."""

    root: str

    def store(self) -> FeatureStore:
        return FeatureStore(self.root)
