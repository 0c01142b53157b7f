"""SHAP attributions of the LSTM's next-day variance forecast, for model-risk reviewers.

What is explained
    For each series and explained date, the **log of the next-day variance forecast** in the series' own
    units (``log`` of :class:`~risk_platform.models.lstm.VolForecaster` output column 0). The log keeps
    series in log-return and in basis points on one scale and makes attributions multiplicative: an
    attribution of ``+0.3`` means the feature raised the forecast by a factor ``exp(0.3) = 1.35`` against
    the baseline. (Differences of ``log`` variance equal differences of the variance head's ``log h``: the
    series scale is a constant per series.)

How
    ``shap.GradientExplainer`` (expected gradients; DeepExplainer has no rules for the LSTM's LayerNorm or
    the GNN's GAT layers). Inputs are the raw step features of :data:`~risk_platform.models.lstm.STEP_FEATURES`
    (and, for a model with market inputs, the market figures of
    :data:`~risk_platform.features.market_stress.MARKET_FEATURES`, read from the whole table) over the
    ``seq_len`` days of the window ending at the date. The background is per series: ``background``
    windows of the same series (seeded sample) whose origins lie on or before the model's ``train_end``
    (default: the earliest explained date), so the baseline is "this series in its training history" and
    the one-hot series identity is held fixed (it gets no attribution). Attributions are summed over the
    time steps per feature, and also reported per lag bucket (``t``, ``t-1..t-4``, ``t-5..t-20``, ``t-21+``).

    Completeness: the attributions of one (date, series) sum to ``f(x) - E[f(background)]`` in expectation;
    with a finite ``nsamples`` the gap is sampling noise, reported per row as ``completeness_gap``.

Models loaded from MLflow
    :meth:`ModelRegistry.load <risk_platform.models.registry.ModelRegistry.load>` returns the exported
    program's ``.module()`` (a GraphModule). It is differentiable and gives the same gradients as the
    trained ``nn.Module``; only its ``eval()`` raises. This module wraps the model without registering it
    as a child, so GradientExplainer's ``model.eval()`` never reaches it: explanations work on a registered
    version as well as at training time (:func:`explain_loaded`, :func:`explain_result`).

Entry points: :func:`explain_lstm`, :func:`explain_result` (an :class:`~risk_platform.models.lstm.LSTMResult`),
:func:`explain_loaded` (a :class:`~risk_platform.models.registry.LoadedModel`); the result's
:meth:`Explanation.write_artifacts` writes the tables and PNGs for MLflow, :meth:`Explanation.to_markdown`
the Dagster metadata summary.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from risk_platform.errors import InputError
from risk_platform.features.market_stress import MARKET_FEATURES, MarketRoles
from risk_platform.models.lstm import INTERVAL_DAYS, STEP_FEATURES, build_sequences

TARGET = "log next-day variance (series' own units)"
LAG_BUCKETS: tuple[tuple[int, int, str], ...] = ((0, 0, "t"), (1, 4, "t-1..t-4"), (5, 20, "t-5..t-20"),
                                                 (21, 10**6, "t-21+"))


@dataclass(frozen=True)
class ExplainConfig:
    """``background``: windows per series in the baseline sample; ``nsamples``: expected-gradient samples per
    explained window (more: smaller completeness gap, linear cost); ``train_end``: background windows have
    origins on or before it (default: the earliest explained date, so nothing after the dates is used)."""

    background: int = 64
    nsamples: int = 200
    seed: int = 7
    train_end: str | None = None


class _LogVariance(nn.Module):
    """(n, seq_len, 6 [+ 5 market figures]) inputs of one series -> (n, 1) log next-day variance.

    The forecaster is held outside the module tree (``object.__setattr__``): GradientExplainer calls
    ``eval()`` on what it explains, and an exported program's module refuses ``eval()``."""

    def __init__(self, forecaster: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "_forecaster", forecaster)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self._forecaster(x)[:, :1])


