"""Load and validate a positions file.

YAML: ``portfolio: {name, base_currency, nav}`` and ``positions: [ {...}, ... ]``.
CSV: one row per position, no NAV (the NAV is then the gross absolute exposure, and says so).
Columns: ``symbol``, ``quantity`` or ``notional`` (one of them), ``asset_class``, ``sector``, ``region``,
``avg_daily_volume`` (USD per day), ``bid_ask_bps``, ``dv01`` (required for yield-quoted symbols),
optional option greeks ``delta, gamma, vega, theta`` (not priced yet: rejected with a clear error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from risk_platform.errors import InputError

REQUIRED = ("symbol", "asset_class", "sector", "region", "avg_daily_volume", "bid_ask_bps")
NUMERIC = ("quantity", "notional", "avg_daily_volume", "bid_ask_bps", "dv01", "delta", "gamma", "vega", "theta")
GREEKS = ("delta", "gamma", "vega", "theta")


@dataclass(frozen=True)
class Portfolio:
    """A validated book. ``positions`` has one row per position with the columns above (NaN if absent)."""

    name: str
    nav: float
    base_currency: str
    positions: pd.DataFrame
    source: str
    nav_source: str

    @property
    def symbols(self) -> list[str]:
        return list(self.positions["symbol"])

    def to_dict(self) -> dict:
        """JSON-ready form (NaN fields become None)."""
        rows = self.positions.astype(object).where(self.positions.notna(), None).to_dict(orient="records")
        return {"name": self.name, "nav": None if np.isnan(self.nav) else self.nav,
                "base_currency": self.base_currency, "source": self.source, "nav_source": self.nav_source,
                "positions": rows}

    @classmethod
    def from_dict(cls, data: dict) -> Portfolio:
        positions = pd.DataFrame(data["positions"])
        for column in NUMERIC:
            positions[column] = pd.to_numeric(positions[column]).astype(float)
        nav = float("nan") if data["nav"] is None else float(data["nav"])
        return cls(data["name"], nav, data["base_currency"], positions, data["source"], data["nav_source"])


def _read_rows(path: Path) -> tuple[dict, pd.DataFrame, str]:
    """Header dict, position rows, and how rows are labelled in messages (YAML item / CSV line)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("positions"), list) or not doc["positions"]:
            raise InputError(f"{path}: expected a 'positions:' list with at least one position")
        if not all(isinstance(p, dict) for p in doc["positions"]):
            raise InputError(f"{path}: every item of 'positions:' must be a mapping of fields")
        return doc.get("portfolio") or {}, pd.DataFrame(doc["positions"]), "position"
    if path.suffix.lower() == ".csv":
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        if frame.empty:
            raise InputError(f"{path}: empty file (header only, no positions)")
        return {}, frame, "line"
    raise InputError(f"{path}: positions file must be .yaml, .yml or .csv")


def _label(kind: str, i: int) -> str:
    return f"position {i + 1}" if kind == "position" else f"line {i + 2}"


def load_portfolio(path: Path | str, instruments: pd.DataFrame) -> Portfolio:
    """Read and validate a positions file against the instruments table."""
    path = Path(path)
    header, frame, kind = _read_rows(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if "quantity" not in frame.columns and "notional" not in frame.columns:
        missing.append("quantity or notional")
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in NUMERIC:
        if column not in frame.columns:
            frame[column] = np.nan
        raw = frame[column].replace("", np.nan)
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna()
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{path} {_label(kind, i)}: {column} '{raw.iat[i]}' is not a number")
        frame[column] = values.astype(float)
    for column in ("symbol", "asset_class", "sector", "region"):
        frame[column] = frame[column].astype(str).str.strip()
    instrument = instruments.set_index("symbol")
    for i, row in frame.iterrows():
        where = f"{path} {_label(kind, int(i))}"
        _validate_row(row, where, instrument)
    dup = frame["symbol"].duplicated()
    if dup.any():
        i = int(np.argmax(dup))
        raise InputError(f"{path} {_label(kind, i)}: duplicated position for {frame['symbol'].iat[i]}"
                         " (one row per symbol; net them)")
    nav, nav_source = _nav(header, path)
    return Portfolio(
        name=str(header.get("name", path.stem)),
        nav=nav,
        base_currency=str(header.get("base_currency", "USD")),
        positions=frame.reset_index(drop=True),
        source=str(path),
        nav_source=nav_source,
    )


def _validate_row(row: pd.Series, where: str, instrument: pd.DataFrame) -> None:
    symbol = row["symbol"]
    if not symbol or symbol == "nan":
        raise InputError(f"{where}: empty symbol")
    if symbol not in instrument.index:
        raise InputError(f"{where}: unknown symbol '{symbol}' (not in instruments)")
    has_qty, has_notional = not np.isnan(row["quantity"]), not np.isnan(row["notional"])
    if has_qty == has_notional:
        raise InputError(f"{where}: {symbol} needs exactly one of quantity or notional")
    size = row["quantity"] if has_qty else row["notional"]
    if size == 0:
        raise InputError(f"{where}: {symbol} has zero size")
    if np.isnan(row["avg_daily_volume"]) or row["avg_daily_volume"] <= 0:
        raise InputError(f"{where}: {symbol} avg_daily_volume must be positive, got {row['avg_daily_volume']}")
    if np.isnan(row["bid_ask_bps"]) or row["bid_ask_bps"] < 0:
        raise InputError(f"{where}: {symbol} bid_ask_bps must be zero or positive, got {row['bid_ask_bps']}")
    quote_type = instrument.at[symbol, "quote_type"]
    if quote_type == "yield_pct":
        if np.isnan(row["dv01"]):
            raise InputError(f"{where}: {symbol} is quoted as a yield: dv01 (USD per bp) is required")
        if not has_notional:
            raise InputError(f"{where}: {symbol} is quoted as a yield: give notional (USD), not quantity")
    elif not np.isnan(row["dv01"]):
        raise InputError(f"{where}: {symbol} is not yield-quoted ({quote_type}): dv01 does not apply")
    if quote_type == "fx_rate" and has_qty:
        raise InputError(f"{where}: {symbol} is an FX rate: give notional (USD), not quantity")
    if any(not np.isnan(row[g]) for g in GREEKS):
        raise InputError(f"{where}: {symbol} has option greeks; options are not priced yet (delta-gamma-vega"
                         " revaluation is a later capability)")


def _nav(header: dict, path: Path) -> tuple[float, str]:
    if "nav" not in header:
        return float("nan"), "gross_exposure"
    try:
        nav = float(header["nav"])
    except (TypeError, ValueError):
        raise InputError(f"{path}: portfolio nav '{header['nav']}' is not a number") from None
    if not np.isfinite(nav) or nav <= 0:
        raise InputError(f"{path}: portfolio nav must be positive, got {header['nav']}")
    return nav, "file"
