"""LSTM volatility and regime forecaster: one global network for every series, seen in training or not. Its
inputs are the series' own features only (no series identity), so it forecasts a series added after training
("zero-shot"); the registered version's metadata names the series it was trained on.

Inputs per series and origin day t: the last ``seq_len`` days of ``r/s, (r/s)^2, ewma_vol/s, rv_21/s,
rv_63/s, vol_rank`` with ``s`` the mean of ``rv_63`` over the window (the series' own scale at t: point in
time, computable for any series with 63 + ``seq_len`` days of history, and the same for log-return and
basis-point series). ``vol_rank`` (the expanding volatility rank) carries the long-run level. With
``market_inputs`` (off by default), each step also carries the day's market-stress figures, the same for every
series (:mod:`risk_platform.features.market_stress`: the volatility index's level and change, the rate and credit
references' moves, the share of stressed series), from roles chosen in the instruments table at training and
recorded in the version's metadata (``market_inputs``); a forecast then reads them from the whole table it gets.
They stay off by default, decided on the validation split below (``python -m bench.lstm_market_inputs --seeds
7,11,1,2,3``): QLIKE 0.9889 x EWMA off, 0.9847 x EWMA on, the mean of five training seeds; on is better in 3 of
5 seeds (per-seed Diebold-Mariano p 0.001, 0.03, 0.03; in the other two on is slightly worse), a gain smaller
than the spread between seeds (off alone: 0.984 to 0.995). In the COVID window the validation book's 99%
``evt_lstm`` keeps its 5 exceptions in 51 days (red) with them.
Heads, all for day t+1:

* variance: ``log h = log(ewma_t^2) + c`` with ``h`` the variance of ``r_{t+1}/s`` and ``c`` the network's
  log correction to the origin day's EWMA(0.94) variance (so that the forecast extrapolates like EWMA in
  regimes beyond the training range, e.g. a crisis window); loss QLIKE ``log h + (r_{t+1}/s)^2 / h``
  (Patton's QLIKE up to a constant that does not depend on the forecast);
* regime: logits of low / normal / high volatility; cross-entropy on the series' regime label of t+1;
* uncertainty: the 10% and 90% quantiles of the log of the next five days' realized variance, also as
  corrections to the EWMA anchor (pinball loss): a predictive interval for the coming week's variance.

Series identity is left out, decided on a validation split inside the training period (training targets to
2016, scored 2017-2019, demo preset, 20,971 forecasts of the 28 series): the previous model (training-window
scale and a per-series one-hot) scored QLIKE 1.426 (1.010 x EWMA), this one 1.404 (0.995 x EWMA). Without
identity a seen and an unseen series get the same model, so the leave-series-out figure of
``python -m bench.lstm_zero_shot`` is the quality a new series gets.

Training origins are those whose targets (up to t+5) end on or before ``train_end``, over the series with at
least :data:`MIN_TRAIN_RETURNS` returns by then (the others are forecast zero-shot); the evaluation origins
are after it (walk-forward: the model never sees the test period). ``train_end`` is counted back from the
data's last date (``test_years``, :func:`risk_platform.models.windows.evaluation_split`) unless a config names
it (the crisis validation does). :func:`train_lstm_vol` is that evaluation fit (the validation evidence);
:func:`refit_lstm_vol` then refits the same procedure on every day up to the data's last date: the version
registered for production, carrying the evaluation fit's metrics and window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from risk_platform.errors import InputError
from risk_platform.features.market_stress import MarketRoles, market_features, market_roles
from risk_platform.models.baselines import MIN_TRAIN_DAYS, ewma_forecasts, garch_forecasts, series_returns
from risk_platform.models.datasets import REGIME_INDEX, check_finite
from risk_platform.models.windows import EvaluationSplit, ValidationEvidence, evaluation_split
from risk_platform.regime import REGIMES
from risk_platform.scoring import forecast_loss

STEP_FEATURES = ("r", "r2", "ewma_vol", "rv_21", "rv_63", "vol_rank")
QUANTILES = (0.1, 0.9)
INTERVAL_DAYS = 5
EWMA_FEATURE = STEP_FEATURES.index("ewma_vol")
SCALE_FEATURE = STEP_FEATURES.index("rv_63")  # the window's mean rv_63 is the series' scale at the origin
SCALE_POWERS = (1, 2, 1, 1, 1, 0)  # each step feature is divided by scale ** power
SCALE_FLOOR = 1e-12  # a series that did not move for 63 days: keeps the division finite
ANCHOR_FLOOR = 1e-6  # in units of the scale's variance: keeps the log finite for a series that did not move
MIN_TRAIN_RETURNS = 250  # a series with fewer returns by train_end is not trained on (it is forecast zero-shot)
SERIES_PER_BATCH = 64  # series whose windows are built and forecast together when forecasting every origin
MIN_EVAL_DAYS = 21  # a held-out period shorter than this is not evaluated
OUTPUT_COLUMNS = ("variance", "p_low", "p_normal", "p_high", "variance_q10", "variance_q90")


@dataclass(frozen=True)
class LSTMConfig:
    """Hyper-parameters and the walk-forward split: ``train_end`` (inclusive) when given, else ``test_years``
    before the data's last date. ``demo`` trains in seconds; ``full`` is the real run."""

    seq_len: int = 32
    hidden: int = 32
    layers: int = 1
    epochs: int = 4
    batch_size: int = 512
    lr: float = 3e-3
    sample_every: int = 2
    regime_weight: float = 0.5
    interval_weight: float = 0.5
    train_end: str | None = None
    test_years: float = 3.0
    seed: int = 7
    max_train_windows: int | None = 100_000  # training windows sampled (seeded) across series and dates above it
    max_train_seconds: float | None = 300.0  # Lightning max_time on fitting (None: epochs only)
    preset: str = "demo"
    torch_threads: int | None = 1  # intra-op threads while training (a small LSTM: 1 is fastest); None = leave
    market_inputs: bool = False  # append the market-stress figures (features.market_stress) to every step; off:
    # the validation split's gain (QLIKE 0.4% over five seeds, 3 of 5 better) is within the seeds' spread

    @classmethod
    def demo(cls, **overrides) -> LSTMConfig:
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides) -> LSTMConfig:
        return replace(cls(seq_len=63, hidden=64, layers=2, epochs=30, batch_size=256, lr=1e-3, sample_every=1,
                           max_train_windows=500_000, max_train_seconds=3600.0, preset="full"), **overrides)


