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

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from risk_platform.portfolio.positions import position_labels
from risk_platform.risk.options import delta_gamma_vega_pnl

LINEAR, FX_QUOTE, FX_BASE, RATES, OPTION = range(5)
KIND_CODES = {"linear": LINEAR, "fx_usd_quote": FX_QUOTE, "fx_usd_base": FX_BASE, "rates_dv01": RATES,
              "option": OPTION}
UNIT_PARAMS = ("value", "dv01", "delta", "gamma", "vega")


def lookup(values, table: dict, default) -> np.ndarray:
    """``table.get(v, default)`` for every element, evaluated once per distinct value (vectorised)."""
    uniq, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    if not len(uniq):
        return np.array([], dtype=object)
    return np.array([table.get(u, default) for u in uniq.tolist()], dtype=object)[inverse.ravel()]


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
            labels=tuple(position_labels(book)),
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
        uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = inverse.ravel()

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
    def _unit_book(self) -> BookArrays:
        """Five copies of the grouped book stacked, each with one parameter (value, dv01, delta, gamma, vega)
        set to 1 and the others 0: its P&L columns are the per-unit P&L of every group and parameter."""
        grouped, _ = self._groups
        g = grouped.m
        eye = np.repeat(np.eye(len(UNIT_PARAMS)), g, axis=1)  # (5, 5g)

        def tile(x: np.ndarray) -> np.ndarray:
            return np.tile(x, len(UNIT_PARAMS))

        return replace(grouped, labels=tuple(range(g * len(UNIT_PARAMS))), kind=tile(grouped.kind),
                       sym=tile(grouped.sym), fx=tile(grouped.fx), fx_sign=tile(grouped.fx_sign),
                       theta=np.zeros(g * len(UNIT_PARAMS)), **dict(zip(UNIT_PARAMS, eye, strict=True)))

    def mean_position_pnl(self, returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
        """Mean P&L per position over the scenarios (n, k) -> (m,), without an (n, m) array: every formula
        is linear in the position's own parameters (value, dv01, greeks), so the scenario means of the
        per-unit P&L of each (kind, instrument, FX feed) group are combined with each position's parameters."""
        _, inverse = self._groups
        unit = self._unit_book
        basis = unit.position_pnl(returns, growth).mean(axis=0).reshape(len(UNIT_PARAMS), -1)[:, inverse]
        params = np.stack([getattr(self, p) for p in UNIT_PARAMS])
        return (params * basis).sum(axis=0) + self.theta * self.horizon_days

    def with_horizon(self, days: float) -> BookArrays:
        """The same book over a horizon of ``days`` (option theta), keeping the cached groupings."""
        out = replace(self, horizon_days=float(days))
        for name in ("_groups", "_unit_book", "_aggregate"):
            if name in self.__dict__:
                out.__dict__[name] = self.__dict__[name]
        return out

    @cached_property
    def _aggregate(self) -> dict:
        """The book folded onto the factors: coefficients of ``g - 1`` (linear without FX, FX quoted in USD),
        of ``1 - 1/g`` (USD-based FX), of the bp return (rates), and the few (instrument, FX feed) pairs of
        non-USD linear positions and options."""
        k = len(self.factors)
        kind = self.kind

        def fold(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
            return np.bincount(self.sym[mask], weights=weights[mask], minlength=k)

        plain = ((kind == LINEAR) & (self.fx < 0)) | (kind == FX_QUOTE)
        pairs = self.grouped()
        linear_fx = (pairs.kind == LINEAR) & (pairs.fx >= 0)
        option = pairs.kind == OPTION
        return {"a": fold(plain, self.value), "b": fold(kind == FX_BASE, self.value),
                "c": fold(kind == RATES, -self.dv01), "pairs": pairs, "linear_fx": linear_fx, "option": option}

    def total_pnl(self, returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
        """Portfolio P&L per scenario, shape (n,): the position formulas folded onto the factors, so the cost
        is a few matrix-vector products over (n, k) whatever the number of positions."""
        agg = self._aggregate
        if growth.dtype == np.float32:
            return self._fold(returns, growth - np.float32(1.0))
        out = growth @ agg["a"] - agg["a"].sum()  # no (n, k) temporary
        return out + self._fold(returns, growth - 1.0, skip_plain=True)

    def total_pnl_from_returns(self, returns: np.ndarray, is_bp: np.ndarray) -> np.ndarray:
        """:meth:`total_pnl` of generated scenarios (log returns, bp for yields) in one pass:
        ``g - 1 = expm1(r)`` (exact for small moves, and float32 model output stays float32)."""
        r = _float(returns)
        return self._fold(r, np.expm1(_zero_bp(r, is_bp)))

    def _fold(self, returns: np.ndarray, gm1: np.ndarray, skip_plain: bool = False) -> np.ndarray:
        """The folded formulas on ``gm1 = growth - 1`` (n, k)."""
        agg = self._aggregate
        dtype = np.float32 if gm1.dtype == np.float32 else np.float64
        b = agg["b"]
        if b.any():
            cols = np.flatnonzero(b)
            x = gm1[:, cols]
            extra = (1.0 - 1.0 / (1.0 + x)) @ b[cols]
        else:
            extra = 0.0
        c = agg["c"]
        rates = np.flatnonzero(c)
        if skip_plain:
            out = returns[:, rates] @ c[rates] if len(rates) else np.zeros(gm1.shape[0])
        else:  # yields carry no linear position: one product over [g - 1 | bp change] with [a | c]
            if len(rates):
                gm1 = gm1.copy() if not gm1.flags.writeable else gm1
                gm1[:, rates] = returns[:, rates]
            out = (gm1 @ (agg["a"] + c).astype(dtype)).astype(float)
        out = out + extra
        p = agg["pairs"]
        for mask in (agg["linear_fx"], agg["option"]):
            if not mask.any():
                continue
            g = 1.0 + gm1[:, p.sym[mask]]
            fx = p.fx[mask]
            if (fx >= 0).any():
                gf = 1.0 + gm1[:, np.where(fx >= 0, fx, 0)]
                g = g * np.where(fx >= 0, np.where(p.fx_sign[mask] > 0, gf, 1.0 / gf), 1.0)
            r = g - 1.0
            if mask is agg["linear_fx"]:
                out += r @ p.value[mask]
            else:
                dv = self.vix_level * gm1[:, p.vix] if p.vix >= 0 else 0.0
                out += r @ p.delta[mask] + 0.5 * (r * r) @ p.gamma[mask] + dv * p.vega[mask].sum()
                out += p.theta[mask].sum() * self.horizon_days
        return out

    def exposures(self) -> np.ndarray:
        """First-order USD exposure of each position to each factor return, shape (m, k).

        Log-return factors: USD per unit log return; yields: USD per bp (``-dv01``); options: dollar delta
        to the underlying (and its FX feed) and ``vega x VIX level`` to the VIX log return.
        """
        out = np.zeros((self.m, len(self.factors)))
        rows = np.arange(self.m)
        first = np.where(self.kind == RATES, -self.dv01, np.where(self.kind == OPTION, self.delta, self.value))
        np.add.at(out, (rows, self.sym), first)
        fx_linked = (self.fx >= 0) & np.isin(self.kind, (LINEAR, OPTION))
        np.add.at(out, (rows[fx_linked], self.fx[fx_linked]), self.fx_sign[fx_linked] * first[fx_linked])
        if self.vix >= 0:
            opt = self.kind == OPTION
            np.add.at(out, (rows[opt], np.full(opt.sum(), self.vix)), self.vega[opt] * self.vix_level)
        return out
