"""Crisis-window validation: for each of the seven crisis windows of DESIGN.md and each model family, train
only on data dated before the window starts, then forecast through the window and backtest.

What is backtested: the 1-day VaR/ES (95%, 99%; losses positive, USD) of the *validation book*, the risk
book's first-order USD exposures ``x`` to the factor returns (USD per unit log return; ``-dv01`` per bp for
yields) held fixed through history, so that its P&L on day t is ``x . r_t`` (a venue that was closed did not
move). The forecast for day t uses data up to t-1 only. Methods:

* baselines on the book's P&L series (see :mod:`risk_platform.validation.var_forecasts`): ``hs`` (500 days),
  ``ewma`` (normal, lambda 0.94), ``garch`` (GARCH(1,1)-t, refitted every 250 days on the data before),
  ``fhs`` (EWMA-filtered historical simulation); beside them, on the same P&L, the non-learned model methods
  ``evt_ewma`` and ``evt_garch`` (:data:`REFERENCE_METHODS`: shown, never the benchmark);
* ``lstm``: normal with ``sigma_t^2 = (x v_t)' C_t (x v_t)``, ``v_t`` the LSTM's volatility forecasts of each
  series made at its last session before t, ``C_t`` the EWMA(0.94) correlation of the returns up to t-1;
* ``evt_lstm`` (the method the LSTM family is judged on, ``ModelFamily.judged_method``): conditional EVT over that
  book sigma, a GPD tail fitted to the book's losses standardised by it on every day before the origin, the
  training period included (in-sample sigma), as :func:`~risk_platform.validation.var_forecasts.conditional_evt`;
* ``gnn``: normal with the EWMA(0.94) volatilities and the GNN's forecast correlation made at the last
  complete day before t;
* ``gan``, ``vae``: the empirical VaR/ES of ``x . s`` over ``n`` generated scenarios ``s`` of the market regime
  of day t-1 (the generators learn returns by regime, so their VaR moves only when the regime does).

Family metrics in the window: the LSTM's QLIKE/MSE against EWMA and GARCH-t (fitted on the same pre-window
data), the GNN's Frobenius error against the 63-day sample and EWMA correlations, the generators' quality
metrics (:func:`~risk_platform.models.generator_quality.generator_quality`) of high-regime scenarios against
the window's real complete-day returns. Validation retrains each family with its preset's architecture on at
most ``TRAIN_YEARS`` years before the window, with the epoch budget of its family's validation config
(:mod:`risk_platform.families`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from risk_platform.crisis_windows import CrisisWindow
from risk_platform.errors import InputError, LeakageError
from risk_platform.ewma import EWMA_LAMBDA
from risk_platform.features.market_stress import LEVEL_DAYS, MarketRoles
from risk_platform.models.datasets import market_regime, wide_feature
from risk_platform.regime import REGIMES
from risk_platform.risk.config import ALPHAS, HS_WINDOW
from risk_platform.risk.measures import historical_var_es, normal_var_es
from risk_platform.risk.revaluation import BookArrays
from risk_platform.risk.valuation import value_positions
from risk_platform.validation.backtest import backtest
from risk_platform.validation.methods import BACKTEST_METHODS, BASELINES
from risk_platform.validation.var_forecasts import VarForecast, conditional_evt, rolling_var

WARMUP_DAYS = 300  # EWMA warm-up before the HS window (0.94^300 ~ 1e-8)
TRAIN_YEARS = 10
SCENARIOS = 20_000
CORRELATION_SEED_DAYS = 250  # the EWMA correlation starts from the sample covariance of the first days
REFERENCE_METHODS = (*BASELINES, *(m.name for m in BACKTEST_METHODS if m.family == "model" and not m.learned))
# what every family is shown against on the book: the baselines (the best of them is the policy's benchmark)
# and the non-learned model methods (conditional EVT over EWMA and GARCH-t): whether the learning earns its place


# ------------------------------------------------------------------------------------------ data splits


def training_rows(daily: pd.DataFrame, window: CrisisWindow, years: int = TRAIN_YEARS) -> pd.DataFrame:
    """The ``daily_features`` rows a model may train on: the ``years`` before the window, none inside or after."""
    first = window.start - pd.DateOffset(years=years)
    rows = daily[(daily["date"] >= first) & (daily["date"] < window.start)]
    assert_before(rows["date"], window, "training rows")
    return rows


def history_through(daily: pd.DataFrame, window: CrisisWindow, extra_days: int = 0) -> pd.DataFrame:
    """Rows up to the window's end (plus ``extra_days`` calendar days for forward-looking targets): the
    inputs of forecasts made inside the window, never of training."""
    return daily[daily["date"] <= window.end + pd.Timedelta(days=extra_days)]


def assert_before(dates: pd.Series | pd.DatetimeIndex, window: CrisisWindow, what: str) -> None:
    """Raise :class:`LeakageError` if any date falls on or after the window's start (the no-leakage rule)."""
    dates = pd.DatetimeIndex(dates)
    if len(dates) and dates.max() >= window.start:
        raise LeakageError(f"{what}: {dates.max():%Y-%m-%d} is not before {window.key} ({window.start:%Y-%m-%d})")


