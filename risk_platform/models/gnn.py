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

and, not standardised, the asset-class one-hot, a learned per-node identity embedding, and the node's rows of the
K point-in-time correlations it blends (:func:`components`: the trailing 63-, 252- and 378-complete-day sample
correlations, ``corr_windows``, then the EWMA correlation).

Edges (both directions, no self loops; GATConv adds them): static edges between series of the same asset class
and between series of the same region, plus dynamic edges where the trailing 63-day (first of ``corr_windows``)
absolute sample correlation exceeds ``edge_threshold``. Edge attributes (:data:`EDGE_ATTRS`): ``corr, dynamic,
same_class, same_region``.

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
from collections.abc import Callable, Sequence
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
EdgeBuilder = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


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
    edge_threshold: float = 0.3
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
            "0 <= edge_threshold < 1": 0.0 <= self.edge_threshold < 1.0,
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
                           preset="full"), **overrides)


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
    return cov_to_corr(np.einsum("...wi,...wj->...ij", x, x))


def ewma_correlation(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """EWMA (RiskMetrics, zero mean) correlation of returns (w dates, n series), oldest first -> (n, n)."""
    return cov_to_corr(ewma_covariance(returns, lam))


def score_correlation(realized: np.ndarray, gnn: np.ndarray, sample63: np.ndarray,
                      ewma: np.ndarray) -> dict[str, float]:
    """Mean over dates of the Frobenius error ||forecast - realized||_F (all (m, n, n)) and the GNN's ratios."""
    err = {name: float(np.linalg.norm(f - realized, axis=(-2, -1)).mean())
           for name, f in (("gnn", gnn), ("sample63", sample63), ("ewma", ewma))}
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
    """Per graph date t (m,): raw node features x (m, n, F), trailing sample correlations ``corr`` (m, K, n, n)
    over ``corr_windows``, realised target correlation over t+1..t+horizon (m, n, n), EWMA correlation
    (m, n, n), and the last day of each target window."""

    dates: pd.DatetimeIndex
    target_end: pd.DatetimeIndex
    x: np.ndarray
    corr: np.ndarray
    target: np.ndarray
    ewma: np.ndarray


def _windows(returns: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Rows ends-length+1..ends of returns (T, n) for each end (m,) -> (m, length, n)."""
    return returns[ends[:, None] + np.arange(1 - length, 1)[None, :]]


def trailing_correlations(returns: np.ndarray, ends: np.ndarray, windows: Sequence[int]) -> np.ndarray:
    """Sample correlations (m, K, n, n) of the returns (T, n) over the ``windows`` rows up to each end (m,)."""
    return np.stack([sample_correlation(_windows(returns, ends, w)) for w in windows], axis=1)


def graph_set(panel: SeriesPanel, idx: np.ndarray, config: GNNConfig) -> GraphSet:
    """The graphs of the panel days ``idx`` (m,), each with a complete target window."""
    x = panel.features[idx]
    check_finite("GNN node features", x)
    future = _windows(panel.returns, idx + config.horizon, config.horizon)
    first = max(0, idx.min() + 1 - max(*config.corr_windows, config.ewma_window))
    check_finite("GNN returns", panel.returns[first:idx.max() + config.horizon + 1])
    ewma = np.stack([ewma_correlation(panel.returns[max(0, k - config.ewma_window + 1):k + 1]) for k in idx])
    return GraphSet(panel.dates[idx], panel.dates[idx + config.horizon], x,
                    trailing_correlations(panel.returns, idx, config.corr_windows), sample_correlation(future), ewma)


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
    test_idx = np.flatnonzero(candidates & in_test)[::config.test_stride]
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


def correlation_edges(corr: torch.Tensor, same_class: torch.Tensor, same_region: torch.Tensor,
                      threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges of one graph from its trailing correlation (n, n) and the static (n, n) bool relations ->
    edge_index (2, E), edge_attr (E, 4) as in :data:`EDGE_ATTRS`."""
    c = torch.nan_to_num(corr.float(), nan=0.0)
    dynamic = c.abs() > threshold
    adj = (same_class | same_region | dynamic) & ~torch.eye(c.shape[-1], dtype=torch.bool, device=c.device)
    src, dst = adj.nonzero(as_tuple=True)
    attr = torch.stack([c[src, dst], dynamic[src, dst].float(), same_class[src, dst].float(),
                        same_region[src, dst].float()], dim=1)
    return torch.stack([src, dst]), attr


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
    one-hot (n, C), the static same-class / same-region relations (n, n). ``n_components``: the point-in-time
    correlations blended (the trailing windows, then EWMA).
    """

    def __init__(self, n_nodes: int, n_features: int, n_classes: int, *, n_components: int = 3, hidden: int = 16,
                 heads: int = 2, layers: int = 2, node_id_dim: int = 4,
                 edge_threshold: float = 0.3, ridge: float = 1e-4, dropout: float = 0.0,
                 class_codes: Sequence[int] | None = None, region_codes: Sequence[int] | None = None,
                 feature_mean: np.ndarray | None = None, feature_std: np.ndarray | None = None) -> None:
        super().__init__()
        self.n_nodes, self.n_features, self.n_components = n_nodes, n_features, n_components
        self.edge_threshold, self.ridge = float(edge_threshold), float(ridge)
        classes = torch.as_tensor(np.zeros(n_nodes, int) if class_codes is None else class_codes, dtype=torch.long)
        regions = torch.as_tensor(np.arange(n_nodes) if region_codes is None else region_codes, dtype=torch.long)
        buffers = {
            "feature_mean": np.zeros((n_nodes, n_features)) if feature_mean is None else feature_mean,
            "feature_std": np.ones((n_nodes, n_features)) if feature_std is None else feature_std,
        }
        for name, value in buffers.items():
            self.register_buffer(name, torch.as_tensor(value, dtype=torch.float32).reshape(n_nodes, -1))
        self.register_buffer("class_onehot", F.one_hot(classes, n_classes).float())
        self.register_buffer("same_class", classes[:, None] == classes[None, :])
        self.register_buffer("same_region", regions[:, None] == regions[None, :])
        self.node_id = nn.Parameter(0.1 * torch.randn(n_nodes, node_id_dim))
        self.inp = nn.Linear(n_features + n_classes + node_id_dim + n_components * n_nodes, hidden)
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
                   heads=config.heads, layers=config.layers,
                   node_id_dim=config.node_id_dim, edge_threshold=config.edge_threshold, ridge=config.ridge,
                   dropout=config.dropout, **structure)

    def edges(self, corr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Static + dynamic edges of one graph from its first trailing correlation (n, n)."""
        return correlation_edges(corr, self.same_class, self.same_region, self.edge_threshold)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor,
                corr: torch.Tensor) -> torch.Tensor:
        """x (B*n, F) raw node features of B stacked graphs, edge_index (2, E) into those rows, edge_attr (E, 4),
        corr (B, K, n, n) point-in-time correlations (trailing windows, then EWMA) -> (B, n, n) forecasts."""
        b, n = corr.shape[0], self.n_nodes
        z = (x - self.feature_mean.repeat(b, 1)) / self.feature_std.repeat(b, 1)
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).clamp(-10.0, 10.0)
        trailing = valid_correlation(corr).to(z.dtype)  # (B, K, n, n)
        rows = trailing.transpose(1, 2).reshape(b * n, -1)  # node i: its rows of the K matrices
        h = F.elu(self.inp(torch.cat([z, self.class_onehot.repeat(b, 1), self.node_id.repeat(b, 1), rows], dim=1)))
        edge_attr = torch.nan_to_num(edge_attr, nan=0.0).clamp(-1.0, 1.0)
        for conv in self.convs:
            h = h + F.elu(conv(h, edge_index, edge_attr))
        root = torch.exp(0.5 * F.log_softmax(self.mix(h), dim=-1)).view(b, n, -1).transpose(1, 2)  # sqrt(w)
        out = (root.unsqueeze(-1) * root.unsqueeze(-2) * trailing).sum(dim=1)
        eye = torch.eye(n, dtype=out.dtype, device=out.device)
        out = (1.0 - self.ridge) * 0.5 * (out + out.transpose(-1, -2)) + self.ridge * eye
        return out * (1 - eye) + eye  # exact unit diagonal (adds a non-negative diagonal at most: stays PSD)


