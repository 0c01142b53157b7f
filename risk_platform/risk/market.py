"""The market side of a risk run, prepared once per as-of date and shared by every book assessed on it.

:func:`prepare_market` turns the long panel and returns into arrays: the full return history of every
usable feed up to the as-of date (dates on which any feed moved; 0 where a venue was closed), growth factors
against the as-of levels (the price-change fallback of non-positive prices included), per-feed EWMA
conditional variances (:mod:`risk_platform.ewma`, for filtered historical simulation), the market volatility
regime of every day (:func:`risk_platform.regime.market_regime`), the feeds that are unusable (rejected,
absent) or stale against the as-of date, and each usable feed's age against the evaluation date (the clock:
today, UTC, unless a historical run sets it; :func:`clock_staleness` says when the data are too old).
Everything here is independent of the positions,
so an intraday run re-assesses a changed book without rebuilding it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from risk_platform.data.calendars import sessions
from risk_platform.errors import InputError
from risk_platform.ewma import EWMA_LAMBDA, ewma_variance, ewma_variance_forecast
from risk_platform.regime import REGIMES, UNKNOWN, RegimeRule, market_regime, volatility_rank
from risk_platform.risk.config import MAX_DATA_AGE_SESSIONS, STALE_AFTER_SESSIONS


@lru_cache(maxsize=4096)
def session_count(calendar: str, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """Number of venue sessions in ``[start, end]`` (cached: windows repeat across books)."""
    if end < start:
        return 0
    return len(sessions(calendar, start, end))


@dataclass(frozen=True)
class MarketState:
    """Arrays over ``n`` dates (oldest first, all <= ``asof``) and ``k`` usable feeds (``symbols``)."""

    asof: pd.Timestamp
    symbols: tuple[str, ...]
    dates: pd.DatetimeIndex
    returns: np.ndarray  # (n, k) log returns / bp, 0 where closed
    growth: np.ndarray  # (n, k) price ratio to apply to today's level, 1 where closed
    observed: np.ndarray  # (n, k) bool
    is_bp: np.ndarray  # (k,) yields
    cond_var: np.ndarray  # (n, k) EWMA variance of day t's return known at t-1 (NaN before warm-up)
    next_var: np.ndarray  # (k,) EWMA variance forecast for the day after asof
    regimes: pd.Series  # market regime of each date (low / normal / high / unknown)
    last_value: pd.Series  # symbol -> last value on or before asof (every symbol of the panel)
    last_date: pd.Series
    unusable: dict  # symbol -> why it cannot be used
    stale: dict  # symbol -> staleness description
    instruments: pd.DataFrame  # indexed by symbol
    evaluation_date: pd.Timestamp  # the day the data's age is measured on (today, UTC, by default)
    age: dict  # usable symbol -> venue sessions after its last value up to the evaluation date
    ewma_lambda: float = EWMA_LAMBDA
    flag_points: pd.DataFrame | None = None  # the plausibility gate's removed and unconfirmed points (data_flags)
    derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)  # figures computed once per
    #   market state, shared by every book assessed on it (e.g. the crisis correlation): see :meth:`once`

    def once(self, key: tuple, compute):
        """``compute()`` the first time ``key`` is asked for on this market, the stored value afterwards (the
        market's arrays never change, so neither do figures derived from them alone)."""
        if key not in self.derived:
            self.derived[key] = compute()
        return self.derived[key]

    def columns(self, factors: list[str]) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.symbols)}
        return np.array([index[f] for f in factors], dtype=int)

    def first_observed(self) -> pd.Series:
        """Per symbol, the first date with a return."""
        first = np.argmax(self.observed, axis=0)
        return pd.Series(self.dates[first], index=list(self.symbols))

    def current_regime(self) -> str:
        return str(self.regimes.iloc[-1]) if len(self.regimes) else UNKNOWN

    def regime_transition_probability(self) -> dict[str, float]:
        """Non-model regime probability for the next day: the empirical Markov transition frequencies out of
        today's regime over the history (a first-order Markov chain on the daily regime labels)."""
        labels = self.regimes.to_numpy()
        today = labels[-1] if len(labels) else UNKNOWN
        prev, nxt = labels[:-1], labels[1:]
        mask = (prev == today) & np.isin(nxt, REGIMES)
        if today not in REGIMES or not mask.any():
            return {r: float("nan") for r in REGIMES}
        return {r: float(np.mean(nxt[mask] == r)) for r in REGIMES}