# ------------------------------------------------------------------------------------------ the book


def book_exposure(portfolio, panel: pd.DataFrame, instruments: pd.DataFrame,
                  asof: pd.Timestamp | None = None) -> pd.Series:
    """The book's first-order USD exposure per factor (USD per unit log return; USD per bp for yields) as of
    ``asof`` (default: the panel's last date). Positions that cannot be valued are left out."""
    asof = pd.Timestamp(asof) if asof is not None else panel["date"].max()
    book, _ = value_positions(portfolio, panel, instruments, asof)
    book = book[np.isfinite(book["value_usd"].to_numpy(dtype=float))].reset_index(drop=True)
    factors = sorted((set(book["symbol"]) | set(book["fx_symbol"])) - {""})
    return pd.Series(BookArrays.from_book(book, factors).exposures().sum(axis=0), index=factors, name="exposure_usd")


def book_pnl(daily: pd.DataFrame, exposure: pd.Series) -> pd.Series:
    """Daily P&L (USD) of the validation book on the union calendar: ``x . r_t``, closed venues not moving. A series
    with no rows in ``daily`` (one that started trading after the history given, e.g. before a crisis window) does
    not move either (:func:`series_without_history` names them); none of the book's series in ``daily`` is an
    :class:`InputError`."""
    if not exposure.index.isin(pd.unique(daily["symbol"])).any():
        raise InputError(f"validation book: no feature rows for any of its {len(exposure)} series "
                         f"({', '.join(map(str, exposure.index[:5]))}{', ...' if len(exposure) > 5 else ''})")
    wide = wide_feature(daily, "ret").reindex(columns=exposure.index)
    return pd.Series(wide.fillna(0.0).to_numpy() @ exposure.to_numpy(), index=wide.index, name="book_pnl")


def series_without_history(daily: pd.DataFrame, exposure: pd.Series) -> list[str]:
    """The book's series with no rows in ``daily``: they do not move in :func:`book_pnl`."""
    return sorted(set(exposure.index) - set(pd.unique(daily["symbol"])))