class CorrelationForecaster(nn.Module):
    """Single-tensor wrapper for serving: (n, F + K*n) raw node features next to the K point-in-time correlation
    matrices (:func:`components`: trailing 63, 252 days, then EWMA) -> (n, n) forecast correlation; edges rebuilt
    inside from the stored static relations, the threshold and the first trailing correlation."""

    def __init__(self, model: GNNCorrelation) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        n, f, k = self.model.n_nodes, self.model.n_features, self.model.n_components
        if tuple(inputs.shape) != (n, f + k * n):
            raise InputError(f"CorrelationForecaster: input shape {tuple(inputs.shape)}, expected ({n}, {f + k * n})")
        corr = inputs[:, f:].reshape(n, k, n).transpose(0, 1)
        edge_index, edge_attr = self.model.edges(corr[0])
        return self.model(inputs[:, :f], edge_index, edge_attr, corr.unsqueeze(0))[0]


def components(graphs: GraphSet) -> np.ndarray:
    """The point-in-time correlations the model blends (m, K, n, n): the trailing windows, then EWMA."""
    return np.concatenate([graphs.corr, graphs.ewma[:, None]], axis=1)


def to_graphs(graphs: GraphSet, edges: EdgeBuilder) -> list[Data]:
    """One torch_geometric ``Data`` per date: x (n, F), edges, corr (1, K, n, n) (:func:`components`),
    y (1, n, n)."""
    out = []
    for x, corr, y in zip(graphs.x, components(graphs), graphs.target, strict=True):
        c = torch.as_tensor(corr, dtype=torch.float32)
        edge_index, edge_attr = edges(c[0])
        out.append(Data(x=torch.as_tensor(x, dtype=torch.float32), edge_index=edge_index, edge_attr=edge_attr,
                        corr=c.unsqueeze(0), y=torch.as_tensor(y, dtype=torch.float32).unsqueeze(0)))
    return out