@dataclass(frozen=True)
class Explanation:
    """SHAP attributions of the log next-day variance forecast, per (date, series, feature, lag bucket).

    ``by_lag``: ``date, origin, series, feature, lag_bucket, attribution`` (tidy, long);
    ``forecasts``: per (date, series): ``origin, variance, log_variance, expected_log_variance`` (mean over
    the background), ``attribution_sum``, ``completeness_gap`` (``attribution_sum - (log_variance -
    expected_log_variance)``); ``skipped``: (date, series, reason) not explained (too little history)."""

    by_lag: pd.DataFrame
    forecasts: pd.DataFrame
    skipped: tuple[tuple[str, str, str], ...] = ()
    target: str = TARGET
    config: ExplainConfig = field(default_factory=ExplainConfig)

    def to_frame(self) -> pd.DataFrame:
        """``date, origin, series, feature, attribution, abs_rank``: summed over time steps; ``abs_rank`` 1
        is the largest ``|attribution|`` within its (date, series)."""
        frame = (self.by_lag.groupby(["date", "origin", "series", "feature"], sort=False, as_index=False)
                 ["attribution"].sum())
        frame["abs_rank"] = (frame.assign(_abs=frame["attribution"].abs()).groupby(["date", "series"])["_abs"]
                             .rank(method="first", ascending=False).astype(int))
        return frame.sort_values(["date", "series", "abs_rank"], ignore_index=True)

    def top_drivers(self, n: int = 3) -> pd.DataFrame:
        """The ``n`` features with the largest ``|attribution|`` per (date, series), with a direction."""
        frame = self.to_frame()
        top = frame[frame["abs_rank"] <= n].copy()
        top["direction"] = np.where(top["attribution"] >= 0, "raises", "lowers")
        top["factor"] = np.exp(top["attribution"])
        return top.reset_index(drop=True)

    def mean_abs(self) -> pd.Series:
        """Mean ``|attribution|`` per feature over every explained (date, series), largest first."""
        return self.to_frame().groupby("feature")["attribution"].apply(lambda a: a.abs().mean()).sort_values(
            ascending=False)

    def summary(self, n: int = 3) -> str:
        """One header line, then per (date, series) the forecast and its top ``n`` drivers."""
        lines = [f"SHAP (GradientExplainer) of the {self.target}: {len(self.forecasts)} forecasts, background "
                 f"{self.config.background} windows per series, {self.config.nsamples} samples;"
                 f" max |completeness gap| {self.forecasts['completeness_gap'].abs().max():.3g}"]
        top = self.top_drivers(n)
        for row in self.forecasts.itertuples():
            drivers = top[(top["date"] == row.date) & (top["series"] == row.series)]
            text = ", ".join(f"{d.feature} {d.attribution:+.2f}" for d in drivers.itertuples())
            lines.append(f"{row.date} {row.series}: vol {np.sqrt(row.variance):.4g} (log var {row.log_variance:.2f}"
                         f" vs baseline {row.expected_log_variance:.2f}): {text}")
        lines += [f"{date} {series}: not explained ({reason})" for date, series, reason in self.skipped]
        return "\n".join(lines)

    def to_markdown(self, n: int = 3) -> str:
        """Top drivers as a Markdown table (Dagster metadata)."""
        top = self.top_drivers(n)
        rows = ["| date | series | forecast vol | top drivers (log-variance attribution) |", "|---|---|---|---|"]
        for row in self.forecasts.itertuples():
            drivers = top[(top["date"] == row.date) & (top["series"] == row.series)]
            text = ", ".join(f"{d.feature} {d.attribution:+.2f}" for d in drivers.itertuples())
            rows.append(f"| {row.date} | {row.series} | {np.sqrt(row.variance):.4g} | {text} |")
        return "\n".join(rows)

    def write_artifacts(self, directory: Path | str) -> list[Path]:
        """Write ``shap_attributions.csv`` (to_frame), ``shap_by_lag.csv``, ``shap_top_drivers.csv``,
        ``shap_forecasts.csv``, ``shap_summary.md``, ``shap_mean_abs.png`` (bar chart of mean |SHAP| per
        feature) and ``shap_heatmap.png`` (series x feature, one panel per date) into ``directory``; returns
        the paths (log them with ``client.log_artifact(run_id, str(p), "explanations")``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in (("shap_attributions.csv", self.to_frame()), ("shap_by_lag.csv", self.by_lag),
                            ("shap_top_drivers.csv", self.top_drivers()), ("shap_forecasts.csv", self.forecasts)):
            frame.to_csv(directory / name, index=False)
            paths.append(directory / name)
        (directory / "shap_summary.md").write_text(
            f"# SHAP explanations\n\nTarget: {self.target}.\n\n{self.to_markdown()}\n")
        paths.append(directory / "shap_summary.md")
        paths.append(_bar_chart(self.mean_abs(), directory / "shap_mean_abs.png", self.target))
        paths.append(_heatmap(self.to_frame(), directory / "shap_heatmap.png", self.target))
        return paths


def explain_lstm(model: nn.Module, daily: pd.DataFrame, dates: Sequence, config: ExplainConfig = ExplainConfig(),
                 *, seq_len: int, series: list[str] | None = None, market: MarketRoles | None = None
                 ) -> Explanation:
    """SHAP attributions of the next-day log variance forecast per series at each of ``dates``.

    Parameters
    ----------
    model : a :class:`~risk_platform.models.lstm.VolForecaster` or the same model loaded from MLflow (an
        exported program's ``.module()``); input (n, seq_len, 6 [+ 5 market figures]), output column 0 the
        variance.
    daily : the feature store's ``daily_features`` table (``date, symbol, ret, ewma_vol, rv_21, rv_63,
        vol_rank``, ...).
    dates : dates to explain; each series is explained at its last origin on or before the date (a holiday
        or the day after the data ends uses the previous trading day: ``origin`` says which).
    seq_len : the trained window length.
    series : explain only these series (default every series of ``daily``; the model is global: a series it
        was not trained on is explained like any other).
    market : the model's market roles (None: a model without market inputs); their figures are attributed
        like the step features.

    Returns an :class:`Explanation`; (date, series) pairs without a complete window or with fewer than 8
    background windows are listed in ``skipped``. :class:`InputError` when nothing could be explained.
    """
    import shap  # heavy import (scipy, sklearn): only when explaining

    wanted = list(series or sorted(daily["symbol"].unique()))
    stamps = sorted({pd.Timestamp(d).normalize() for d in dates})
    if not stamps:
        raise InputError("explain_lstm: no dates to explain")
    background_end = pd.Timestamp(config.train_end) if config.train_end else stamps[0]
    try:
        model.eval()
    except NotImplementedError:
        pass  # an exported program: inference-only already
    groups = {s: g.sort_values("date") for s, g in daily[daily["symbol"].isin(wanted)].groupby("symbol")}
    lag_rows: list[tuple] = []
    forecast_rows: list[tuple] = []
    skipped: list[tuple[str, str, str]] = []
    threads, numpy_state = torch.get_num_threads(), np.random.get_state()
    # one thread: small batched LSTM passes gain nothing from intra-op threads, and on a loaded machine
    # OpenMP workers spinning for a busy core made each pass ~20x slower (measured on 2 cores)
    torch.set_num_threads(1)
    try:
        for symbol in wanted:
            rows = groups.get(symbol)
            if rows is None:
                skipped += [(f"{d:%Y-%m-%d}", symbol, "no rows in the feature table") for d in stamps]
                continue
            _explain_series(shap.GradientExplainer, model, (daily, rows, market), symbol, stamps, seq_len,
                            background_end, config, lag_rows, forecast_rows, skipped)
    finally:
        torch.set_num_threads(threads)
        np.random.set_state(numpy_state)  # GradientExplainer seeds numpy's global generator
    if not forecast_rows:
        reasons = "; ".join(sorted({r for _, _, r in skipped}))
        raise InputError(f"explain_lstm: nothing to explain ({reasons or 'no series'})")
    by_lag = pd.DataFrame(lag_rows, columns=["date", "origin", "series", "feature", "lag_bucket", "attribution"])
    forecasts = pd.DataFrame(forecast_rows, columns=["date", "origin", "series", "variance", "log_variance",
                                                     "expected_log_variance", "attribution_sum", "completeness_gap"])
    forecasts = forecasts.sort_values(["date", "series"], ignore_index=True)
    return Explanation(by_lag, forecasts, tuple(skipped), TARGET, config)


def _explain_series(explainer_cls, model: nn.Module, tables: tuple[pd.DataFrame, pd.DataFrame, MarketRoles | None],
                    symbol: str, stamps: list[pd.Timestamp], seq_len: int, background_end: pd.Timestamp,
                    config: ExplainConfig, lag_rows: list, forecast_rows: list, skipped: list) -> None:
    """Explain one series at every date (``tables``: the whole table, the series' rows, the market roles);
    appends to the three lists."""
    daily, rows, market = tables
    features = (*STEP_FEATURES, *(MARKET_FEATURES if market is not None else ()))
    try:  # every complete window of the series at once (market figures read from the whole table)
        seq = build_sequences(daily if market is not None else rows, seq_len, "all", pd.Timestamp.max,
                              market=market, symbols=[symbol])
    except InputError as exc:
        skipped += [(f"{d:%Y-%m-%d}", symbol, str(exc)) for d in stamps]
        return
    row_dates = pd.DatetimeIndex(rows["date"])
    origins = pd.DatetimeIndex(seq.origin)
    windows, kept_dates, kept_origins = [], [], []
    for d in stamps:
        last = row_dates[row_dates <= d]
        at = origins.get_indexer(last[-1:]) if len(last) else np.array([-1])
        if at[0] < 0:
            skipped.append((f"{d:%Y-%m-%d}", symbol, f"no complete {seq_len}-day window ending on its last day"
                                                      " on or before the date"))
            continue
        windows.append(seq.x[at[0], :, :len(features)])
        kept_dates.append(d)
        kept_origins.append(origins[at[0]])
    if not windows:
        return
    # background: training windows, i.e. origins whose 5-day interval target also ends on or before the end
    horizon_end = row_dates[np.minimum(row_dates.get_indexer(origins) + INTERVAL_DAYS, len(row_dates) - 1)]
    eligible = np.flatnonzero((horizon_end <= background_end)
                              & (row_dates.get_indexer(origins) + INTERVAL_DAYS < len(row_dates)))
    if len(eligible) < 8:
        skipped += [(f"{d:%Y-%m-%d}", symbol, f"fewer than 8 background windows before {background_end:%Y-%m-%d}")
                    for d in kept_dates]
        return
    rng = np.random.default_rng([config.seed, zlib.crc32(symbol.encode())])  # a series' result ignores the others
    pick = np.sort(rng.choice(eligible, size=min(config.background, len(eligible)), replace=False))
    background = np.ascontiguousarray(seq.x[pick, :, :len(features)])
    wrapped = _LogVariance(model)
    bg = torch.from_numpy(background)
    x = torch.from_numpy(np.stack(windows))
    explainer = explainer_cls(wrapped, bg, batch_size=config.nsamples)
    phi = np.asarray(explainer.shap_values(x, nsamples=config.nsamples, rseed=int(rng.integers(0, 2**31 - 1))))
    phi = phi.reshape(x.shape)
    with torch.no_grad():
        f_x = wrapped(x)[:, 0].double().numpy()
        f_bg = float(wrapped(bg)[:, 0].double().mean())
    lag_of_step = seq_len - 1 - np.arange(seq_len)
    bucket_of_step = np.array([next(name for lo, hi, name in LAG_BUCKETS if lo <= lag <= hi) for lag in lag_of_step])
    for j, d in enumerate(kept_dates):
        date_text, origin_text = f"{d:%Y-%m-%d}", f"{kept_origins[j]:%Y-%m-%d}"
        for bucket in dict.fromkeys(bucket_of_step[::-1]):  # t first
            sums = phi[j][bucket_of_step == bucket].sum(axis=0)
            lag_rows += [(date_text, origin_text, symbol, feature, str(bucket), float(sums[k]))
                         for k, feature in enumerate(features)]
        total = float(phi[j].sum())
        forecast_rows.append((date_text, origin_text, symbol, float(np.exp(f_x[j])), float(f_x[j]), f_bg, total,
                              total - (float(f_x[j]) - f_bg)))


def explain_result(result, daily: pd.DataFrame, dates: Sequence, config: ExplainConfig | None = None,
                   series: list[str] | None = None) -> Explanation:
    """:func:`explain_lstm` for an :class:`~risk_platform.models.lstm.LSTMResult` (training time): the
    background ends at the result's ``train_end`` unless ``config.train_end`` says otherwise."""
    config = config or ExplainConfig(train_end=result.train_end)
    return explain_lstm(result.forecaster, daily, dates, config,
                        seq_len=result.config.seq_len, series=series, market=result.market)


def explain_loaded(loaded, daily: pd.DataFrame, dates: Sequence, config: ExplainConfig | None = None,
                   series: list[str] | None = None) -> Explanation:
    """:func:`explain_lstm` for a registered version (:class:`~risk_platform.models.registry.LoadedModel`):
    ``seq_len`` and ``train_end`` come from the model's MLflow metadata."""
    meta = loaded.metadata
    if "seq_len" not in meta:
        raise InputError(f"{loaded.name} version {loaded.version}: no seq_len in its MLflow metadata")
    config = config or ExplainConfig(train_end=meta.get("train_end"))
    return explain_lstm(loaded.module, daily, dates, config, seq_len=int(meta["seq_len"]), series=series,
                        market=MarketRoles.from_metadata(meta.get("market_inputs")))


def _bar_chart(mean_abs: pd.Series, path: Path, target: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ordered = mean_abs.sort_values()
    ax.barh(ordered.index, ordered.to_numpy(), color="tab:blue")
    ax.set(title="mean |SHAP| per feature", xlabel=f"mean |attribution| to the {target}")
    ax.title.set_fontsize(10)
    ax.xaxis.label.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _heatmap(frame: pd.DataFrame, path: Path, target: str, max_panels: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = sorted(frame["date"].unique())[-max_panels:]
    features = [f for f in (*STEP_FEATURES, *MARKET_FEATURES) if f in set(frame["feature"])]
    grids = [frame[frame["date"] == d].pivot(index="series", columns="feature", values="attribution")
             .reindex(columns=features) for d in dates]
    limit = max(float(np.nanmax(np.abs(g.to_numpy()))) for g in grids) or 1.0
    n_series = max(len(g) for g in grids)
    fig, axes = plt.subplots(1, len(grids), figsize=(3.2 * len(grids) + 1.2, 0.25 * n_series + 1.6), squeeze=False)
    image = None
    for ax, d, grid in zip(axes[0], dates, grids, strict=True):
        image = ax.imshow(grid.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
        ax.set_xticks(range(len(grid.columns)), grid.columns, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(grid.index)), grid.index, fontsize=7)
        ax.set_title(str(d), fontsize=9)
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="attribution")
    fig.suptitle(f"SHAP: {target}", fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
