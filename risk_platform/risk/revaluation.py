"""Vectorised revaluation of a book: the position formulas as array operations (no per-position Python
loop), and the same formulas aggregated by factor group for the portfolio total (positions on the same
factors add up, so 50,000 scenarios x 1,000 positions cost as much as 50,000 x the number of distinct
(kind, instrument, currency) groups).

Revaluation of one day's market move (``g = exp(log return)``; a venue that was closed that day did not
move, ``g = 1``). On a day whose log return is undefined (a non-positive price, e.g. WTI on 2020-04-20)
the day's absolute price change is applied to the as-of price: ``g = 1 + change / price_asof``.

* prices, index levels (``linear``): ``V (g_local * g_fx - 1)``, ``g_fx`` the move of the instrument's
  currency against USD (from the FX feed that quotes it; a currency without a feed, e.g. the pegged HKD,
  is not revalued and the report says so);
* FX rates quoted in USD, e.g. EURUSD (``fx_usd_quote``): ``V (g - 1)``, V the USD value of the foreign amount;
* USD-based FX rates, e.g. USDJPY (``fx_usd_base``): ``V (1 - 1 / g)``, V the USD amount held long;
* yields (``rates_dv01``): ``-dv01 * change in bp``;
* options (``option``): delta-gamma-vega-theta on the underlying's USD move and the change in points of the
  volatility reference (:func:`risk_platform.data.roles.vol_reference`, VIX in the bundled data; without one
  the vega is not shocked, and valuation says so) (:mod:`risk_platform.risk.options`).

The parametric method uses the first-order exposures of the same formulas (:meth:`BookArrays.exposures`).

Scenario inputs for ``k`` factors: ``returns`` (n, k), log returns or basis points for yields, and
``growth`` (n, k), the price ratio applied to today's level (``exp(log return)``, or the price-change
fallback for a non-positive price; 1 when the venue was closed). :func:`growth_from_returns` builds
``growth`` for generated scenarios.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.sparse import csr_array

from risk_platform.portfolio.positions import position_labels
from risk_platform.risk.options import delta_gamma_vega_pnl

LINEAR, FX_QUOTE, FX_BASE, RATES, OPTION = range(5)
KIND_CODES = {"linear": LINEAR, "fx_usd_quote": FX_QUOTE, "fx_usd_base": FX_BASE, "rates_dv01": RATES,
              "option": OPTION}
UNIT_PARAMS = ("value", "dv01", "delta", "gamma", "vega")


def lookup(values, table: dict, default) -> np.ndarray:
    """``table.get(v, default)`` for every element, evaluated once per distinct value (vectorised)."""
    codes, uniq = pd.factorize(np.asarray(values, dtype=str))  # hashing, not sorting: O(n)
    if not len(uniq):
        return np.array([], dtype=object)
    return np.array([table.get(u, default) for u in uniq.tolist()], dtype=object)[codes]


def unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, axis=0, return_inverse=True)`` of integer rows (m, c): the same rows in the same
    (lexicographic) order and the row of each, by sorting one mixed-radix code per row (5-10x faster than the
    row-wise sort at 10,000 rows, measured)."""
    if not len(keys):
        return keys[:0], np.zeros(0, dtype=int)
    shifted = keys - keys.min(axis=0)
    codes = np.ravel_multi_index(tuple(shifted.T), tuple(shifted.max(axis=0) + 1))
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return keys[first], inverse.ravel()


def growth_from_returns(returns: np.ndarray, is_bp: np.ndarray) -> np.ndarray:
    """Growth factors of scenario returns: ``exp(r)`` for log-return factors, 1 for yields (bp)."""
    r = _float(returns)
    return np.exp(_zero_bp(r, is_bp))


def _float(returns: np.ndarray) -> np.ndarray:
    """``returns`` as float32 or float64 (model output stays float32)."""
    r = np.asarray(returns)
    return r if r.dtype in (np.float32, np.float64) else r.astype(float)