def scaled_inputs(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw windows (n, seq_len, 6 [+ market figures]) in the series' own units -> (the windows divided by the
    scale, the scale ``s`` (n,)): ``s`` is the mean ``rv_63`` over the window, so nothing after the origin enters;
    the market figures, common to every series, are not scaled."""
    s = x[:, :, SCALE_FEATURE].mean(dim=1).clamp_min(SCALE_FLOOR)
    powers = (*SCALE_POWERS, *[0] * (x.shape[-1] - len(SCALE_POWERS)))
    divisor = torch.stack([s**p for p in powers], dim=-1).unsqueeze(1)
    return x / divisor, s


class VolRegimeLSTM(nn.Module):
    """LSTM over scaled windows (n, seq_len, n_inputs) -> heads (log variance, 3 regime logits, 2 log
    quantiles); ``n_inputs``: the step features, plus the market figures when the model has them."""

    def __init__(self, hidden: int, layers: int, n_inputs: int = len(STEP_FEATURES)) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, num_layers=layers, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.variance = nn.Linear(hidden, 1)
        self.regime = nn.Linear(hidden, len(REGIMES))
        self.interval = nn.Linear(hidden, len(QUANTILES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, _ = self.lstm(x)
        last = self.norm(out[:, -1, :])
        # anchored on the EWMA(0.94) variance of the origin day: the heads learn a log correction to it, so
        # in a regime beyond the training range (the LSTM's state saturates) the forecast still follows EWMA
        anchor = torch.log(x[:, -1, EWMA_FEATURE] ** 2 + ANCHOR_FLOOR)
        raw_q = self.interval(last)
        # ordered quantiles: q90 = q10 + softplus(...)
        quantiles = torch.cat([raw_q[:, :1], raw_q[:, :1] + nn.functional.softplus(raw_q[:, 1:])], dim=1)
        return anchor + self.variance(last).squeeze(-1), self.regime(last), anchor.unsqueeze(-1) + quantiles


class VolForecaster(nn.Module):
    """The deployable model, for any series. Input (n, seq_len, 6 [+ 5]): the raw step features of
    :data:`STEP_FEATURES` in the series' own units [and the market figures], as :func:`build_sequences` makes
    them. Output (n, 6):
    variance of the next day's return in the series' own units (log-return squared or bp squared), regime
    probabilities (low, normal, high), and the 10%/90% interval of next week's variance. ``symbols``: the
    series it was trained on (the others are forecast zero-shot)."""

    def __init__(self, net: VolRegimeLSTM, symbols: list[str]) -> None:
        super().__init__()
        self.net = net
        self.symbols = list(symbols)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, s = scaled_inputs(x)
        log_h, logits, log_q = self.net(z)
        s2 = s * s
        return torch.cat([
            (torch.exp(log_h) * s2).unsqueeze(-1),
            torch.softmax(logits, dim=-1),
            torch.exp(log_q) * s2.unsqueeze(-1),
        ], dim=-1)


@dataclass(frozen=True)
class Sequences:
    """Model inputs and targets for a set of (series, origin) pairs, in the series' own units."""

    x: np.ndarray  # (n, seq_len, features) float32
    r2: np.ndarray  # (n,) next-day squared return
    regime: np.ndarray  # (n,) next-day regime index, -100 if unknown
    rv5: np.ndarray  # (n,) mean squared return over the next 5 days
    symbol: np.ndarray  # (n,) series name
    origin: np.ndarray  # (n,) origin date t


