"""Every VaR / ES method as a pure function on arrays, comparable side by side.

Conventions: losses positive, USD, 1-day horizon, confidences 95% and 99%. ``k`` factors, ``m`` positions,
``n`` scenarios. Factor returns are log returns, or basis points for yields (``is_bp``).

* :func:`historical_method`: P&L scenarios by full revaluation of past days (historical simulation).
* :func:`parametric_method`: delta-normal with given per-factor volatilities and correlation matrix
  (EWMA by default; LSTM volatilities and GNN correlations when the caller passes them).
* :func:`monte_carlo_method`: a given scenario array of factor returns (GAN, VAE, vine copula, ...)
  revalued through the same position formulas as historical simulation (options by delta-gamma-vega).
* :func:`filtered_historical_scenarios`: EWMA-devolatilised past returns rescaled to today's volatility
  (Barone-Adesi FHS); revalue them with :func:`monte_carlo_method`.
* :func:`conditional_evt_method`: conditional EVT (McNeil and Frey, 2000) on the book's P&L history: losses
  devolatilised by their EWMA volatility, a GPD tail above the ``EVT_THRESHOLD`` quantile, rescaled by today's
  EWMA volatility.
* :func:`calibrate_regime_blend` and :func:`regime_adjusted_method`: the blend ``k_regime x (w HS +
  (1 - w) parametric)`` with ``w`` and ``k_regime`` calibrated on the book's own P&L history.

Each returns a :class:`MethodResult` that names what bound it (``bound_by``: model version or estimator).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import issparse
from scipy.stats import norm

from risk_platform.errors import ComputationError
from risk_platform.ewma import EWMA_LAMBDA, ewma_sigma_forecast, ewma_variance
from risk_platform.regime import REGIMES
from risk_platform.risk.config import ALPHAS, EVT_THRESHOLD, FHS_VOL_FLOOR, HS_WINDOW
from risk_platform.risk.measures import fit_pot_tail, normal_var_es
from risk_platform.risk.report import take_columns
from risk_platform.risk.revaluation import BookArrays


@dataclass(frozen=True)
class MethodResult:
    """VaR and ES at 95% and 99% of one method (losses positive, USD)."""

    name: str
    var_95: float
    var_99: float
    es_95: float
    es_99: float
    bound_by: str
    kind: str  # historical | parametric | monte_carlo | filtered_historical | conditional_evt | regime_adjusted
    sigma: float | None = None
    n_scenarios: int | None = None
    complete: bool = True  # False when some factors of the book were not covered (excluded from headlines)
    details: dict = field(default_factory=dict)

    def figure(self, key: str) -> float:
        return float(getattr(self, key))

    def to_dict(self) -> dict:
        """The report's entry: every field, with ``details`` merged in (e.g. ``lambda``, ``window_start``)."""
        out = asdict(self)
        out.update(out.pop("details"))
        return out


def _tails(pnl: np.ndarray, alphas=ALPHAS) -> dict[str, float]:
    """VaR and ES at each ``alpha`` exactly as :func:`~risk_platform.risk.measures.historical_var_es`
    (inverted-CDF VaR, Acerbi-Tasche ES), from one partial sort of the losses (O(n))."""
    losses = -np.asarray(pnl, dtype=float)
    n = len(losses)
    if n == 0 or not np.isfinite(losses).all():
        raise ComputationError("P&L scenarios are empty or contain NaN or infinite values")
    ks = [max(math.ceil(n * a - 1e-9), 1) - 1 for a in alphas]
    part = np.partition(losses, sorted(set(ks)))
    out = {}
    for a, k in zip(alphas, ks, strict=True):
        var = float(part[k])
        upper = part[k + 1:]
        above = upper[upper > var]
        tail_mass = n * (1.0 - a)
        p = round(a * 100)
        out[f"var_{p}"] = var
        out[f"es_{p}"] = float((above.sum() + var * (tail_mass - len(above))) / tail_mass)
    return out


def historical_method(pnl: np.ndarray, bound_by: str = "historical simulation", name: str = "historical",
                      **details) -> MethodResult:
    """Historical simulation from P&L scenarios ``pnl`` (n,), gains positive."""
    pnl = np.asarray(pnl, dtype=float)
    return MethodResult(name=name, bound_by=bound_by, kind="historical", n_scenarios=len(pnl),
                        details=details, **_tails(pnl))


