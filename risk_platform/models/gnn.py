"""GNN dynamic-correlation model: forecasts the correlation matrix of the next ``horizon`` (21) trading days
from a graph of the series built on day t, point in time (only data dated t or earlier).

Calendar: the complete days of returns (every series has a return; from 2007-04 on the bundled data). The graph
of day t uses the returns of the complete days up to t and the ``daily_features`` rows dated t; a day is usable
once every series has all its node features (vol_rank needs a year of history: from 2008-05 on the bundled data)
and the longest correlation window of complete days exists. From that day on, a NaN or infinite feature or return
on a selected day is an :class:`~risk_platform.errors.InputError` (never silently skipped).

Nodes: one per series (symbols sorted). Raw node features (:func:`feature_names`), standardised inside the model
with a per-node, per-feature mean and std fitted on the training dates only (buffers):

* ``log_ewma_vol``, ``log_rv_21``, ``log_rv_63``: log of the EWMA(0.94), 21- and 63-day realised volatility;
* ``vol_rank`` (percentile of today's EWMA vol in the series' history) and ``drawdown`` (to date);
* ``ret_lag0`` .. ``ret_lag{n_lags-1}``: the last ``n_lags`` complete-day returns (lag 0 is day t) / ``rv_63``;

and, not standardised, the asset-class one-hot, a learned per-node identity embedding, and the node's graph
context (:data:`SUMMARY_FEATURES`, :func:`graph_context` of the trailing 63-day correlation: mean |corr| to its
top-k neighbours, mean corr to the other nodes, its loading on the first principal component): nothing N wide.

Edges, O(N k) (:func:`graph_edges`; GATConv adds self loops): each node's ``top_k`` neighbours by trailing 63-day
(first of ``corr_windows``) |corr|, both directions, plus ``static_per_node`` static peers per node of the same
asset class and of the same region (the next ones in symbol order, cyclically). Edge attributes
(:data:`EDGE_ATTRS`): ``corr, dynamic, same_class, same_region``. The top-k lists are computed here from the
trailing correlation of each date (:func:`graph_context`); a stored point-in-time neighbour table can replace
that one function.

Scale: no date's N x N matrices are kept. A :class:`GraphSet` holds per date the node features and the O(N k)
context; the K components and the target of a date are computed when a batch needs them (:class:`GraphDataset`),
over ``subgraph_nodes`` nodes grown from random seeds and their neighbours (a new subset each epoch; the output
blend needs only the subset's blocks of the components). Fitting stops at ``max_epochs`` or ``max_train_seconds``
(Lightning ``max_time``); the test dates are thinned evenly to ``max_test_cells`` (dates x N x N) and scored a
batch at a time on whole graphs. Forecasting one date builds the whole graph (O(N^2 K) for the blend).

Output, always a valid correlation matrix. Residual GATConv layers give node states h_i, from which per-node
weights w_ik (softmax over the K components). With C_k the components made valid (symmetrised, eigenvalues
clipped at a floor, rescaled to unit diagonal)::

    out_ij = sum_k sqrt(w_ik w_jk) C_k,ij,    then  (1 - ridge) out + ridge I

each term D_k C_k D_k is PSD and the diagonal is sum_k w_ik = 1 (with weights equal across nodes: a convex blend
of the C_k), so symmetric, unit diagonal and min eigenvalue >= ridge up to rounding. The weight head starts at
zero, so the untrained model is exactly the target construction: the equal-weight blend of the K components
(``frobenius_untrained`` scores it); what training adds is a node- and state-dependent reweighting.

Why no training-period prior: an earlier version also blended the mean training-target correlation. Fitted on
the very targets the model was trained against, it looked better in training than out of sample, training
shifted weight onto it, and validation always selected the untrained epoch. Every component is now point in
time, and the learned weights carry over to the validation and test dates (``python -m bench.gnn_learning``).

Target: the realised (Pearson) correlation of the complete-day returns over t+1..t+horizon; loss: mean squared
error over the off-diagonal pairs. Dates: every ``train_stride``-th day whose target window ends on or before
``train_end`` (counted back from the last); those whose target ends before ``val_start`` are fitted, those dated
from it on select the epoch (lowest validation loss, the untrained model included); test dates: the days from
``test_start`` on whose target window is complete. Baselines on the test dates: the untrained model, the
trailing 63-day sample
correlation and the EWMA(0.94) correlation (zero mean, last ``ewma_window`` days, from
:func:`~risk_platform.risk.measures.ewma_covariance`).
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import lightning as L
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GATConv

from risk_platform.errors import InputError
from risk_platform.ewma import EWMA_LAMBDA
from risk_platform.features.engineering import CORR_WINDOW
from risk_platform.models.datasets import Standardizer, check_finite, complete_days
from risk_platform.models.training import make_trainer, seed_everything, torch_threads
from risk_platform.models.windows import evaluation_split
from risk_platform.risk.measures import ewma_covariance

BASE_FEATURES = ("log_ewma_vol", "log_rv_21", "log_rv_63", "vol_rank", "drawdown")
PANEL_COLUMNS = ("ret", "ewma_vol", "rv_21", "rv_63", "vol_rank", "drawdown")  # read from daily_features
EDGE_ATTRS = ("corr", "dynamic", "same_class", "same_region")
VOL_FLOOR = 1e-8  # floor before logs and divisions by a volatility (a pegged currency can have rv == 0)
EIG_FLOOR = 1e-6  # eigenvalue floor when repairing a trailing correlation
SUMMARY_FEATURES = ("mean_abs_corr_neighbours", "mean_corr", "pc1_loading")  # node context (graph_context)
CACHE_CELLS = 20_000_000  # a GraphDataset keeps its built whole graphs up to this many matrix cells (80 MB)
POWER_STEPS = 50  # power-iteration steps for the first principal component of a trailing correlation


def feature_names(n_lags: int) -> tuple[str, ...]:
    """Names of the raw node features, in column order."""
    return (*BASE_FEATURES, *(f"ret_lag{k}" for k in range(n_lags)))


@dataclass(frozen=True)
class GNNConfig:
    """Graph, split and training hyper-parameters. ``demo`` trains in seconds on 2 CPU cores; ``full`` is the
    real run. No return after ``train_end`` enters a training or validation target. ``train_end`` None: the
    split is counted back from the data (:func:`with_dates`: ``test_years`` before the last date, validation
    the ``val_years`` before it, test from the day after it); ``test_start`` None: the day after ``train_end``."""

    horizon: int = 21
    corr_windows: tuple[int, ...] = (CORR_WINDOW, 252, 378)  # the first: edges and the sample baseline
    ewma_window: int = 252
    n_lags: int = 5
    top_k: int = 10  # dynamic neighbours per node: the largest trailing |corr| (first of corr_windows)
    static_per_node: int = 2  # static peers per node of the same class, and of the same region (cyclic order)
    subgraph_nodes: int = 64  # nodes per training / validation graph (neighbourhood-sampled); all when n <= it
    max_train_seconds: float | None = 300.0  # Lightning max_time on fitting (None: epochs only)
    max_test_cells: int = 25_000_000  # test dates thinned evenly so that dates * n * n stays below
    train_end: str | None = None
    val_start: str | None = None  # None with a given train_end: no validation split
    test_start: str | None = None
    test_years: float = 3.0
    val_years: float = 2.0
    test_end: str | None = None  # last test date (None: every date with a complete target window)
    train_stride: int = 5
    test_stride: int = 1
    min_train_graphs: int = 50
    hidden: int = 16
    heads: int = 2
    layers: int = 2
    node_id_dim: int = 4
    dropout: float = 0.1
    ridge: float = 1e-4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    max_epochs: int = 10
    gradient_clip_val: float = 1.0
    seed: int = 7
    num_threads: int = 1  # torch intra-op threads while training/scoring: small graphs run fastest on one
    preset: str = "demo"

    def __post_init__(self) -> None:
        end = pd.Timestamp(self.train_end) if self.train_end else None
        val_ok = self.val_start is None or end is None or pd.Timestamp(self.val_start) < end
        checks = {
            "horizon >= 2": self.horizon >= 2,
            "corr_windows: at least one, each >= 3": len(self.corr_windows) >= 1 and min(self.corr_windows) >= 3,
            "ewma_window >= 2": self.ewma_window >= 2,
            "n_lags >= 0": self.n_lags >= 0,
            "top_k >= 0 and static_per_node >= 0": self.top_k >= 0 and self.static_per_node >= 0,
            "subgraph_nodes >= 2": self.subgraph_nodes >= 2,
            "max_train_seconds > 0 or None": self.max_train_seconds is None or self.max_train_seconds > 0,
            "max_test_cells >= 1": self.max_test_cells >= 1,
            "train_stride >= 1 and test_stride >= 1": self.train_stride >= 1 and self.test_stride >= 1,
            "min_train_graphs >= 2": self.min_train_graphs >= 2,
            "hidden, heads, layers >= 1": min(self.hidden, self.heads, self.layers) >= 1,
            "node_id_dim >= 0": self.node_id_dim >= 0,
            "0 <= ridge < 1": 0.0 <= self.ridge < 1.0,
            "val_start before train_end": val_ok,
            "test_start after train_end": self.test_start is None or end is None or pd.Timestamp(self.test_start) > end,
            "test_years > 0 and val_years >= 0": self.test_years > 0 and self.val_years >= 0,
        }
        if failed := [name for name, ok in checks.items() if not ok]:
            raise InputError(f"GNNConfig: invalid values ({'; '.join(failed)})")

    @classmethod
    def demo(cls, **overrides) -> GNNConfig:
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides) -> GNNConfig:
        return replace(cls(train_stride=1, hidden=32, node_id_dim=8, max_epochs=30, lr=3e-4, batch_size=64,
                           subgraph_nodes=128, max_train_seconds=1800.0, preset="full"), **overrides)


# ---------------------------------------------------------------------------------------------- numpy side


def cov_to_corr(cov: np.ndarray) -> np.ndarray:
    """Covariance (..., n, n) -> correlation; a series with zero variance gets 0 off the diagonal, 1 on it."""
    sd = np.sqrt(np.clip(np.diagonal(cov, axis1=-2, axis2=-1), 0.0, None))
    outer = sd[..., :, None] * sd[..., None, :]
    corr = np.clip(np.divide(cov, outer, out=np.zeros(np.shape(cov)), where=outer > 0), -1.0, 1.0)
    n = corr.shape[-1]
    corr[..., np.arange(n), np.arange(n)] = 1.0
    return corr


def sample_correlation(returns: np.ndarray) -> np.ndarray:
    """Pearson correlation of returns (..., w dates, n series) -> (..., n, n)."""
    x = np.asarray(returns, dtype=float)
    x = x - x.mean(axis=-2, keepdims=True)
    return cov_to_corr(np.swapaxes(x, -1, -2) @ x)  # BLAS: O(w n^2) per window


def ewma_correlation(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """EWMA (RiskMetrics, zero mean) correlation of returns (w dates, n series), oldest first -> (n, n)."""
    return cov_to_corr(ewma_covariance(returns, lam))


def score_correlation(realized: np.ndarray, gnn: np.ndarray, sample63: np.ndarray,
                      ewma: np.ndarray) -> dict[str, float]:
    """Mean over dates of the Frobenius error ||forecast - realized||_F (all (m, n, n)) and the GNN's ratios."""
    return scores_from_errors({name: np.linalg.norm(f - realized, axis=(-2, -1))
                               for name, f in (("gnn", gnn), ("sample63", sample63), ("ewma", ewma))})


