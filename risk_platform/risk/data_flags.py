"""Which figures a flagged market data point affects: the plausibility gate's suspect points (removed from the
panel) and unconfirmed latest points (kept; :mod:`risk_platform.data.plausibility`), stated per point for one
book on one market.

For each point: the book's positions that need the feed (own, FX or VIX feed: :func:`valuation.dependencies`)
with their exposure; the methods whose data span contains the date (historical simulation, the EWMA
parametric method and conditional EVT: the historical window; the vine copula fitted here: its last
``copula_window`` days; filtered HS, the regime blend and the model methods: the whole history up to the as-of
date, through the EWMA variances, the regime calibration and the models' features); the headline figures bound
by one of those methods; the historical stress replays whose window contains the date; and the valuation: a
removed latest price means the positions are valued at the previous price, a kept unconfirmed one that the
figures use that price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from risk_platform.data.plausibility import REMOVED
from risk_platform.risk import methods as M
from risk_platform.risk.config import RiskConfig
from risk_platform.risk.market import MarketState
from risk_platform.risk.stress import StressResult
from risk_platform.risk.valuation import ValuedBook, dependencies

WINDOW_METHODS = ("historical", "parametric_ewma", "conditional_evt")  # their data: the historical window only
COPULA = "vine_copula"


@dataclass(frozen=True)
class DataFlag:
    """One flagged point and the figures it affects (``statement``: the report's one line)."""

    symbol: str
    date: str
    value: str
    status: str  # removed | unconfirmed
    rule: str
    why: str
    file: str
    times_limit: float | None
    positions: dict[str, float]  # position -> exposure USD
    exposure_usd: float
    methods: list[str]
    headline: list[str]
    stress: list[str]
    valuation: str
    unconfirmed_price_used: bool  # the figures value the book at this kept, unconfirmed latest price
    statement: str

    def to_dict(self) -> dict:
        return asdict(self)


def _spans(valued: ValuedBook, market: MarketState, config: RiskConfig
           ) -> dict[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """The dates of the historical window, of the copula fit and of the whole history."""
    dates, factors = market.dates, valued.factors
    rows = factors.history[-config.copula_window:]
    return {"window": (dates[factors.window[0]], dates[factors.window[-1]]), "history": (dates[0], market.asof),
            COPULA: (dates[rows[0]], dates[rows[-1]])}


def _method_span(name: str, spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]]) -> tuple[pd.Timestamp, pd.Timestamp]:
    if name in WINDOW_METHODS:
        return spans["window"]
    return spans.get(name, spans["history"])


def _replay_contains(result: StressResult, date: pd.Timestamp) -> bool:
    """A historical replay whose window (``details['window']``: 'start..end') contains ``date``."""
    window = result.details.get("window", "")
    if result.kind != "historical_replay" or ".." not in window:
        return False
    start, end = (pd.Timestamp(x) for x in window.split(".."))
    return start <= date <= end


def _valuation(point, market: MarketState) -> str:
    """What the point does to the valuation of the positions on the feed."""
    symbol, date = point.symbol, point.date
    if date > market.asof:
        return f"dated after the as-of date {market.asof:%Y-%m-%d}: no figure uses it"
    if symbol not in market.last_date.index:
        return f"{symbol} has no value on or before the as-of date: its positions are excluded"
    last_date = market.last_date[symbol]
    if point.status == REMOVED and date > last_date:
        return (f"the removed point was {symbol}'s latest price: positions valued at the previous price"
                f" {market.last_value[symbol]:.6g} of {last_date:%Y-%m-%d}")
    if point.status != REMOVED and date == last_date:
        return (f"the headline figures use an unconfirmed price for {symbol} ({point.value} on {date:%Y-%m-%d}),"
                f" a move {point.times_limit:.1f} x the plausibility limit")
    return "valuation unaffected (not the latest price)"


def _statement(flag: dict) -> str:
    positions = (", ".join(flag["positions"]) + f" (exposure {flag['exposure_usd']:,.0f} USD)"
                 if flag["positions"] else "no position of this book")
    return (f"{flag['symbol']} {flag['date']} value {flag['value']} {flag['status'].upper()} ({flag['why']}):"
            f" positions {positions}; methods {', '.join(flag['methods']) or 'none'};"
            f" headline {', '.join(flag['headline']) or 'none'}; stress replays {', '.join(flag['stress']) or 'none'};"
            f" {flag['valuation']}")


def _flag(point, held: np.ndarray, valued: ValuedBook, market: MarketState, spans: dict, results: dict,
          headline: dict[str, M.MethodResult], stress_results: dict[str, StressResult]) -> DataFlag:
    """The :class:`DataFlag` of one point, ``held``: which positions need its feed."""
    labels, exposure = valued.arrays.labels, valued.arrays.exposure_usd
    used = bool(held.any()) and point.date <= market.asof
    methods = [name for name in results if used and spans_contain(_method_span(name, spans), point.date)]
    in_use = used and point.status != REMOVED and point.date == market.last_date.get(point.symbol)
    flag = {
        "symbol": point.symbol, "date": f"{point.date:%Y-%m-%d}", "value": str(point.value),
        "status": point.status, "rule": point.rule, "why": point.why, "file": str(point.file),
        "times_limit": None if pd.isna(point.times_limit) else float(point.times_limit),
        "positions": {labels[i]: float(exposure[i]) for i in np.flatnonzero(held)},
        "exposure_usd": float(np.abs(exposure[held]).sum()), "methods": methods,
        "headline": [key for key, res in headline.items() if res.name in methods],
        "stress": [name for name, res in stress_results.items() if used and _replay_contains(res, point.date)],
        "valuation": _valuation(point, market) if held.any() else "no position of this book needs the feed",
        "unconfirmed_price_used": bool(in_use),
    }
    return DataFlag(**flag, statement=_statement(flag))


def spans_contain(span: tuple[pd.Timestamp, pd.Timestamp], date: pd.Timestamp) -> bool:
    return span[0] <= date <= span[1]


def data_flags(valued: ValuedBook, market: MarketState, config: RiskConfig, results: dict[str, M.MethodResult],
               headline: dict[str, M.MethodResult], stress_results: dict[str, StressResult]) -> list[DataFlag]:
    """One :class:`DataFlag` per point of ``market.flag_points`` (none when the market has none)."""
    points = market.flag_points
    if points is None or points.empty:
        return []
    spans = _spans(valued, market, config)
    needs = np.column_stack(dependencies(valued.table))
    return [_flag(point, (needs == point.symbol).any(axis=1), valued, market, spans, results, headline, stress_results)
            for point in points.assign(date=pd.to_datetime(points["date"])).itertuples()]
