"""Shared fixtures: the real bundled panel, and helpers that write modified copies of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from risk_platform import paths
from risk_platform.data.calendars import sessions
from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.data.quality import load_suite
from risk_platform.project_config import CONFIG_ENV, SETTINGS

SUITE_PATH = Path(__file__).resolve().parents[1] / "expectations" / "market_panel_completeness.json"


@pytest.fixture(scope="session", autouse=True)
def bundled_project_config(tmp_path_factory) -> Path:
    """Every test starts on the bundled data whatever the developer's environment or ``risk_platform.yaml`` names:
    an empty project file and none of the data variables (a test that needs others sets them)."""
    empty = tmp_path_factory.mktemp("project") / "risk_platform.yaml"
    empty.write_text("")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_ENV, str(empty))
        for setting in SETTINGS.values():
            patch.delenv(setting.env, raising=False)
        yield empty


@pytest.fixture(scope="session")
def instruments() -> pd.DataFrame:
    return load_instruments(paths.BUNDLED_INSTRUMENTS)


@pytest.fixture(scope="session")
def raw(instruments):
    return load_prices(paths.BUNDLED_PRICES, instruments)


@pytest.fixture(scope="session")
def suite() -> dict:
    return load_suite(SUITE_PATH)


@pytest.fixture(scope="session")
def bundled_prices_text() -> pd.DataFrame:
    return pd.read_csv(paths.BUNDLED_PRICES, dtype=str, keep_default_na=False)


def inject_gaps(prices: pd.DataFrame, instruments: pd.DataFrame, symbol: str, share: float,
                seed: int = 7) -> tuple[pd.DataFrame, int]:
    """Remove the rows of ``symbol`` on a random ``share`` of its venue's sessions; returns (prices, removed)."""
    calendar = instruments.set_index("symbol").at[symbol, "calendar"]
    rows = prices[prices["symbol"] == symbol]
    dates = pd.to_datetime(rows["date"])
    venue_days = sessions(calendar, dates.min(), pd.to_datetime(prices["date"]).max())
    target = int(np.ceil(share * len(venue_days)))
    already_missing = int((~venue_days.isin(dates)).sum())
    rng = np.random.default_rng(seed)
    # never remove the first row: it defines the start of the feed's window
    candidates = rows.index[1:]
    drop = rng.choice(candidates, size=target - already_missing, replace=False)
    return prices.drop(index=drop), len(drop)


@pytest.fixture
def write_prices(tmp_path):
    """Write a prices DataFrame (text columns) to a CSV in tmp_path and return its path."""

    def _write(frame: pd.DataFrame, name: str = "prices.csv") -> Path:
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    return _write


@pytest.fixture(scope="session")
def market_inputs(raw, instruments, suite):
    """The bundled data through the gate: the risk engine's market inputs."""
    from risk_platform.workflows.market_inputs import gated_market_inputs

    return gated_market_inputs(raw.frame, instruments, suite)


@pytest.fixture(scope="session")
def daily_features(market_inputs) -> pd.DataFrame:
    """The feature store's ``daily_features`` table built from the bundled data (no store on disk)."""
    from risk_platform.features.engineering import series_features

    return series_features(market_inputs.returns, market_inputs.panel, market_inputs.instruments)