def forecasts_before(wide: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """For each of ``dates``, the latest row of ``wide`` (forecasts dated at their origin) strictly before it."""
    union = wide.index.union(dates)
    return wide.reindex(union).ffill().shift(1).reindex(dates)


def ewma_correlations(returns: pd.DataFrame, dates: pd.DatetimeIndex, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """(n, k, k): the EWMA correlation of ``returns`` (dates x k; NaN = no move) using days before each date."""
    x = returns.fillna(0.0).to_numpy()
    position = returns.index.searchsorted(dates)  # rows strictly before each date
    out = np.empty((len(dates), x.shape[1], x.shape[1]))
    seed = CORRELATION_SEED_DAYS
    cov = np.cov(x[:seed].T) if len(x) > seed else np.eye(x.shape[1])
    wanted: dict[int, list[int]] = {}
    for i, p in enumerate(position):
        wanted.setdefault(int(p), []).append(i)
    for t in range(int(position.max()) + 1 if len(position) else 0):
        for i in wanted.get(t, []):
            out[i] = _to_correlation(cov)
        cov = lam * cov + (1.0 - lam) * np.outer(x[t], x[t])
    for i in wanted.get(len(x), []):
        out[i] = _to_correlation(cov)
    return out


def _to_correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
    return cov / np.outer(sd, sd)


def normal_book_forecast(method: str, pnl: pd.Series, exposure: np.ndarray, vols: np.ndarray, corr: np.ndarray,
                         alpha: float) -> VarForecast:
    """Normal VaR/ES of the book with per-factor vols (n, k) and correlations (n, k, k) dated like ``pnl``."""
    xv = exposure[None, :] * np.nan_to_num(vols)
    sigma = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", xv, corr, xv), 0.0))
    var, es = normal_var_es(sigma, alpha)
    return _forecast(method, alpha, pnl, var, es)


def scenario_book_forecasts(method: str, pnl: pd.Series, exposure: np.ndarray, regime_before: pd.Series,
                            vol_before: np.ndarray, shocks: Callable[[str], np.ndarray],
                            alphas: tuple[float, ...] = ALPHAS) -> list[VarForecast]:
    """Empirical VaR/ES of the book, per day, over generated scenarios: the shocks of the previous day's
    regime (``shocks(regime)`` -> (m, k), drawn once per regime) times the previous day's EWMA volatilities
    (``vol_before`` (n_days, k), point in time), as filtered historical simulation scales historical shocks.
    The book's scenario P&L of a day is ``shocks @ (vol * exposure)``: exact, one product per day."""
    var = {a: np.full(len(pnl), np.nan) for a in alphas}
    es = {a: np.full(len(pnl), np.nan) for a in alphas}
    for i, regime in enumerate(regime_before.to_numpy()):
        vol = vol_before[i]
        if regime not in REGIMES or not np.all(np.isfinite(vol) & (vol > 0)):
            continue
        scenario_pnl = shocks(str(regime)) @ (vol * exposure)
        for a in alphas:
            tail = historical_var_es(scenario_pnl, a)
            var[a][i], es[a][i] = tail.var, tail.es
    return [_forecast(method, a, pnl, var[a], es[a]) for a in alphas]


def _forecast(method: str, alpha: float, pnl: pd.Series, var: np.ndarray, es: np.ndarray) -> VarForecast:
    keep = np.isfinite(var) & np.isfinite(es)
    return VarForecast(method, alpha, pd.DatetimeIndex(pnl.index[keep]), -pnl.to_numpy()[keep], var[keep], es[keep])


def baseline_forecasts(pnl: pd.Series, window: CrisisWindow, alphas: tuple[float, ...] = ALPHAS
                       ) -> list[VarForecast]:
    """The :data:`REFERENCE_METHODS` (HS, EWMA, GARCH-t, FHS, then conditional EVT over EWMA and GARCH-t)
    forecasts of the book for the window's days (data before each day only)."""
    history = pnl[pnl.index <= window.end]
    first = max(0, int(history.index.searchsorted(window.start)) - HS_WINDOW - WARMUP_DAYS)
    history = history.iloc[first:]
    if int((history.index < window.start).sum()) < HS_WINDOW:
        raise InputError(f"{window.key}: fewer than {HS_WINDOW} days of book P&L before the window")
    out = []
    for method in REFERENCE_METHODS:
        for alpha in alphas:
            out.append(in_window(rolling_var(history, "price", method, alpha, HS_WINDOW), window))
    return out


def in_window(forecast: VarForecast, window: CrisisWindow) -> VarForecast:
    return forecast.take((forecast.dates >= window.start) & (forecast.dates <= window.end))


# ------------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class WindowValidation:
    """One family in one window: status, backtests (a row per method and confidence), family metrics, the
    99% forecasts for plots, and what the model was trained on."""

    window: str
    family: str
    status: str  # "evaluated" or "not evaluable: <reason>"
    backtests: list[dict] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    series: list[dict] = field(default_factory=list)  # date, loss, var_99 per method
    train_start: str | None = None
    train_end: str | None = None
    n_train: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WindowValidation:
        return cls(**data)

    def summary(self) -> str:
        head = f"{self.family} in {self.window}: {self.status}"
        rows = [f"  {b['method']:>6} {b['alpha']:.0%}: {b['exceptions']}/{b['n']} exceptions"
                f" (expected {b['expected_exceptions']:.1f}), zone {b['zone']}, Kupiec p {b['kupiec_p']:.3f}"
                for b in self.backtests]
        return "\n".join([head, *rows])


def backtest_rows(forecasts: list[VarForecast]) -> list[dict]:
    """One dict per forecast: method, alpha and the :class:`~risk_platform.validation.backtest.BacktestResult`."""
    rows = []
    for f in forecasts:
        if len(f.dates) < 2:
            continue
        result = backtest(f.losses, f.var, f.alpha, f.es)
        rows.append({"method": f.method, **result.to_dict(), "first": f"{f.dates[0]:%Y-%m-%d}",
                     "last": f"{f.dates[-1]:%Y-%m-%d}"})
    return rows


def series_rows(forecasts: list[VarForecast], alpha: float = 0.99) -> list[dict]:
    """Date, loss and each method's VaR at ``alpha`` (for the report's plots)."""
    frames = [pd.Series(f.var, index=f.dates, name=f"var_{f.method}") for f in forecasts if f.alpha == alpha]
    losses = [pd.Series(f.losses, index=f.dates, name="loss") for f in forecasts if f.alpha == alpha]
    if not frames:
        return []
    table = pd.concat([losses[0], *frames], axis=1).sort_index()
    table.insert(0, "date", table.index.strftime("%Y-%m-%d"))
    return table.replace({np.nan: None}).to_dict(orient="records")


def validated(window: CrisisWindow, family: str, forecasts: list[VarForecast], metrics: dict[str, float],
              train_dates: pd.DatetimeIndex, n_train: int) -> WindowValidation:
    assert_before(train_dates, window, f"{family} training")
    return WindowValidation(window.key, family, "evaluated", backtest_rows(forecasts),
                            {k: float(v) for k, v in metrics.items()}, series_rows(forecasts),
                            f"{train_dates.min():%Y-%m-%d}", f"{train_dates.max():%Y-%m-%d}", n_train)


def not_evaluable(window: CrisisWindow, family: str, reason: str) -> WindowValidation:
    return WindowValidation(window.key, family, f"not evaluable: {reason}")


def window_outside_data(daily: pd.DataFrame, window: CrisisWindow) -> str:
    """Why ``window`` cannot be validated on ``daily`` at all ('' when it can): it starts after the data end, or
    the data start on or after its first day (nothing to train or forecast on before it)."""
    if daily.empty:
        return f"window {window.key}: no feature rows"
    first, last = daily["date"].min(), daily["date"].max()
    if window.start > last:
        return f"window {window.key} after the data end ({last:%Y-%m-%d})"
    if window.start <= first:
        return f"window {window.key} starts before the data start ({first:%Y-%m-%d}): no history before it"
    return ""


# ------------------------------------------------------------------------------------------ families


def validate_baselines(daily: pd.DataFrame, window: CrisisWindow, exposure: pd.Series) -> WindowValidation:
    """The :data:`REFERENCE_METHODS` of the book through the window (no training beyond the rolling fits); not
    evaluable when the window lies outside the data or has too little history before it."""
    if reason := window_outside_data(daily, window):
        return not_evaluable(window, "baselines", reason)
    history = history_through(daily, window)
    pnl = book_pnl(history, exposure)
    try:
        forecasts = baseline_forecasts(pnl, window)
    except InputError as exc:
        return not_evaluable(window, "baselines", str(exc))
    before = pnl.index[pnl.index < window.start]
    metrics = {"book_days": float(len(forecasts[0].dates)),
               "book_series_without_history": float(len(series_without_history(history, exposure)))}
    return validated(window, "baselines", forecasts, metrics,
                     before[-HS_WINDOW:], HS_WINDOW)


def validate_lstm(daily: pd.DataFrame, window: CrisisWindow, exposure: pd.Series, config,
                  fast_dev_run: bool = False, instruments: pd.DataFrame | None = None) -> WindowValidation:
    """Train the LSTM before the window; QLIKE/MSE in it against EWMA and GARCH-t; the book's LSTM VaR.
    ``instruments``: where the market roles are chosen (needed with ``config.market_inputs``)."""
    from risk_platform.models.baselines import MIN_TRAIN_DAYS
    from risk_platform.models.lstm import (
        evaluate_out_of_sample,
        evaluation_metrics,
        fit_lstm_vol,
    )

    config = replace(config, train_end=f"{window.train_end:%Y-%m-%d}")
    train = training_rows(daily, window)
    try:
        fitted = fit_lstm_vol(train, config, fast_dev_run=fast_dev_run, instruments=instruments)
    except InputError as exc:
        return not_evaluable(window, "lstm_vol", str(exc))
    history = history_through(daily, window)
    counts = train.dropna(subset=["ret"]).groupby("symbol").size()
    short = sorted(counts.index[counts < MIN_TRAIN_DAYS])  # GARCH-t cannot be fitted: left out of the QLIKE table
    scored = sorted(set(history["symbol"]) - set(short))
    evaluation = evaluate_out_of_sample(fitted.forecaster, history, config, fitted.market, scored)
    wide_var = lstm_variance_table(fitted.forecaster, history, list(exposure.index), config.seq_len,
                                   since=pd.Timestamp(train["date"].min()), market=fitted.market)
    forecasts = lstm_book_methods(wide_var, history, exposure, window.start)
    metrics = {**evaluation_metrics(evaluation), "train_seconds": fitted.seconds,
               "series_scored": float(len(evaluation) - 1), "series_without_garch_history": float(len(short))}
    train_dates = pd.DatetimeIndex(train["date"])
    if fitted.last_origin >= window.start:
        raise LeakageError(f"LSTM training origin {fitted.last_origin:%Y-%m-%d} inside {window.key}")
    return validated(window, "lstm_vol", forecasts, metrics, train_dates, fitted.n_train)


def lstm_book_forecasts(wide_var: pd.DataFrame, daily: pd.DataFrame, exposure: pd.Series, pnl: pd.Series,
                        alphas: tuple[float, ...] = ALPHAS) -> list[VarForecast]:
    """The book's LSTM VaR/ES for the days of ``pnl``: normal with ``sigma_t^2 = (x v_t)' C_t (x v_t)``, ``v_t``
    the latest LSTM volatility of each factor made before t (``wide_var``: origin dates x symbols, variances),
    ``C_t`` the EWMA correlation of ``daily``'s returns before t. Days of ``pnl`` must be past the first
    :data:`CORRELATION_SEED_DAYS` days of ``daily`` (the correlation's seed)."""
    vols = np.sqrt(forecasts_before(wide_var.reindex(columns=exposure.index), pnl.index).to_numpy())
    corr = ewma_correlations(wide_feature(daily, "ret").reindex(columns=exposure.index), pnl.index)
    return [normal_book_forecast("lstm", pnl, exposure.to_numpy(), vols, corr, a) for a in alphas]


def lstm_book_methods(wide_var: pd.DataFrame, daily: pd.DataFrame, exposure: pd.Series, first: pd.Timestamp,
                      alphas: tuple[float, ...] = ALPHAS) -> list[VarForecast]:
    """``lstm`` and ``evt_lstm`` of the book on the P&L days of ``daily`` from ``first`` on, up to the first day
    after ``wide_var``'s last origin: the LSTM book sigma (:func:`lstm_book_forecasts`) on every day from
    ``wide_var``'s first origin (after the correlation seed), the EVT tail fitted to the losses it standardises
    on the days before each origin. Raises :class:`InputError` when no day is left to score."""
    pnl = book_pnl(daily, exposure)
    after = pnl.index[pnl.index > wide_var.index.max()]
    pnl = pnl[pnl.index <= after[0]] if len(after) else pnl  # later days would reuse a stale forecast
    filtered = pnl.iloc[CORRELATION_SEED_DAYS:]
    filtered = filtered[filtered.index > wide_var.index.min()]
    if filtered.empty or filtered.index.max() < first:
        raise InputError(f"no book P&L day from {first:%Y-%m-%d} with an LSTM forecast before it (forecasts"
                         f" {wide_var.index.min():%Y-%m-%d}..{wide_var.index.max():%Y-%m-%d})")
    first = filtered.index[filtered.index >= first][0]
    out = []
    for normal in lstm_book_forecasts(wide_var, daily, exposure, filtered, alphas):
        out += [normal.take(normal.dates >= first), evt_lstm_forecast(pnl, normal, first, normal.alpha)]
    return out


def evt_lstm_forecast(pnl: pd.Series, normal: VarForecast, first: pd.Timestamp, alpha: float) -> VarForecast:
    """``evt_lstm`` of the book from day ``first`` on: the LSTM book sigma (``normal``'s VaR over z_alpha),
    standardised losses of every earlier day for the GPD tail."""
    sigma = (pd.Series(normal.var / norm.ppf(alpha), index=normal.dates)).reindex(pnl.index).to_numpy()
    losses = -pnl.to_numpy()
    var, es = conditional_evt(losses, sigma, alpha, int(pnl.index.get_loc(first)), len(losses))
    keep = np.isfinite(var) & ~np.isnan(es)
    return VarForecast("evt_lstm", alpha, pd.DatetimeIndex(pnl.index[keep]), losses[keep], var[keep], es[keep])


def walk_forward_forecasts(wide_var: pd.DataFrame, daily: pd.DataFrame, exposure: pd.Series,
                           train_end: pd.Timestamp, alphas: tuple[float, ...]) -> list[VarForecast]:
    """The LSTM family's walk-forward evidence on the validation book: ``lstm`` and ``evt_lstm`` from the
    evaluation fit's variances ``wide_var`` (trained on targets up to ``train_end``), and the
    :data:`REFERENCE_METHODS` on the same P&L (their history from :data:`HS_WINDOW` + :data:`WARMUP_DAYS` days
    before, as in the crisis windows), on every day after ``train_end`` that ``wide_var`` forecasts; each day's
    forecast uses data before it only. Raises :class:`InputError` naming the book's factors ``wide_var`` lacks."""
    missing = sorted(set(exposure.index) - set(wide_var.columns))
    if missing:
        raise InputError(f"the evaluation fit has no variance forecasts of {', '.join(missing)} (book factors)")
    first = train_end + pd.Timedelta(days=1)
    model = lstm_book_methods(wide_var, daily, exposure, first, alphas)
    pnl = book_pnl(daily, exposure)
    pnl = pnl[pnl.index <= max(f.dates.max() for f in model)]
    pnl = pnl.iloc[max(0, int(pnl.index.searchsorted(first)) - HS_WINDOW - WARMUP_DAYS):]  # as in the windows
    baselines = [rolling_var(pnl, "price", m, a, HS_WINDOW) for m in REFERENCE_METHODS for a in alphas]
    return [*model, *(f.take(f.dates >= first) for f in baselines)]


def lstm_variance_table(forecaster, daily: pd.DataFrame, symbols: list[str], seq_len: int,
                        since: pd.Timestamp, market: MarketRoles | None = None) -> pd.DataFrame:
    """origin dates x ``symbols`` (the series to forecast, seen in training or not): the LSTM's next-day
    variance at every origin from ``since`` (window inputs may reach back before it; ``market``: the model's
    market roles, whose figures are read from every series of ``daily``, the volatility level's trailing year
    included)."""
    from risk_platform.models.lstm import variance_table

    lookback = 2 * seq_len + 30 + (2 * LEVEL_DAYS if market is not None else 0)  # calendar days
    rows = daily[daily["date"] >= since - pd.Timedelta(days=lookback)]
    if market is None:
        rows = rows[rows["symbol"].isin(symbols)]
    table = variance_table(forecaster, rows, seq_len, market, symbols)
    return table[table.index >= since]


def in_window_series(series: pd.Series, window: CrisisWindow) -> pd.Series:
    return series[(series.index >= window.start) & (series.index <= window.end)]


def validate_gnn(daily: pd.DataFrame, instruments: pd.DataFrame, window: CrisisWindow, exposure: pd.Series,
                 config, fast_dev_run: bool = False) -> WindowValidation:
    """Train the GNN on graphs whose targets end before the window; correlation error and the book's GNN VaR
    inside it (the targets of forecasts made in the window run up to ``horizon`` days past its end)."""
    from risk_platform.models.gnn import build_graph_data, predict, train_on_graphs

    config = replace(config, train_end=f"{window.train_end:%Y-%m-%d}",
                     val_start=f"{window.start - pd.DateOffset(years=1):%Y-%m-%d}",
                     test_start=f"{window.start:%Y-%m-%d}", test_end=f"{window.end:%Y-%m-%d}")
    eval_daily = history_through(daily, window, extra_days=2 * config.horizon + 14)
    recent = eval_daily[eval_daily["date"] >= window.start - pd.DateOffset(years=TRAIN_YEARS)]
    try:
        data = build_graph_data(recent, instruments, config)
    except InputError as exc:
        return not_evaluable(window, "gnn_corr", str(exc))
    fitted_dates = data.train.target_end.union(data.val.target_end if data.val is not None else pd.DatetimeIndex([]))
    assert_before(fitted_dates, window, "GNN training targets")
    result = train_on_graphs(data, config, fast_dev_run=fast_dev_run)
    symbols = list(data.symbols)
    forecast = predict(result.model, data.test)  # (m, n, n) made at data.test.dates
    pnl = in_window_series(book_pnl(history_through(daily, window), exposure), window)
    order = [symbols.index(s) for s in exposure.index]
    flat = pd.DataFrame(forecast[:, order][:, :, order].reshape(len(forecast), -1), index=data.test.dates)
    corr = forecasts_before(flat, pnl.index).to_numpy().reshape(len(pnl), len(order), len(order))
    ewma_vol = forecasts_before(wide_feature(eval_daily, "ewma_vol").reindex(columns=exposure.index), pnl.index)
    usable = np.isfinite(corr).all(axis=(1, 2))
    pnl, corr, vols = pnl[usable], corr[usable], ewma_vol.to_numpy()[usable]
    forecasts = [normal_book_forecast("gnn", pnl, exposure.to_numpy(), vols, corr, a) for a in ALPHAS]
    metrics = {k: v for k, v in result.metrics.items() if k.startswith(("frobenius", "ratio", "n_test"))}
    return validated(window, "gnn_corr", forecasts, metrics, pd.DatetimeIndex(fitted_dates), result.n_train)


def validate_generator(family: str, train: Callable, daily: pd.DataFrame, instruments: pd.DataFrame,
                       window: CrisisWindow, exposure: pd.Series, config, fast_dev_run: bool = False,
                       n_scenarios: int = SCENARIOS) -> WindowValidation:
    """Train a generator (``train_gan`` or ``train_vae``) before the window; its quality against the window's
    real returns and the book's scenario VaR through it."""
    from risk_platform.models.generator_quality import generator_quality
    from risk_platform.models.generators import scenario_rows

    config = replace(config, train_end=window.train_end)
    try:
        result = train(training_rows(daily, window), config, fast_dev_run=fast_dev_run)
    except InputError as exc:
        return not_evaluable(window, family, str(exc))
    history = history_through(daily, window)
    regime = market_regime(history)
    pnl = in_window_series(book_pnl(history, exposure), window)
    regime_before = forecasts_before(regime.to_frame(), pnl.index)["regime"]
    symbols = list(result.sampler.symbols)
    order = [symbols.index(s) for s in exposure.index]
    devolatilised = result.sampler.vol is not None
    vol_before = (forecasts_before(wide_feature(history, "ewma_vol")[list(exposure.index)], pnl.index)
                  .to_numpy(dtype=float) if devolatilised else np.ones((len(pnl), len(order))))
    cache: dict[str, np.ndarray] = {}

    def shocks(regime_name: str) -> np.ndarray:  # unit volatility: the generated shocks themselves
        if regime_name not in cache:
            unit = np.ones(len(symbols)) if devolatilised else None  # a sampler of raw returns: no scaling
            cache[regime_name] = result.sampler.sample(n_scenarios, regime_name, seed=0, volatility=unit)[:, order]
        return cache[regime_name]

    forecasts = scenario_book_forecasts(family.split("_")[0], pnl, exposure.to_numpy(), regime_before, vol_before,
                                        shocks)
    real = scenario_rows(history, window.start, window.end)
    metrics: dict[str, float] = {"n_real_window_days": float(len(real))}
    if len(real) >= 10:
        generated = result.sampler.sample(n_scenarios, "high", seed=1)
        quality = generator_quality(real.returns, generated, real.symbols, instruments)
        metrics.update({f"window_{k}": v for k, v in quality.items()})
    return validated(window, family, forecasts, metrics, pd.DatetimeIndex([result.train_start, result.train_end]),
                     result.n_train)