def training_series(daily: pd.DataFrame, train_end: pd.Timestamp) -> list[str]:
    """The series with at least :data:`MIN_TRAIN_RETURNS` returns on or before ``train_end`` (sorted);
    :class:`InputError` when none has."""
    counts = daily[daily["date"] <= train_end].dropna(subset=["ret"]).groupby("symbol").size()
    symbols = sorted(counts.index[counts >= MIN_TRAIN_RETURNS])
    if not symbols:
        raise InputError(f"no series has {MIN_TRAIN_RETURNS} returns on or before {train_end:%Y-%m-%d} (most:"
                         f" {int(counts.max()) if len(counts) else 0}); the LSTM needs {MIN_TRAIN_RETURNS}")
    return symbols


def split_for(daily: pd.DataFrame, config: LSTMConfig) -> EvaluationSplit:
    """The evaluation split of ``config`` on ``daily``: its ``train_end`` when given, else ``test_years`` before
    the last date, keeping at least ``MIN_TRAIN_DAYS`` returns (what the GARCH-t baseline needs to score) of the
    longest series to train on."""
    rows = daily.dropna(subset=["ret"])
    if config.train_end is not None:
        return EvaluationSplit(rows["date"].min(), pd.Timestamp(config.train_end), rows["date"].max())
    if rows.empty:
        raise InputError("no returns to train the LSTM on")
    longest = rows.loc[rows["symbol"] == rows.groupby("symbol").size().idxmax(), "date"]
    split = evaluation_split(longest, config.test_years, MIN_TRAIN_DAYS, MIN_EVAL_DAYS)
    return replace(split, data_start=rows["date"].min(), data_end=rows["date"].max())


def with_split(daily: pd.DataFrame, config: LSTMConfig) -> LSTMConfig:
    """``config`` with ``train_end`` resolved on ``daily`` (:func:`split_for`; the last date when the history is
    too short to hold out)."""
    split = split_for(daily, config)
    return replace(config, train_end=f"{split.train_end or split.data_end:%Y-%m-%d}")


class NoSequences(InputError):
    """No series of the request has a complete window (too little history)."""


