"""Universes of N series built from the bundled real panel, for the scale benchmark (:mod:`bench.scale`).

Construction (deterministic for a given ``(n_series, seed)``):

* **N = 28** (the bundled count): the bundled panel itself, unchanged (identity).
* **N < 28**: a subset of the bundled series, taken round-robin over the asset classes in the order of the
  instruments file (equity, rates, fx, commodity, volatility, then the next of each), so a small universe stays
  multi-asset. The rows are the bundled rows of those series, unchanged.
* **N > 28**: the 28 bundled series plus N - 28 synthetic series. Each synthetic series has a real *parent*
  (drawn uniformly from the bundled series) and copies its quote type, asset class, currency, region, venue and
  calendar, and its date rows, so venue holidays and real gaps are inherited. Its returns, on the parent's rows,
  are factor-mixed and block-bootstrapped::

      r = s * (a * z_parent + b * z_other + c * z_boot),  c = sqrt(1 - a^2 - b^2)

  ``z_parent``: the parent's own return (standardised) on that day; ``z_other``: the standardised return of
  another real series of the same asset class (the same return kind, log or bp, when one exists; zero on days it
  has no row; ``b = 0`` when the class has no other series, e.g. VIX); ``z_boot``: the parent's standardised
  history block-bootstrapped in 21-day blocks (the idiosyncratic part: real fat tails and volatility clusters,
  not aligned with today's market). ``a ~ U(0.5, 0.9)``, ``|b| ~ U(0, 0.3)`` with the sign drawn; ``s`` rescales
  the mix to the parent's volatility. Returns are those of :func:`~risk_platform.features.returns.compute_returns`
  (log for ``price``, ``index_level``, ``fx_rate``; bp changes for ``yield_pct``); the parent's fallback days
  (a non-positive price: WTI 2020-04-20) count as zero. Levels are rebuilt from the parent's first value in the
  window: ``level = start * exp(cumsum r)`` for log quotes (always positive), ``start + cumsum r / 100`` in
  percent for yields (may go below zero, as euro yields did).
* **Realistic histories**: about 30% of the synthetic series start later than their parent, on the first parent
  row of a random year up to 2015. About 2% (``round(0.02 * (N - 28))``, none below 25 synthetic series) lose a
  random 10% of their rows, so the missing-data gate (more than 5% of the venue's sessions missing:
  :mod:`risk_platform.data.quality`) rejects them, as it rejects a bad vendor feed.
* Symbols: ``<PARENT>_S<k>`` (``SPX_S0001``, k counting from 1 over the synthetic series); the instruments' names
  say the series is synthetic and from which parent; the provenance columns name this module.

A synthetic series is data for timing and memory: it has realistic marginals, gaps and co-movement, not a market.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.features.returns import compute_returns
from risk_platform.io import atomic_write_text

BLOCK_DAYS = 21
LATE_START_SHARE = 0.3
LATEST_START_YEAR = 2015
GATE_FAILURE_SHARE = 0.02
GATE_FAILURE_DROP = 0.10
PARENT_WEIGHT = (0.5, 0.9)
OTHER_WEIGHT = (0.0, 0.3)
BP_QUOTES = ("yield_pct",)


@dataclass(frozen=True)
class Universe:
    """A universe of series: ``prices`` (long ``date`` datetime64, ``symbol`` str, ``value`` float, as
    :func:`~risk_platform.data.loading.load_prices` parses them), ``instruments`` (the columns of the bundled
    instruments file), ``construction`` (one paragraph: how it was built)."""

    prices: pd.DataFrame
    instruments: pd.DataFrame
    construction: str

    @property
    def symbols(self) -> list[str]:
        return list(self.instruments["symbol"])

    def write(self, folder: Path | str) -> tuple[Path, Path]:
        """Write ``prices.csv`` and ``instruments.csv`` into ``folder`` (created; atomic writes), the files the
        loaders and the CLI read; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        prices_path, instruments_path = folder / "prices.csv", folder / "instruments.csv"
        ordered = self.prices.sort_values(["date", "symbol"], kind="stable")
        table = pd.DataFrame({"date": ordered["date"].dt.strftime("%Y-%m-%d"), "symbol": ordered["symbol"],
                              "value": ordered["value"]})
        atomic_write_text(prices_path, table.to_csv(index=False, float_format="%.10g"))
        atomic_write_text(instruments_path, self.instruments.to_csv(index=False))
        return prices_path, instruments_path


