"""Options by a delta-gamma-vega(-theta) approximation, with equity volatility shocks from VIX.

Units (the positions file gives dollar greeks, so no contract multipliers or underlying prices are needed):

* ``delta``: USD per 100% move of the underlying (dollar delta = delta x S x multiplier x contracts);
* ``gamma``: USD per (100% move) squared (dollar gamma = gamma x S**2 x multiplier x contracts);
* ``vega``: USD per 1 volatility point (implied volatility from 20% to 21%);
* ``theta``: USD per calendar day (time decay over the horizon, usually negative for a long option).

One-day P&L of an option whose underlying moves by the simple return ``r`` (in USD terms: ``r = g_local
g_fx - 1`` for a non-USD underlying) while the implied volatility moves by ``dv`` points::

    P&L = delta r + 0.5 gamma r**2 + vega dv + theta h,       h = horizon in days

The implied-volatility shock is the change of VIX in index points applied one for one to every equity
option (a parallel shift of the equity volatility surface): ``dv = VIX_asof (g_VIX - 1)`` where ``g_VIX``
is the scenario's VIX growth factor. The VIX level itself is in volatility points (VIX 16.5 = 16.5% vol).
"""

from __future__ import annotations

import numpy as np


def delta_gamma_vega_pnl(delta: np.ndarray | float, gamma: np.ndarray | float, vega: np.ndarray | float,
                         theta: np.ndarray | float, underlying_return: np.ndarray | float,
                         vol_change_points: np.ndarray | float, horizon_days: float = 1.0) -> np.ndarray:
    """P&L (USD, gains positive) of options with dollar greeks for underlying simple returns and implied
    volatility changes in points. Arrays broadcast: e.g. greeks (m,), returns (n, m) -> (n, m)."""
    r = np.asarray(underlying_return, dtype=float)
    dv = np.asarray(vol_change_points, dtype=float)
    return delta * r + 0.5 * gamma * r**2 + vega * dv + theta * horizon_days