def _zero_bp(r: np.ndarray, is_bp: np.ndarray) -> np.ndarray:
    """``r`` with the bp columns set to 0: a bp change is not a log return (exp of a 100 bp move overflows)."""
    return np.where(np.asarray(is_bp, dtype=bool), r.dtype.type(0), r)


@dataclass(frozen=True)
class BookArrays:
    """A valued book as arrays over ``m`` positions and ``k`` factors (column indices into ``factors``)."""

    factors: tuple[str, ...]
    labels: tuple[str, ...]
    kind: np.ndarray  # (m,) int codes
    sym: np.ndarray  # (m,) factor column of the instrument
    fx: np.ndarray  # (m,) factor column of the currency's FX feed, -1 when none
    fx_sign: np.ndarray  # (m,) +1 CCYUSD, -1 USDCCY, 0 none
    value: np.ndarray  # (m,) USD value (FX: USD amount; rates: notional; options: market value)
    dv01: np.ndarray  # (m,) USD per bp (rates), else 0
    delta: np.ndarray  # (m,) dollar greeks (options), else 0
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    vix: int  # factor column of the volatility reference (VIX), -1 when no option is held or there is none
    vix_level: float
    horizon_days: float = 1.0

    @classmethod
    def from_book(cls, book: pd.DataFrame, factors: list[str], vix_level: float = np.nan,
                  vol_symbol: str = "") -> BookArrays:
        """From the table of :func:`~risk_platform.risk.valuation.value_positions` (its ``kind`` column);
        ``vol_symbol``/``vix_level``: the options' volatility reference and its level ('' when none)."""
        col = {f: i for i, f in enumerate(factors)}
        fx_sym = book["fx_symbol"].fillna("").to_numpy(dtype=str)
        kind = lookup(book["kind"], KIND_CODES, -1).astype(int)

        def num(name: str) -> np.ndarray:
            if name not in book.columns:
                return np.zeros(len(book))
            return np.nan_to_num(book[name].to_numpy(dtype=float))

        option = kind == OPTION
        return cls(
            factors=tuple(factors),
            labels=tuple(book["position"].to_numpy(dtype=object).tolist() if "position" in book.columns
                         else position_labels(book)),  # not iterating the Series: 10x slower with Arrow strings
            kind=kind,
            sym=lookup(book["symbol"], col, -1).astype(int),
            fx=lookup(fx_sym, col, -1).astype(int),
            fx_sign=np.where(fx_sym != "", book["fx_sign"].to_numpy(dtype=float), 0.0),
            value=np.nan_to_num(book["value_usd"].to_numpy(dtype=float)),
            dv01=np.where(kind == RATES, num("dv01"), 0.0),
            delta=np.where(option, num("delta"), 0.0),
            gamma=np.where(option, num("gamma"), 0.0),
            vega=np.where(option, num("vega"), 0.0),
            theta=np.where(option, num("theta"), 0.0),
            vix=col.get(vol_symbol, -1) if option.any() else -1,
            vix_level=float(vix_level),
        )

    @property
    def m(self) -> int:
        return len(self.kind)

    @property
    def exposure_usd(self) -> np.ndarray:
        """(m,) signed exposure for concentration and liquidity: the value, or the dollar delta of options."""
        return np.where(self.kind == OPTION, self.delta, self.value)

    def position_pnl(self, returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
        """P&L per scenario and position, shape (n, m)."""
        returns, growth = np.atleast_2d(returns), np.atleast_2d(growth)
        n = growth.shape[0]
        pnl = np.zeros((n, self.m))
        g = growth[:, self.sym]
        has_fx = self.fx >= 0
        g_fx = np.ones_like(g)
        if has_fx.any():
            gf = growth[:, self.fx[has_fx]]
            g_fx[:, has_fx] = np.where(self.fx_sign[has_fx] > 0, gf, 1.0 / gf)
        k = self.kind
        for code, formula in (
            (LINEAR, lambda s: self.value[s] * (g[:, s] * g_fx[:, s] - 1.0)),
            (FX_QUOTE, lambda s: self.value[s] * (g[:, s] - 1.0)),
            (FX_BASE, lambda s: self.value[s] * (1.0 - 1.0 / g[:, s])),
            (RATES, lambda s: -self.dv01[s] * returns[:, self.sym[s]]),
            (OPTION, self._option_pnl(g, g_fx, growth)),
        ):
            s = k == code
            if s.any():
                pnl[:, s] = formula(s)
        return pnl

    def _option_pnl(self, g: np.ndarray, g_fx: np.ndarray, growth: np.ndarray):
        def formula(s: np.ndarray) -> np.ndarray:
            r = g[:, s] * g_fx[:, s] - 1.0
            dv = self.vix_level * (growth[:, self.vix] - 1.0) if self.vix >= 0 else np.zeros(len(g))
            return delta_gamma_vega_pnl(self.delta[s], self.gamma[s], self.vega[s], self.theta[s], r,
                                        dv[:, None], self.horizon_days)

        return formula

    @cached_property
    def _groups(self) -> tuple[BookArrays, np.ndarray]:
        keys = np.stack([self.kind, self.sym, self.fx, self.fx_sign.astype(int)], axis=1)
        uniq, inverse = unique_rows(keys)

        def add(x: np.ndarray) -> np.ndarray:
            return np.bincount(inverse, weights=x, minlength=len(uniq))

        grouped = replace(self, labels=tuple(f"group{i}" for i in range(len(uniq))), kind=uniq[:, 0], sym=uniq[:, 1],
                          fx=uniq[:, 2], fx_sign=uniq[:, 3].astype(float), value=add(self.value),
                          dv01=add(self.dv01), delta=add(self.delta), gamma=add(self.gamma), vega=add(self.vega),
                          theta=add(self.theta))
        return grouped, inverse

    def grouped(self) -> BookArrays:
        """The book with positions of the same (kind, instrument, FX feed) added up: same total P&L."""
        return self._groups[0]

    @cached_property
    def _unit_book(self) -> tuple[BookArrays, np.ndarray]:
        """The grouped book's (group, parameter) pairs that some position has (a parameter among value, dv01,
        delta, gamma, vega non-zero), one unit row each (that parameter 1, the others 0), and their flat index
        into (5, groups): its P&L columns are the per-unit P&L of every group and parameter in use."""
        grouped, inverse = self._groups
        g = grouped.m
        params = np.stack([getattr(self, p) for p in UNIT_PARAMS])  # (5, m)
        in_use = np.stack([np.bincount(inverse, weights=np.abs(row), minlength=g) > 0 for row in params])
        flat = np.flatnonzero(in_use.ravel())
        param, group = np.divmod(flat, g)
        units = {name: (param == i).astype(float) for i, name in enumerate(UNIT_PARAMS)}
        unit = replace(grouped, labels=tuple(range(len(flat))), kind=grouped.kind[group], sym=grouped.sym[group],
                       fx=grouped.fx[group], fx_sign=grouped.fx_sign[group], theta=np.zeros(len(flat)), **units)
        return unit, flat

    def mean_position_pnl(self, returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
        """Mean P&L per position over the scenarios (n, k) -> (m,) (:meth:`weighted_position_pnl`, equal weights)."""
        n = np.atleast_2d(growth).shape[0]
        return self.weighted_position_pnl(returns, growth, np.full(n, 1.0 / n))

    def weighted_position_pnl(self, returns: np.ndarray, growth: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``weights @ P&L`` per position over the scenarios (n, k), (n,) -> (m,), without an (n, m) array: every
        formula is linear in the position's own parameters (value, dv01, greeks), so the weighted per-unit P&L
        of each (kind, instrument, FX feed) group, on the scenarios with a non-zero weight only, is combined
        with each position's parameters (e.g. the Euler ES contributions: the tail scenarios' weights)."""
        returns, growth = np.atleast_2d(returns), np.atleast_2d(growth)
        used = np.flatnonzero(weights)
        unit, _ = self._unit_book
        unit_pnl = weights[used] @ unit.position_pnl(returns[used], growth[used])
        return self._from_unit_pnl(unit_pnl[None], np.array([self.horizon_days * float(np.sum(weights))]))[0]

    def scenario_position_pnl(self, returns: np.ndarray, growth: np.ndarray,
                              horizon_days: np.ndarray | None = None) -> np.ndarray:
        """P&L per scenario and position (n, m) of a few scenarios (n, k) (e.g. stress replays, one call for all of
        them), from the per-unit P&L of each group as :meth:`weighted_position_pnl`; ``horizon_days`` (n,): each
        scenario's option-theta horizon in days (None: the book's)."""
        returns, growth = np.atleast_2d(returns), np.atleast_2d(growth)
        unit, _ = self._unit_book
        days = np.full(len(growth), self.horizon_days) if horizon_days is None else np.asarray(horizon_days, float)
        return self._from_unit_pnl(unit.position_pnl(returns, growth), days)

    def _from_unit_pnl(self, unit_pnl: np.ndarray, theta_days: np.ndarray) -> np.ndarray:
        """Per-position P&L (n, m) from the per-unit P&L (n, units) of :attr:`_unit_book` and the days of theta
        (n,) (the horizon, times the weights' sum for a weighted figure)."""
        grouped, inverse = self._groups
        _, flat = self._unit_book
        basis = np.zeros((len(unit_pnl), len(UNIT_PARAMS) * grouped.m))
        basis[:, flat] = unit_pnl
        basis = basis.reshape(len(unit_pnl), len(UNIT_PARAMS), grouped.m)[:, :, inverse]
        return (self._unit_params * basis).sum(axis=1) + np.multiply.outer(theta_days, self.theta)

    @cached_property
    def _unit_params(self) -> np.ndarray:
        """(5, m) each position's value, dv01, delta, gamma and vega (the multipliers of the per-unit P&L)."""
        return np.stack([getattr(self, p) for p in UNIT_PARAMS])

    def with_horizon(self, days: float) -> BookArrays:
        """The same book over a horizon of ``days`` (option theta), keeping the cached groupings."""
        out = replace(self, horizon_days=float(days))
        for name in ("_groups", "_unit_book", "_unit_params", "_factor_map"):
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name]
        return out

    @cached_property
    def _factor_map(self) -> FactorMap:
        """The book folded onto factor exposures (:class:`FactorMap`), computed once per book."""
        return FactorMap.of(self)

    def total_pnl(self, returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
        """Portfolio P&L per scenario, shape (n,): the position formulas folded onto the factors
        (:class:`FactorMap`), so the cost is a few matrix products over (n, k) whatever the number of positions.
        float32 scenarios stay float32 in the products (float32 rounding); the result is float64."""
        growth = np.asarray(growth)
        return self._factor_map.pnl(returns, lambda rows, out: np.subtract(growth[rows], 1.0, out=out),
                                    growth.dtype, self.horizon_days)

    def total_pnl_from_returns(self, returns: np.ndarray, is_bp: np.ndarray, columns: np.ndarray | None = None
                               ) -> np.ndarray:
        """:meth:`total_pnl` of generated scenarios (log returns, bp for yields; ``is_bp`` over the book's factors):
        ``g - 1 = expm1(r)`` (exact for small moves; float32 model output stays float32), 0 on the bp columns (a
        bp change is not a log return). ``columns``: the column of each of the book's factors in ``returns``
        (n, k') (-1: absent, no move; None: the book's order), so a model's array is revalued without a copy."""
        r = _float(returns)
        is_bp = np.asarray(is_bp, dtype=bool)
        factor_map = self._factor_map
        if columns is not None:
            factor_map = factor_map.on_columns(columns, r.shape[1])
            present = columns >= 0
            unused = np.ones(r.shape[1], dtype=bool)
            unused[columns[present]] = False
            bp = np.zeros(r.shape[1], dtype=bool)
            bp[columns[present]] = is_bp[present]
            zero = np.flatnonzero(bp | unused)  # columns the book does not use may be bp: exp would overflow
        else:
            zero = np.flatnonzero(is_bp)

        def growth_minus_one(rows: slice, out: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):  # bp columns overflow float32: overwritten next
                np.expm1(r[rows], out=out)
            out[:, zero] = 0.0
            return out

        return factor_map.pnl(r, growth_minus_one, r.dtype, self.horizon_days)

    def exposures(self, sparse: bool = False) -> np.ndarray | csr_array:
        """First-order USD exposure of each position to each factor return, shape (m, k) (``sparse``: as a
        ``scipy.sparse.csr_array``, at most three entries a position; dense it is m x k floats).

        Log-return factors: USD per unit log return; yields: USD per bp (``-dv01``); options: dollar delta
        to the underlying (and its FX feed) and ``vega x VIX level`` to the VIX log return.
        """
        matrix = self._exposures
        return matrix if sparse else matrix.toarray()

    @cached_property
    def _exposures(self) -> csr_array:
        rows = np.arange(self.m)
        first = np.where(self.kind == RATES, -self.dv01, np.where(self.kind == OPTION, self.delta, self.value))
        fx_linked = (self.fx >= 0) & np.isin(self.kind, (LINEAR, OPTION))
        parts = [(rows, self.sym, first),
                 (rows[fx_linked], self.fx[fx_linked], self.fx_sign[fx_linked] * first[fx_linked])]
        if self.vix >= 0:
            opt = self.kind == OPTION
            parts.append((rows[opt], np.full(opt.sum(), self.vix), self.vega[opt] * self.vix_level))
        r, c, v = (np.concatenate(p) for p in zip(*parts, strict=True))
        return csr_array((v, (r, c)), shape=(self.m, len(self.factors)))  # duplicates are summed

BLOCK_BYTES = 2 << 20  # scenarios are revalued in blocks of about 2 MB ((rows, k) values): a block stays in the CPU
#   cache across its products (4 x larger blocks: 1.5x the CPU time at k = 500, measured), and few factors make
#   long blocks (less Python per scenario)
CHUNK_ROWS = 1024  # the fewest rows a block has
REVALUATION_THREADS = 2  # threads over the row blocks of a large scenario array (numpy and BLAS release the GIL)


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    """The threads that revalue row blocks in parallel: one pool per process (a forked child has none of its
    parent's threads, so it makes its own)."""
    pid = os.getpid()
    if pid not in _POOLS:
        _POOLS[pid] = ThreadPoolExecutor(REVALUATION_THREADS, thread_name_prefix="revaluation")
    return _POOLS[pid]


@dataclass(frozen=True)
class FactorMap:
    """A book folded onto its ``k`` factors, so that revaluing ``n`` scenarios costs a few (n, k) x (k, q) products
    with q small (the number of FX feeds), whatever the number of positions; exact algebra of the position
    formulas, not an approximation.

    With ``x`` the scenario's ``g - 1`` per factor (the bp change on yields), and for each FX feed ``f`` the
    conversion ``h_f`` of a local-currency move into USD (``1 + x_f`` for CCYUSD, ``1 / (1 + x_f)`` for USDCCY):
    a position's USD simple return on instrument ``s`` in currency ``f`` is ``r = h_f (1 + x_s) - 1
    = h_f x_s + (h_f - 1)``, so

    * linear positions and option deltas: ``sum_f [h_f (x @ lin[:, f]) + (h_f - 1) lin_sum[f]]`` (column 0 of
      ``lin``: USD instruments, FX quoted in USD and rates by -DV01 on the bp change, ``h = 1``);
    * option gammas, ``1/2 gamma r^2 = 1/2 gamma (h_f^2 x_s^2 + 2 h_f (h_f - 1) x_s + (h_f - 1)^2)``:
      ``sum_f [h_f^2 (x^2 @ gam[:, f]) + 2 h_f (h_f - 1) (x @ gam[:, f]) + (h_f - 1)^2 gam_sum[f]]``;
    * USD-based FX held directly (``fx_usd_base``): ``v (1 - 1 / (1 + x))`` on those few columns;
    * vega: ``vega_total x VIX level x x_VIX``; theta: ``theta_total x horizon``.

    Per-position figures are linear in each position's own parameters, so they come from per-unit revaluations
    (:meth:`BookArrays.mean_position_pnl`, :meth:`BookArrays.weighted_position_pnl`).
    """

    fx_cols: np.ndarray  # (F,) factor column of each FX feed a position is converted through
    fx_sign: np.ndarray  # (F,) +1 CCYUSD, -1 USDCCY
    lin: np.ndarray  # (k, 1 + F) USD per unit x: column 0 without conversion, column 1 + j through feed j
    lin_sum: np.ndarray  # (F,) value + delta converted through feed j (the (h - 1) term)
    gam: np.ndarray  # (k, 1 + F) 1/2 dollar gamma per underlying, without conversion and through each feed
    gam_sum: np.ndarray  # (F,)
    dv01: np.ndarray  # (k,) USD per bp change of each yield (-DV01), 0 elsewhere
    base_cols: np.ndarray  # factor columns of USD-based FX rates held directly
    base_value: np.ndarray  # (len(base_cols),) USD amounts
    vix: int
    vega_points: float  # sum of vegas x the VIX level (USD per unit VIX simple return)
    theta: float  # sum of thetas (USD per day)

    @classmethod
    def of(cls, book: BookArrays) -> FactorMap:
        """The map of ``book`` (positions with no FX feed have ``fx = -1``)."""
        k = len(book.factors)
        kind, sym, fx = book.kind, book.sym, book.fx
        feeds = sorted({(int(c), int(s)) for c, s in zip(fx, book.fx_sign, strict=True) if c >= 0})
        feed_index = {f: j for j, f in enumerate(feeds)}
        column = np.array([1 + feed_index[(int(c), int(s))] if c >= 0 else 0
                           for c, s in zip(fx, book.fx_sign, strict=True)], dtype=int)
        n_cols = 1 + len(feeds)
        option = kind == OPTION
        first = np.where((kind == LINEAR) | (kind == FX_QUOTE), book.value, 0.0) + np.where(option, book.delta, 0.0)
        lin = np.zeros((k, n_cols))
        np.add.at(lin, (sym, column), first)
        gam = np.zeros((k, n_cols))
        np.add.at(gam, (sym[option], column[option]), 0.5 * book.gamma[option])
        base = kind == FX_BASE
        base_value = np.bincount(sym[base], weights=book.value[base], minlength=k)
        base_cols = np.flatnonzero(base_value)
        rates = kind == RATES
        return cls(fx_cols=np.array([c for c, _ in feeds], dtype=int), fx_sign=np.array([s for _, s in feeds]),
                   lin=lin, lin_sum=np.bincount(column, weights=first, minlength=n_cols)[1:], gam=gam,
                   gam_sum=np.bincount(column[option], weights=0.5 * book.gamma[option], minlength=n_cols)[1:],
                   dv01=np.bincount(sym[rates], weights=-book.dv01[rates], minlength=k), base_cols=base_cols,
                   base_value=base_value[base_cols], vix=book.vix,
                   vega_points=float(book.vega[option].sum() * book.vix_level) if book.vix >= 0 else 0.0,
                   theta=float(book.theta[option].sum()))

    def on_columns(self, columns: np.ndarray, width: int) -> FactorMap:
        """The same map over scenario arrays of ``width`` columns where factor ``i`` is column ``columns[i]``
        (-1: absent from the scenarios, i.e. no move: its terms vanish, and an absent FX feed converts at 1)."""
        present = columns >= 0

        def spread(a: np.ndarray) -> np.ndarray:
            out = np.zeros((width, *a.shape[1:]))
            out[columns[present]] = a[present]
            return out

        feed_cols = columns[self.fx_cols]
        kept = feed_cols >= 0
        keep_cols = np.concatenate([[0], 1 + np.flatnonzero(kept)])
        lin, gam = spread(self.lin), spread(self.gam)
        lin[:, 0] += lin[:, 1:][:, ~kept].sum(axis=1)  # h = 1 through an absent feed
        gam[:, 0] += gam[:, 1:][:, ~kept].sum(axis=1)
        base = columns[self.base_cols]
        return FactorMap(fx_cols=feed_cols[kept], fx_sign=self.fx_sign[kept], lin=lin[:, keep_cols],
                         lin_sum=self.lin_sum[kept], gam=gam[:, keep_cols], gam_sum=self.gam_sum[kept],
                         dv01=spread(self.dv01), base_cols=base[base >= 0], base_value=self.base_value[base >= 0],
                         vix=int(columns[self.vix]) if self.vix >= 0 else -1, vega_points=self.vega_points,
                         theta=self.theta)

    def pnl(self, returns: np.ndarray, growth_minus_one: Callable[[slice, np.ndarray], np.ndarray],
            dtype: np.dtype, horizon_days: float) -> np.ndarray:
        """P&L (n,) float64 of scenarios given by ``returns`` (n, k) (the bp change is read on the yields) and
        ``growth_minus_one(rows, out)``, which writes ``g - 1`` of the scenario ``rows`` into ``out`` (finite, 0 on
        the yields); computed block by block (``BLOCK_BYTES``) in ``dtype`` (float32 or float64), with one
        matrix-vector product per used column of the map (thinner than a matrix product in BLAS)."""
        returns = np.atleast_2d(returns)
        n, k = returns.shape
        dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64

        def columns(matrix: np.ndarray) -> list[tuple[int, np.ndarray]]:
            return [(j, np.ascontiguousarray(matrix[:, j], dtype=dtype)) for j in range(matrix.shape[1])
                    if matrix[:, j].any()]

        lin, gam = columns(self.lin), columns(self.gam)
        dv01 = self.dv01.astype(dtype) if self.dv01.any() else None
        out = np.empty(n)
        block = max(CHUNK_ROWS, BLOCK_BYTES // (max(k, 1) * np.dtype(dtype).itemsize))

        def blocks(part: range) -> None:
            buffer = np.empty((min(len(part), block), k), dtype=dtype)
            square = np.empty_like(buffer) if gam else None
            for start in range(part.start, part.stop, block):
                rows = slice(start, min(part.stop, start + block))
                x = growth_minus_one(rows, buffer[: rows.stop - start])
                out[rows] = self._block_pnl(x, returns[rows], lin, gam, dv01, square, horizon_days)

        threads = min(REVALUATION_THREADS, max(1, n // (2 * block)))
        if threads == 1:
            blocks(range(n))
        else:  # numpy and BLAS release the GIL: the row blocks split over the cores
            edges = [round(n * i / threads / block) * block for i in range(threads)] + [n]
            list(_pool().map(blocks, [range(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]))
        return out

    def _block_pnl(self, x: np.ndarray, returns: np.ndarray, lin: list, gam: list, dv01: np.ndarray | None,
                   square: np.ndarray | None, horizon_days: float) -> np.ndarray:
        """P&L of one block: ``x`` (b, k) its ``g - 1``, ``returns`` (b, k) (the bp changes); see :meth:`pnl`."""
        fx = np.take(x, self.fx_cols, axis=1).astype(float)
        h = np.where(self.fx_sign > 0, 1.0 + fx, 1.0 / (1.0 + fx))  # (b, F)
        hm1 = np.where(self.fx_sign > 0, fx, -fx / (1.0 + fx))
        total = hm1 @ self.lin_sum + self.theta * horizon_days
        for j, v in lin:
            total += (x @ v) if j == 0 else h[:, j - 1] * (x @ v)
        if gam:
            sq = np.multiply(x, x, out=square[: len(x)])
            total += (hm1 * hm1) @ self.gam_sum
            for j, v in gam:
                if j == 0:
                    total += sq @ v
                else:
                    hj, mj = h[:, j - 1], hm1[:, j - 1]
                    total += hj * hj * (sq @ v) + 2.0 * hj * mj * (x @ v)
        if dv01 is not None:
            total += returns @ dv01
        if len(self.base_cols):
            base = np.take(x, self.base_cols, axis=1).astype(float)
            total += (base / (1.0 + base)) @ self.base_value
        if self.vix >= 0:
            total += self.vega_points * x[:, self.vix].astype(float)
        return total
