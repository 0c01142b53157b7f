"""VaR and ES backtests. Losses are positive; an exception is a day whose loss exceeds that day's VaR.

* Kupiec (1995) proportion of failures: ``LR = -2 ln[(1-p)^(n-x) p^x / ((1-x/n)^(n-x) (x/n)^x)] ~ chi2(1)``
  with ``p = 1 - alpha``.
* Christoffersen (1998) independence (first-order Markov alternative) ``~ chi2(1)`` and conditional coverage
  ``LR_cc = LR_pof + LR_ind ~ chi2(2)``.
* Basel traffic light from the binomial CDF with ``p = 1 - alpha``: yellow from the first count whose
  cumulative probability ``P(X <= x)`` reaches 95%, red from the first that reaches 99.99% (for 250 days
  at 99%: green 0-4, yellow 5-9, red 10+, as in the Basel table).
* Acerbi-Szekely (2014) ``Z2 = sum(L_t 1{L_t > VaR_t} / ES_t) / (n (1 - alpha)) - 1``: zero when ES is right,
  positive when it is underestimated; their distribution-robust critical values 0.70 (5%) and 1.8 (0.01%).
* Quantile (tick) loss of VaR as the alpha-quantile of losses: ``mean((alpha - 1{L > VaR}) (VaR - L))``
  written so that it is non-negative: ``mean((1{L > VaR} - (1 - alpha)) (L - VaR))``.

A statistic that is undefined on the data is never reported as a number, a zone or a pass: it is
``"not evaluable: <why>"`` (:data:`NOT_EVALUABLE`). Z2 divides by ES, so it is not evaluable when an ES
forecast is missing, infinite, zero or negative on an exception day; the traffic light needs scored days;
Kupiec and Christoffersen raise :class:`~risk_platform.errors.ComputationError` on fewer days than they need
(one and two). Conventions that are defined (``0 log 0 = 0``: no exception gives Kupiec's
``-2 n ln(1 - p)``, Christoffersen independence ``LR 0`` and Z2 ``-1``) are kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.special import xlogy
from scipy.stats import binom, chi2

from risk_platform.errors import ComputationError, InputError

Z2_CRITICAL_5PCT = 0.70
Z2_CRITICAL_001PCT = 1.8
NOT_EVALUABLE = "not evaluable"


def kupiec_lr(exceptions: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Kupiec LR statistics of exception counts (any shape) over ``n`` days (vectorised for the bootstrap)."""
    x = np.asarray(exceptions, dtype=float)
    p, observed = 1.0 - alpha, x / n
    log_null = xlogy(n - x, 1 - p) + xlogy(x, p)
    log_alt = xlogy(n - x, 1 - observed) + xlogy(x, observed)
    return np.maximum(-2.0 * (log_null - log_alt), 0.0)


def kupiec_pof(exceptions: int, n: int, alpha: float) -> tuple[float, float]:
    """Kupiec LR statistic and its chi2(1) p-value."""
    if n < 1 or not 0 <= exceptions <= n:
        raise ComputationError(f"Kupiec test {NOT_EVALUABLE}: {exceptions} exceptions over {n} scored days")
    stat = float(kupiec_lr(np.asarray(exceptions), n, alpha))
    return stat, float(chi2.sf(stat, 1))


def independence_lr(hits: np.ndarray) -> np.ndarray:
    """Christoffersen independence LR of 0/1 hit sequences, one per row of ``hits`` (m, n) (vectorised)."""
    h = np.atleast_2d(np.asarray(hits, dtype=bool))
    prev, curr = h[:, :-1], h[:, 1:]
    n01 = np.sum(~prev & curr, axis=1).astype(float)
    n11 = np.sum(prev & curr, axis=1).astype(float)
    n0 = np.sum(~prev, axis=1).astype(float)
    n1 = np.sum(prev, axis=1).astype(float)
    n00, n10 = n0 - n01, n1 - n11
    pi0 = np.divide(n01, n0, out=np.zeros_like(n0), where=n0 > 0)
    pi1 = np.divide(n11, n1, out=np.zeros_like(n1), where=n1 > 0)
    pi = (n01 + n11) / (n0 + n1)
    log_null = xlogy(n00 + n10, 1 - pi) + xlogy(n01 + n11, pi)
    log_alt = xlogy(n00, 1 - pi0) + xlogy(n01, pi0) + xlogy(n10, 1 - pi1) + xlogy(n11, pi1)
    return np.maximum(-2.0 * (log_null - log_alt), 0.0)


def christoffersen(hits: np.ndarray, alpha: float) -> tuple[float, float, float, float]:
    """Independence LR and p-value, conditional-coverage LR and p-value, from a 0/1 exception series."""
    h = np.asarray(hits, dtype=int)
    if len(h) < 2:
        raise ComputationError(f"Christoffersen test {NOT_EVALUABLE}: {len(h)} scored day(s), it needs two")
    lr_ind = float(independence_lr(h)[0])
    lr_pof, _ = kupiec_pof(int(h.sum()), len(h), alpha)
    lr_cc = lr_pof + lr_ind
    return lr_ind, float(chi2.sf(lr_ind, 1)), lr_cc, float(chi2.sf(lr_cc, 2))