def build_sequences(daily: pd.DataFrame, seq_len: int, origins: str, train_end: pd.Timestamp,
                    every: int = 1, market: MarketRoles | None = None,
                    symbols: Sequence[str] | None = None, max_windows: int | None = None,
                    seed: int = 0) -> Sequences:
    """Windows ending at each origin t of every series in ``daily`` (or of ``symbols`` only), in its own units
    (the :class:`VolForecaster`'s inputs). ``origins``: ``train`` (targets up to t+5 on or before train_end),
    ``test`` (t after train_end, targets where they exist), ``latest`` (the last day of each series) or
    ``all`` (every origin with a complete window). A window uses rows up to its origin only. ``market``: the
    model's market roles (None: a model without market inputs); their figures are read from all of ``daily``.
    ``max_windows``: at most that many windows, drawn uniformly (``seed``) across series and origins before any
    window is built (None: all)."""
    kept: list[tuple] = []
    common = market_features(daily, market) if market is not None else None
    rows_of = daily if symbols is None else daily[daily["symbol"].isin(list(symbols))]
    for symbol, rows in rows_of.groupby("symbol", sort=True):
        rows = rows.sort_values("date")
        r = rows["ret"].fillna(0.0).to_numpy()
        feats = np.column_stack([r, r**2, rows["ewma_vol"], rows["rv_21"], rows["rv_63"], rows["vol_rank"],
                                 *([] if common is None else [common.loc[rows["date"]].to_numpy()])]
                                ).astype(np.float32)
        dates = rows["date"].to_numpy()
        n = len(rows)
        if not _complete_after_warmup(feats, symbol, dates) or n < seq_len:
            continue  # still in its warm-up (a series that started late): no windows yet
        r2_next = np.append(r[1:] ** 2, np.nan)
        regime_next = np.append(rows["regime"].map(REGIME_INDEX).fillna(-100).to_numpy()[1:], -100).astype(int)
        sq = np.append(r[1:] ** 2, [np.nan] * INTERVAL_DAYS)
        rv5 = np.lib.stride_tricks.sliding_window_view(sq, INTERVAL_DAYS)[:n].mean(axis=1)
        end = np.arange(seq_len - 1, n)
        windows = np.lib.stride_tricks.sliding_window_view(feats, seq_len, axis=0)
        finite = np.isfinite(windows).all(axis=(1, 2))
        if origins == "train":
            horizon_ok = np.append(dates[INTERVAL_DAYS:], [np.datetime64("NaT")] * INTERVAL_DAYS)[end] <= train_end
            keep = end[finite & horizon_ok][::every]
        elif origins == "test":
            keep = end[finite & (dates[end] > train_end) & np.isfinite(r2_next[end])]
        elif origins == "latest":
            keep = end[finite][-1:]
        else:
            keep = end[finite]
        if keep.size:
            kept.append((symbol, windows, keep, r2_next, regime_next, rv5, dates))
    if max_windows is not None and (total := sum(len(k[2]) for k in kept)) > max_windows:
        chosen = np.zeros(total, dtype=bool)
        chosen[np.random.default_rng(seed).choice(total, max_windows, replace=False)] = True
        offsets = np.cumsum([0, *(len(k[2]) for k in kept)])
        kept = [(*k[:2], k[2][chosen[a:b]], *k[3:]) for k, a, b in zip(kept, offsets[:-1], offsets[1:], strict=True)]
    parts = [Sequences(
        x=np.ascontiguousarray(windows.transpose(0, 2, 1)[keep - seq_len + 1]),
        r2=r2_next[keep].astype(np.float32),
        regime=regime_next[keep],
        rv5=rv5[keep].astype(np.float32),
        symbol=np.full(len(keep), symbol),
        origin=dates[keep],
    ) for symbol, windows, keep, r2_next, regime_next, rv5, dates in kept if len(keep)]
    if not parts:
        names = ", ".join(sorted(map(str, rows_of["symbol"].unique()))) or "no series"
        raise NoSequences(f"no {origins} sequences for {names}: too little history (need {seq_len} days of"
                         " complete features)")
    return Sequences(*(np.concatenate([getattr(p, f) for p in parts]) for f in Sequences.__dataclass_fields__))


