"""Load and validate a positions file.

YAML: ``portfolio: {name, base_currency, nav}`` and ``positions: [ {...}, ... ]``.
CSV: one row per position, no NAV (the NAV is then the gross absolute exposure, and says so).
Columns: ``symbol``, ``quantity`` or ``notional`` (one of them), ``asset_class``, ``sector``, ``region``,
``avg_daily_volume`` (USD per day), ``bid_ask_bps``, ``dv01`` (required for yield-quoted symbols),
optional option greeks ``delta, gamma, vega, theta`` for an option on a price or index-level symbol.

Options (a row with greeks; revalued by delta-gamma-vega, see :mod:`risk_platform.risk.options`):

* ``notional``: the option's USD market value (premium; negative when short), required;
* ``delta``: dollar delta, USD per 100% move of the underlying (``P&L ~ delta * r``);
* ``gamma``: dollar gamma, USD per (100% move) squared (``P&L ~ 0.5 * gamma * r**2``);
* ``vega``: USD per 1 volatility point (implied vol up from 20% to 21%);
* ``theta``: USD per calendar day (optional, default 0).

An option and a linear position on the same symbol may coexist (one row each); two rows of the same kind
on one symbol are duplicates (net them: greeks add).
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
REQUIRED_GREEKS = ("delta", "gamma", "vega")
OPTION_UNDERLYING_QUOTES = ("price", "index_level")


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

    @property
    def is_option(self) -> np.ndarray:
        """(m,) True for the rows that carry option greeks."""
        return is_option(self.positions)

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


def is_option(positions: pd.DataFrame) -> np.ndarray:
    """(m,) True where a row carries option greeks (delta given)."""
    if "delta" not in positions.columns:
        return np.zeros(len(positions), dtype=bool)
    return positions["delta"].notna().to_numpy()


def position_labels(positions: pd.DataFrame) -> list[str]:
    """The name of each position in reports: its ``position_id`` when the file gives one, else the symbol,
    or ``'<symbol> option'`` for an option row."""
    symbols = positions["symbol"].to_numpy(dtype=str)
    labels = [f"{s} option" if o else s for s, o in zip(symbols.tolist(), is_option(positions).tolist(), strict=True)]
    if "position_id" in positions.columns:
        ids = positions["position_id"].to_numpy(dtype=object).tolist()
        labels = [str(i) if isinstance(i, str) and i.strip() else label for i, label in zip(ids, labels, strict=True)]
    return labels


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
        frame[column] = frame[column].where(frame[column].notna(), "").astype(str).str.strip()
    instrument = instruments.set_index("symbol")
    for i, row in frame.iterrows():
        where = f"{path} {_label(kind, int(i))}"
        _validate_row(row, where, instrument)
    option = frame["delta"].notna()
    if "position_id" in frame.columns:  # explicit ids: one row per id
        ids = frame["position_id"].where(frame["position_id"].notna(), "").astype(str).str.strip()
        dup = ids.duplicated() & (ids != "")
        if dup.any():
            i = int(np.argmax(dup))
            raise InputError(f"{path} {_label(kind, i)}: duplicated position_id '{ids.iat[i]}'")
        frame["position_id"] = ids
    dup = frame.assign(_option=option).duplicated(["symbol", "_option"])
    if "position_id" in frame.columns:
        dup &= frame["position_id"] == ""
    if dup.any():
        i = int(np.argmax(dup))
        first = int(np.argmax((frame["symbol"] == frame["symbol"].iat[i]) & (option == option.iat[i])))
        what = "option position" if option.iat[i] else "position"
        raise InputError(f"{path} {_label(kind, i)}: duplicated {what} for {frame['symbol'].iat[i]}"
                         f" (same as {_label(kind, first)}; one row per symbol and kind; net them)")
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
    for column in ("asset_class", "sector", "region"):
        if not row[column] or row[column] == "nan":
            raise InputError(f"{where}: {symbol} has an empty {column}")
    for column in NUMERIC:
        if not np.isnan(row[column]) and not np.isfinite(row[column]):
            raise InputError(f"{where}: {symbol} {column} must be finite, got {row[column]}")
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
        _validate_option(row, where, quote_type, instrument.at[symbol, "asset_class"], has_notional)


def _validate_option(row: pd.Series, where: str, quote_type: str, asset_class: str, has_notional: bool) -> None:
    symbol = row["symbol"]
    if quote_type not in OPTION_UNDERLYING_QUOTES or asset_class == "volatility":
        raise InputError(f"{where}: {symbol} option greeks are only accepted on a price or index-level"
                         f" underlying (not {quote_type} / {asset_class})")
    missing = [g for g in REQUIRED_GREEKS if np.isnan(row[g])]
    if missing:
        raise InputError(f"{where}: {symbol} option needs {', '.join(REQUIRED_GREEKS)} (missing {', '.join(missing)})")
    if not has_notional:
        raise InputError(f"{where}: {symbol} option: give notional (the option's USD market value), not quantity")


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
