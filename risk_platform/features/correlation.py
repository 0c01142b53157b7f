"""Rolling pairwise correlations without an N x N table per date.

One pass over the union calendar keeps four N x N running sums over the trailing ``CORR_WINDOW`` dates, for every
pair on the dates both series have a return (a rank-one add and drop per date, float64, missing values masked), so
memory is O(N^2) whatever the length of the history. What is kept of it:

- per date, the sparse top-k neighbourhood of each series by |corr| (``NEIGHBOUR_TABLE``: ``date, symbol,
  neighbour, rank, corr``, O(N k) rows a date): the graph the GNN needs;
- once, the full matrix of the last date (``LATEST_TABLE``: ``date, symbol_a, symbol_b, corr`` with ``symbol_a <
  symbol_b``): the risk report and its heatmap.

Definition (unchanged from the long table it replaces): a pair uses the dates of the trailing window on which both
series have a return; fewer than ``CORR_MIN_PERIODS`` such dates, or a series constant over them, gives no
correlation. A row dated t uses returns dated t or earlier only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg.blas import dger
from threadpoolctl import threadpool_limits

from risk_platform.errors import InputError
from risk_platform.features.engineering import CORR_MIN_PERIODS, CORR_WINDOW
from risk_platform.features.store import FeatureStore

NEIGHBOURS = 10  # k of the top-k neighbourhood per series
NEIGHBOUR_TABLE = f"correlation_neighbours_{CORR_WINDOW}d"
LATEST_TABLE = f"correlation_latest_{CORR_WINDOW}d"
RECOUNT_EVERY = 252  # dates between exact recounts of the running sums from the window (bounds rounding drift)
CONSTANT_TOLERANCE = 1e-12  # a pair's variance below this share of the squares summed since the recount is zero


@dataclass
class _PairMoments:
    """Sums over the window per pair (i, j), on the dates both i and j have a value (all (N, N) but ``scale``)."""

    count: np.ndarray  # dates
    sums: np.ndarray  # sum of x_i
    squares: np.ndarray  # sum of x_i^2
    cross: np.ndarray  # sum of x_i x_j
    scale: np.ndarray  # (N,): sum of x_i^2 over every date added since the last exact recount

    @classmethod
    def of_window(cls, x: np.ndarray, m: np.ndarray) -> _PairMoments:
        """Exact sums over the rows of ``x`` (dates x N, 0 where missing) with ``m`` 1.0 where a value exists."""
        x2 = x * x
        sums = (np.ascontiguousarray(s) for s in (m.T @ m, x.T @ m, x2.T @ m, x.T @ x))
        return cls(*sums, x2.sum(axis=0))

    def add(self, x: np.ndarray, m: np.ndarray, sign: float = 1.0) -> None:
        """Add (``sign`` 1) or drop (-1) one date, ``x`` (N,) 0 where missing and ``m`` 1.0 where a value exists:
        a rank-one update of each sum, in place."""
        self.count = _rank_one(self.count, sign, m, m)
        self.sums = _rank_one(self.sums, sign, x, m)
        self.squares = _rank_one(self.squares, sign, x * x, m)
        self.cross = _rank_one(self.cross, sign, x, x)
        if sign > 0:
            self.scale += x * x

    def __post_init__(self) -> None:
        self._scratch = np.empty((3, *self.cross.shape))  # mean, deviations, denominator: reused every date
        self._flags = np.empty((2, *self.cross.shape), dtype=bool)  # constant, undefined

    def correlation(self, min_periods: int) -> np.ndarray:
        """A new (N, N) array of correlations on common dates; NaN below ``min_periods`` dates or for a constant
        series (computed over scratch buffers: this runs once a date, and fresh N x N arrays cost page faults)."""
        mean, deviations, denominator = self._scratch
        constant, undefined = self._flags
        corr = np.empty_like(self.cross)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(self.sums, self.count, out=mean)  # [i, j]: mean of x_i on the dates shared with j
            np.subtract(self.cross, np.multiply(self.sums, mean.T, out=corr), out=corr)  # sum of cross deviations
            np.subtract(self.squares, np.multiply(self.sums, mean, out=deviations), out=deviations)
            np.less_equal(deviations, CONSTANT_TOLERANCE * self.scale[:, None], out=constant)
            np.sqrt(np.multiply(deviations, deviations.T, out=denominator), out=denominator)
            np.divide(corr, denominator, out=corr)
        np.less(self.count, min_periods, out=undefined)
        undefined |= constant
        undefined |= constant.T
        corr[undefined] = np.nan
        return np.clip(corr, -1.0, 1.0, out=corr)


def _rank_one(matrix: np.ndarray, alpha: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``matrix + alpha * outer(x, y)`` for a C-ordered float64 ``matrix``, in place (BLAS ``dger`` on its
    Fortran-ordered transpose: one pass, no N x N temporary)."""
    return dger(alpha, y, x, a=matrix.T, overwrite_a=True).T