def build_universe(n_series: int, seed: int = 0, prices_path: Path | str = paths.BUNDLED_PRICES,
                   instruments_path: Path | str = paths.BUNDLED_INSTRUMENTS) -> Universe:
    """A universe of ``n_series`` series from the real panel at ``prices_path`` / ``instruments_path`` (module
    docstring: identity at the panel's own count, a subset below, real plus synthetic series above)."""
    if n_series < 1:
        raise ValueError(f"n_series must be at least 1, got {n_series}")
    instruments = load_instruments(instruments_path)
    raw = load_prices(prices_path, instruments).frame
    real = raw.loc[raw["value"].notna(), ["date", "symbol", "value"]].reset_index(drop=True)
    n_real = len(instruments)
    if n_series <= n_real:
        chosen = _multi_asset_subset(instruments, n_series)
        kept = instruments[instruments["symbol"].isin(chosen)].reset_index(drop=True)
        how = ("the bundled panel itself" if n_series == n_real else
               f"a subset of {n_series} of the {n_real} real series, round-robin over the asset classes")
        return Universe(real[real["symbol"].isin(chosen)].reset_index(drop=True), kept, how + " (real data)")
    rng = np.random.default_rng(seed)
    returns = _clean_returns(real, instruments)
    synthetic_prices, synthetic_instruments = [], []
    n_synthetic = n_series - n_real
    n_failing = round(GATE_FAILURE_SHARE * n_synthetic) if n_synthetic >= 25 else 0
    failing = set(rng.choice(n_synthetic, size=n_failing, replace=False).tolist())
    parents = rng.choice(instruments["symbol"].to_numpy(), size=n_synthetic)
    for k, parent in enumerate(parents):
        symbol = f"{parent}_S{k + 1:04d}"
        frame = _synthetic_series(parent, symbol, real, returns, instruments, rng, drop_rows=k in failing)
        synthetic_prices.append(frame)
        synthetic_instruments.append(_synthetic_instrument(instruments, parent, symbol, seed))
    prices = pd.concat([real, *synthetic_prices], ignore_index=True)
    table = pd.concat([instruments, pd.DataFrame(synthetic_instruments)], ignore_index=True).fillna("")
    how = (f"{n_real} real series plus {n_synthetic} synthetic (seed {seed}): parent's calendar and rows, returns"
           f" a*parent + b*same-class series + c*{BLOCK_DAYS}-day block bootstrap of the parent, at the parent's"
           f" volatility; ~{LATE_START_SHARE:.0%} start later (up to {LATEST_START_YEAR}); {n_failing} with"
           f" {GATE_FAILURE_DROP:.0%} of rows removed (gate rejects)")
    return Universe(prices, table, how)


def _multi_asset_subset(instruments: pd.DataFrame, n: int) -> list[str]:
    """The first ``n`` symbols taken round-robin over the asset classes (file order within and across classes)."""
    by_class = [list(group["symbol"]) for _, group in instruments.groupby("asset_class", sort=False)]
    order = [queue[i] for i in range(max(map(len, by_class))) for queue in by_class if i < len(queue)]
    return order[:n]


def _clean_returns(real: pd.DataFrame, instruments: pd.DataFrame) -> pd.DataFrame:
    """Returns per date (rows) and symbol (columns), NaN where a series has no row; fallback days count 0."""
    frame = compute_returns(real, instruments).frame
    ret = frame["ret"].where(frame["method"].isin(["log", "bp"]), 0.0)
    return frame.assign(ret=ret).pivot(index="date", columns="symbol", values="ret")


