"""Portfolio risk on one as-of date: position valuation, scenario P&L by full revaluation, historical and
EWMA-parametric VaR / ES with Euler contributions, concentration. Losses are positive, USD, 1-day horizon.

Revaluation of one day's market move (``g = exp(log return)``; a venue that was closed that day did not
move, ``g = 1``). On a day whose log return is undefined (a non-positive price, e.g. WTI on 2020-04-20)
the day's absolute price change is applied to the as-of price: ``g = 1 + change / price_asof``.

* prices, index levels (``linear``): ``V (g_local * g_fx - 1)``, ``g_fx`` the move of the instrument's
  currency against USD (from the FX feed that quotes it; a currency without a feed, e.g. the pegged HKD,
  is not revalued and the report says so);
* FX rates quoted in USD, e.g. EURUSD (``fx_usd_quote``): ``V (g - 1)``, V the USD value of the foreign amount;
* USD-based FX rates, e.g. USDJPY (``fx_usd_base``): ``V (1 - 1 / g)``, V the USD amount held long;
* yields (``rates_dv01``): ``-dv01 * change in bp``.

The parametric method uses the first-order exposures of the same formulas to the factor returns.

A position is excluded and flagged when a feed it needs (its own, or the FX feed of its currency) was
rejected, is absent, or has no value on or before the as-of date. It is flagged but kept when its last
value is more than ``STALE_AFTER_SESSIONS`` venue sessions old, or when its history covers less than
``MIN_HISTORY_COVERAGE`` of the venue's sessions in the historical window (the missing days count as no move).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from risk_platform.data.calendars import sessions
from risk_platform.errors import ComputationError, InputError
from risk_platform.features.engineering import EWMA_LAMBDA
from risk_platform.portfolio.positions import Portfolio
from risk_platform.risk.measures import (
    ewma_covariance,
    historical_es_contributions,
    historical_var_es,
    parametric_var_es,
)

ALPHAS = (0.95, 0.99)
HS_WINDOW = 500
STALE_AFTER_SESSIONS = 3
MIN_HISTORY_COVERAGE = 0.9


@dataclass(frozen=True)
class RiskConfig:
    """Methodology settings; every figure in the report names the setting that produced it."""

    hs_window: int = HS_WINDOW
    ewma_lambda: float = EWMA_LAMBDA
    alphas: tuple[float, ...] = ALPHAS

    def __post_init__(self) -> None:
        if not {0.95, 0.99} <= set(self.alphas):
            raise ValueError("alphas must include 0.95 and 0.99 (the report's var_95/var_99/cvar_95/es_99)")


def fx_factors(instruments: pd.DataFrame) -> dict[str, tuple[str, int]]:
    """Currency -> (FX symbol, sign) where the sign turns the FX log return into the currency's move
    against USD: +1 for ``CCYUSD`` (USD per CCY), -1 for ``USDCCY`` (CCY per USD)."""
    out: dict[str, tuple[str, int]] = {}
    for row in instruments[instruments["quote_type"] == "fx_rate"].itertuples():
        if row.currency == "USD" and len(row.symbol) == 6 and row.symbol.endswith("USD"):
            out[row.symbol[:3]] = (row.symbol, 1)
        elif row.currency != "USD" and row.symbol.startswith("USD"):
            out[row.currency] = (row.symbol, -1)
    return out


def _kind(quote_type: str, currency: str) -> str:
    if quote_type == "yield_pct":
        return "rates_dv01"
    if quote_type == "fx_rate":
        return "fx_usd_quote" if currency == "USD" else "fx_usd_base"
    return "linear"


def value_positions(portfolio: Portfolio, panel: pd.DataFrame, instruments: pd.DataFrame,
                    asof: pd.Timestamp) -> tuple[pd.DataFrame, list[str]]:
    """Positions with ``kind, value_usd, price, price_date, stale, fx_symbol, fx_sign`` as of ``asof``.

    Returns the table and notes (e.g. currencies whose FX risk is not modelled). Symbols without a price
    get NaN values; the caller flags them.
    """
    inst = instruments.set_index("symbol")
    fx = fx_factors(instruments)
    last = last_values(panel, asof)
    book = portfolio.positions.copy()
    notes: list[str] = []
    kinds, fx_syms, fx_signs, prices, price_dates, values = [], [], [], [], [], []
    for row in book.itertuples():
        quote_type, currency = inst.at[row.symbol, "quote_type"], inst.at[row.symbol, "currency"]
        kind = _kind(quote_type, currency)
        fx_symbol, fx_sign = "", 0
        if kind == "linear" and currency != "USD":
            if currency in fx:
                fx_symbol, fx_sign = fx[currency]
            else:
                notes.append(f"{row.symbol}: no USD/{currency} feed, FX risk of this position not modelled")
        price = last["value"].get(row.symbol, np.nan)
        price_date = last["date"].get(row.symbol, pd.NaT)
        if not np.isnan(row.notional):
            value = row.notional
        else:
            fx_rate = 1.0
            if fx_symbol:
                rate = last["value"].get(fx_symbol, np.nan)
                fx_rate = rate if fx_sign > 0 else 1.0 / rate
            value = row.quantity * price * fx_rate
        kinds.append(kind)
        fx_syms.append(fx_symbol or "")
        fx_signs.append(fx_sign)
        prices.append(price)
        price_dates.append(price_date)
        values.append(value)
    book["kind"], book["fx_symbol"], book["fx_sign"] = kinds, fx_syms, fx_signs
    book["price"], book["price_date"], book["value_usd"] = prices, pd.to_datetime(price_dates), values
    return book, notes


def last_values(panel: pd.DataFrame, asof: pd.Timestamp) -> pd.DataFrame:
    """Per symbol, the last ``value`` and its ``date`` on or before ``asof``."""
    upto = panel[panel["date"] <= asof]
    return upto.sort_values("date").groupby("symbol").tail(1).set_index("symbol")[["date", "value"]]


def sessions_since(calendar: str, last_date: pd.Timestamp, asof: pd.Timestamp) -> int:
    """Venue sessions after ``last_date`` up to ``asof``: how many values a current feed would have added."""
    if last_date >= asof:
        return 0
    return len(sessions(calendar, last_date + pd.Timedelta(days=1), asof))


@dataclass(frozen=True)
class FactorHistory:
    """The last ``window`` dates (<= asof) on which any factor moved. Arrays have shape (n, k).

    ``returns``: log returns (bp for yields), 0 where the venue was closed; ``growth``: the price ratio to
    apply to today's value (``exp(r)``; on fallback days ``1 + change / price_asof``; 1 when closed);
    ``observed``: how many returns each factor has in the window.
    """

    dates: pd.DatetimeIndex
    factors: list[str]
    returns: np.ndarray
    growth: np.ndarray
    observed: np.ndarray


def factor_history(returns: pd.DataFrame, factors: list[str], asof: pd.Timestamp, window: int,
                   asof_levels: pd.Series) -> FactorHistory:
    """Scenario history of ``factors`` for historical simulation (see :class:`FactorHistory`)."""
    sub = returns[returns["symbol"].isin(factors) & (returns["date"] <= asof)]

    def wide(column: str) -> pd.DataFrame:
        table = sub.pivot(index="date", columns="symbol", values=column).reindex(columns=factors).sort_index()
        return table.iloc[-window:]

    ret, method, change = wide("ret"), wide("method"), wide("price_change")
    m = method.to_numpy(dtype=object)
    r = np.nan_to_num(ret.to_numpy(dtype=float))
    level = asof_levels.reindex(factors).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback_growth = np.where(level > 0, 1.0 + np.nan_to_num(change.to_numpy(dtype=float)) / level, 1.0 + r)
    growth = np.where(m == "log", np.exp(r), np.where(m == "arith_fallback", fallback_growth, 1.0))
    return FactorHistory(pd.DatetimeIndex(ret.index), factors, r, growth, ret.notna().sum().to_numpy())


def revalue(book: pd.DataFrame, factors: list[str], returns: np.ndarray, growth: np.ndarray) -> np.ndarray:
    """P&L per scenario and position, shape (n, m), by the formulas in the module docstring."""
    col = {f: i for i, f in enumerate(factors)}
    pnl = np.zeros((returns.shape[0], len(book)))
    for j, row in enumerate(book.itertuples()):
        g = growth[:, col[row.symbol]]
        if row.kind == "rates_dv01":
            pnl[:, j] = -row.dv01 * returns[:, col[row.symbol]]
        elif row.kind == "fx_usd_quote":
            pnl[:, j] = row.value_usd * (g - 1.0)
        elif row.kind == "fx_usd_base":
            pnl[:, j] = row.value_usd * (1.0 - 1.0 / g)
        else:
            g_fx = growth[:, col[row.fx_symbol]] ** row.fx_sign if row.fx_symbol else 1.0
            pnl[:, j] = row.value_usd * (g * g_fx - 1.0)
    return pnl


def exposures(book: pd.DataFrame, factors: list[str]) -> np.ndarray:
    """First-order USD exposure of each position to each factor return, shape (m, k)."""
    col = {f: i for i, f in enumerate(factors)}
    out = np.zeros((len(book), len(factors)))
    for j, row in enumerate(book.itertuples()):
        if row.kind == "rates_dv01":
            out[j, col[row.symbol]] = -row.dv01
        else:
            out[j, col[row.symbol]] = row.value_usd
            if row.kind == "linear" and row.fx_symbol:
                out[j, col[row.fx_symbol]] += row.fx_sign * row.value_usd
    return out


@dataclass(frozen=True)
class PortfolioRisk:
    """The risk report of one book on one date (losses positive, USD, 1 day)."""

    asof: str
    portfolio: str
    nav: float
    nav_source: str
    var_95: float
    var_99: float
    cvar_95: float
    es_99: float
    portfolio_volatility: float
    methods: dict
    positions: list[dict]
    vol_contribution: dict[str, float]
    largest_position_pct: float
    herfindahl_index: float
    flagged_positions: list[dict]
    coverage_pct_gross: float
    notes: list[str] = field(default_factory=list)
    bound_by: dict[str, str] = field(default_factory=dict)
    currency: str = "USD"
    horizon_days: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        hs, pm = self.methods["historical"], self.methods["parametric_ewma"]
        lines = [
            f"{self.portfolio} as of {self.asof}: NAV {self.nav:,.0f} {self.currency} ({self.nav_source})",
            f"  historical ({hs['n_scenarios']} days {hs['window_start']}..{hs['window_end']}):"
            f" VaR95 {hs['var_95']:,.0f}  VaR99 {hs['var_99']:,.0f}  ES95 {hs['es_95']:,.0f}  ES99 {hs['es_99']:,.0f}",
            f"  parametric EWMA(lambda {pm['lambda']}): VaR95 {pm['var_95']:,.0f}  VaR99 {pm['var_99']:,.0f}"
            f"  ES99 {pm['es_99']:,.0f}  daily vol {self.portfolio_volatility:,.0f}",
            f"  largest position {self.largest_position_pct:.1f}% of NAV, HHI {self.herfindahl_index:.3f},"
            f" coverage {self.coverage_pct_gross:.1f}% of gross",
        ]
        lines += [f"  FLAGGED {f['symbol']}: {f['reason']}" for f in self.flagged_positions]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def compute_portfolio_risk(portfolio: Portfolio, panel: pd.DataFrame, returns: pd.DataFrame,
                           instruments: pd.DataFrame, asof: pd.Timestamp | None = None,
                           unavailable: dict[str, str] | None = None,
                           config: RiskConfig = RiskConfig()) -> PortfolioRisk:
    """Risk of ``portfolio`` on ``asof`` (default: the last date of the panel).

    ``unavailable`` maps symbols that must not be used (e.g. feeds rejected by the gate) to the reason;
    positions depending on them, or on a symbol without prices, are excluded and flagged.
    """
    if panel.empty:
        raise InputError("no market data: every feed was rejected or the panel is empty")
    asof = pd.Timestamp(asof) if asof is not None else panel["date"].max()
    if asof < panel["date"].min():
        raise InputError(f"asof {asof:%Y-%m-%d} is before the first market data ({panel['date'].min():%Y-%m-%d})")
    book, notes = value_positions(portfolio, panel, instruments, asof)
    last = last_values(panel, asof)
    calendar_of = instruments.set_index("symbol")["calendar"]
    flagged: list[dict] = []
    keep = np.ones(len(book), dtype=bool)
    for j, row in enumerate(book.itertuples()):
        problem, stale = None, []
        for dep in filter(None, (row.symbol, row.fx_symbol)):
            if dep in (unavailable or {}):
                problem = f"depends on {dep}: {unavailable[dep]}"
            elif dep not in last.index:
                problem = f"depends on {dep}: no value on or before {asof:%Y-%m-%d}"
            else:
                lag = sessions_since(calendar_of[dep], last.at[dep, "date"], asof)
                if lag > STALE_AFTER_SESSIONS:
                    stale.append(f"{dep} last valued {last.at[dep, 'date']:%Y-%m-%d} ({lag} sessions before asof)")
            if problem:
                break
        notional = _finite(row.value_usd) if problem is None else _finite(getattr(row, "notional", np.nan))
        if problem:
            keep[j] = False
            flagged.append({"symbol": row.symbol, "reason": problem, "excluded": True, "notional": notional})
        elif stale:
            flagged.append({"symbol": row.symbol, "reason": "stale price: " + "; ".join(stale), "excluded": False,
                            "notional": notional})
    book["stale"] = [any(f["symbol"] == s and not f["excluded"] for f in flagged) for s in book["symbol"]]
    gross_all = float(np.abs(book["value_usd"].where(keep, book["notional"])).fillna(0.0).sum())
    book = book[keep].reset_index(drop=True)
    if book.empty:
        raise InputError("no position can be valued: every position depends on an unavailable feed")
    factors = sorted((set(book["symbol"]) | set(book["fx_symbol"])) - {""})
    history = factor_history(returns, factors, asof, config.hs_window, last["value"])
    dates = history.dates
    if len(dates) < config.hs_window:
        raise ComputationError(
            f"only {len(dates)} days of returns up to {asof:%Y-%m-%d}; historical simulation needs {config.hs_window}"
        )
    flagged += _short_histories(book, history, calendar_of)
    rets, growth = history.returns, history.growth
    pnl = revalue(book, factors, rets, growth)
    total = pnl.sum(axis=1)
    hs = {a: historical_var_es(total, a) for a in config.alphas}
    hs_contrib = {a: historical_es_contributions(pnl, a) for a in config.alphas}
    cov = ewma_covariance(rets, config.ewma_lambda)
    param = parametric_var_es(exposures(book, factors), cov, config.alphas)
    values = book["value_usd"].to_numpy(dtype=float)
    gross = np.abs(values).sum()
    nav = portfolio.nav if np.isfinite(portfolio.nav) else gross
    shares = np.abs(values) / gross
    positions = [
        {
            "symbol": row.symbol,
            "kind": row.kind,
            "value_usd": float(row.value_usd),
            "weight_pct_nav": float(100 * row.value_usd / nav),
            "price": _finite(row.price),
            "price_date": row.price_date.strftime("%Y-%m-%d"),
            "stale": bool(row.stale),
            "hs_es_99_contribution": float(hs_contrib[0.99][j]),
            "param_var_99_contribution": float(param.var_contributions[0.99][j]),
            "vol_contribution": float(param.vol_contributions[j]),
        }
        for j, row in enumerate(book.itertuples())
    ]
    hs_window = f"historical_simulation({config.hs_window}d)"
    return PortfolioRisk(
        asof=asof.strftime("%Y-%m-%d"),
        portfolio=portfolio.name,
        nav=float(nav),
        nav_source=portfolio.nav_source,
        var_95=hs[0.95].var,
        var_99=hs[0.99].var,
        cvar_95=hs[0.95].es,
        es_99=hs[0.99].es,
        portfolio_volatility=param.sigma,
        methods={
            "historical": {
                "n_scenarios": len(dates),
                "window_start": dates[0].strftime("%Y-%m-%d"),
                "window_end": dates[-1].strftime("%Y-%m-%d"),
                **{f"var_{round(a * 100)}": hs[a].var for a in config.alphas},
                **{f"es_{round(a * 100)}": hs[a].es for a in config.alphas},
            },
            "parametric_ewma": {
                "lambda": config.ewma_lambda,
                "sigma": param.sigma,
                **{f"var_{round(a * 100)}": param.tails[a].var for a in config.alphas},
                **{f"es_{round(a * 100)}": param.tails[a].es for a in config.alphas},
            },
        },
        positions=positions,
        vol_contribution={p["symbol"]: p["vol_contribution"] for p in positions},
        largest_position_pct=float(100 * np.abs(values).max() / nav),
        herfindahl_index=float((shares**2).sum()),
        flagged_positions=flagged,
        coverage_pct_gross=float(100 * gross / gross_all) if gross_all else 0.0,
        notes=notes,
        bound_by={"var_95": hs_window, "var_99": hs_window, "cvar_95": hs_window, "es_99": hs_window,
                  "portfolio_volatility": f"ewma_covariance(lambda={config.ewma_lambda})"},
    )


def _short_histories(book: pd.DataFrame, history: FactorHistory, calendar_of: pd.Series) -> list[dict]:
    """Flags for positions whose feeds cover too few of their venue's sessions in the historical window."""
    coverage = {}
    for i, factor in enumerate(history.factors):
        expected = len(sessions(calendar_of[factor], history.dates[0], history.dates[-1]))
        coverage[factor] = history.observed[i] / expected if expected else 0.0
    flags = []
    for row in book.itertuples():
        worst = min((coverage[d], d) for d in filter(None, (row.symbol, row.fx_symbol)))
        if worst[0] < MIN_HISTORY_COVERAGE:
            flags.append({"symbol": row.symbol, "excluded": False, "notional": _finite(row.value_usd),
                          "reason": f"short history: {worst[1]} has returns on {worst[0]:.0%} of its venue's"
                          f" sessions in the {len(history.dates)}-day window (missing days count as no move)"})
    return flags


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