def scores_from_errors(errors: dict[str, np.ndarray]) -> dict[str, float]:
    """The scores of :func:`score_correlation` from per-date Frobenius errors (m,) of ``gnn``, ``sample63``,
    ``ewma``."""
    err = {name: float(np.mean(errors[name])) for name in ("gnn", "sample63", "ewma")}
    return {
        "frobenius_gnn": err["gnn"],
        "frobenius_sample63": err["sample63"],
        "frobenius_ewma": err["ewma"],
        "ratio_gnn_to_sample63": err["gnn"] / err["sample63"] if err["sample63"] > 0 else float("nan"),
        "ratio_gnn_to_ewma": err["gnn"] / err["ewma"] if err["ewma"] > 0 else float("nan"),
    }


@dataclass(frozen=True)
class SeriesPanel:
    """Complete-day returns (T, n) and raw node features (T, n, F); ``usable`` (T,): every node feature finite
    and ``history`` complete days of returns up to that day."""

    dates: pd.DatetimeIndex
    symbols: tuple[str, ...]
    returns: np.ndarray
    features: np.ndarray
    usable: np.ndarray


def _require_columns(daily: pd.DataFrame) -> None:
    if missing := sorted({"date", "symbol", *PANEL_COLUMNS} - set(daily.columns)):
        raise InputError(f"daily_features: missing columns {', '.join(missing)}")