def correlation_loss(forecast: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the off-diagonal pairs of (B, n, n) correlation matrices."""
    off = ~torch.eye(forecast.shape[-1], dtype=torch.bool, device=forecast.device)
    return ((forecast - target) ** 2)[:, off].mean()




@torch.no_grad()
def predict(model: GNNCorrelation, graphs: GraphSet, batch_size: int = 256) -> np.ndarray:
    """Forecast correlations (m, n, n) for every date of ``graphs``."""
    model.eval()
    loader = DataLoader(to_graphs(graphs, model.edges), batch_size=batch_size, shuffle=False)
    return np.concatenate([model(b.x, b.edge_index, b.edge_attr, b.corr).numpy() for b in loader]).astype(float)


class GNNCorrelationModule(L.LightningModule):
    """Trains a :class:`GNNCorrelation` with AdamW on the off-diagonal MSE; ``history`` holds the epoch mean
    training losses and the validation losses (the first one before any training)."""

    def __init__(self, model: GNNCorrelation, lr: float = 3e-3, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.model, self.lr, self.weight_decay = model, lr, weight_decay
        self.history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        self._losses: dict[str, list[tuple[torch.Tensor, int]]] = {"train_loss": [], "val_loss": []}

    def forward(self, batch: Data) -> torch.Tensor:
        return self.model(batch.x, batch.edge_index, batch.edge_attr, batch.corr)

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
    """Mini-batches of the per-date graphs: shuffled fit graphs, and the validation graphs when given."""

    def __init__(self, train: GraphSet, val: GraphSet | None, edges: EdgeBuilder, batch_size: int) -> None:
        super().__init__()
        self.sets, self.edges, self.batch_size = {"train": train, "val": val}, edges, batch_size
        self._graphs: dict[str, list[Data]] = {}

    def setup(self, stage: str | None = None) -> None:
        for name, graphs in self.sets.items():
            if graphs is not None and name not in self._graphs:
                self._graphs[name] = to_graphs(graphs, self.edges)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._graphs["train"], batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return DataLoader(self._graphs["val"], batch_size=256) if "val" in self._graphs else []


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
    last = len(panel.dates) - 1
    corr = trailing_correlations(panel.returns, np.array([last]), config.corr_windows)[0]
    ewma = ewma_correlation(panel.returns[max(0, last - config.ewma_window + 1):])
    check_finite("GNN returns", panel.returns[max(0, last + 1 - max(history, config.ewma_window)):])
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
    datamodule = GraphDataModule(data.train, data.val, model.edges, config.batch_size)
    best = BestWeights()
    trainer = make_trainer(config.max_epochs, fast_dev_run=fast_dev_run, gradient_clip_val=config.gradient_clip_val,
                           callbacks=[best])
    start = time.perf_counter()
    with torch_threads(config.num_threads), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(does not have many workers|number of training batches|Total "
                                "length of|LeafSpec).*")
        if data.val is not None:
            trainer.validate(module, datamodule=datamodule, verbose=False)
        trainer.fit(module, datamodule=datamodule)
        fit_seconds = time.perf_counter() - start
        forecasts, initial = predict(model, data.test), predict(untrained, data.test)
    metrics = score_correlation(data.test.target, forecasts, data.test.corr[:, 0], data.test.ewma)
    metrics["frobenius_untrained"] = float(np.linalg.norm(initial - data.test.target, axis=(-2, -1)).mean())
    metrics.update(n_val=float(0 if data.val is None else len(data.val.dates)), n_test=float(len(data.test.dates)),
                   best_epoch=float(best.best_epoch), fit_seconds=fit_seconds)
    return GNNResult(model, config, module.history, data.symbols, data.train.dates[0], data.train.dates[-1], n_train,
                     metrics)