def _complete_after_warmup(feats: np.ndarray, symbol: str, dates: np.ndarray) -> bool:
    """Leading NaNs are the features' warm-up: False while a series has no complete day yet (it started late); a
    NaN or infinite value after the warm-up is bad data (:class:`InputError`)."""
    finite = np.isfinite(feats).all(axis=1)
    if not finite.any():
        return False
    after = ~finite[int(np.argmax(finite)):]
    if after.any():
        day = pd.Timestamp(dates[int(np.argmax(finite)) + int(np.argmax(after))])
        raise InputError(f"{symbol}: NaN or infinite features on {day:%Y-%m-%d} (after the warm-up)")
    return True


@dataclass(frozen=True)
class LSTMResult:
    """A trained forecaster, its walk-forward evaluation against EWMA and GARCH-t, and how it was trained.
    ``train_start``/``train_end``/``config.train_end``: the forecaster's own training window; ``validation``:
    the evaluation fit behind ``evaluation``, ``forecasts`` and ``metrics`` (the same window unless refit)."""

    forecaster: VolForecaster
    config: LSTMConfig
    symbols: list[str]  # the series trained on
    train_start: str
    train_end: str
    n_train: int
    evaluation: pd.DataFrame  # per series (and "pooled"): QLIKE and MSE for lstm, garch_t, ewma (empty: none)
    metrics: dict[str, float]
    validation: ValidationEvidence
    forecasts: pd.DataFrame  # the evaluation's rows (:func:`out_of_sample_forecasts`)
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    evaluation_variances: pd.DataFrame = field(default_factory=pd.DataFrame)  # the evaluation fit's
    # :func:`variance_table` over every series and origin (empty: not evaluated): the walk-forward evidence
    market: MarketRoles | None = None  # the market roles the forecaster reads (None: no market inputs)