def traffic_light(exceptions: int, n: int, alpha: float) -> str:
    """Basel zone (green / yellow / red) of an exception count over n days at confidence alpha; ``"not
    evaluable: no scored days"`` when ``n`` is 0."""
    if n < 1:
        return f"{NOT_EVALUABLE}: no scored days"
    p = 1.0 - alpha
    if binom.cdf(exceptions, n, p) >= 0.9999:
        return "red"
    if binom.cdf(exceptions, n, p) >= 0.95:
        return "yellow"
    return "green"


def z2_not_evaluable(losses: np.ndarray, var: np.ndarray, es: np.ndarray) -> str | None:
    """Why Z2 is undefined on these forecasts (``"not evaluable: ..."``), or None when it is defined."""
    if es.shape != losses.shape:
        return f"{NOT_EVALUABLE}: {len(es)} ES forecasts for {len(losses)} days"
    missing = int(np.sum(~np.isfinite(es)))
    if missing:
        return f"{NOT_EVALUABLE}: ES forecast missing or infinite on {missing} of {len(es)} days"
    hits = losses > var
    non_positive = int(np.sum(hits & (es <= 0)))
    if non_positive:
        return (f"{NOT_EVALUABLE}: ES forecast zero or negative on {non_positive} of {int(hits.sum())} exception"
                " days (Z2 divides by ES)")
    return None


def acerbi_szekely_z2(losses: np.ndarray, var: np.ndarray, es: np.ndarray, alpha: float) -> float:
    """Z2 statistic of an ES forecast series (positive: ES too small); :class:`ComputationError` when it is
    not evaluable (:func:`z2_not_evaluable`)."""
    why = z2_not_evaluable(losses, var, es)
    if why is not None:
        raise ComputationError(f"Acerbi-Szekely Z2 {why}")
    hits = losses > var
    return float(np.sum(losses[hits] / es[hits]) / (len(losses) * (1.0 - alpha)) - 1.0)


def tick_losses(losses: np.ndarray, var: np.ndarray, alpha: float) -> np.ndarray:
    """Per-day quantile (tick) loss of VaR as the alpha-quantile of losses (non-negative, lower is better)."""
    hits = (np.asarray(losses) > np.asarray(var)).astype(float)
    return (hits - (1.0 - alpha)) * (np.asarray(losses, dtype=float) - np.asarray(var, dtype=float))


def tick_loss(losses: np.ndarray, var: np.ndarray, alpha: float) -> float:
    """Mean quantile (tick) loss of VaR as the alpha-quantile of losses (lower is better)."""
    return float(np.mean(tick_losses(losses, var, alpha)))


@dataclass(frozen=True)
class BacktestResult:
    """Exceptions and test statistics of a VaR/ES forecast series. ``es_z2`` is None and ``es_zone`` says
    ``"not evaluable: <why>"`` when Z2 is undefined; both are None when no ES was given."""

    alpha: float
    n: int
    exceptions: int
    expected_exceptions: float
    kupiec_lr: float
    kupiec_p: float
    christoffersen_lr: float
    christoffersen_p: float
    conditional_coverage_lr: float
    conditional_coverage_p: float
    zone: str
    es_z2: float | None
    es_zone: str | None
    tick_loss: float

    def summary(self) -> str:
        es = "" if self.es_zone is None else f", ES Z2 {self.es_zone}" if self.es_z2 is None \
            else f", ES Z2 {self.es_z2:+.2f} ({self.es_zone})"
        return (f"{self.n} days at {self.alpha:.1%}: {self.exceptions} exceptions (expected"
                f" {self.expected_exceptions:.1f}), Kupiec p {self.kupiec_p:.3f}, Christoffersen p"
                f" {self.christoffersen_p:.3f}, conditional coverage p {self.conditional_coverage_p:.3f},"
                f" zone {self.zone}{es}, tick loss {self.tick_loss:.4g}")

    def to_dict(self) -> dict:
        return asdict(self)


def backtest(losses: np.ndarray, var: np.ndarray, alpha: float, es: np.ndarray | None = None) -> BacktestResult:
    """Backtest VaR (and ES when given) forecasts against realized losses; arrays of shape (n,)."""
    losses, var = np.asarray(losses, dtype=float), np.asarray(var, dtype=float)
    if not 0.0 < alpha < 1.0:
        raise InputError(f"confidence must be strictly between 0 and 1, got {alpha}")
    if losses.shape != var.shape or losses.ndim != 1 or len(losses) < 2:
        raise InputError("losses and VaR must be 1-d arrays of the same length (at least 2)")
    if not (np.all(np.isfinite(losses)) and np.all(np.isfinite(var))):
        raise ComputationError("losses and VaR must be finite (a NaN VaR is no forecast: score only defined days)")
    hits = losses > var
    n, x = len(losses), int(hits.sum())
    lr_pof, p_pof = kupiec_pof(x, n, alpha)
    lr_ind, p_ind, lr_cc, p_cc = christoffersen(hits, alpha)
    z2 = es_zone = None
    if es is not None:
        es = np.asarray(es, dtype=float)
        es_zone = z2_not_evaluable(losses, var, es)
        if es_zone is None:
            z2 = acerbi_szekely_z2(losses, var, es, alpha)
            es_zone = "red" if z2 > Z2_CRITICAL_001PCT else "yellow" if z2 > Z2_CRITICAL_5PCT else "green"
    return BacktestResult(alpha, n, x, n * (1 - alpha), lr_pof, p_pof, lr_ind, p_ind, lr_cc, p_cc,
                          traffic_light(x, n, alpha), z2, es_zone, tick_loss(losses, var, alpha))
