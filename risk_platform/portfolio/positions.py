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

Types are strict: a number field holds a number (a YAML boolean such as ``true`` or ``yes``, ``.nan``, ``.inf``
or text is refused, never coerced), a text field is not a YAML boolean (quote ``"NO"``), and every number is
finite and within ``BOUNDS`` (largest accepted absolute value per field: quantity 1e12 units; notional, delta,
vega, theta 1e12 USD; gamma 1e13 USD; dv01 1e10 USD per bp; avg_daily_volume 1e14 USD a day; bid_ask_bps
1e4) and the NAV within ``MAX_NAV`` (1e13 USD). YAML anchors and aliases are refused
(:func:`risk_platform.io.read_yaml`). Each problem is one line naming the file, the position and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.data.loading import read_csv_text
from risk_platform.errors import InputError
from risk_platform.io import read_yaml

REQUIRED = ("symbol", "asset_class", "sector", "region", "avg_daily_volume", "bid_ask_bps")
NUMERIC = ("quantity", "notional", "avg_daily_volume", "bid_ask_bps", "dv01", "delta", "gamma", "vega", "theta")
GREEKS = ("delta", "gamma", "vega", "theta")
REQUIRED_GREEKS = ("delta", "gamma", "vega")
OPTION_UNDERLYING_QUOTES = ("price", "index_level")
TEXT = ("symbol", "asset_class", "sector", "region")
BOUNDS = {"quantity": 1e12, "notional": 1e12, "avg_daily_volume": 1e14, "bid_ask_bps": 1e4, "dv01": 1e10,
          "delta": 1e12, "gamma": 1e13, "vega": 1e12, "theta": 1e12}
