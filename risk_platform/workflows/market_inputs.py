"""The gated market inputs of the risk engine: prices and instruments -> the missing-data gate -> the accepted
panel -> returns, with the feeds the engine must not use and why.

:func:`gated_market_inputs` is the one builder of the command line, the benchmarks and the tests. The pipeline
runs the same steps as assets (``market_panel``: :func:`~risk_platform.data.quality.gate_delivery` and
:func:`~risk_platform.data.quality.accepted_panel`; ``returns``: :func:`compute_returns`) and puts their stored
values back together with :func:`stored_market_inputs`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from risk_platform.data.quality import GateOutcome, accepted_panel, gate_delivery
from risk_platform.features.returns import compute_returns

REJECTED_BY_GATE = "feed rejected by the missing-data gate"


@dataclass(frozen=True)
class MarketInputs:
    """What the risk engine takes from the market: the accepted panel (``date, symbol, value``), its returns
    (:attr:`~risk_platform.features.returns.Returns.frame`), the instruments, and ``unavailable``: symbol ->
    why the engine must not use it. ``gate``: the gate's outcome when built here (None when rebuilt from the
    pipeline's stored assets)."""

    instruments: pd.DataFrame
    panel: pd.DataFrame
    returns: pd.DataFrame
    unavailable: dict[str, str]
    gate: GateOutcome | None = None


def unavailable_feeds(rejected: Iterable[str]) -> dict[str, str]:
    """The gate's rejected feeds as the engine's unavailable symbols, with the reason."""
    return {symbol: REJECTED_BY_GATE for symbol in rejected}


def gated_market_inputs(raw: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any], *,
                        window_start: pd.Timestamp | None = None, window_end: pd.Timestamp | None = None,
                        gx: bool = False, quarantine_dir: Path | None = None,
                        symbols: Iterable[str] | None = None) -> MarketInputs:
    """The gate on the delivery (:attr:`RawPrices.frame`), then the accepted panel and its returns.
    ``symbols``: keep only these in the panel and returns (the gate still judges the whole delivery)."""
    gate = gate_delivery(raw, instruments, suite, window_start=window_start, window_end=window_end, gx=gx,
                         quarantine_dir=quarantine_dir)
    kept = raw if symbols is None else raw[raw["symbol"].isin(list(symbols))]
    panel = accepted_panel(kept, instruments, gate.decision)
    return MarketInputs(instruments, panel, compute_returns(panel, instruments).frame,
                        unavailable_feeds(gate.decision.rejected), gate)


def stored_market_inputs(instruments: pd.DataFrame, panel: pd.DataFrame, returns: pd.DataFrame,
                         feed_quality: pd.DataFrame) -> MarketInputs:
    """The inputs from the pipeline's assets: ``feed_quality`` (the gate's per-feed table, ``accepted``
    column) names the unavailable feeds."""
    rejected = feed_quality.loc[~feed_quality["accepted"].astype(bool), "symbol"]
    return MarketInputs(instruments, panel, returns, unavailable_feeds(rejected))