def last_values(panel: pd.DataFrame, asof: pd.Timestamp) -> pd.DataFrame:
    """Per symbol, the last ``value`` and its ``date`` on or before ``asof``."""
    upto = panel[panel["date"] <= asof]
    return upto.sort_values("date").groupby("symbol").tail(1).set_index("symbol")[["date", "value"]]


def sessions_since(calendar: str, last_date: pd.Timestamp, asof: pd.Timestamp) -> int:
    """Venue sessions after ``last_date`` up to ``asof``: how many values a current feed would have added."""
    if last_date >= asof:
        return 0
    return session_count(calendar, last_date + pd.Timedelta(days=1), asof)


def today_utc() -> pd.Timestamp:
    """Today's date in UTC (midnight, naive like the panel's dates)."""
    return pd.Timestamp.now(tz="UTC").normalize().tz_localize(None)


def evaluation_day(evaluation_date: pd.Timestamp | None, asof: pd.Timestamp) -> pd.Timestamp:
    """The evaluation date (None: today, UTC); :class:`InputError` when it is after today or before ``asof``."""
    today = today_utc()
    day = today if evaluation_date is None else pd.Timestamp(evaluation_date).normalize()
    if day > today:
        raise InputError(f"evaluation date {day:%Y-%m-%d} is after today ({today:%Y-%m-%d}, UTC)")
    if day < asof:
        raise InputError(f"evaluation date {day:%Y-%m-%d} is before the as-of date {asof:%Y-%m-%d}"
                         " (the as-of date is the date of the market data used)")
    return day


def clock_staleness(market: MarketState, limit: int = MAX_DATA_AGE_SESSIONS) -> str:
    """Why the market's data are stale against the clock (usable feeds more than ``limit`` venue sessions old
    on the evaluation date, the oldest named), or ``''`` when every feed is within the limit."""
    old = sorted((-age, symbol) for symbol, age in market.age.items() if age > limit)
    if not old:
        return ""
    symbol, age = old[0][1], -old[0][0]
    more = f" and {len(old) - 1} more" if len(old) > 1 else ""
    return (f"{len(old)} of {len(market.age)} feeds more than {limit} sessions old on the evaluation date"
            f" {market.evaluation_date:%Y-%m-%d}: {symbol} last valued {market.last_date[symbol]:%Y-%m-%d}"
            f" ({age} sessions){more}")