def predict(forecaster: nn.Module, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Run the forecaster on inputs (n, seq_len, features) -> (n, 6)."""
    if isinstance(forecaster, VolForecaster):
        forecaster.eval()  # a model loaded from MLflow is an exported program: inference-only already
    with torch.no_grad():
        return np.concatenate([forecaster(torch.from_numpy(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])


@dataclass(frozen=True)
class FittedLSTM:
    """A trained forecaster before evaluation and the training record."""

    forecaster: VolForecaster
    train_start: str
    last_origin: pd.Timestamp  # the last training origin (its targets end on or before ``config.train_end``)
    n_train: int
    history: list[dict]
    seconds: float
    market: MarketRoles | None = None  # the market roles the forecaster reads (None: no market inputs)


def market_roles_for(config: LSTMConfig, daily: pd.DataFrame, instruments: pd.DataFrame | None
                     ) -> MarketRoles | None:
    """The market roles among ``daily``'s series when ``config.market_inputs`` (None when off); an
    :class:`InputError` when it is on and no instruments table is given (the roles are chosen from it)."""
    if not config.market_inputs:
        return None
    if instruments is None:
        raise InputError("LSTMConfig.market_inputs needs the instruments table (the market roles are chosen from it)")
    return market_roles(instruments, daily["symbol"].unique())


def fit_lstm_vol(daily: pd.DataFrame, config: LSTMConfig, fast_dev_run: bool = False,
                 instruments: pd.DataFrame | None = None) -> FittedLSTM:
    """Train the forecaster (seeded) on the origins whose targets end on or before ``config.train_end``
    (:func:`with_split` when None), over the series of :func:`training_series`; with ``config.market_inputs``,
    on the market figures of the roles chosen in ``instruments`` too."""
    train_end = pd.Timestamp(with_split(daily, config).train_end)
    symbols = training_series(daily, train_end)
    market = market_roles_for(config, daily, instruments)
    train = build_sequences(daily, config.seq_len, "train", train_end, config.sample_every, market, symbols,
                            config.max_train_windows, config.seed)
    for name in ("x", "r2", "rv5"):
        check_finite(f"LSTM training {name}", getattr(train, name))
    from risk_platform.models.lstm_fit import fit_network  # Lightning: imported only to train

    net, history, seconds = fit_network(train, config, fast_dev_run)
    return FittedLSTM(VolForecaster(net, symbols).eval(), str(pd.Timestamp(train.origin.min()).date()),
                      pd.Timestamp(train.origin.max()), len(train.r2), history, seconds, market)


def train_lstm_vol(daily: pd.DataFrame, config: LSTMConfig, fast_dev_run: bool = False,
                   instruments: pd.DataFrame | None = None) -> LSTMResult:
    """The evaluation fit: train on origins up to the split (:func:`split_for`) and score after it, with
    baselines, on the series with the history GARCH-t needs (``MIN_TRAIN_DAYS`` returns by the split). A history
    too short to hold out is trained on whole and not evaluated (no metrics; ``validation.note`` says why).
    ``instruments``: where the market roles are chosen (needed with ``config.market_inputs``)."""
    split = split_for(daily, config)
    config = replace(config, train_end=f"{split.train_end or split.data_end:%Y-%m-%d}")
    fitted = fit_lstm_vol(daily, config, fast_dev_run, instruments)
    counts = daily[daily["date"] <= pd.Timestamp(config.train_end)].dropna(subset=["ret"]).groupby("symbol").size()
    scored = sorted(counts.index[counts >= MIN_TRAIN_DAYS])
    note = (f"{split.note}; trained on all of it, not evaluated" if split.train_end is None else split.note
            or ("" if scored else f"no series has {MIN_TRAIN_DAYS} returns by {config.train_end}: not evaluated"))
    if split.train_end is None or not scored:
        return LSTMResult(fitted.forecaster, config, fitted.forecaster.symbols, fitted.train_start, config.train_end,
                          fitted.n_train, pd.DataFrame(), {"train_seconds": fitted.seconds},
                          ValidationEvidence("none", "none", "none", "none", note), pd.DataFrame(), fitted.history,
                          fitted.seconds, market=fitted.market)
    forecasts = out_of_sample_forecasts(fitted.forecaster, daily, config, fitted.market, scored)
    evaluation = score_forecasts(forecasts)
    validation = ValidationEvidence(fitted.train_start, config.train_end, f"{forecasts['origin'].min():%Y-%m-%d}",
                                    f"{forecasts['origin'].max():%Y-%m-%d}", note)
    metrics = {**evaluation_metrics(evaluation), "train_seconds": fitted.seconds}
    return LSTMResult(fitted.forecaster, config, fitted.forecaster.symbols, fitted.train_start, config.train_end,
                      fitted.n_train, evaluation, metrics, validation, forecasts, fitted.history, fitted.seconds,
                      variance_table(fitted.forecaster, daily, config.seq_len, fitted.market), fitted.market)


def refit_lstm_vol(daily: pd.DataFrame, result: LSTMResult, fast_dev_run: bool = False,
                   instruments: pd.DataFrame | None = None) -> LSTMResult:
    """The production version: ``result``'s procedure (config, epochs, seed) refit on every day of ``daily``
    (training targets up to its last date), carrying ``result``'s evaluation, metrics and validation window;
    ``refit_seconds`` is added to the metrics. ``result`` itself when it already trained through the last date."""
    last = f"{daily['date'].max():%Y-%m-%d}"
    if result.config.train_end == last:
        return result
    config = replace(result.config, train_end=last)
    fitted = fit_lstm_vol(daily, config, fast_dev_run, instruments)
    return replace(result, forecaster=fitted.forecaster, config=config, symbols=fitted.forecaster.symbols,
                   market=fitted.market,
                   train_start=fitted.train_start, train_end=last, n_train=fitted.n_train, history=fitted.history,
                   train_seconds=result.train_seconds + fitted.seconds,
                   metrics={**result.metrics, "refit_seconds": fitted.seconds})


def evaluation_metrics(evaluation: pd.DataFrame) -> dict[str, float]:
    """Headline figures of :func:`evaluate_out_of_sample`'s table (pooled QLIKE/MSE, ratios, regime accuracy)."""
    pooled = evaluation.loc["pooled"]
    per_series = evaluation.drop("pooled")
    metrics = {
        "qlike_lstm": pooled["qlike_lstm"], "qlike_garch_t": pooled["qlike_garch_t"],
        "qlike_ewma": pooled["qlike_ewma"], "qlike_ratio_to_garch_t": pooled["qlike_lstm"] / pooled["qlike_garch_t"],
        "qlike_ratio_to_ewma": pooled["qlike_lstm"] / pooled["qlike_ewma"],
        "mse_scaled_lstm": pooled["mse_lstm"], "mse_scaled_garch_t": pooled["mse_garch_t"],
        "mse_scaled_ewma": pooled["mse_ewma"], "regime_accuracy": pooled["regime_accuracy"],
        "series_beating_garch_t": float((per_series["qlike_lstm"] < per_series["qlike_garch_t"]).sum()),
    }
    return {k: float(v) for k, v in metrics.items()}


def out_of_sample_forecasts(forecaster: nn.Module, daily: pd.DataFrame, config: LSTMConfig,
                            market: MarketRoles | None = None, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per test origin of every series in ``daily`` (or of ``symbols``; ``market``: the forecaster's
    market roles, read from all of ``daily``): ``symbol, origin, realized`` (the next day's
    squared return), the forecasts ``lstm, garch_t, ewma`` (GARCH-t fitted on the returns up to
    ``config.train_end``), ``scale2`` (the window's squared scale: MSE pools series in bp and in log returns),
    ``regime_hit, regime_known``. Days without a baseline forecast are dropped."""
    train_end = pd.Timestamp(with_split(daily, config).train_end)
    test = build_sequences(daily, config.seq_len, "test", train_end, market=market, symbols=symbols)
    out = predict(forecaster, test.x)
    scale2 = scaled_inputs(torch.from_numpy(test.x))[1].numpy().astype(float) ** 2
    frames = []
    for symbol in dict.fromkeys(test.symbol):
        mask = test.symbol == symbol
        origins = pd.DatetimeIndex(test.origin[mask])
        returns = series_returns(daily, symbol)
        garch, _ = garch_forecasts(returns, train_end)
        frames.append(pd.DataFrame({
            "symbol": symbol, "origin": origins, "realized": test.r2[mask], "lstm": out[mask, 0],
            "garch_t": garch.reindex(origins).to_numpy(), "ewma": ewma_forecasts(returns).reindex(origins).to_numpy(),
            "scale2": scale2[mask],
            "regime_hit": (out[mask, 1:4].argmax(axis=1) == test.regime[mask]).astype(float),
            "regime_known": (test.regime[mask] >= 0),
        }))
    return pd.concat(frames, ignore_index=True).dropna(subset=["garch_t", "ewma"])


def score_forecasts(table: pd.DataFrame, by: str = "symbol") -> pd.DataFrame:
    """QLIKE and MSE (on variances divided by ``scale2``) of lstm, garch_t and ewma per value of ``by`` and
    pooled, with the regime accuracy: rows of :func:`out_of_sample_forecasts`."""
    rows = {}
    for key, group in [*table.groupby(by), ("pooled", table)]:
        row = {}
        for model in ("lstm", "garch_t", "ewma"):
            loss = forecast_loss(group["realized"].to_numpy() / group["scale2"].to_numpy(),
                                 group[model].to_numpy() / group["scale2"].to_numpy())
            row[f"qlike_{model}"], row[f"mse_{model}"], row["n"] = loss.qlike, loss.mse, loss.n
        known = group["regime_known"]
        row["regime_accuracy"] = group.loc[known, "regime_hit"].mean() if known.any() else np.nan
        rows[key] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def evaluate_out_of_sample(forecaster: nn.Module, daily: pd.DataFrame, config: LSTMConfig,
                           market: MarketRoles | None = None, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """QLIKE and MSE per series and pooled, LSTM vs GARCH(1,1)-t vs EWMA(0.94), on the test origins (arguments
    as :func:`out_of_sample_forecasts`)."""
    return score_forecasts(out_of_sample_forecasts(forecaster, daily, config, market, symbols))


def forecast_latest(forecaster: nn.Module, daily: pd.DataFrame, symbols: list[str], seq_len: int,
                    market: MarketRoles | None = None) -> pd.DataFrame:
    """Next-day forecasts for every series of ``daily`` from its latest feature window (one row per symbol),
    with ``seen_in_training`` (False: forecast zero-shot, the series is not among the trained ``symbols``).

    ``forecaster``: a :class:`VolForecaster`, or the same model loaded from MLflow (``symbols``, ``seq_len`` and
    ``market``, :meth:`MarketRoles.from_metadata` of ``market_inputs``, are in its metadata)."""
    latest = build_sequences(daily, seq_len, "latest", pd.Timestamp.max, market=market)
    out = predict(forecaster, latest.x)
    frame = pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))
    frame.insert(0, "symbol", latest.symbol)
    frame.insert(1, "origin", pd.DatetimeIndex(latest.origin))
    frame["vol"] = np.sqrt(frame["variance"])
    frame["regime"] = np.asarray(REGIMES)[out[:, 1:4].argmax(axis=1)]
    frame["seen_in_training"] = frame["symbol"].isin(list(symbols))
    return frame


def require_global(metadata: dict, label: str) -> None:
    """:class:`InputError` when a registered version predates the global LSTM (its inputs carried a series
    one-hot: its metadata lacks ``series_identity: false``): it cannot take the identity-free inputs."""
    if metadata.get("series_identity", True) is not False:
        raise InputError(f"{label} was registered before the global LSTM (its inputs carry a series one-hot):"
                         " retrain it (risk_pipeline or retrain_models) to forecast with it")


def variance_table(forecaster: nn.Module, daily: pd.DataFrame, seq_len: int, market: MarketRoles | None = None,
                   symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """Origin dates x every series of ``daily`` (or ``symbols``; seen in training or not): the model's next-day
    variance at each origin with a complete window (float32; NaN where a series has none); each uses rows up to
    its origin only (``market``: the model's market roles, read from all of ``daily``)."""
    names = sorted(daily["symbol"].unique()) if symbols is None else list(symbols)
    frames, empty = [], None
    for start in range(0, len(names), SERIES_PER_BATCH):  # bounded memory: a batch of series' windows at a time
        try:
            sequences = build_sequences(daily, seq_len, "all", pd.Timestamp.max, market=market,
                                        symbols=names[start:start + SERIES_PER_BATCH])
        except NoSequences as exc:  # an error only when no batch has a window
            empty = exc
            continue
        frames.append(pd.DataFrame({"date": pd.DatetimeIndex(sequences.origin), "symbol": sequences.symbol,
                                    "v": predict(forecaster, sequences.x)[:, 0].astype(np.float32)}))
    if not frames:
        raise empty or NoSequences(f"no all sequences: no series (need {seq_len} days of complete features)")
    variance = pd.concat(frames, ignore_index=True)
    return variance.pivot(index="date", columns="symbol", values="v").rename_axis(columns=None)


def variance_forecasts(forecaster: nn.Module, daily: pd.DataFrame, seq_len: int, symbol: str,
                       market: MarketRoles | None = None) -> pd.Series:
    """The model's next-day variance for ``symbol`` at every origin with a complete window (dated at t), seen
    in training or not; each forecast uses the rows up to its origin only (``market``: the model's market
    roles, read from all of ``daily``)."""
    if not (daily["symbol"] == symbol).any():
        raise InputError(f"{symbol}: no rows in the feature table")
    sequences = build_sequences(daily, seq_len, "all", pd.Timestamp.max, market=market, symbols=[symbol])
    return pd.Series(predict(forecaster, sequences.x)[:, 0], index=pd.DatetimeIndex(sequences.origin))
