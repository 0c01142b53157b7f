"""The files that come in: market data (prices and instruments) with the gate's folders, the positions file of
the book under risk, and the landing folders the sensors watch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from risk_platform.data.loading import RawPrices, load_instruments, load_prices
from risk_platform.data.plausibility import PLAUSIBILITY_SUITE
from risk_platform.data.quality import COMPLETENESS_SUITE, GateOutcome, gate_delivery, load_suite
from risk_platform.portfolio.positions import Portfolio, load_portfolio


class MarketDataResource(dg.ConfigurableResource):
    """Where market data comes from (a prices file or a directory of vendor files) and where the gate
    keeps its records (quarantined files, GX validation results)."""

    prices_path: str
    instruments_path: str
    expectations_dir: str
    quarantine_dir: str
    validations_dir: str
    window_start: str | None = None
    window_end: str | None = None

    def instruments(self) -> pd.DataFrame:
        return load_instruments(self.instruments_path)

    def load(self, instruments: pd.DataFrame) -> RawPrices:
        return load_prices(self.prices_path, instruments)

    def completeness_suite(self) -> dict[str, Any]:
        return load_suite(Path(self.expectations_dir) / f"{COMPLETENESS_SUITE}.json")

    def gate(self, raw: pd.DataFrame, instruments: pd.DataFrame) -> GateOutcome:
        """The gate (plausibility and missing data) with GX on the delivery, over the configured window; the GX
        results and the quarantined files go to this resource's folders."""
        return gate_delivery(raw, instruments, self.completeness_suite(),
                             window_start=pd.Timestamp(self.window_start) if self.window_start else None,
                             window_end=pd.Timestamp(self.window_end) if self.window_end else None,
                             gx=True, validations_dir=Path(self.validations_dir),
                             quarantine_dir=Path(self.quarantine_dir),
                             plausibility_suite=load_suite(Path(self.expectations_dir) / f"{PLAUSIBILITY_SUITE}.json"))


class PortfolioResource(dg.ConfigurableResource):
    """The positions file of the book under risk."""

    positions_path: str

    def load(self, instruments: pd.DataFrame) -> Portfolio:
        return load_portfolio(self.positions_path, instruments)


class LandingResource(dg.ConfigurableResource):
    """Landing folders watched by the sensors: new market-data files (CSV/Parquet, the long prices format)
    and new positions files (CSV/YAML)."""

    prices_dir: str
    positions_dir: str
