"""The input of a registered scenario generator's forward, built in one place for training reports, the
risk engine and validation (light: torch and numpy only, no Lightning)."""

from __future__ import annotations

import numpy as np
import torch

from risk_platform.errors import InputError
from risk_platform.models.datasets import REGIME_INDEX
from risk_platform.regime import REGIMES

N_REGIMES = len(REGIMES)


def regime_index(regime: str) -> int:
    """The one-hot position of a regime name; InputError for an unknown name."""
    if regime not in REGIME_INDEX:
        raise InputError(f"unknown regime {regime!r}; expected one of {', '.join(REGIMES)}")
    return REGIME_INDEX[regime]


def scenario_inputs(n: int, latent_dim: int, regime: str, k_vol: int | None, seed: int | None = None,
                    volatility: np.ndarray | None = None) -> torch.Tensor:
    """The (n, input_dim) float32 input of a sampler's forward: standard normal noise, the regime's one-hot
    and, when ``k_vol`` (devolatilised samplers: the number of series) is given, ``[log volatility, weight]``
    (weight 1 with ``volatility`` (k,), > 0; else zeros: the regime's volatility state)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    parts = [torch.randn(n, latent_dim, generator=generator), torch.zeros(n, N_REGIMES)]
    parts[1][:, regime_index(regime)] = 1.0
    if k_vol is not None:
        anchor, weight = torch.zeros(n, k_vol), torch.zeros(n, 1)
        if volatility is not None:
            vol = np.asarray(volatility, dtype=np.float64)
            if vol.shape != (k_vol,) or not np.all(np.isfinite(vol) & (vol > 0)):
                raise InputError(f"volatility: expected {k_vol} positive finite values, got shape {vol.shape}")
            anchor[:] = torch.as_tensor(np.log(vol), dtype=torch.float32)
            weight[:] = 1.0
        parts += [anchor, weight]
    return torch.cat(parts, dim=1)