def _standardised(values: np.ndarray) -> np.ndarray:
    std = float(np.std(values))
    return values / std if std > 0 else np.zeros_like(values)


def _block_bootstrap(history: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``length`` values of ``history`` resampled in consecutive blocks of :data:`BLOCK_DAYS`."""
    block = min(BLOCK_DAYS, len(history))
    starts = rng.integers(0, len(history) - block + 1, size=-(-length // block))
    return np.concatenate([history[s:s + block] for s in starts])[:length]


def _synthetic_series(parent: str, symbol: str, real: pd.DataFrame, returns: pd.DataFrame,
                      instruments: pd.DataFrame, rng: np.random.Generator, drop_rows: bool) -> pd.DataFrame:
    """One synthetic series on its parent's rows (``date, symbol, value``)."""
    info = instruments.set_index("symbol")
    quote = info.at[parent, "quote_type"]
    rows = real[real["symbol"] == parent]
    dates = pd.DatetimeIndex(rows["date"])
    if rng.random() < LATE_START_SHARE and dates[0].year < LATEST_START_YEAR:
        year = int(rng.integers(dates[0].year + 1, LATEST_START_YEAR + 1))
        dates = dates[dates.year >= year]
    levels_start = float(rows.loc[rows["date"] == dates[0], "value"].iloc[0])
    parent_ret = returns[parent].reindex(dates[1:]).fillna(0.0).to_numpy()
    history = returns[parent].dropna().to_numpy()
    same_kind = [s for s in info.index if s != parent and info.at[s, "asset_class"] == info.at[parent, "asset_class"]]
    kind_match = [s for s in same_kind if (info.at[s, "quote_type"] in BP_QUOTES) == (quote in BP_QUOTES)]
    others = kind_match or same_kind
    a = rng.uniform(*PARENT_WEIGHT)
    b = rng.uniform(*OTHER_WEIGHT) * rng.choice((-1.0, 1.0)) if others else 0.0
    other_ret = (returns[rng.choice(others)].reindex(dates[1:]).fillna(0.0).to_numpy() if others
                 else np.zeros(len(parent_ret)))
    boot = _block_bootstrap(history, len(parent_ret), rng)
    mixed = (a * _standardised(parent_ret) + b * _standardised(other_ret)
             + np.sqrt(max(1.0 - a * a - b * b, 0.0)) * _standardised(boot))
    synthetic = _standardised(mixed) * float(np.std(history))
    if quote in BP_QUOTES:
        values = levels_start + np.concatenate([[0.0], np.cumsum(synthetic)]) / 100.0
    else:
        start = levels_start if levels_start > 0 else float(rows.loc[rows["value"] > 0, "value"].median())
        values = start * np.exp(np.concatenate([[0.0], np.cumsum(synthetic)]))
    frame = pd.DataFrame({"date": dates, "symbol": symbol, "value": values})
    if drop_rows:
        dropped = rng.choice(len(frame), size=int(GATE_FAILURE_DROP * len(frame)), replace=False)
        frame = frame.drop(index=frame.index[dropped])
    return frame.reset_index(drop=True)


def _synthetic_instrument(instruments: pd.DataFrame, parent: str, symbol: str, seed: int) -> dict[str, str]:
    """The instruments row of a synthetic series: the parent's attributes, a name and provenance saying what it is."""
    row = instruments.set_index("symbol").loc[parent].to_dict()
    return row | {"symbol": symbol, "name": f"Synthetic series from {parent} (bench.universe, seed {seed}):"
                  " not market data", "source_repo": "synthetic", "source_path": "bench/universe.py",
                  "source_commit": "", "license": f"synthetic, derived from the bundled {parent} series"}
