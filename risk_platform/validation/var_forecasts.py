"""Rolling one-day VaR / ES forecasts of a single series by method, for backtesting.

Loss convention: a long position of one unit of the series' return, losses positive: ``-r`` for
log-return series, ``+change in bp`` for yields (a long bond loses when yields rise). The forecast for day t
uses data up to t-1 only.

* ``hs``: historical simulation over the last ``window`` losses (inverted-CDF VaR, Acerbi-Tasche ES);
* ``ewma``: normal with the RiskMetrics EWMA(0.94) variance forecast made at t-1 (:mod:`risk_platform.ewma`);
* ``garch``: GARCH(1,1) with Student-t errors (``arch``), re-estimated every ``refit_every`` days on all
  data before, filtered with fixed parameters in between;
* ``fhs``: filtered historical simulation: losses devolatilised by their EWMA volatility, the empirical
  quantile of the last ``window`` standardised losses rescaled by today's EWMA volatility;
* ``lstm``: normal with the LSTM's next-day variance (a registered model version);
* ``evt_ewma``, ``evt_garch``, ``evt_lstm``: conditional EVT (McNeil and Frey, 2000): the losses standardised by
  the filter's volatility forecast (EWMA, GARCH-t as in ``garch``, the LSTM), ``z_t = L_t / sigma_t``; every
  ``EVT_REFIT_EVERY`` days a generalized Pareto tail is fitted to the standardised losses before the origin above
  their ``EVT_THRESHOLD`` quantile ``u``, and ``VaR_t = sigma_t * VaR_z``, ``ES_t = sigma_t * ES_z`` from that tail
  (:func:`~risk_platform.risk.measures.fit_pot_tail`; ES is infinite, so Z2 not evaluable, when the fitted shape
  is 1 or more). For ``evt_lstm`` the residuals before the origin include the LSTM's training days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from risk_platform.errors import InputError
from risk_platform.ewma import EWMA_WARMUP, ewma_sigma_forecast
from risk_platform.features.returns import BP_QUOTES
from risk_platform.models.baselines import garch_filter, garch_forecasts
from risk_platform.risk.config import EVT_THRESHOLD
from risk_platform.risk.measures import fit_pot_tail, historical_var_es, normal_var_es, student_t_var_es
from risk_platform.validation.methods import EVT_HISTORY, EVT_REFIT_EVERY, METHODS, REFIT_EVERY

EVT_MIN_RESIDUALS = 250  # standardised losses needed before the first GPD fit


@dataclass(frozen=True)
class VarForecast:
    """Realized losses and the VaR / ES forecast for the same days."""

    method: str
    alpha: float
    dates: pd.DatetimeIndex
    losses: np.ndarray
    var: np.ndarray
    es: np.ndarray

    def take(self, keep: np.ndarray) -> VarForecast:
        """The forecast on the days ``keep`` selects (a boolean mask or positions)."""
        return VarForecast(self.method, self.alpha, self.dates[keep], self.losses[keep], self.var[keep],
                           self.es[keep])


@dataclass(frozen=True)
class EvtTail:
    """Where the conditional EVT tail is fitted: the threshold quantile of the standardised losses and how many
    of the latest ones before the origin (None: all of them)."""

    threshold: float = EVT_THRESHOLD
    history: int | None = EVT_HISTORY


def series_losses(returns: pd.Series, quote_type: str) -> pd.Series:
    """Losses of a long unit position from a return series (see module docstring)."""
    sign = 1.0 if quote_type in BP_QUOTES else -1.0
    return sign * returns.fillna(0.0)


def _historical(losses: np.ndarray, window: int, alpha: float, scale: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """VaR/ES at each t >= window from the previous ``window`` values (optionally times ``scale[t]``)."""
    var, es = np.full(len(losses), np.nan), np.full(len(losses), np.nan)
    for t in range(window, len(losses)):
        tail = historical_var_es(-losses[t - window:t], alpha)
        factor = 1.0 if scale is None else scale[t]
        var[t], es[t] = tail.var * factor, tail.es * factor
    return var, es


def _garch(losses: pd.Series, window: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    var, es = np.full(len(losses), np.nan), np.full(len(losses), np.nan)
    for start in range(window, len(losses), REFIT_EVERY):
        variance, fit = garch_forecasts(losses, losses.index[start - 1])
        block = variance.iloc[:REFIT_EVERY].to_numpy()  # origins start-1 .. : forecasts for start ..
        stop = min(start + REFIT_EVERY, len(losses))
        var[start:stop], es[start:stop] = student_t_var_es(np.sqrt(block[:stop - start]), fit.nu, alpha)
    return var, es


def conditional_evt(losses: np.ndarray, sigma: np.ndarray, alpha: float, start: int, stop: int,
                    tail: EvtTail = EvtTail()) -> tuple[np.ndarray, np.ndarray]:
    """Conditional-EVT VaR/ES (shape (n,), NaN outside ``start:stop``) of ``losses`` given each day's volatility
    forecast ``sigma`` (made the day before; NaN where the filter has none): a GPD tail fitted every
    :data:`EVT_REFIT_EVERY` days on the standardised losses before the origin, rescaled by ``sigma``."""
    var, es = np.full(len(losses), np.nan), np.full(len(losses), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sigma > 0, losses / sigma, np.nan)
    for origin in range(start, stop, EVT_REFIT_EVERY):
        before = z[:origin][np.isfinite(z[:origin])]
        before = before if tail.history is None else before[-tail.history:]
        if len(before) < EVT_MIN_RESIDUALS:
            continue
        var_z, es_z = fit_pot_tail(before, tail.threshold).var_es(alpha)
        block = slice(origin, min(origin + EVT_REFIT_EVERY, stop))
        var[block] = sigma[block] * var_z
        es[block] = np.where(np.isfinite(es_z), sigma[block] * es_z, np.inf)
    return var, es


def _evt_garch(losses: pd.Series, window: int, alpha: float, tail: EvtTail) -> tuple[np.ndarray, np.ndarray]:
    """``evt_garch``: the GARCH-t re-estimated as in ``garch``; within each block its volatility filters every
    day from the first (parameters of data before the block only) and the GPD tail is fitted as in EVT."""
    x = losses.to_numpy()
    var, es = np.full(len(x), np.nan), np.full(len(x), np.nan)
    for start in range(window, len(x), REFIT_EVERY):
        _, fit = garch_forecasts(losses, losses.index[start - 1])
        seed = float(np.var(x[:start]))  # the variance for day 0; its effect has died out long before ``start``
        h = garch_filter(x, fit, seed)  # element t: the forecast for t + 1
        sigma = np.sqrt(np.concatenate(([seed], h[:-1])))
        stop = min(start + REFIT_EVERY, len(x))
        var[start:stop], es[start:stop] = (a[start:stop] for a in conditional_evt(x, sigma, alpha, start, stop, tail))
    return var, es


def rolling_var(returns: pd.Series, quote_type: str, method: str, alpha: float, window: int = 500,
                lstm_variance: pd.Series | None = None, tail: EvtTail = EvtTail()) -> VarForecast:
    """Forecast VaR / ES for every day with enough history. ``returns``: one series on its own sessions.

    ``lstm_variance``: for ``lstm`` and ``evt_lstm``, the model's variance forecasts dated at the origin (for
    the next day). ``tail``: where the ``evt_*`` methods fit their tail (the defaults unless tuning).
    """
    if method not in METHODS:
        raise InputError(f"unknown method '{method}' (expected one of {', '.join(METHODS)})")
    losses = series_losses(returns, quote_type)
    x = losses.to_numpy()
    if len(x) <= window + 1:
        raise InputError(f"{returns.name}: {len(x)} returns; a {window}-day window needs more")
    if method == "hs":
        var, es = _historical(x, window, alpha)
    elif method == "ewma":
        var, es = normal_var_es(ewma_sigma_forecast(x), alpha)
    elif method == "fhs":
        sigma = ewma_sigma_forecast(x)
        z = np.where(sigma > 0, x / sigma, 0.0)
        var, es = _historical(np.nan_to_num(z), window, alpha, scale=sigma)
        warm = np.arange(len(x)) < window + EWMA_WARMUP  # the standardised window must be past the EWMA warm-up
        var[warm], es[warm] = np.nan, np.nan
    elif method == "garch":
        var, es = _garch(losses, window, alpha)
    elif method == "evt_ewma":
        var, es = conditional_evt(x, ewma_sigma_forecast(x), alpha, window, len(x), tail)
    elif method == "evt_garch":
        var, es = _evt_garch(losses, window, alpha, tail)
    else:
        if lstm_variance is None:
            raise InputError(f"the {method} method needs the LSTM's variance forecasts")
        sigma = np.sqrt(lstm_variance.reindex(losses.index).shift(1).to_numpy())
        var, es = normal_var_es(sigma, alpha) if method == "lstm" else conditional_evt(x, sigma, alpha, window,
                                                                                        len(x), tail)
        var[:window], es[:window] = np.nan, np.nan
    keep = np.isfinite(var) & ~np.isnan(es)  # an infinite ES (GPD shape >= 1) stays: its Z2 is not evaluable
    return VarForecast(method, alpha, pd.DatetimeIndex(losses.index[keep]), x[keep], var[keep], es[keep])