def prepare_market(panel: pd.DataFrame, returns: pd.DataFrame, instruments: pd.DataFrame,
                   asof: pd.Timestamp | None = None, unavailable: dict[str, str] | None = None,
                   ewma_lambda: float = EWMA_LAMBDA, rule: RegimeRule | None = None,
                   evaluation_date: pd.Timestamp | None = None,
                   flag_points: pd.DataFrame | None = None) -> MarketState:
    """Market arrays on ``asof`` (default: the last date of the panel), feed ages on ``evaluation_date``
    (default: today, UTC; :func:`evaluation_day`); ``flag_points``: the plausibility gate's removed and
    unconfirmed points (:func:`risk_platform.data.plausibility.flag_points`), kept for the report's data flags;
    see :class:`MarketState`."""
    rule = rule or RegimeRule()
    if panel.empty:
        raise InputError("no market data: every feed was rejected or the panel is empty")
    asof = pd.Timestamp(asof) if asof is not None else panel["date"].max()
    if asof < panel["date"].min():
        raise InputError(f"asof {asof:%Y-%m-%d} is before the first market data ({panel['date'].min():%Y-%m-%d})")
    evaluation = evaluation_day(evaluation_date, asof)
    unavailable = dict(unavailable or {})
    inst = instruments.set_index("symbol")
    last = last_values(panel, asof)
    unusable: dict[str, str] = {s: r for s, r in unavailable.items()}
    for symbol in inst.index:
        if symbol not in unusable and symbol not in last.index:
            unusable[symbol] = f"no value on or before {asof:%Y-%m-%d}"
    stale = {}
    for symbol, row in last.iterrows():
        if symbol in unusable or symbol not in inst.index:
            continue
        lag = sessions_since(inst.at[symbol, "calendar"], row["date"], asof)
        if lag > STALE_AFTER_SESSIONS:
            stale[symbol] = f"{symbol} last valued {row['date']:%Y-%m-%d} ({lag} sessions before asof)"
    usable = [s for s in sorted(last.index) if s not in unusable and s in inst.index]
    age = {s: sessions_since(inst.at[s, "calendar"], last.at[s, "date"], evaluation) for s in usable}
    sub = returns[returns["symbol"].isin(usable) & (returns["date"] <= asof)]
    if sub.empty:
        raise InputError(f"no returns on or before {asof:%Y-%m-%d}")

    def wide(column: str) -> pd.DataFrame:
        return sub.pivot(index="date", columns="symbol", values=column).reindex(columns=usable).sort_index()

    ret, method, change = wide("ret"), wide("method"), wide("price_change")
    m = method.to_numpy(dtype=object)
    observed = ret.notna().to_numpy()
    r = np.nan_to_num(ret.to_numpy(dtype=float))
    level = last["value"].reindex(usable).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        fallback = np.where(level > 0, 1.0 + np.nan_to_num(change.to_numpy(dtype=float)) / level, 1.0 + r)
    growth = np.where(m == "log", np.exp(r), np.where(m == "arith_fallback", fallback, 1.0))
    is_bp = inst.loc[usable, "quote_type"].eq("yield_pct").to_numpy()
    cond_var, next_var, vol_rank = _ewma_by_feed(r, observed, ewma_lambda, rule)
    regimes = market_regime(pd.DataFrame(vol_rank, index=ret.index), rule)
    return MarketState(asof=asof, symbols=tuple(usable), dates=pd.DatetimeIndex(ret.index), returns=r,
                       growth=growth, observed=observed, is_bp=is_bp, cond_var=cond_var, next_var=next_var,
                       regimes=regimes, last_value=last["value"], last_date=last["date"], unusable=unusable,
                       stale=stale, instruments=inst, evaluation_date=evaluation, age=age,
                       ewma_lambda=ewma_lambda, flag_points=flag_points)


def _ewma_by_feed(r: np.ndarray, observed: np.ndarray, lam: float, rule: RegimeRule
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per feed, on its own observed days (:mod:`risk_platform.ewma`): the EWMA variance of day t known at t-1
    (``cond``, carried forward over closed days), the forecast for the day after the last one, and the
    volatility rank of :func:`risk_platform.regime.volatility_rank` (NaN on closed days:
    :func:`~risk_platform.regime.market_regime` carries it)."""
    n, k = r.shape
    cond = np.full((n, k), np.nan)
    rank = np.full((n, k), np.nan)
    nxt = np.full(k, np.nan)
    for j in range(k):
        rows = np.flatnonzero(observed[:, j])
        if not len(rows):
            continue
        x = r[rows, j]
        s2 = ewma_variance(x, lam)
        nxt[j] = s2[-1]
        cond[:, j] = _carry(rows, ewma_variance_forecast(x, lam), n)
        rank[rows, j] = volatility_rank(np.sqrt(s2), rule)
    return cond, nxt, rank


def _carry(rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Values on ``rows`` spread over ``n`` rows, the last known value carried forward (NaN before)."""
    out = np.full(n, np.nan)
    out[rows] = values
    return pd.Series(out).ffill().to_numpy()