def series_panel(daily: pd.DataFrame, n_lags: int, history: int,
                 symbols: Sequence[str] | None = None) -> SeriesPanel:
    """Node features of every complete day of ``daily`` (the ``daily_features`` table, long)."""
    _require_columns(daily)
    present = set(daily["symbol"].unique())
    symbols = tuple(sorted(present)) if symbols is None else tuple(symbols)
    if absent := [s for s in symbols if s not in present]:
        raise InputError(f"daily_features: no rows for {', '.join(absent)}")
    if len(symbols) < 2:
        raise InputError("daily_features: a correlation graph needs at least 2 series")
    try:
        table = daily.pivot(index="date", columns="symbol", values=list(PANEL_COLUMNS)).sort_index()  # one pivot
    except ValueError as exc:  # duplicate (date, symbol) rows
        raise InputError(f"daily_features: cannot build the date x symbol table ({exc})") from exc
    returns = complete_days(table["ret"].reindex(columns=list(symbols)))
    dates = pd.DatetimeIndex(returns.index)

    def wide(column: str) -> np.ndarray:
        return table[column].reindex(index=dates, columns=list(symbols)).to_numpy(dtype=float)

    r = returns.to_numpy(dtype=float)
    rv_63 = wide("rv_63")
    lags = []
    for k in range(n_lags):
        lagged = np.full_like(r, np.nan)
        lagged[k:] = r[:len(r) - k]
        lags.append(lagged / np.maximum(rv_63, VOL_FLOOR))
    with np.errstate(invalid="ignore"):
        logs = [np.log(np.maximum(v, VOL_FLOOR)) for v in (wide("ewma_vol"), wide("rv_21"), rv_63)]
    features = np.stack([*logs, wide("vol_rank"), wide("drawdown"), *lags], axis=-1)
    usable = np.isfinite(features).all(axis=(1, 2)) & (np.arange(len(dates)) >= history - 1)
    return SeriesPanel(dates, symbols, r, features, usable)


def node_attributes(instruments: pd.DataFrame, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Asset class and region (n,) of each symbol from the instruments table."""
    if missing := sorted({"symbol", "asset_class", "region"} - set(instruments.columns)):
        raise InputError(f"instruments: missing columns {', '.join(missing)}")
    info = instruments.set_index("symbol")
    if unknown := [s for s in symbols if s not in info.index]:
        raise InputError(f"instruments: no row for {', '.join(unknown)}")
    rows = info.loc[list(symbols)]
    return rows["asset_class"].to_numpy(dtype=str), rows["region"].to_numpy(dtype=str)


@dataclass(frozen=True)
class GraphSet:
    """The graphs of the panel rows ``rows`` (m,), built on access (never m x K x n x n at once): per date t the
    raw node features ``x`` (m, n, F), the point-in-time graph context (:func:`graph_context` of the trailing
    ``corr_windows[0]``-day correlation: ``neighbours`` (m, n, k) and ``summaries`` (m, n, S)), the last day of
    each target window; the K components and the target of date j over a node subset by :meth:`components` and
    :meth:`target_at`. ``returns``: the panel's complete-day returns (T, n), shared, read up to t (features) and
    over t+1..t+horizon (target) only."""

    dates: pd.DatetimeIndex
    target_end: pd.DatetimeIndex
    x: np.ndarray
    neighbours: np.ndarray
    summaries: np.ndarray
    rows: np.ndarray
    returns: np.ndarray
    corr_windows: tuple[int, ...]
    ewma_window: int
    horizon: int

    def __len__(self) -> int:
        return len(self.dates)

    def components(self, j: int, nodes: np.ndarray | None = None) -> np.ndarray:
        """The K point-in-time correlations (K, s, s) of date j over ``nodes`` (s,) (None: all): the trailing
        ``corr_windows`` sample correlations, then the EWMA(0.94) one over ``ewma_window`` days."""
        t = int(self.rows[j])
        span = self.returns[max(0, t + 1 - max(*self.corr_windows, self.ewma_window)):t + 1]
        r = span if nodes is None else span[:, nodes]
        trailing = [sample_correlation(r[len(r) - w:]) for w in self.corr_windows]
        return np.stack([*trailing, ewma_correlation(r[max(0, len(r) - self.ewma_window):])])

    def target_at(self, j: int, nodes: np.ndarray | None = None) -> np.ndarray:
        """Realised correlation (s, s) over t+1..t+horizon of date j over ``nodes`` (None: all)."""
        t = int(self.rows[j])
        future = self.returns[t + 1:t + 1 + self.horizon]
        return sample_correlation(future if nodes is None else future[:, nodes])

    # whole-set stacks (m, ..., n, n): for small sets (tests, crisis windows, the N=28 benchmark) only
    @property
    def corr(self) -> np.ndarray:
        return np.stack([self.components(j)[:-1] for j in range(len(self))])

    @property
    def ewma(self) -> np.ndarray:
        return np.stack([self.components(j)[-1] for j in range(len(self))])

    @property
    def target(self) -> np.ndarray:
        return np.stack([self.target_at(j) for j in range(len(self))])


def graph_set(panel: SeriesPanel, idx: np.ndarray, config: GNNConfig) -> GraphSet:
    """The graphs of the panel days ``idx`` (m,), each with a complete target window; the graph context of each
    date computed here (O(n k) kept per date), the matrices on access."""
    x = panel.features[idx]
    check_finite("GNN node features", x)
    first = max(0, idx.min() + 1 - max(*config.corr_windows, config.ewma_window))
    check_finite("GNN returns", panel.returns[first:idx.max() + config.horizon + 1])
    window = config.corr_windows[0]
    context = [graph_context(torch.as_tensor(sample_correlation(panel.returns[t + 1 - window:t + 1]),
                                             dtype=torch.float32), config.top_k) for t in idx]
    neighbours = np.stack([c[0].numpy() for c in context]).astype(np.int32)
    summaries = np.stack([c[1].numpy() for c in context])
    return GraphSet(panel.dates[idx], panel.dates[idx + config.horizon], x, neighbours, summaries, np.asarray(idx),
                    panel.returns, tuple(config.corr_windows), config.ewma_window, config.horizon)


def with_dates(daily: pd.DataFrame, config: GNNConfig) -> GNNConfig:
    """``config`` with its split dates filled from the data: given a ``train_end``, only ``test_start`` (the day
    after it) when None; else :func:`~risk_platform.models.windows.evaluation_split` of the complete days
    (``test_years``, keeping the trailing-correlation warm-up and ``min_train_graphs`` fitted dates), validation
    from ``val_years`` before the split (none when 0). :class:`InputError` when the history cannot hold out a
    test period (the GNN is scored on one)."""
    if config.train_end is not None:
        return config if config.test_start else replace(
            config, test_start=f"{pd.Timestamp(config.train_end) + pd.Timedelta(days=1):%Y-%m-%d}")
    days = complete_days(daily.pivot_table(index="date", columns="symbol", values="ret", dropna=False)).index
    warm_up = max(config.corr_windows) + config.min_train_graphs * config.train_stride + config.horizon
    split = evaluation_split(days, config.test_years, warm_up, config.horizon + 1)
    if split.train_end is None:
        raise InputError(f"GNN: {split.note} (it is scored on a held-out period)")
    val = split.train_end - pd.DateOffset(months=round(config.val_years * 12)) + pd.Timedelta(days=1)
    return replace(config, train_end=f"{split.train_end:%Y-%m-%d}", val_start=f"{val:%Y-%m-%d}"
                   if config.val_years > 0 else None, test_start=f"{split.train_end + pd.Timedelta(days=1):%Y-%m-%d}")




@dataclass(frozen=True)
class GraphData:
    """Fit, validation (None without ``val_start``) and test graphs, with the node attributes (n,) they share."""

    symbols: tuple[str, ...]
    asset_classes: np.ndarray
    regions: np.ndarray
    train: GraphSet
    val: GraphSet | None
    test: GraphSet


def thin_evenly(idx: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` (>= 1) of ``idx``, evenly spaced, first and last kept."""
    if len(idx) <= cap:
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, max(cap, 1)).round().astype(int))]


