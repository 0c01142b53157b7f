"""The gated market inputs of the risk engine: prices and instruments -> the gate (plausibility, then missing data)
-> the accepted panel without its suspect points -> returns, with the feeds the engine must not use and why, and
the feeds flagged because suspect points were removed from them.

:func:`gated_market_inputs` is the one builder of the command line, the benchmarks and the tests. The pipeline
runs the same steps as assets (``market_panel``: :func:`~risk_platform.data.quality.gate_delivery` and
:meth:`~risk_platform.data.quality.GateOutcome.panel`; ``returns``: :func:`compute_returns`) and puts their stored
values back together with :func:`stored_market_inputs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from risk_platform.data.plausibility import SUSPECT_COLUMNS, flag_points, flag_points_from_json
from risk_platform.data.quality import GateOutcome, gate_delivery
from risk_platform.features.returns import compute_returns

REJECTED_BY_GATE = "feed rejected by the missing-data gate"
REJECTED_AS_IMPLAUSIBLE = "feed rejected by the plausibility gate (too many suspect points in its last 63 sessions)"


@dataclass(frozen=True)
class MarketInputs:
    """What the risk engine takes from the market: the accepted panel (``date, symbol, value``), its returns
    (:attr:`~risk_platform.features.returns.Returns.frame`), the instruments, and ``unavailable``: symbol ->
    why the engine must not use it; ``flagged``: symbol -> the suspect points removed from a feed still used
    (the figures that depend on it rest on a panel with those days left out). ``gate``: the gate's outcome when
    built here (None when rebuilt from the pipeline's stored assets). ``flag_points``: the removed suspect points
    and the kept unconfirmed latest points (:func:`~risk_platform.data.plausibility.flag_points`), which the
    risk report's ``data_flags`` trace to the figures they affect."""

    instruments: pd.DataFrame
    panel: pd.DataFrame
    returns: pd.DataFrame
    unavailable: dict[str, str]
    gate: GateOutcome | None = None
    flagged: dict[str, str] = field(default_factory=dict)
    flag_points: pd.DataFrame = field(default_factory=lambda: flag_points(pd.DataFrame(columns=SUSPECT_COLUMNS)))


def unavailable_feeds(rejected: Iterable[str], implausible: Iterable[str] = ()) -> dict[str, str]:
    """The gate's rejected feeds as the engine's unavailable symbols, with the reason (the plausibility gate's
    when both reject a feed: its suspect points, removed, also count as missing)."""
    reasons = {symbol: REJECTED_BY_GATE for symbol in rejected}
    return reasons | {symbol: REJECTED_AS_IMPLAUSIBLE for symbol in implausible}


def flagged_feeds(outcome: GateOutcome) -> dict[str, str]:
    """Per accepted feed with suspect points removed: how many, their dates and why (one line)."""
    suspects = outcome.suspects
    flags = {}
    for symbol in outcome.flagged:
        rows = suspects[suspects["symbol"] == symbol]
        days = ", ".join(f"{r.date:%Y-%m-%d} ({r.rule})" for r in rows.itertuples())
        flags[symbol] = f"{len(rows)} suspect point(s) removed by the plausibility gate: {days}"
    return flags


def gated_market_inputs(raw: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any], *,
                        window_start: pd.Timestamp | None = None, window_end: pd.Timestamp | None = None,
                        gx: bool = False, quarantine_dir: Path | None = None,
                        symbols: Iterable[str] | None = None,
                        evaluation_date: pd.Timestamp | None = None) -> MarketInputs:
    """The gate on the delivery (:attr:`RawPrices.frame`), then the accepted panel and its returns.
    ``symbols``: keep only these in the panel and returns (the gate still judges the whole delivery);
    ``evaluation_date``: later rows are suspect (today by default)."""
    gate = gate_delivery(raw, instruments, suite, window_start=window_start, window_end=window_end, gx=gx,
                         quarantine_dir=quarantine_dir, evaluation_date=evaluation_date)
    kept = raw if symbols is None else raw[raw["symbol"].isin(list(symbols))]
    panel = gate.panel(kept, instruments)
    implausible = gate.plausibility.rejected if gate.plausibility is not None else ()
    return MarketInputs(instruments, panel, compute_returns(panel, instruments).frame,
                        unavailable_feeds(gate.decision.rejected, implausible), gate, flagged_feeds(gate),
                        gate.flag_points())


def stored_market_inputs(instruments: pd.DataFrame, panel: pd.DataFrame, returns: pd.DataFrame,
                         feed_quality: pd.DataFrame) -> MarketInputs:
    """The inputs from the pipeline's assets: ``feed_quality`` (:meth:`GateOutcome.feed_table`: ``accepted``,
    ``suspect_points``, ``flag_points_json`` per feed) names the unavailable and the flagged feeds and points."""
    accepted = feed_quality["accepted"].astype(bool)
    removed = feed_quality.get("suspect_points", pd.Series(0, index=feed_quality.index)).fillna(0).astype(int)
    flagged = {r.symbol: f"{n} suspect point(s) removed by the plausibility gate"
               for r, n in zip(feed_quality.itertuples(), removed, strict=True) if r.accepted and n}
    points = flag_points_from_json(dict(zip(feed_quality["symbol"], feed_quality.get(
        "flag_points_json", pd.Series("[]", index=feed_quality.index)), strict=True)))
    return MarketInputs(instruments, panel, returns, unavailable_feeds(feed_quality.loc[~accepted, "symbol"]),
                        flagged=flagged, flag_points=points)