def rolling_correlation_matrices(wide_returns: pd.DataFrame, window: int = CORR_WINDOW,
                                 min_periods: int = CORR_MIN_PERIODS) -> Iterator[tuple[pd.Timestamp, np.ndarray]]:
    """``(date, (N, N) correlation)`` for each date of ``wide_returns`` (dates x symbols, NaN where no return), in
    date order, over its trailing ``window`` dates; columns in the frame's order. Beyond the input, memory is O(N^2)
    (the running sums and the matrix of the date) whatever the number of dates. BLAS runs single-threaded while
    the generator is open: OpenBLAS's threads made each rank-one update 20-40x slower on two shared cores."""
    values = wide_returns.to_numpy(dtype=float)
    valid = ~np.isnan(values)
    x, m = np.where(valid, values, 0.0), valid.astype(float)
    moments = _PairMoments.of_window(x[:0], m[:0])
    with threadpool_limits(limits=1, user_api="blas"):  # rank-one updates: BLAS threads only hand off (20-40x)
        for t, date in enumerate(wide_returns.index):
            if t % RECOUNT_EVERY == 0:  # depends on t only, so a row dated t is the same whatever follows it
                start = max(0, t - window + 1)
                moments = _PairMoments.of_window(x[start:t + 1], m[start:t + 1])
            else:
                moments.add(x[t], m[t])
                if t >= window:
                    moments.add(x[t - window], m[t - window], sign=-1.0)
            yield pd.Timestamp(date), moments.correlation(min_periods)


def top_neighbours(corr: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of an (N, N) correlation matrix, the columns of its ``min(k, N - 1)`` largest |corr| off the
    diagonal, strongest first (equal |corr| by column; a tie across the k-th place is kept by selection order),
    and their signed correlations: ``(columns (N, k') int, corr (N, k'))``, -1 / NaN where a row has fewer."""
    n = corr.shape[0]
    k = max(0, min(k, n - 1))
    if k == 0:
        return np.empty((n, 0), dtype=np.intp), np.empty((n, 0))
    strength = np.fmax(np.abs(corr), -1.0)  # NaN -> -1, below any |corr|
    np.fill_diagonal(strength, -1.0)
    columns = np.argpartition(strength, n - k, axis=1)[:, n - k:]
    picked = np.take_along_axis(strength, columns, axis=1)
    order = np.lexsort((columns, -picked), axis=-1)
    columns = np.take_along_axis(columns, order, axis=1)
    picked = np.take_along_axis(picked, order, axis=1)
    values = np.take_along_axis(corr, columns, axis=1)
    undefined = picked < 0
    columns[undefined], values[undefined] = -1, np.nan
    return columns, values


@dataclass(frozen=True)
class CorrelationTables:
    """What is stored of the rolling correlations: the per-date neighbourhoods and the last date's matrix."""

    neighbours: pd.DataFrame  # date, symbol, neighbour, rank (1 = strongest), corr (float32)
    latest: pd.DataFrame  # date, symbol_a, symbol_b, corr (float64), symbol_a < symbol_b, defined pairs only
    k: int

    @property
    def latest_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.latest["date"].iloc[0])

    def latest_matrix(self) -> pd.DataFrame:
        return correlation_matrix(self.latest)


