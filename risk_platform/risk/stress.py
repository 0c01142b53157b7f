"""Stress tests of today's book: historical crisis replays, generated stress, hypothetical shocks and
counterfactual correlation. P&L in USD, gains positive (a loss is a negative ``pnl``).

* **Historical replay** (each crisis window of DESIGN.md inside the data): the window's worst 1-day move,
  worst 10-day move (10 consecutive rows, moves compounded: growth multiplied, bp added) and the
  full-window move, applied to today's positions by full revaluation (option theta over the calendar days
  spanned).
* **Generated stress**: given stress-regime scenario arrays (e.g. 50,000 GAN or VAE draws), the worst 1%
  by book P&L; the figure is their mean P&L (the tail expectation) and the tail scenario vectors are kept.
* **Hypothetical shocks** (mapped by instrument metadata, see :data:`HYPOTHETICAL_SHOCKS`).
* **Counterfactual correlation**: the parametric VaR with today's volatilities under today's correlations,
  under crisis correlations (pooled over the crisis windows' days), and under crisis correlations with the
  hedges inverted (every pair whose correlation offsets risk in this book gets the opposite sign, so hedges
  add to the loss instead); matrices are repaired to the nearest valid correlation by eigenvalue clipping.

:func:`stress_suite` runs all of them on a valued book; results are named by crisis-window key
(:data:`risk_platform.crisis_windows.CRISIS_WINDOWS`), e.g. ``gfc_2008: worst 10-day``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy.stats import norm

from risk_platform.crisis_windows import CRISIS_WINDOWS, CrisisWindow
from risk_platform.data.roles import Choice, rate_reference
from risk_platform.risk.config import STRESS_TAIL_SHARE, RiskConfig
from risk_platform.risk.market import MarketState
from risk_platform.risk.methods import covariance_from
from risk_platform.risk.report import COUNTERFACTUAL_KIND, ModelInputs, column_index, take_columns
from risk_platform.risk.revaluation import BookArrays, growth_from_returns
from risk_platform.risk.valuation import ValuedBook

TEN_DAYS = 10
CRISIS_CORRELATION_MIN_DAYS = 20  # pairs with fewer common crisis days get correlation 0


@dataclass(frozen=True)
class StressResult:
    """One stress scenario: total P&L, by position and by asset class, and how it was built."""

    name: str
    kind: str  # historical_replay | generated | hypothetical | counterfactual_correlation
    pnl: float
    pnl_pct_nav: float
    pnl_by_position: dict[str, float]
    pnl_by_asset_class: dict[str, float]
    details: dict = field(default_factory=dict)
    scenarios: np.ndarray | None = None  # generated stress: the kept tail scenario vectors (n_tail, k)

    def to_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("name", "kind", "pnl", "pnl_pct_nav", "pnl_by_position",
                                             "pnl_by_asset_class", "details")}
        if self.scenarios is not None:
            out["n_scenarios_kept"] = int(len(self.scenarios))
        return out


def encode(groups) -> tuple[np.ndarray, np.ndarray]:
    """(distinct labels, code per position) of ``groups``; an already encoded pair passes through."""
    if isinstance(groups, tuple):
        return groups
    classes, code = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    return classes, code.ravel()


def _result(name: str, kind: str, position_pnl: np.ndarray, labels: tuple[str, ...], asset_class: np.ndarray,
            nav: float, **details) -> StressResult:
    position_pnl = np.asarray(position_pnl, dtype=float)
    classes, code = encode(asset_class)
    by_class = np.bincount(code.ravel(), weights=position_pnl, minlength=len(classes))
    total = float(position_pnl.sum())
    return StressResult(name=name, kind=kind, pnl=total, pnl_pct_nav=100.0 * total / nav,
                        pnl_by_position=dict(zip(labels, position_pnl.tolist(), strict=True)),
                        pnl_by_asset_class=dict(zip(classes.tolist(), by_class.tolist(), strict=True)),
                        details=details)


# ------------------------------------------------------------------------------------ historical replay


def compound(returns: np.ndarray, growth: np.ndarray, is_bp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The move over consecutive rows (n, k) -> (k,): growth multiplied, bp added, log returns added."""
    return returns.sum(axis=0), np.where(is_bp, 1.0, np.prod(growth, axis=0))


