"""Tiny real models registered the way the platform registers them (a real MLflow store in a temp folder)."""

import numpy as np
import pandas as pd
import torch

from risk_platform.models.registry import LINEAGE_TAGS, ModelRegistry, RegisteredVersion
from risk_platform.models.reports import Registration
from risk_platform.regime import REGIMES


def register_tiny_generator(registry: ModelRegistry, key: str, symbols: list[str],
                            metrics: dict[str, float] | None = None) -> RegisteredVersion:
    """A tiny real sampler (latent 2 + regime one-hot -> one return per series), logged and registered as the
    registry does (artifact hashes included); no alias is set."""
    torch.manual_seed(0)
    registration = Registration(model=torch.nn.Linear(2 + len(REGIMES), len(symbols)),
                                input_example=np.zeros((2, 2 + len(REGIMES)), dtype=np.float32), params={},
                                metrics=metrics or {}, metadata={"symbols": symbols, "latent_dim": 2}, artifacts=[],
                                tables={})
    return registry.log_training(model_key=key, registration=registration, tags=dict.fromkeys(LINEAGE_TAGS, "test"),
                                 dataset=pd.DataFrame({"x": [1.0]}), dataset_name="rows")