def covariance_from(vols: np.ndarray, correlation: np.ndarray) -> np.ndarray:
    """``diag(vols) C diag(vols)``: (k,), (k, k) -> (k, k)."""
    vols = np.asarray(vols, dtype=float)
    return np.asarray(correlation, dtype=float) * np.outer(vols, vols)


def correlation_from(covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vols, correlation) of a covariance matrix (zero-variance factors get correlation 0, diagonal 1)."""
    vols = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = covariance / np.outer(vols, vols)
    corr = np.nan_to_num(corr)
    np.fill_diagonal(corr, 1.0)
    return vols, corr


def parametric_method(exposures: np.ndarray, vols: np.ndarray, correlation: np.ndarray, bound_by: str,
                      name: str = "parametric", alphas=ALPHAS) -> tuple[MethodResult, np.ndarray]:
    """Delta-normal VaR/ES (zero mean) of factor exposures.

    ``exposures``: (m, k) USD per unit factor return, dense or ``scipy.sparse`` (or (k,) for the book);
    ``vols``: (k,) 1-day factor
    volatilities in return units; ``correlation``: (k, k). Returns the result (``sigma`` = 1-day P&L
    standard deviation) and the Euler volatility contribution of each row of ``exposures`` (sums to sigma).
    ``VaR = z_a sigma``, ``ES = sigma phi(z_a) / (1 - a)``.
    """
    e = exposures if issparse(exposures) else np.atleast_2d(np.asarray(exposures, dtype=float))
    cov = covariance_from(vols, correlation)
    total = np.asarray(e.sum(axis=0)).ravel()
    sigma = float(np.sqrt(max(total @ cov @ total, 0.0)))
    marginal = cov @ total / sigma if sigma > 0 else np.zeros_like(total)
    figures = {}
    for a in alphas:
        var, es = normal_var_es(sigma, a)
        figures[f"var_{round(a * 100)}"], figures[f"es_{round(a * 100)}"] = float(var), float(es)
    result = MethodResult(name=name, bound_by=bound_by, kind="parametric", sigma=sigma, **figures)
    return result, np.asarray(e @ marginal).ravel()


def monte_carlo_method(book: BookArrays, scenario_returns: np.ndarray, is_bp: np.ndarray, bound_by: str,
                       name: str = "monte_carlo", kind: str = "monte_carlo", growth: np.ndarray | None = None,
                       columns: np.ndarray | None = None, **details) -> tuple[MethodResult, np.ndarray]:
    """VaR/ES of the book over scenario factor returns (n, k') by full revaluation (``growth`` defaults to
    ``exp(r)`` for log-return factors); ``columns``: the column of each of the book's factors in the scenarios
    (-1: absent, no move; None: the scenarios are in the book's factor order). Returns the result and the
    portfolio P&L per scenario (n,)."""
    r = np.asarray(scenario_returns)  # float32 model output is kept as float32 (half the memory traffic)
    pnl = (book.total_pnl_from_returns(r, is_bp, columns) if growth is None
           else book.total_pnl(take_columns(r, columns), take_columns(growth, columns)))
    result = MethodResult(name=name, bound_by=bound_by, kind=kind, n_scenarios=len(pnl), details=details,
                          **_tails(pnl))
    return result, pnl


def filtered_historical_scenarios(returns: np.ndarray, observed: np.ndarray, cond_var: np.ndarray,
                                  next_var: np.ndarray, vol_floor: float = FHS_VOL_FLOOR) -> np.ndarray:
    """Filtered historical simulation scenarios (n, k): each past return divided by the EWMA volatility
    it had (known the day before) and multiplied by today's forecast for tomorrow,
    ``r_t sigma_{T+1} / max(sigma_t, vol_floor x rms)``, ``rms`` the factor's root-mean-square return over
    the window: the floor keeps a currency coming off a peg (USDCNY in 2005, volatility ~0) from being
    scaled up thousands of times. Days a venue was closed stay 0; a feed without a defined volatility
    (warm-up, zero variance) keeps its raw return."""
    r = np.asarray(returns, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    n_obs = np.maximum(observed.sum(axis=0), 1)
    floor_var = vol_floor**2 * (np.where(observed, r, 0.0) ** 2).sum(axis=0) / n_obs
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(np.asarray(next_var)[None, :] / np.maximum(np.asarray(cond_var), floor_var[None, :]))
    ratio = np.where(np.isfinite(ratio) & (ratio > 0), ratio, 1.0)
    return np.where(observed, r * ratio, 0.0)


def conditional_evt_method(pnl: np.ndarray, bound_by: str, lam: float = EWMA_LAMBDA,
                           threshold: float = EVT_THRESHOLD, name: str = "conditional_evt",
                           alphas=ALPHAS) -> MethodResult:
    """Conditional EVT VaR/ES of tomorrow's loss from a P&L history ``pnl`` (n,), oldest first, gains positive:
    each day's loss divided by its EWMA(``lam``) volatility forecast (made the day before, as filtered HS),
    :func:`~risk_platform.risk.measures.fit_pot_tail` of these standardised losses above their ``threshold``
    quantile (the backtests' rule), ``VaR = sigma x VaR_z`` and ``ES = sigma x ES_z`` with ``sigma`` today's
    EWMA volatility forecast for tomorrow. :class:`ComputationError` when the fitted shape is 1 or more (an
    infinite ES) or the tail has too few points."""
    pnl = np.asarray(pnl, dtype=float)
    sigma = ewma_sigma_forecast(pnl, lam)
    usable = np.isfinite(sigma) & (sigma > 0)
    tail = fit_pot_tail(-pnl[usable] / sigma[usable], threshold)
    sigma_next = float(np.sqrt(ewma_variance(pnl, lam)[-1]))
    figures = {}
    for a in alphas:
        var_z, es_z = tail.var_es(a)
        if not math.isfinite(es_z):
            raise ComputationError(f"conditional EVT: the GPD tail of the standardised P&L losses has shape"
                                   f" {tail.xi:.2f} >= 1: its ES is infinite")
        figures[f"var_{round(a * 100)}"], figures[f"es_{round(a * 100)}"] = sigma_next * var_z, sigma_next * es_z
    return MethodResult(name=name, bound_by=bound_by, kind="conditional_evt", n_scenarios=int(usable.sum()),
                        details={"lambda": lam, "threshold_quantile": threshold, "sigma_next": sigma_next,
                                 "gpd_threshold_z": tail.u, "gpd_shape": tail.xi, "gpd_scale": tail.beta,
                                 "exceedances": tail.exceedances}, **figures)


# ------------------------------------------------------------------------------- regime-adjusted blend

WEIGHT_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
MIN_REGIME_DAYS = 60


@dataclass(frozen=True)
class RegimeCalibration:
    """Calibrated blend ``VaR = k_regime (w VaR_HS + (1 - w) VaR_EWMA)`` per confidence.

    How: over the book's P&L history (today's positions revalued on every past day), each day's HS VaR
    (previous ``window`` days) and EWMA-normal VaR (P&L EWMA variance known the day before) are computed.
    ``weight[a]`` is the grid value in ``WEIGHT_GRID`` minimising the mean tick loss of the blend at ``a``;
    ``factor[a][regime]`` is the a-quantile (inverted CDF) of ``loss_t / blend_t`` over the days whose
    previous-day market regime is ``regime``: the scale that gives the blend the correct exception rate
    ``1 - a`` in that regime over the history (1.0 when the regime has fewer than ``MIN_REGIME_DAYS``).
    """

    weight: dict[float, float]
    factor: dict[float, dict[str, float]]
    days: dict[str, int]
    start: str
    end: str
    window: int
    exception_rate_before: dict[float, dict[str, float]]
    exception_rate_after: dict[float, dict[str, float]]
    tick_loss: dict[float, dict[float, float]]

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: ({str(a): v for a, v in val.items()} if isinstance(val, dict) and k != "days" else val)
                for k, val in d.items()}


def rolling_hs_var(pnl: np.ndarray, window: int, alpha: float) -> np.ndarray:
    """HS VaR for day t from the ``window`` P&L values before t (inverted-CDF quantile); NaN before."""
    losses = pd.Series(-np.asarray(pnl, dtype=float))
    k = int(np.ceil(window * alpha - 1e-9))  # the k-th smallest of the window, as historical_var_es
    q = losses.rolling(window).quantile((k - 1 + 1e-6) / (window - 1), interpolation="lower")
    return q.shift(1).to_numpy()


def _quantile_inverted(x: np.ndarray, alpha: float) -> float:
    return float(np.quantile(x, alpha, method="inverted_cdf"))


def calibrate_regime_blend(pnl: np.ndarray, regimes: np.ndarray, window: int = HS_WINDOW, lam: float = EWMA_LAMBDA,
                           alphas=ALPHAS, dates: pd.DatetimeIndex | None = None) -> RegimeCalibration:
    """Calibrate the regime-adjusted blend on a P&L history (see :class:`RegimeCalibration`).

    ``pnl`` (n,) daily P&L of the book, oldest first; ``regimes`` (n,) the market regime of each day
    (the regime applied to day t is that of day t-1, known when the VaR is set).
    """
    pnl = np.asarray(pnl, dtype=float)
    losses = -pnl
    known_regime = pd.Series(np.asarray(regimes, dtype=object)).shift(1).to_numpy()
    sigma = ewma_sigma_forecast(pnl, lam)
    weight, factor, before, after, ticks = {}, {}, {}, {}, {}
    usable = None
    for a in alphas:
        hs = rolling_hs_var(pnl, window, a)
        pm = norm.ppf(a) * sigma
        ok = np.isfinite(hs) & np.isfinite(pm) & (pm > 0)
        usable = ok if usable is None else usable & ok
        grid = {}
        for w in WEIGHT_GRID:
            blend = w * hs[ok] + (1 - w) * pm[ok]
            hits = (losses[ok] > blend).astype(float)
            grid[float(w)] = float(np.mean((hits - (1.0 - a)) * (losses[ok] - blend)))
        w_best = min(grid, key=lambda w: (round(grid[w], 12), w))
        blend = w_best * hs + (1 - w_best) * pm
        weight[a], ticks[a] = w_best, grid
        factor[a], before[a], after[a] = {}, {}, {}
        for regime in REGIMES:
            sel = ok & (known_regime == regime) & (blend > 0)
            n_sel = int(sel.sum())
            k = _quantile_inverted(losses[sel] / blend[sel], a) if n_sel >= MIN_REGIME_DAYS else 1.0
            factor[a][regime] = k
            before[a][regime] = float(np.mean(losses[sel] > blend[sel])) if n_sel else float("nan")
            after[a][regime] = float(np.mean(losses[sel] > k * blend[sel])) if n_sel else float("nan")
    days = {r: int((usable & (known_regime == r)).sum()) for r in REGIMES} if usable is not None else {}
    idx = np.flatnonzero(usable) if usable is not None else np.array([], dtype=int)
    fmt = (lambda i: f"{dates[i]:%Y-%m-%d}") if dates is not None else str
    return RegimeCalibration(weight=weight, factor=factor, days=days, start=fmt(idx[0]) if len(idx) else "",
                             end=fmt(idx[-1]) if len(idx) else "", window=window, exception_rate_before=before,
                             exception_rate_after=after, tick_loss=ticks)


def regime_factor(calibration: RegimeCalibration, alpha: float, regime: str,
                  probability: Mapping[str, float] | None = None) -> float:
    """The regime scale at ``alpha``: probability-weighted over regimes when probabilities are given
    (``sum p_r k_r``), else the factor of ``regime`` (1.0 for an unknown regime)."""
    factors = calibration.factor[alpha]
    if probability and all(np.isfinite(probability.get(r, np.nan)) for r in REGIMES):
        total = sum(probability[r] for r in REGIMES)
        return float(sum(probability[r] * factors[r] for r in REGIMES) / total)
    return float(factors.get(regime, 1.0))


def regime_adjusted_method(historical: MethodResult, parametric: MethodResult, calibration: RegimeCalibration,
                           regime: str, probability: Mapping[str, float] | None, bound_by: str,
                           name: str = "regime_adjusted", alphas=ALPHAS) -> MethodResult:
    """``k (w HS + (1 - w) parametric)`` for VaR and, with the same ``w`` and ``k``, for ES."""
    figures, used = {}, {}
    for a in alphas:
        p = round(a * 100)
        w = calibration.weight[a]
        k = regime_factor(calibration, a, regime, probability)
        used[str(a)] = {"weight_historical": w, "regime_factor": k}
        for fig in (f"var_{p}", f"es_{p}"):
            figures[fig] = k * (w * historical.figure(fig) + (1 - w) * parametric.figure(fig))
    return MethodResult(name=name, bound_by=bound_by, kind="regime_adjusted", complete=parametric.complete,
                        details={"regime": regime, "regime_probability": dict(probability or {}), **used},
                        **figures)


def binding_method(results: Mapping[str, MethodResult], figure: str) -> MethodResult:
    """The method that binds a headline figure: the most conservative complete one (the largest loss)."""
    complete = [r for r in results.values() if r.complete] or list(results.values())
    return max(complete, key=lambda r: r.figure(figure))