MAX_NAV = 1e13


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
    """Header dict, position rows as delivered (object columns, ``""`` where a field is absent), and how rows
    are labelled in messages (YAML item / CSV line)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() in (".yaml", ".yml"):
        doc = read_yaml(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("positions"), list) or not doc["positions"]:
            raise InputError(f"{path}: expected a 'positions:' list with at least one position")
        rows = doc["positions"]
        if not all(isinstance(p, dict) for p in rows):
            raise InputError(f"{path}: every item of 'positions:' must be a mapping of fields")
        header = doc.get("portfolio") or {}
        if not isinstance(header, dict):
            raise InputError(f"{path}: 'portfolio:' must be a mapping (name, base_currency, nav)")
        columns = list(dict.fromkeys(key for p in rows for key in p))
        frame = pd.DataFrame({str(c): pd.Series([p.get(c, "") for p in rows], dtype=object) for c in columns})
        return header, frame, "position"
    if path.suffix.lower() == ".csv":
        frame = read_csv_text(path)
        if frame.empty:
            raise InputError(f"{path}: empty file (header only, no positions)")
        return {}, frame.reset_index(drop=True), "line"
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
    _first_problem(_typed_columns(frame), path, kind)
    _first_problem(_row_problems(frame, instruments), path, kind)
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


Check = tuple[np.ndarray, Callable[[int], str]]


def _first_problem(checks: list[Check], path: Path, kind: str) -> None:
    """Raise for the first position (in file order) failing any check, with the first check it fails (the
    order of ``checks``): the message a row-by-row validation would give, computed on whole columns."""
    failing = [int(np.argmax(mask)) for mask, _ in checks if mask.any()]
    if not failing:
        return
    i = min(failing)
    message = next(describe for mask, describe in checks if mask[i])
    raise InputError(f"{path} {_label(kind, i)}: {message(i)}")


def _typed_columns(frame: pd.DataFrame) -> list[Check]:
    """Convert the number fields to float and the text fields to stripped text, in place; the checks for values
    that are booleans, not numbers, not finite or beyond ``BOUNDS``."""
    types = {c: frame[c].map(type) for c in frame.columns}
    symbol = frame["symbol"].astype(str).str.strip().to_numpy()
    checks: list[Check] = []
    for column in TEXT:
        is_bool = types[column].isin([bool]).to_numpy()
        checks.append((is_bool, lambda i, c=column, v=frame[column]: f"{symbol[i]} {c} is a YAML boolean"
                       f" ({v.iat[i]}), not text: quote it"))
        frame[column] = frame[column].where(frame[column].notna(), "").astype(str).str.strip()
    for column in NUMERIC:
        if column not in frame.columns:
            frame[column] = np.nan
            continue
        raw, kind = frame[column], types[column]
        text = raw.astype(str).str.strip()
        is_bool = kind.isin([bool]).to_numpy()
        blank = (kind.isin([type(None)]) | (kind.isin([str]) & (text == ""))).to_numpy()
        values = pd.to_numeric(text.where(~(blank | is_bool)), errors="coerce").to_numpy(dtype=float)
        finite = np.where(np.isfinite(values), values, 0.0)
        checks += [
            (is_bool, lambda i, c=column, r=raw: f"{symbol[i]} {c} is a boolean ({r.iat[i]}), not a number"),
            (np.isnan(values) & ~blank & ~is_bool,
             lambda i, c=column, t=text: f"{symbol[i]} {c} '{t.iat[i]}' is not a number"),
            (np.isinf(values), lambda i, c=column, v=values: f"{symbol[i]} {c} must be finite, got {v[i]}"),
            (np.abs(finite) > BOUNDS[column], lambda i, c=column, v=values:
             f"{symbol[i]} {c} {v[i]:g} is beyond the bound |{c}| <= {BOUNDS[c]:g}"),
        ]
        frame[column] = values
    return checks


def _row_problems(frame: pd.DataFrame, instruments: pd.DataFrame) -> list[Check]:
    """The checks of every position against the instruments table, in the order a reader checks one row."""
    instrument = instruments.set_index("symbol")
    symbol = frame["symbol"]
    sym = symbol.to_numpy()
    known = symbol.isin(instrument.index).to_numpy()
    quote = symbol.map(instrument["quote_type"]).to_numpy(dtype=object)
    underlying = symbol.map(instrument["asset_class"]).to_numpy(dtype=object)
    col = {c: frame[c].to_numpy(dtype=float) for c in NUMERIC}
    has_qty, has_notional = ~np.isnan(col["quantity"]), ~np.isnan(col["notional"])
    size = np.where(has_qty, col["quantity"], col["notional"])
    is_yield, adv, spread = quote == "yield_pct", col["avg_daily_volume"], col["bid_ask_bps"]
    option = np.column_stack([~np.isnan(col[g]) for g in GREEKS]).any(axis=1)
    no_greek = {g: np.isnan(col[g]) for g in REQUIRED_GREEKS}
    empty = {c: frame[c].isin(["", "nan"]).to_numpy() for c in ("asset_class", "sector", "region")}
    return [
        (symbol.isin(["", "nan"]).to_numpy(), lambda i: "empty symbol"),
        (~known, lambda i: f"unknown symbol '{sym[i]}' (not in instruments)"),
        *[(empty[c], lambda i, c=c: f"{sym[i]} has an empty {c}") for c in empty],
        (has_qty == has_notional, lambda i: f"{sym[i]} needs exactly one of quantity or notional"),
        (size == 0, lambda i: f"{sym[i]} has zero size"),
        (np.isnan(adv) | (adv <= 0), lambda i: f"{sym[i]} avg_daily_volume must be positive, got {adv[i]}"),
        (np.isnan(spread) | (spread < 0), lambda i: f"{sym[i]} bid_ask_bps must be zero or positive, got {spread[i]}"),
        (is_yield & np.isnan(col["dv01"]),
         lambda i: f"{sym[i]} is quoted as a yield: dv01 (USD per bp) is required"),
        (is_yield & ~has_notional, lambda i: f"{sym[i]} is quoted as a yield: give notional (USD), not quantity"),
        (known & ~is_yield & ~np.isnan(col["dv01"]),
         lambda i: f"{sym[i]} is not yield-quoted ({quote[i]}): dv01 does not apply"),
        ((quote == "fx_rate") & has_qty, lambda i: f"{sym[i]} is an FX rate: give notional (USD), not quantity"),
        (option & (~np.isin(quote, OPTION_UNDERLYING_QUOTES) | (underlying == "volatility")),
         lambda i: f"{sym[i]} option greeks are only accepted on a price or index-level underlying"
                   f" (not {quote[i]} / {underlying[i]})"),
        (option & np.column_stack(list(no_greek.values())).any(axis=1),
         lambda i: f"{sym[i]} option needs {', '.join(REQUIRED_GREEKS)}"
                   f" (missing {', '.join(g for g in REQUIRED_GREEKS if no_greek[g][i])})"),
        (option & ~has_notional,
         lambda i: f"{sym[i]} option: give notional (the option's USD market value), not quantity"),
    ]


def _nav(header: dict, path: Path) -> tuple[float, str]:
    """The book's NAV from the header: a positive finite number up to ``MAX_NAV`` (a boolean is refused)."""
    if "nav" not in header:
        return float("nan"), "gross_exposure"
    raw = header["nav"]
    if isinstance(raw, bool):
        raise InputError(f"{path}: portfolio nav is a boolean ({raw}), not a number")
    try:
        nav = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{path}: portfolio nav '{raw}' is not a number") from None
    if not np.isfinite(nav) or nav <= 0:
        raise InputError(f"{path}: portfolio nav must be a finite positive number, got {raw}")
    if nav > MAX_NAV:
        raise InputError(f"{path}: portfolio nav {nav:g} is beyond the bound nav <= {MAX_NAV:g} USD")
    return nav, "file"