def correlation_tables(wide_returns: pd.DataFrame, k: int = NEIGHBOURS, window: int = CORR_WINDOW,
                       min_periods: int = CORR_MIN_PERIODS) -> CorrelationTables:
    """Top-``k`` neighbourhoods per date and the last date's matrix of ``wide_returns`` (dates x symbols)."""
    wide = wide_returns[sorted(wide_returns.columns)].sort_index()
    symbols = np.asarray(wide.columns, dtype=object)
    n = len(symbols)
    if n < 2 or k < 1:
        raise InputError(f"correlations: need at least 2 series and k >= 1 (got {n} series, k={k})")
    k_kept = min(k, n - 1)
    neighbour = np.full((len(wide), n, k_kept), -1, dtype=np.int16 if n < 2**15 else np.int32)
    corr_of = np.full((len(wide), n, k_kept), np.nan, dtype=np.float32)
    last = np.full((n, n), np.nan)
    for t, (_, corr) in enumerate(rolling_correlation_matrices(wide, window, min_periods)):
        neighbour[t], corr_of[t] = top_neighbours(corr, k_kept)
        last = corr
    defined = neighbour >= 0
    if not defined.any():
        raise InputError(f"correlations: no pair of the {n} series has {min_periods} common returns in any "
                         f"{window}-date window")
    keep = defined.ravel()  # (date, series, rank) in C order; positions built in small integer types
    per_date = n * k_kept
    neighbours = pd.DataFrame({
        "date": wide.index.to_numpy()[np.repeat(np.arange(len(wide), dtype=np.int32), per_date)[keep]],
        "symbol": pd.Categorical.from_codes(
            np.tile(np.repeat(np.arange(n, dtype=neighbour.dtype), k_kept), len(wide))[keep], categories=symbols),
        "neighbour": pd.Categorical.from_codes(neighbour.ravel()[keep], categories=symbols),
        "rank": np.tile(np.arange(1, k_kept + 1, dtype=np.int8 if k_kept < 127 else np.int32), len(wide) * n)[keep],
        "corr": corr_of.ravel()[keep],
    })
    a, b = np.triu_indices(n, k=1)
    pairs = ~np.isnan(last[a, b])
    if not pairs.any():
        raise InputError(f"correlations: no pair of the {n} series has {min_periods} common returns in the "
                         f"{window} dates up to the last date, {wide.index[-1]:%Y-%m-%d}")
    latest = pd.DataFrame({"date": wide.index[-1], "symbol_a": symbols[a[pairs]], "symbol_b": symbols[b[pairs]],
                           "corr": last[a, b][pairs]}).astype({"symbol_a": "str", "symbol_b": "str"})
    return CorrelationTables(neighbours, latest, k_kept)


def correlation_matrix(latest: pd.DataFrame, symbols: Sequence[str] | None = None) -> pd.DataFrame:
    """The symmetric matrix (1 on the diagonal, NaN where undefined) of a ``symbol_a, symbol_b, corr`` table."""
    names = sorted(set(latest["symbol_a"]) | set(latest["symbol_b"])) if symbols is None else list(symbols)
    pos = pd.Index(names)
    ia, ib = pos.get_indexer(latest["symbol_a"]), pos.get_indexer(latest["symbol_b"])
    keep = (ia >= 0) & (ib >= 0)
    values = np.full((len(names), len(names)), np.nan)
    values[ia[keep], ib[keep]] = values[ib[keep], ia[keep]] = latest["corr"].to_numpy(dtype=float)[keep]
    np.fill_diagonal(values, 1.0)
    return pd.DataFrame(values, index=names, columns=names)


def latest_correlation(source: FeatureStore | pd.DataFrame) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The stored last-date matrix (``LATEST_TABLE``, from a store or as a frame): ``(its date, matrix)``."""
    latest = source.read(LATEST_TABLE) if isinstance(source, FeatureStore) else source
    if latest.empty:
        raise InputError(f"feature table {LATEST_TABLE}: empty, no latest correlation matrix")
    return pd.Timestamp(latest["date"].iloc[0]), correlation_matrix(latest)


@dataclass(frozen=True)
class NeighbourEdges:
    """The top-k neighbourhood of each series on one date: ``frame`` is ``symbol, neighbour, rank, corr``."""

    date: pd.Timestamp
    frame: pd.DataFrame

    def index(self, symbols: Sequence[str]) -> np.ndarray:
        """(2, E) positions in ``symbols``: row 0 the neighbour (message source), row 1 the series it informs
        (target), as torch_geometric's ``edge_index``; edges with an end not in ``symbols`` are left out."""
        pos = pd.Index(list(symbols))
        source = pos.get_indexer(self.frame["neighbour"].astype(str))
        target = pos.get_indexer(self.frame["symbol"].astype(str))
        keep = (source >= 0) & (target >= 0)
        return np.vstack([source[keep], target[keep]]).astype(np.int64)


def neighbour_edges(source: FeatureStore | pd.DataFrame, as_of: pd.Timestamp) -> NeighbourEdges:
    """The neighbourhoods of the latest date on or before ``as_of`` (from a store, reading only the partitions
    that date needs, or from a ``NEIGHBOUR_TABLE`` frame)."""
    as_of = pd.Timestamp(as_of)
    if isinstance(source, FeatureStore):
        rows = source.read_latest(NEIGHBOUR_TABLE, as_of)
    else:
        dated = source[source["date"] <= as_of]
        rows = dated[dated["date"] == dated["date"].max()] if len(dated) else dated
    if rows.empty:
        raise InputError(f"feature table {NEIGHBOUR_TABLE}: no neighbourhood dated on or before {as_of:%Y-%m-%d}")
    frame = rows[["symbol", "neighbour", "rank", "corr"]].sort_values(["symbol", "rank"]).reset_index(drop=True)
    return NeighbourEdges(pd.Timestamp(rows["date"].iloc[0]), frame)