def rolling_compound(returns: np.ndarray, growth: np.ndarray, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Moves over every run of ``span`` consecutive rows: (n, k) -> (n - span + 1, k) each."""
    csum = np.vstack([np.zeros(returns.shape[1]), np.cumsum(returns, axis=0)])
    clog = np.vstack([np.zeros(growth.shape[1]), np.cumsum(np.log(np.clip(growth, 1e-12, None)), axis=0)])
    return csum[span:] - csum[:-span], np.exp(clog[span:] - clog[:-span])


@dataclass(frozen=True)
class ReplayMoves:
    """The moves of crisis windows over ``k`` factors, windows stacked: every day, every run of ``TEN_DAYS``
    consecutive days (:func:`rolling_compound`) and the full window (:func:`compound`); returns (log / bp) and
    growth each. Rows ``day_bounds[w]:day_bounds[w + 1]`` of the day arrays are window ``w``'s (likewise
    ``ten_bounds``; a window shorter than ``TEN_DAYS`` has none), row ``w`` of the full arrays its full move."""

    names: tuple[str, ...]
    dates: tuple[pd.DatetimeIndex, ...]
    day_bounds: np.ndarray
    day_returns: np.ndarray
    day_growth: np.ndarray
    ten_bounds: np.ndarray
    ten_returns: np.ndarray
    ten_growth: np.ndarray
    full_returns: np.ndarray
    full_growth: np.ndarray

    @classmethod
    def of(cls, names: Sequence[str], dates: Sequence[pd.DatetimeIndex], returns: Sequence[np.ndarray],
           growth: Sequence[np.ndarray], is_bp: np.ndarray) -> ReplayMoves:
        """From each window's rows (n_w, k) of returns and growth; ``is_bp`` (k,) the yields."""
        k = len(is_bp)
        ten = [rolling_compound(r, g, TEN_DAYS) if len(r) >= TEN_DAYS else (np.zeros((0, k)), np.zeros((0, k)))
               for r, g in zip(returns, growth, strict=True)]
        full = [compound(r, g, is_bp) for r, g in zip(returns, growth, strict=True)]

        def bounds(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(int)

        def rows(parts: list[np.ndarray]) -> np.ndarray:  # (0, k) when there is no window
            return np.concatenate([np.zeros((0, k)), *parts])

        return cls(names=tuple(names), dates=tuple(dates), day_bounds=bounds(list(returns)),
                   day_returns=rows(list(returns)), day_growth=rows(list(growth)),
                   ten_bounds=bounds([r for r, _ in ten]), ten_returns=rows([r for r, _ in ten]),
                   ten_growth=np.where(is_bp, 1.0, rows([g for _, g in ten])),
                   full_returns=rows([r[None] for r, _ in full]), full_growth=rows([g[None] for _, g in full]))

    def on_columns(self, cols: np.ndarray) -> ReplayMoves:
        """The same moves over the factors ``cols`` (columns of these arrays)."""
        return replace(self, **{name: getattr(self, name)[:, cols] for name in (
            "day_returns", "day_growth", "ten_returns", "ten_growth", "full_returns", "full_growth")})


def replay_window(book: BookArrays, name: str, dates: pd.DatetimeIndex, returns: np.ndarray, growth: np.ndarray,
                  is_bp: np.ndarray, asset_class: np.ndarray, nav: float, missing: list[str] | None = None
                  ) -> list[StressResult]:
    """Worst 1-day, worst 10-day and full-window replays of one window's rows (n, k) on ``book``."""
    return replay_windows(book, ReplayMoves.of([name], [dates], [returns], [growth], is_bp), asset_class, nav,
                          [missing])


def replay_windows(book: BookArrays, moves: ReplayMoves, asset_class: np.ndarray, nav: float,
                   missing: Sequence[list[str] | None]) -> list[StressResult]:
    """Worst 1-day, worst 10-day and full-window replays of every window of ``moves`` (over the book's factors)
    on ``book``: the book's P&L path over all windows' days, then over all their 10-day runs (one revaluation
    each), and the per-position P&L of the chosen scenarios in one call; ``missing``: per window, the factors
    without data in it (or None)."""
    daily = book.total_pnl(moves.day_returns, moves.day_growth)
    ten = book.total_pnl(moves.ten_returns, moves.ten_growth) if len(moves.ten_returns) else np.zeros(0)
    picks, details = [], []  # (array name, row, horizon days), (result name, details)
    for w, (name, dates) in enumerate(zip(moves.names, moves.dates, strict=True)):
        common = {"window": f"{dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d}", "days": len(dates)}
        if missing[w]:
            common["factors_without_data"] = missing[w]
        a, b = moves.day_bounds[w], moves.day_bounds[w + 1]
        i = int(np.argmin(daily[a:b]))
        picks.append(("day", a + i, book.horizon_days))
        details.append((f"{name}: worst 1-day", {"date": f"{dates[i]:%Y-%m-%d}", **common}))
        a, b = moves.ten_bounds[w], moves.ten_bounds[w + 1]
        if b > a:
            j = int(np.argmin(ten[a:b]))
            end = dates[j + TEN_DAYS - 1]
            picks.append(("ten", a + j, (end - dates[j]).days + 1))
            details.append((f"{name}: worst 10-day", {"start": f"{dates[j]:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}",
                                                      **common}))
        picks.append(("full", w, (dates[-1] - dates[0]).days + 1))  # option theta over the span
        details.append((f"{name}: full window", common))
    returns = np.stack([getattr(moves, f"{kind}_returns")[row] for kind, row, _ in picks])
    growth = np.stack([getattr(moves, f"{kind}_growth")[row] for kind, row, _ in picks])
    by_position = book.scenario_position_pnl(returns, growth, np.array([days for _, _, days in picks]))
    return [_result(name, "historical_replay", pnl, book.labels, asset_class, nav, **info)
            for (name, info), pnl in zip(details, by_position, strict=True)]


# ------------------------------------------------------------------------------------ generated stress


def generated_stress(book: BookArrays, scenarios: np.ndarray, is_bp: np.ndarray, name: str, bound_by: str,
                     asset_class: np.ndarray, nav: float, share: float = STRESS_TAIL_SHARE,
                     growth: np.ndarray | None = None, columns: np.ndarray | None = None) -> StressResult:
    """The worst ``share`` of ``scenarios`` (n, k') by book P&L: mean P&L by position over them, the worst
    scenario, and the tail scenario vectors kept (``scenarios`` of the result, worst first, in the book's factor
    order); ``columns``: the column of each of the book's factors in ``scenarios`` (-1: absent, no move; None:
    the book's order)."""
    r = np.asarray(scenarios)
    total = (book.total_pnl_from_returns(r, is_bp, columns) if growth is None
             else book.total_pnl(take_columns(r, columns), take_columns(growth, columns)))
    n_tail = max(1, int(np.ceil(share * len(total))))
    tail = np.argpartition(total, n_tail - 1)[:n_tail] if n_tail < len(total) else np.arange(len(total))
    tail = tail[np.argsort(total[tail], kind="stable")]
    kept = take_columns(r[tail], columns)
    g = growth_from_returns(kept, is_bp) if growth is None else take_columns(growth[tail], columns)
    by_position = book.mean_position_pnl(kept, g)
    return StressResult(**{
        **_result(name, "generated", by_position, book.labels, asset_class, nav).__dict__,
        "details": {"bound_by": bound_by, "n_scenarios": int(len(total)), "tail_share": share, "n_tail": n_tail,
                    "worst_pnl": float(total[tail[0]]),
                    "worst_scenario": dict(zip(book.factors, kept[0].tolist(), strict=True)),
                    "tail_mean_scenario": dict(zip(book.factors, kept.mean(axis=0).tolist(), strict=True))},
        "scenarios": kept,
    })


# ---------------------------------------------------------------------------------- hypothetical shocks

HYPOTHETICAL_SHOCKS = {
    "rates +200bp parallel": "every yield +200 bp; price-quoted rates instruments (bond ETFs) by their empirical"
                             " duration to the 10-year yield: exp(200 beta), beta = cov(r, dy)/var(dy) over the"
                             " historical window",
    "equities -20%": "every equity instrument (asset_class equity) -20%",
    "USD +10%": "USD +10% against every currency: CCYUSD rates x 1/1.1, USDCCY rates and USD indices x 1.1",
    "oil -50%": "crude oil (commodities whose name says crude oil) -50%",
    "credit ETFs -10%": "corporate bond ETFs (name says Corporate Bond, or held with asset_class credit) -10%",
}


def rate_betas(returns: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """OLS beta (k,) of each column of ``returns`` (n, k) on ``ref`` (n,) (zero-mean regression)."""
    denom = float(ref @ ref)
    return returns.T @ ref / denom if denom > 0 else np.zeros(returns.shape[1])


def hypothetical_moves(factors: tuple[str, ...], instruments: pd.DataFrame, credit_symbols: set[str],
                       rate_beta: Mapping[str, float] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per shock, (returns (k,), growth (k,)) over ``factors``. ``instruments`` indexed by symbol;
    ``rate_beta``: log-return beta per bp of the reference yield for price-quoted rates instruments."""
    inst = instruments.reindex(list(factors))
    quote, cls, ccy = inst["quote_type"].to_numpy(), inst["asset_class"].to_numpy(), inst["currency"].to_numpy()
    name = inst["name"].fillna("").str.lower().to_numpy()
    symbols = np.array(factors)
    k = len(factors)
    out = {}

    def shock(growth: np.ndarray, bp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        is_bp = quote == "yield_pct"
        ret = np.where(is_bp, 0.0 if bp is None else bp, np.log(growth))
        return ret, np.where(is_bp, 1.0, growth)

    bp = np.where(quote == "yield_pct", 200.0, 0.0)
    beta = np.array([(rate_beta or {}).get(s, 0.0) for s in symbols])
    rates_price = (cls == "rates") & (quote != "yield_pct")
    out["rates +200bp parallel"] = shock(np.where(rates_price, np.exp(200.0 * beta), 1.0), bp)
    out["equities -20%"] = shock(np.where(cls == "equity", 0.8, 1.0))
    usd = np.ones(k)
    fx = quote == "fx_rate"
    usd = np.where(fx & (ccy == "USD"), 1 / 1.1, usd)
    usd = np.where(fx & (ccy != "USD"), 1.1, usd)
    usd = np.where((cls == "fx") & (quote == "index_level"), 1.1, usd)
    out["USD +10%"] = shock(usd)
    oil = (cls == "commodity") & (np.char.find(name.astype(str), "crude oil") >= 0)
    out["oil -50%"] = shock(np.where(oil, 0.5, 1.0))
    credit = np.char.find(name.astype(str), "corporate bond") >= 0
    credit |= np.isin(symbols, list(credit_symbols))
    out["credit ETFs -10%"] = shock(np.where(credit, 0.9, 1.0))
    return out


def hypothetical_stress(book: BookArrays, moves: dict[str, tuple[np.ndarray, np.ndarray]], asset_class: np.ndarray,
                        nav: float, rate_beta: Mapping[str, float] | None = None) -> list[StressResult]:
    """Each hypothetical shock applied to ``book`` (moves from :func:`hypothetical_moves`)."""
    out = []
    by_position = book.scenario_position_pnl(np.stack([r for r, _ in moves.values()]),
                                             np.stack([g for _, g in moves.values()])) if moves else []
    for (name, (r, g)), pnl in zip(moves.items(), by_position, strict=True):
        shocked = {f: (float(r[i]) if g[i] == 1.0 else float(g[i] - 1.0)) for i, f in enumerate(book.factors)
                   if r[i] != 0.0 or g[i] != 1.0}
        details = {"definition": HYPOTHETICAL_SHOCKS[name], "moves": shocked,
                   "units": "bp for yields, simple return for prices"}
        if name.startswith("rates") and rate_beta:
            details["durations"] = {s: -1e4 * b for s, b in rate_beta.items()}
        out.append(_result(name, "hypothetical", pnl, book.labels, asset_class, nav, **details))
    return out


# --------------------------------------------------------------------------- counterfactual correlation


def nearest_correlation(c: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Symmetric, positive semi-definite, unit diagonal: eigenvalues clipped at ``floor``, rescaled."""
    c = (np.asarray(c, dtype=float) + np.asarray(c, dtype=float).T) / 2.0
    w, v = np.linalg.eigh(c)
    fixed = (v * np.clip(w, floor, None)) @ v.T
    d = np.sqrt(np.diag(fixed))
    out = fixed / np.outer(d, d)
    np.fill_diagonal(out, 1.0)
    return out


def inverted_hedges(exposure: np.ndarray, correlation: np.ndarray, repaired_abs: np.ndarray | None = None
                    ) -> np.ndarray:
    """Correlations with every risk-offsetting pair (``e_i e_j rho_ij < 0``) given the opposite sign, repaired.

    ``repaired_abs``: ``nearest_correlation(|correlation|)`` when known (it depends on the market and the factors
    only). With every exposure non-zero the flipped matrix is ``S |rho| S``, ``S = diag(sign e)``, and the repair
    commutes with that change of signs, so the result is ``S repaired_abs S`` without an eigendecomposition."""
    e = np.asarray(exposure, dtype=float)
    if repaired_abs is not None and np.all(e != 0):
        sign = np.sign(e)
        return repaired_abs * np.outer(sign, sign)
    offsetting = np.outer(e, e) * correlation < 0
    np.fill_diagonal(offsetting, False)
    return nearest_correlation(np.where(offsetting, -correlation, correlation))


def counterfactual_correlation(book: BookArrays, vols: np.ndarray, corr_now: np.ndarray, corr_crisis: np.ndarray,
                               asset_class: np.ndarray, nav: float, alpha: float = 0.99,
                               crisis_label: str = "crisis windows", crisis_is_valid: bool = False,
                               crisis_repaired_abs: np.ndarray | None = None) -> StressResult:
    """Parametric VaR at ``alpha`` under today's, crisis and crisis-with-inverted-hedges correlations.

    A VaR, not a P&L (``details['confidence']``): the result's ``pnl`` is minus the VaR under crisis correlations
    with the hedges inverted; positions' figures are their Euler VaR contributions under that matrix (minus sign:
    losses negative). ``crisis_is_valid``: ``corr_crisis`` is already :func:`nearest_correlation`'s output;
    ``crisis_repaired_abs``: ``nearest_correlation(|crisis|)`` when known (:func:`inverted_hedges`)."""
    e = book.exposures(sparse=True)
    total = np.asarray(e.sum(axis=0)).ravel()
    z = norm.ppf(alpha)
    crisis = corr_crisis if crisis_is_valid else nearest_correlation(corr_crisis)
    inverted = inverted_hedges(total, crisis, crisis_repaired_abs)
    figures, contrib = {}, None
    for label, corr in (("now", corr_now), ("crisis", crisis), ("crisis_hedges_inverted", inverted)):
        cov = covariance_from(vols, corr)
        sigma = float(np.sqrt(max(total @ cov @ total, 0.0)))
        figures[label] = z * sigma
        if label == "crisis_hedges_inverted":
            contrib = -np.asarray(e @ (cov @ total)).ravel() * z / sigma if sigma > 0 else np.zeros(book.m)
    p = round(alpha * 100)
    rise = figures["crisis"] / figures["now"] - 1.0 if figures["now"] > 0 else float("nan")
    rise_inv = figures["crisis_hedges_inverted"] / figures["now"] - 1.0 if figures["now"] > 0 else float("nan")
    verb = "rises" if rise >= 0 else "falls"
    statement = (f"VaR{p} {verb} from {figures['now']:,.0f} to {figures['crisis']:,.0f} ({rise:+.0%}) if correlations"
                 f" move to crisis levels ({crisis_label}), and to {figures['crisis_hedges_inverted']:,.0f}"
                 f" ({rise_inv:+.0%}) if the hedges also invert")
    figures = {k: float(v) for k, v in figures.items()}
    return _result("counterfactual correlation", COUNTERFACTUAL_KIND, contrib, book.labels, asset_class, nav,
                   confidence=alpha,
                   **{f"var_{p}_now": figures["now"], f"var_{p}_crisis_correlation": figures["crisis"],
                      f"var_{p}_crisis_hedges_inverted": figures["crisis_hedges_inverted"],
                      "increase_crisis_pct": float(100 * rise), "increase_hedges_inverted_pct": float(100 * rise_inv),
                      "crisis_correlation_from": crisis_label, "statement": statement})


# ------------------------------------------------------------------------------------------- the suite


@dataclass(frozen=True)
class GeneratedScenarios:
    """Stress-regime scenarios of the book's factors (``growth`` None: ``exp`` of the log returns)."""

    name: str
    returns: np.ndarray
    bound_by: str
    growth: np.ndarray | None = None
    columns: np.ndarray | None = None  # the column of each of the book's factors in ``returns`` (None: in order)


def stress_suite(valued: ValuedBook, market: MarketState, config: RiskConfig, model_inputs: Sequence[ModelInputs],
                 ewma_vols: np.ndarray, ewma_corr: np.ndarray) -> dict[str, StressResult]:
    """Every stress test of ``valued`` by name: the crisis replays, the hypothetical shocks, the generated
    stress (the models' stress scenarios, else a bootstrap of high-regime days) and the counterfactual
    correlation on the EWMA volatilities ``ewma_vols`` and correlation ``ewma_corr`` (left out when no crisis
    window lies inside the data; :func:`stress_notes` says what was not evaluated and why)."""
    arrays, nav, names = valued.arrays, valued.nav, valued.names
    asset_class = encode(valued.asset_class)  # once for every scenario
    out = {res.name: res for res in crisis_replays(valued, market, asset_class)}
    rate_beta = book_rate_betas(valued, market)
    table = valued.table
    credit = set(table.loc[table["asset_class"].str.lower() == "credit", "symbol"])
    moves = hypothetical_moves(tuple(names), market.instruments, credit, rate_beta)
    out.update((res.name, res) for res in hypothetical_stress(arrays, moves, asset_class, nav, rate_beta))
    for gen in generated_scenarios(valued, market, config, model_inputs):
        out[gen.name] = generated_stress(arrays, gen.returns, valued.is_bp, gen.name, gen.bound_by, asset_class, nav,
                                         config.stress_share, growth=gen.growth, columns=gen.columns)
    crisis_corr, crisis_label = crisis_correlation(market, valued.factors.cols)
    if crisis_label:
        key = ("nearest crisis correlation", valued.factors.cols.tobytes())
        crisis_valid = market.once(key, lambda: nearest_correlation(crisis_corr))
        repaired_abs = market.once(("nearest |crisis correlation|", *key[1:]),
                                   lambda: nearest_correlation(np.abs(crisis_valid)))
        res = counterfactual_correlation(arrays, ewma_vols, ewma_corr, crisis_valid, asset_class, nav,
                                         crisis_label=crisis_label, crisis_is_valid=True,
                                         crisis_repaired_abs=repaired_abs)
        out[res.name] = res
    return out


def window_rows(window: CrisisWindow, market: MarketState) -> tuple[np.ndarray, str]:
    """The market rows of ``window`` and ``''``, or no rows and why it cannot be replayed (it ends after the
    as-of date, or it lies before the data start)."""
    if window.start > market.asof:
        return np.array([], dtype=int), (f"crisis window {window.key} starts after the data end"
                                         f" ({market.asof:%Y-%m-%d}): not evaluable")
    if window.end > market.asof:
        return np.array([], dtype=int), (f"crisis window {window.key} ends {window.end:%Y-%m-%d}, after the data end"
                                         f" ({market.asof:%Y-%m-%d}): not evaluable")
    rows = np.flatnonzero((market.dates >= window.start) & (market.dates <= window.end))
    if len(rows) == 0:
        start = f" ({market.dates[0]:%Y-%m-%d})" if len(market.dates) else ""
        return rows, f"crisis window {window.key} lies before the data start{start}: not evaluable"
    return rows, ""


def crisis_replays(valued: ValuedBook, market: MarketState, asset_class: tuple[np.ndarray, np.ndarray]
                   ) -> list[StressResult]:
    """:func:`replay_windows` of every crisis window that ended by the as-of date and has market rows (their moves
    compounded once per market, :func:`crisis_moves`)."""
    moves, first = crisis_moves(market)
    if not moves.names:
        return []
    cols = valued.factors.cols
    names = np.array(valued.names, dtype=object)
    starts = {w.key: w.start for w in CRISIS_WINDOWS}
    missing = [names[first[cols] > starts[key]].tolist() for key in moves.names]
    return replay_windows(valued.arrays, moves.on_columns(cols), asset_class, valued.nav, missing)


def crisis_moves(market: MarketState) -> tuple[ReplayMoves, pd.DatetimeIndex]:
    """The replayable crisis windows' moves over every feed of ``market`` (:class:`ReplayMoves`) and each feed's
    first date with a return; computed once per market (what a book's replays take are its factors' columns)."""
    def compute() -> tuple[ReplayMoves, pd.DatetimeIndex]:
        rows = {w.key: r for w in CRISIS_WINDOWS if len(r := window_rows(w, market)[0])}
        moves = ReplayMoves.of(list(rows), [market.dates[r] for r in rows.values()],
                               [market.returns[r] for r in rows.values()], [market.growth[r] for r in rows.values()],
                               market.is_bp)
        return moves, market.dates[np.argmax(market.observed, axis=0)]

    return market.once(("crisis replay moves",), compute)


def stress_notes(valued: ValuedBook, market: MarketState) -> list[str]:
    """What the stress suite could not evaluate on this market, one line each: crisis windows not replayed,
    the counterfactual correlation without a crisis window, the rates shock without a reference yield."""
    notes = [f"{reason}, not replayed" for w in CRISIS_WINDOWS if (reason := window_rows(w, market)[1])]
    if len(notes) == len(CRISIS_WINDOWS):
        notes.append("no crisis window inside the data: counterfactual crisis correlation not evaluated")
    bonds = [valued.names[i] for i in _price_quoted_rates(valued.names, market.instruments)]
    reference = market_rate_reference(market)
    if bonds and reference.symbol is None:
        notes.append(f"rates +200bp parallel: {reference.reason} in the market, so the price-quoted rates"
                     f" instruments ({', '.join(bonds)}) are not shocked")
    return notes


def book_rate_betas(valued: ValuedBook, market: MarketState) -> dict[str, float]:
    """:func:`rate_betas` of the book's price-quoted rates instruments on the rate reference
    (:func:`risk_platform.data.roles.rate_reference` among the market's feeds, UST10Y in the bundled data) over
    the historical window (empty when the market has no yield: :func:`stress_notes` says so)."""
    names, factors = valued.names, valued.factors
    window_r = factors.take(market.returns, factors.window)
    reference = market_rate_reference(market).symbol
    if reference in names:
        ref_series = window_r[:, names.index(reference)]
    elif reference is not None:
        ref_series = market.returns[factors.window, market.columns([reference])[0]]
    else:
        return {}
    rates_price = _price_quoted_rates(names, market.instruments).tolist()
    betas = rate_betas(window_r[:, rates_price], ref_series) if rates_price else []
    return {names[i]: float(b) for i, b in zip(rates_price, betas, strict=True)}


def market_rate_reference(market: MarketState) -> Choice:
    """:func:`~risk_platform.data.roles.rate_reference` among the market's feeds (once per market)."""
    return market.once(("rate_reference",), lambda: rate_reference(market.instruments.reset_index(), market.symbols))


def _price_quoted_rates(names: Sequence[str], instruments: pd.DataFrame) -> np.ndarray:
    """Positions in ``names`` of the price-quoted rates instruments (bonds, bond ETFs: ``rates``, not a yield);
    ``instruments`` indexed by symbol."""
    inst = instruments.reindex(list(names))
    return np.flatnonzero(inst["asset_class"].eq("rates").to_numpy() & inst["quote_type"].ne("yield_pct").to_numpy())


def generated_scenarios(valued: ValuedBook, market: MarketState, config: RiskConfig,
                        model_inputs: Sequence[ModelInputs]) -> list[GeneratedScenarios]:
    """The models' stress scenarios over the book's factors, else (non-model) ``config.mc_scenarios`` draws
    of the high-regime days of the history (none when there are no such days or draws)."""
    generated = []
    for mi in model_inputs:
        for key, scen in mi.stress_scenarios.items():
            returns, columns, _ = column_index(scen, mi.symbols, valued.names)
            generated.append(GeneratedScenarios(f"generated stress: {key} [{mi.label}]", returns, mi.version(key),
                                                columns=columns))
    if generated or config.mc_scenarios <= 0:
        return generated
    history = valued.factors.history
    high = history[market.regimes.to_numpy()[history] == "high"]
    if not len(high):
        return []
    rng = np.random.default_rng(config.seed)
    pick = high[rng.integers(0, len(high), config.mc_scenarios)]
    d = market.dates[high]
    label = f"bootstrap of {len(high)} high-regime days {d[0]:%Y-%m-%d}..{d[-1]:%Y-%m-%d} (non-model)"
    return [GeneratedScenarios("generated stress: high-regime bootstrap", valued.factors.take(market.returns, pick),
                               label, valued.factors.take(market.growth, pick))]


def crisis_correlation(market: MarketState, cols: np.ndarray) -> tuple[np.ndarray, str]:
    """Correlation of the market columns ``cols`` pooled over the crisis windows' days up to the as-of date
    (each pair on the days both moved, 0 with fewer than ``CRISIS_CORRELATION_MIN_DAYS``), and the keys of the
    windows used ('' when none lies in the data). Computed once per market for all its feeds."""
    corr, label = market.once(("crisis_correlation",), lambda: _crisis_correlation_all(market))
    return corr[np.ix_(cols, cols)], label


def _crisis_correlation_all(market: MarketState) -> tuple[np.ndarray, str]:
    mask = np.zeros(len(market.dates), dtype=bool)
    used = []
    for window in CRISIS_WINDOWS:
        sel = (market.dates >= window.start) & (market.dates <= min(window.end, market.asof))
        if sel.any():
            mask |= sel
            used.append(window.key)
    corr = pairwise_correlation(market.returns[mask], market.observed[mask], CRISIS_CORRELATION_MIN_DAYS)
    return corr, ("pooled " + ", ".join(used)) if used else ""


def pairwise_correlation(x: np.ndarray, observed: np.ndarray, min_days: int) -> np.ndarray:
    """Pearson correlation (k, k) of the columns of ``x`` (n, k), each pair over the rows where both are
    ``observed`` (as ``DataFrame.corr(min_periods=min_days)``, in matrix products: O(n k^2) in BLAS); 0 for pairs
    with fewer than ``min_days`` common rows or no variance, 1 on the diagonal."""
    m = np.asarray(observed, dtype=float)
    x = np.where(observed, x, 0.0)
    n = m.T @ m
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (x.T @ m) / n  # [i, j]: mean of i over the rows both i and j moved
        var = ((x * x).T @ m) / n - mean**2
        cov = (x.T @ x) / n - mean * mean.T
        corr = cov / np.sqrt(var * var.T)
    corr = np.where((n >= min_days) & np.isfinite(corr), np.clip(corr, -1.0, 1.0), 0.0)
    np.fill_diagonal(corr, 1.0)
    return corr