def build_graph_data(daily: pd.DataFrame, instruments: pd.DataFrame, config: GNNConfig) -> GraphData:
    """Split the usable complete days into fit / validation / test dates (see the module docstring)."""
    config = with_dates(daily, config)
    panel = series_panel(daily, config.n_lags, max(config.corr_windows))
    classes, regions = node_attributes(instruments, panel.symbols)
    k = np.arange(len(panel.dates))
    first = int(np.argmax(panel.usable)) if panel.usable.any() else len(k)
    candidates = (k >= first) & (k + config.horizon < len(k))  # a later NaN feature is an error, not skipped
    target_end = panel.dates[np.minimum(k + config.horizon, len(k) - 1)]
    train_end = pd.Timestamp(config.train_end)
    in_sample = np.flatnonzero(candidates & (target_end <= train_end))[::-config.train_stride][::-1]
    val_start = pd.Timestamp(config.val_start) if config.val_start else train_end + pd.Timedelta(days=1)
    fit_idx = in_sample[target_end[in_sample] < val_start]
    val_idx = in_sample[panel.dates[in_sample] >= val_start]
    in_test = panel.dates >= pd.Timestamp(config.test_start)
    if config.test_end is not None:
        in_test &= panel.dates <= pd.Timestamp(config.test_end)
    n = len(panel.symbols)
    test_idx = thin_evenly(np.flatnonzero(candidates & in_test)[::config.test_stride], config.max_test_cells // (n * n))
    if len(fit_idx) < config.min_train_graphs:
        raise InputError(f"too little history for the GNN: {len(fit_idx)} training dates with targets ending before "
                         f"{val_start.date()} (need {config.min_train_graphs})")
    if config.val_start and len(val_idx) == 0:
        raise InputError(f"no validation date from {config.val_start} with a target ending by {config.train_end}")
    if len(test_idx) == 0:
        raise InputError(f"no test date from {config.test_start} with {config.horizon} complete days after it")
    return GraphData(panel.symbols, classes, regions, graph_set(panel, fit_idx, config),
                     graph_set(panel, val_idx, config) if len(val_idx) else None, graph_set(panel, test_idx, config))


# ---------------------------------------------------------------------------------------------- torch side


def graph_context(corr: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Point-in-time context of one graph from its trailing correlation (n, n) (NaN read as 0): each node's
    ``top_k`` neighbours by |corr| (n, k) long (k = min(top_k, n - 1)) and its summaries (n, S) float32 as in
    :data:`SUMMARY_FEATURES`: mean |corr| to those neighbours, mean corr to the other nodes, and the loading
    sqrt(lambda_1) v_1 on the first principal component (power iteration from the equal-weight vector, sign:
    loadings summing >= 0). O(n^2) time for the one matrix, O(n k) kept."""
    c = torch.nan_to_num(corr.double(), nan=0.0).clamp(-1.0, 1.0)
    n = c.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=c.device)
    c = c.masked_fill(eye, 1.0)
    off = c.masked_fill(eye, 0.0)
    k = min(top_k, n - 1)
    strength, neighbours = off.abs().masked_fill(eye, -1.0).topk(k, dim=1)
    mean_abs = strength.mean(dim=1) if k > 0 else torch.zeros(n, dtype=c.dtype, device=c.device)
    v = torch.full((n,), n ** -0.5, dtype=c.dtype, device=c.device)
    for _ in range(POWER_STEPS):
        v = c @ v
        v = v / v.norm().clamp_min(1e-12)
    v = v * torch.where(v.sum() < 0, -1.0, 1.0)
    loading = v * (v @ c @ v).clamp_min(0.0).sqrt()
    return neighbours, torch.stack([mean_abs, off.sum(dim=1) / max(n - 1, 1), loading], dim=1).float()


def static_pairs(class_codes: np.ndarray, region_codes: np.ndarray, per_node: int) -> np.ndarray:
    """Static edges (2, E) source -> node, E <= 2 n ``per_node``: for each node, the next ``per_node`` nodes
    (cyclically, in node order) of its asset class, then of its region (deterministic, no N x N relation)."""
    pairs = [np.zeros((2, 0), dtype=np.int64)]
    for codes in (np.asarray(class_codes), np.asarray(region_codes)):
        for code in np.unique(codes):
            group = np.flatnonzero(codes == code)
            pairs += [np.stack([np.roll(group, -d), group]) for d in range(1, min(per_node, len(group) - 1) + 1)]
    return np.concatenate(pairs, axis=1).astype(np.int64)


def graph_edges(neighbours: torch.Tensor, static: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges (2, 2 n k + E_s) of the whole graph: neighbour -> node and node -> neighbour for the top-k lists
    (n, k), then the static pairs (2, E_s); and which are dynamic (bool). A mutual pair appears twice (fixed
    count: the serving graph exports without data-dependent shapes)."""
    n, k = neighbours.shape
    node = torch.arange(n, device=neighbours.device).repeat_interleave(k)
    near = neighbours.reshape(-1).long()
    edge_index = torch.stack([torch.cat([near, node, static[0]]), torch.cat([node, near, static[1]])])
    dynamic = torch.cat([torch.ones(2 * n * k, dtype=torch.bool, device=neighbours.device),
                         torch.zeros(static.shape[1], dtype=torch.bool, device=neighbours.device)])
    return edge_index, dynamic


def edge_attributes(edge_index: torch.Tensor, dynamic: torch.Tensor, corr: torch.Tensor, class_codes: torch.Tensor,
                    region_codes: torch.Tensor) -> torch.Tensor:
    """Edge attributes (E, 4) as in :data:`EDGE_ATTRS` from the trailing correlation (s, s) and the codes (s,)
    of the graph's nodes (edge_index indexes them)."""
    src, dst = edge_index
    c = torch.nan_to_num(corr.float(), nan=0.0).clamp(-1.0, 1.0)
    return torch.stack([c[src, dst], dynamic.float(), (class_codes[src] == class_codes[dst]).float(),
                        (region_codes[src] == region_codes[dst]).float()], dim=1)


def subgraph_edges(edge_index: np.ndarray, dynamic: np.ndarray, nodes: np.ndarray,
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """The edges of the whole graph between ``nodes`` (s,) sorted, renumbered 0..s-1 (order kept)."""
    local = np.full(n, -1)
    local[nodes] = np.arange(len(nodes))
    src, dst = local[edge_index[0]], local[edge_index[1]]
    keep = (src >= 0) & (dst >= 0)
    return np.stack([src[keep], dst[keep]]), dynamic[keep]


def sample_nodes(neighbours: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` nodes (sorted) grown from random seeds, each with its top-k neighbours (n, k), so the sampled
    subgraph keeps most of its nodes' edges."""
    seen = np.zeros(len(neighbours), dtype=bool)
    count = 0
    for seed in rng.permutation(len(neighbours)):
        for node in (seed, *neighbours[seed]):
            if not seen[node]:
                seen[node], count = True, count + 1
                if count == size:
                    return np.flatnonzero(seen)
    return np.flatnonzero(seen)


def valid_correlation(corr: torch.Tensor, floor: float = EIG_FLOOR) -> torch.Tensor:
    """A valid correlation (..., n, n) -> same shape, float64: symmetrised, clipped to [-1, 1], unit diagonal,
    eigenvalues clipped at ``floor``, then rescaled to unit diagonal (NaN read as 0)."""
    c = torch.nan_to_num(corr.detach().double(), nan=0.0, posinf=1.0, neginf=-1.0)
    c = (0.5 * (c + c.transpose(-1, -2))).clamp(-1.0, 1.0)
    eye = torch.eye(c.shape[-1], dtype=c.dtype, device=c.device)
    c = c * (1 - eye) + eye
    values, vectors = torch.linalg.eigh(c)  # always: no data-dependent branch, so the model exports (pt2)
    c = (vectors * values.clamp_min(floor).unsqueeze(-2)) @ vectors.transpose(-1, -2)
    d = c.diagonal(dim1=-2, dim2=-1).sqrt()
    return c / (d.unsqueeze(-1) * d.unsqueeze(-2))


class GNNCorrelation(nn.Module):
    """Graph attention network over the series -> forecast correlation matrix (always valid).

    Buffers (fitted outside, saved in the state dict): the per-node feature mean/std (n, F), the asset-class
    one-hot (n, C), the class and region codes (n,) and the static pairs (2, E_s) (:func:`static_pairs`); nothing
    N x N. ``n_components``: the point-in-time correlations blended (the trailing windows, then EWMA). A forward
    pass runs on a node subset (s nodes per graph, their universe indices ``node_ids``) or on all of them.
    """

    def __init__(self, n_nodes: int, n_features: int, n_classes: int, *, n_components: int = 3, hidden: int = 16,
                 heads: int = 2, layers: int = 2, node_id_dim: int = 4, top_k: int = 10, static_per_node: int = 2,
                 ridge: float = 1e-4, dropout: float = 0.0,
                 class_codes: Sequence[int] | None = None, region_codes: Sequence[int] | None = None,
                 feature_mean: np.ndarray | None = None, feature_std: np.ndarray | None = None) -> None:
        super().__init__()
        self.n_nodes, self.n_features, self.n_components = n_nodes, n_features, n_components
        self.top_k, self.ridge = int(top_k), float(ridge)
        classes = np.zeros(n_nodes, int) if class_codes is None else np.asarray(class_codes)
        regions = np.arange(n_nodes) if region_codes is None else np.asarray(region_codes)
        buffers = {
            "feature_mean": np.zeros((n_nodes, n_features)) if feature_mean is None else feature_mean,
            "feature_std": np.ones((n_nodes, n_features)) if feature_std is None else feature_std,
        }
        for name, value in buffers.items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).reshape(n_nodes, -1))
        self.register_buffer("class_codes", torch.as_tensor(classes, dtype=torch.long))
        self.register_buffer("region_codes", torch.as_tensor(regions, dtype=torch.long))
        self.register_buffer("class_onehot", F.one_hot(self.class_codes, n_classes).float())
        self.register_buffer("static_pairs", torch.as_tensor(static_pairs(classes, regions, static_per_node)))
        self.node_id = nn.Parameter(0.1 * torch.randn(n_nodes, node_id_dim))
        self.inp = nn.Linear(n_features + n_classes + node_id_dim + len(SUMMARY_FEATURES), hidden)
        self.convs = nn.ModuleList(
            GATConv(hidden, hidden, heads=heads, concat=False, edge_dim=len(EDGE_ATTRS), dropout=dropout)
            for _ in range(layers)
        )
        self.mix = nn.Linear(hidden, n_components)
        nn.init.zeros_(self.mix.weight)  # untrained: equal weights, the target construction exactly
        nn.init.zeros_(self.mix.bias)

    @classmethod
    def from_config(cls, config: GNNConfig, n_nodes: int, n_features: int, n_classes: int,
                    **structure) -> GNNCorrelation:
        """A model with the architecture of ``config``; ``structure``: codes, feature mean/std."""
        return cls(n_nodes, n_features, n_classes, n_components=len(config.corr_windows) + 1, hidden=config.hidden,
                   heads=config.heads, layers=config.layers, node_id_dim=config.node_id_dim, top_k=config.top_k,
                   static_per_node=config.static_per_node, ridge=config.ridge, dropout=config.dropout, **structure)

    def whole_graph(self, corr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Node summaries (n, S), edge_index (2, E), edge_attr (E, 4) of the whole graph from its first trailing
        correlation (n, n): E = 2 n k + E_s."""
        neighbours, summaries = graph_context(corr, self.top_k)
        edge_index, dynamic = graph_edges(neighbours, self.static_pairs)
        return summaries, edge_index, edge_attributes(edge_index, dynamic, corr, self.class_codes, self.region_codes)

    def forward(self, x: torch.Tensor, node_ids: torch.Tensor, summaries: torch.Tensor, edge_index: torch.Tensor,
                edge_attr: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        """B stacked graphs of s nodes each: x (B*s, F) raw node features, node_ids (B*s,) their universe indices,
        summaries (B*s, S), edge_index (2, E) into those rows, edge_attr (E, 4), corr (B, K, s, s) the nodes'
        point-in-time correlations (trailing windows, then EWMA) -> (B, s, s) forecasts."""
        b, s = corr.shape[0], corr.shape[-1]
        z = (x - self.feature_mean[node_ids]) / self.feature_std[node_ids]
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).clamp(-10.0, 10.0)
        trailing = valid_correlation(corr).to(z.dtype)  # (B, K, s, s)
        context = torch.nan_to_num(summaries.to(z.dtype), nan=0.0).clamp(-1.0, 1.0)
        h = F.elu(self.inp(torch.cat([z, self.class_onehot[node_ids], self.node_id[node_ids], context], dim=1)))
        edge_attr = torch.nan_to_num(edge_attr, nan=0.0).clamp(-1.0, 1.0)
        for conv in self.convs:
            h = h + F.elu(conv(h, edge_index, edge_attr))
        root = torch.exp(0.5 * F.log_softmax(self.mix(h), dim=-1)).view(b, s, -1).transpose(1, 2)  # sqrt(w)
        out = (root.unsqueeze(-1) * root.unsqueeze(-2) * trailing).sum(dim=1)
        eye = torch.eye(s, dtype=out.dtype, device=out.device)
        out = (1.0 - self.ridge) * 0.5 * (out + out.transpose(-1, -2)) + self.ridge * eye
        return out * (1 - eye) + eye  # exact unit diagonal (adds a non-negative diagonal at most: stays PSD)


class CorrelationForecaster(nn.Module):
    """Single-tensor wrapper for serving: (n, F + K*n) raw node features next to the K point-in-time correlation
    matrices (:func:`components`: trailing 63, 252 days, then EWMA) -> (n, n) forecast correlation; the graph
    (top-k neighbours, summaries, static edges) rebuilt inside from the first trailing correlation."""

    def __init__(self, model: GNNCorrelation) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        n, f, k = self.model.n_nodes, self.model.n_features, self.model.n_components
        if tuple(inputs.shape) != (n, f + k * n):
            raise InputError(f"CorrelationForecaster: input shape {tuple(inputs.shape)}, expected ({n}, {f + k * n})")
        corr = inputs[:, f:].reshape(n, k, n).transpose(0, 1)
        summaries, edge_index, edge_attr = self.model.whole_graph(corr[0])
        node_ids = torch.arange(n, device=inputs.device)
        return self.model(inputs[:, :f], node_ids, summaries, edge_index, edge_attr, corr.unsqueeze(0))[0]


def components(graphs: GraphSet) -> np.ndarray:
    """The point-in-time correlations the model blends (m, K, n, n): the trailing windows, then EWMA (small sets)."""
    return np.stack([graphs.components(j) for j in range(len(graphs))])


class GraphDataset(torch.utils.data.Dataset):
    """The graphs of a :class:`GraphSet` built on access, one ``Data`` per date: x (s, F), node_ids (s,),
    summaries (s, S), edges, corr (1, K, s, s), y (1, s, s). ``subgraph_nodes``: s nodes per graph by
    :func:`sample_nodes` (None, or n <= it: the whole graph); ``resample``: a new subset at every access (seeded by
    date and access count: reproducible), else one fixed subset per date. Whole graphs are kept once built while
    all of them hold at most :data:`CACHE_CELLS` matrix cells (a small universe builds each date once)."""

    def __init__(self, graphs: GraphSet, model: GNNCorrelation, subgraph_nodes: int | None = None, seed: int = 0,
                 resample: bool = False) -> None:
        self.graphs, self.subgraph_nodes, self.seed, self.resample = graphs, subgraph_nodes, seed, resample
        self.classes, self.regions = model.class_codes.cpu(), model.region_codes.cpu()
        self.static = model.static_pairs.cpu()
        self.draws = np.zeros(len(graphs), dtype=np.int64)
        m, n = graphs.x.shape[:2]
        whole = subgraph_nodes is None or subgraph_nodes >= n
        cells = m * (len(graphs.corr_windows) + 2) * n * n  # K components and the target per date
        self._cache: dict[int, Data] | None = {} if whole and cells <= CACHE_CELLS else None

    def __len__(self) -> int:
        return len(self.graphs)

    def nodes(self, j: int) -> np.ndarray:
        n = self.graphs.x.shape[1]
        if self.subgraph_nodes is None or self.subgraph_nodes >= n:
            return np.arange(n)
        rng = np.random.default_rng([self.seed, j, int(self.draws[j])])
        self.draws[j] += self.resample
        return sample_nodes(self.graphs.neighbours[j], self.subgraph_nodes, rng)

    def __getitem__(self, j: int) -> Data:
        if self._cache is not None and j in self._cache:
            return self._cache[j]
        graph = self._build(j)
        if self._cache is not None:
            self._cache[j] = graph
        return graph

    def _build(self, j: int) -> Data:
        g, nodes = self.graphs, self.nodes(j)
        corr = torch.as_tensor(g.components(j, nodes), dtype=torch.float32)
        edge_index, dynamic = graph_edges(torch.as_tensor(g.neighbours[j]), self.static)
        local, dynamic = subgraph_edges(edge_index.numpy(), dynamic.numpy(), nodes, g.x.shape[1])
        ids = torch.as_tensor(nodes)
        edge_index = torch.as_tensor(local, dtype=torch.long)
        attr = edge_attributes(edge_index, torch.as_tensor(dynamic), corr[0], self.classes[ids], self.regions[ids])
        return Data(x=torch.as_tensor(g.x[j][nodes], dtype=torch.float32), node_ids=ids,
                    summaries=torch.as_tensor(g.summaries[j][nodes]), edge_index=edge_index, edge_attr=attr,
                    corr=corr.unsqueeze(0), y=torch.as_tensor(g.target_at(j, nodes), dtype=torch.float32).unsqueeze(0))


def correlation_loss(forecast: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the off-diagonal pairs of (B, n, n) correlation matrices."""
    off = ~torch.eye(forecast.shape[-1], dtype=torch.bool, device=forecast.device)
    return ((forecast - target) ** 2)[:, off].mean()


def run_model(model: GNNCorrelation, batch: Data) -> torch.Tensor:
    """The model on a batch of :class:`GraphDataset` graphs -> (B, s, s)."""
    return model(batch.x, batch.node_ids, batch.summaries, batch.edge_index, batch.edge_attr, batch.corr)


@torch.no_grad()
def predict(model: GNNCorrelation, graphs: GraphSet, batch_size: int = 16) -> np.ndarray:
    """Forecast correlations (m, n, n) for every date of ``graphs`` (whole graphs; small sets)."""
    model.eval()
    loader = DataLoader(GraphDataset(graphs, model), batch_size=batch_size, shuffle=False)
    return np.concatenate([run_model(model, b).numpy() for b in loader]).astype(float)


@torch.no_grad()
def date_errors(models: dict[str, GNNCorrelation], graphs: GraphSet, batch_size: int = 8) -> dict[str, np.ndarray]:
    """Frobenius error (m,) of each model's whole-graph forecast and of the 63-day sample (``sample63``) and EWMA
    (``ewma``) correlations against the realised one, per date, streamed a batch of dates at a time."""
    for model in models.values():
        model.eval()
    first = next(iter(models.values()))
    errors: dict[str, list[np.ndarray]] = {name: [] for name in (*models, "sample63", "ewma")}
    for batch in DataLoader(GraphDataset(graphs, first), batch_size=batch_size, shuffle=False):
        target = batch.y.double()
        forecasts = {name: run_model(model, batch).double() for name, model in models.items()}
        forecasts.update(sample63=batch.corr[:, 0].double(), ewma=batch.corr[:, -1].double())
        for name, forecast in forecasts.items():
            errors[name].append(torch.linalg.matrix_norm(forecast - target).numpy())
    return {name: np.concatenate(values) for name, values in errors.items()}


class GNNCorrelationModule(L.LightningModule):
    """Trains a :class:`GNNCorrelation` with AdamW on the off-diagonal MSE; ``history`` holds the epoch mean
    training losses and the validation losses (the first one before any training)."""

    def __init__(self, model: GNNCorrelation, lr: float = 3e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        self._losses: dict[str, list[tuple[torch.Tensor, int]]] = {"train_loss": [], "val_loss": []}

    def forward(self, batch: Data) -> torch.Tensor:
        return run_model(self.model, batch)

    def _step(self, name: str, batch: Data, **log_options) -> torch.Tensor:
        loss = correlation_loss(self(batch), batch.y)
        self.log(name, loss, batch_size=batch.num_graphs, **log_options)
        self._losses[name].append((loss.detach(), batch.num_graphs))
        return loss

    def training_step(self, batch: Data, batch_idx: int) -> torch.Tensor:
        return self._step("train_loss", batch, on_step=True, on_epoch=False)

    def validation_step(self, batch: Data, batch_idx: int) -> None:
        self._step("val_loss", batch, on_epoch=True)

    def _close_epoch(self, name: str) -> None:
        """Append the epoch's graph-weighted mean loss to the history (not for the sanity check)."""
        if self._losses[name] and not self.trainer.sanity_checking:
            total = sum(float(loss) * count for loss, count in self._losses[name])
            self.history[name].append(total / sum(count for _, count in self._losses[name]))
        self._losses[name].clear()

    def on_train_epoch_end(self) -> None:
        self._close_epoch("train_loss")

    def on_validation_epoch_end(self) -> None:
        self._close_epoch("val_loss")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class BestWeights(L.Callback):
    """Keep in memory the weights with the lowest validation loss seen (``trainer.validate`` before ``fit``
    included) and load them back when fitting ends; ``best_epoch``: 0 = untrained, k = after epoch k, -1 = no
    validation ran (the weights after the last epoch are kept)."""

    def __init__(self) -> None:
        self.best, self.best_epoch, self._state, self._seen = float("inf"), -1, None, 0

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or "val_loss" not in trainer.callback_metrics:
            return
        loss = float(trainer.callback_metrics["val_loss"])
        if loss < self.best:
            self.best, self.best_epoch = loss, self._seen
            self._state = copy.deepcopy(pl_module.state_dict())
        self._seen += 1

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._state is not None:
            pl_module.load_state_dict(self._state)


class GraphDataModule(L.LightningDataModule):
    """Mini-batches of graphs built on access (:class:`GraphDataset`): shuffled fit graphs, a new node subset at
    every access, and the validation graphs, one fixed subset per date, when given."""

    def __init__(self, train: GraphSet, val: GraphSet | None, model: GNNCorrelation, config: GNNConfig) -> None:
        super().__init__()
        self.sets, self.model, self.config = {"train": train, "val": val}, model, config
        self._graphs: dict[str, GraphDataset] = {}

    def setup(self, stage: str | None = None) -> None:
        for name, graphs in self.sets.items():
            if graphs is not None and name not in self._graphs:
                self._graphs[name] = GraphDataset(graphs, self.model, self.config.subgraph_nodes, self.config.seed,
                                                  resample=name == "train")

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._graphs["train"], batch_size=self.config.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return DataLoader(self._graphs["val"], batch_size=64) if "val" in self._graphs else []


def require_point_in_time(metadata: dict, label: str) -> None:
    """:class:`InputError` when a registered version predates the point-in-time blend (it blended a prior of
    training-target correlations; its metadata lacks ``point_in_time_blend``): it cannot take today's inputs."""
    if metadata.get("point_in_time_blend") is not True:
        raise InputError(f"{label} was registered before the point-in-time correlation blend (its output mixed a"
                         " training-target prior): retrain it (risk_pipeline or retrain_models) to forecast with it")


def forecaster_input(daily_upto_t: pd.DataFrame, symbols: Sequence[str],
                     config: GNNConfig) -> tuple[pd.Timestamp, torch.Tensor]:
    """Input (n, F + K*n) float32 of :class:`CorrelationForecaster` for the latest complete day of the table."""
    _require_columns(daily_upto_t)
    dates = daily_upto_t["date"].to_numpy()
    union = np.sort(pd.unique(dates))
    if len(union) == 0:
        raise InputError("daily_features: no rows")
    history = max(config.corr_windows)
    keep = 2 * (max(history, config.ewma_window) + config.n_lags) + 20  # union-calendar days: ample complete days
    recent = daily_upto_t.loc[dates >= union[max(0, len(union) - keep)], ["date", "symbol", *PANEL_COLUMNS]]
    panel = series_panel(recent, config.n_lags, history, symbols)
    if not panel.usable[-1]:
        raise InputError(f"daily_features: {panel.dates[-1].date()} lacks node features or "
                         f"{history} complete days of returns for the GNN")
    check_finite("GNN returns", panel.returns[max(0, len(panel.dates) - max(history, config.ewma_window)):])
    corr = [sample_correlation(panel.returns[len(panel.returns) - w:]) for w in config.corr_windows]
    ewma = ewma_correlation(panel.returns[max(0, len(panel.returns) - config.ewma_window):])
    inputs = np.concatenate([panel.features[-1], *corr, ewma], axis=1)
    return panel.dates[-1], torch.as_tensor(inputs, dtype=torch.float32)


@dataclass(frozen=True)
class GNNResult:
    """A trained model and its out-of-sample scores. ``train_start``/``train_end``: first and last fitted graph
    dates (their targets end before ``config.val_start``, or on/before ``config.train_end`` without it)."""

    model: GNNCorrelation
    config: GNNConfig
    history: dict[str, list[float]]
    symbols: tuple[str, ...]
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    n_train: int
    metrics: dict[str, float] = field(default_factory=dict)

    def forecaster(self) -> CorrelationForecaster:
        return CorrelationForecaster(self.model).eval()

    @torch.no_grad()
    def forecast(self, daily_upto_t: pd.DataFrame) -> pd.DataFrame:
        """Forecast correlation (symbols x symbols) of the next ``horizon`` days after the latest complete day;
        ``attrs["as_of"]``: that day."""
        as_of, inputs = forecaster_input(daily_upto_t, self.symbols, self.config)
        with torch_threads(self.config.num_threads):
            forecast = self.forecaster()(inputs).numpy().astype(float)
        frame = pd.DataFrame(forecast, index=list(self.symbols), columns=list(self.symbols))
        frame.attrs["as_of"] = as_of
        return frame


def train_gnn_corr(daily: pd.DataFrame, instruments: pd.DataFrame, config: GNNConfig | None = None,
                   fast_dev_run: bool = False) -> GNNResult:
    """Build the graphs, train (seeded), and score GNN vs sample-63 vs EWMA on the test dates."""
    config = with_dates(daily, config or GNNConfig.demo())
    return train_on_graphs(build_graph_data(daily, instruments, config), config, fast_dev_run)


def train_on_graphs(data: GraphData, config: GNNConfig, fast_dev_run: bool = False) -> GNNResult:
    """Train (seeded) on ``data.train``, select the epoch on ``data.val``, score on ``data.test``."""
    n_train, n, n_features = data.train.x.shape
    scaler = Standardizer.fit(data.train.x.reshape(n_train, n * n_features))
    seed_everything(config.seed)
    model = GNNCorrelation.from_config(
        config, n, n_features, len(np.unique(data.asset_classes)),
        class_codes=np.unique(data.asset_classes, return_inverse=True)[1],
        region_codes=np.unique(data.regions, return_inverse=True)[1],
        feature_mean=scaler.mean.reshape(n, n_features), feature_std=scaler.std.reshape(n, n_features),
    )
    untrained = copy.deepcopy(model)
    module = GNNCorrelationModule(model, config.lr, config.weight_decay)
    datamodule = GraphDataModule(data.train, data.val, model, config)
    best = BestWeights()
    trainer = make_trainer(config.max_epochs, fast_dev_run=fast_dev_run, gradient_clip_val=config.gradient_clip_val,
                           callbacks=[best], max_seconds=config.max_train_seconds)
    start = time.perf_counter()
    with torch_threads(config.num_threads), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(does not have many workers|number of training batches|Total "
                                "length of|LeafSpec).*")
        if data.val is not None:
            trainer.validate(module, datamodule=datamodule, verbose=False)
        trainer.fit(module, datamodule=datamodule)
        fit_seconds = time.perf_counter() - start
        errors = date_errors({"gnn": model, "untrained": untrained}, data.test)
    metrics = scores_from_errors(errors)
    metrics["frobenius_untrained"] = float(errors["untrained"].mean())
    metrics.update(n_val=float(0 if data.val is None else len(data.val.dates)), n_test=float(len(data.test.dates)),
                   best_epoch=float(best.best_epoch), fit_seconds=fit_seconds)
    return GNNResult(model, config, module.history, data.symbols, data.train.dates[0], data.train.dates[-1], n_train,
                     metrics)
