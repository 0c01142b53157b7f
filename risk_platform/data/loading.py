"""Read and validate market data in the long format ``date, symbol, value`` and the instruments table.

Every problem raises :class:`~risk_platform.errors.InputError` with one line naming the file and row
(CSV rows are counted as in a text editor: the header is line 1).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from risk_platform.errors import InputError
from risk_platform.io import decode_text

PRICE_COLUMNS = ("date", "symbol", "value")
INSTRUMENT_COLUMNS = ("symbol", "name", "asset_class", "quote_type", "currency", "region", "venue", "calendar")
QUOTE_TYPES = ("price", "index_level", "fx_rate", "yield_pct")
EARLIEST_DATE = pd.Timestamp("1900-01-01")  # older dates are typos: no venue calendar records them
MISSING_TOKENS = frozenset({"", ".", "null"})
DATA_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class FileDigest:
    """A delivered file and the sha256 of its bytes."""

    path: str
    sha256: str
    rows: int


@dataclass(frozen=True)
class RawPrices:
    """Prices as delivered, parsed and validated.

    ``frame`` columns: ``date`` (datetime64), ``symbol`` (str), ``value`` (float, NaN where the file held a
    missing token: empty, ``.`` or ``null``), ``value_raw`` (the string as delivered), ``source_file``.
    """

    frame: pd.DataFrame
    files: tuple[FileDigest, ...]
    missing_token_rows: int
    exact_duplicates_dropped: int

    @property
    def symbols(self) -> list[str]:
        return sorted(self.frame["symbol"].unique())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _row_label(path: Path, index: int) -> str:
    """Human row reference: CSV line number (header is line 1) or Parquet row number (1-based)."""
    return f"line {index + 2}" if path.suffix.lower() == ".csv" else f"row {index + 1}"


def read_csv_text(path: Path, *, skip_blank_lines: bool = True) -> pd.DataFrame:
    """Read a CSV file with every column as text (empty cells as ``""``); undecodable bytes, an unbalanced quote
    or a row with extra fields raise a one-line InputError naming the file and line."""
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    text = decode_text(path)
    try:
        table = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, skipinitialspace=True,
                            skip_blank_lines=skip_blank_lines)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    except pd.errors.ParserError as exc:  # an unbalanced quote, a row longer than the header
        raise InputError(f"{path}: not a readable CSV file ({_parser_problem(exc)})") from None
    header = [str(c).strip() for c in table.iloc[0]]
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise InputError(f"{path} line 1: column(s) {', '.join(map(repr, twice))} appear more than once")
    _refuse_short_rows(text, len(header), path)
    body = table.iloc[1:]
    frame = body.set_axis(header, axis=1).fillna("")
    frame.index = body.index - 1
    return frame


def _refuse_short_rows(text: str, width: int, path: Path) -> None:
    """A row with fewer fields than the header (pandas would fill the missing ones with ``""``, read as a missing
    value) is an InputError naming the line; blank lines are not rows."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for row in reader:
        if row and len(row) < width:
            raise InputError(f"{path}: not a readable CSV file (expected {width} fields in line {reader.line_num},"
                             f" saw {len(row)})")


def _parser_problem(exc: pd.errors.ParserError) -> str:
    """pandas' parser message, one line (``Error tokenizing data. C error:`` dropped; names the line)."""
    text = " ".join(str(exc).split())
    return text.split("C error: ", 1)[-1]


def _read_table(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file with every column as text.

    Blank CSV lines are dropped but the index keeps each row's position in the file, so messages name the
    right line."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise InputError(f"{path}: not a readable Parquet file ({exc.__class__.__name__})") from None
        return frame.astype(str).where(frame.notna(), "")
    frame = read_csv_text(path, skip_blank_lines=False)
    return frame[~frame.eq("").all(axis=1)]


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], path: Path) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(required)};"
            f" found {', '.join(map(str, frame.columns)) or 'none'})"
        )


def _parse_one_price_file(path: Path, known_symbols: set[str] | None) -> pd.DataFrame:
    """Parse and validate one long-format file; returns date, symbol, value, value_raw, source_file."""
    raw = _read_table(path)
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    _require_columns(raw, PRICE_COLUMNS, path)
    if raw.empty:
        raise InputError(f"{path}: empty file (header only, no rows)")
    file_rows = raw.index.to_numpy()
    raw = raw.reset_index(drop=True)

    def where(i: int) -> str:
        return f"{path} {_row_label(path, int(file_rows[i]))}"

    symbols = raw["symbol"].str.strip()
    blank_symbol = symbols == ""
    if blank_symbol.any():
        raise InputError(f"{where(int(np.argmax(blank_symbol)))}: empty symbol")
    if known_symbols is not None:
        unknown = ~symbols.isin(known_symbols)
        if unknown.any():
            i = int(np.argmax(unknown))
            raise InputError(f"{where(i)}: unknown symbol '{symbols.iat[i]}' (not in instruments)")
    dates = pd.to_datetime(raw["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        i = int(np.argmax(dates.isna()))
        raise InputError(f"{where(i)}: date '{raw['date'].iat[i]}' is not a YYYY-MM-DD date")
    early = (dates < EARLIEST_DATE).to_numpy()
    if early.any():  # no venue calendar records sessions that old: the gate could not count the feed's sessions
        i = int(np.argmax(early))
        raise InputError(f"{where(i)}: date {raw['date'].iat[i]} for {symbols.iat[i]} is before"
                         f" {EARLIEST_DATE:%Y-%m-%d}, the earliest date accepted")
    value_raw = raw["value"].str.strip()
    is_missing = value_raw.str.lower().isin(MISSING_TOKENS)
    values = pd.to_numeric(value_raw.where(~is_missing), errors="coerce")
    bad = values.isna() & ~is_missing
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{where(i)}: value '{value_raw.iat[i]}' for {symbols.iat[i]}"
            f" on {raw['date'].iat[i]} is not a number"
        )
    infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
    if infinite.any():  # finite but implausible values (1e308, a denormal) are the plausibility gate's: suspect points
        i = int(np.argmax(infinite))
        raise InputError(f"{where(i)}: value '{value_raw.iat[i]}' for {symbols.iat[i]} on {raw['date'].iat[i]}"
                         " is not finite")
    frame = pd.DataFrame(
        {"date": dates, "symbol": symbols, "value": values.astype(float), "value_raw": value_raw,
         "source_file": str(path), "source_row": file_rows}
    )
    _check_order(frame, path)
    return frame


def _check_order(frame: pd.DataFrame, path: Path) -> None:
    """Dates must ascend within each symbol (a file sorted by date then symbol, or by symbol then date)."""
    prev = frame.groupby("symbol", sort=False)["date"].shift(1)
    backwards = frame["date"] < prev
    if backwards.any():
        i = int(np.argmax(backwards))
        raise InputError(
            f"{path} {_row_label(path, int(frame['source_row'].iat[i]))}: dates for {frame['symbol'].iat[i]}"
            " are not in ascending order"
            f" ({frame['date'].iat[i]:%Y-%m-%d} after {prev.iat[i]:%Y-%m-%d})"
        )


def _drop_duplicates(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop exact repeats of (date, symbol, value); two different values for one date+symbol is an error."""
    key = ["date", "symbol"]
    dup_mask = frame.duplicated(key, keep=False)
    if not dup_mask.any():
        return frame, 0
    dups = frame[dup_mask]
    distinct = dups.groupby(key)["value"].nunique(dropna=False)
    conflicting = distinct[distinct > 1]
    if not conflicting.empty:
        date, symbol = conflicting.index[0]
        rows = dups[(dups["date"] == date) & (dups["symbol"] == symbol)]
        pairs = zip(rows["source_file"], rows["source_row"], strict=True)
        where = " and ".join(f"{f} {_row_label(Path(f), int(r))}" for f, r in pairs)
        values = " vs ".join(rows["value_raw"].unique())
        raise InputError(f"{where}: {symbol} on {date:%Y-%m-%d} has conflicting values ({values})")
    deduped = frame.drop_duplicates(key, keep="first")
    return deduped, len(frame) - len(deduped)


def price_files(source: Path) -> list[Path]:
    """The data files of a source: the file itself, or every CSV/Parquet file directly in a directory."""
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in DATA_SUFFIXES and p.is_file()
                       and not p.name.startswith("instruments"))
        if not files:
            raise InputError(f"{source}: no .csv or .parquet price files in directory")
        return files
    if not source.exists():
        raise InputError(f"{source}: file not found")
    return [source]


def load_prices(source: Path | str, instruments: pd.DataFrame | None = None) -> RawPrices:
    """Load a prices file or a directory of files in the long format, validated.

    Parameters
    ----------
    source : a CSV/Parquet file, or a directory of them.
    instruments : when given, every symbol must be listed in it.
    """
    source = Path(source)
    known = set(instruments["symbol"]) if instruments is not None else None
    files = price_files(source)
    frames, digests = [], []
    for path in files:
        frame = _parse_one_price_file(path, known)
        frames.append(frame)
        digests.append(FileDigest(path=str(path), sha256=sha256_file(path), rows=len(frame)))
    combined = pd.concat(frames, ignore_index=True)
    combined, dropped = _drop_duplicates(combined)
    combined = combined.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    combined["symbol"] = combined["symbol"].astype(str)
    return RawPrices(
        frame=combined.drop(columns="source_row"),
        files=tuple(digests),
        missing_token_rows=int(combined["value"].isna().sum()),
        exact_duplicates_dropped=dropped,
    )


def load_instruments(path: Path | str) -> pd.DataFrame:
    """Load and validate the instruments table (one row per symbol)."""
    from risk_platform.data.calendars import known_calendars

    path = Path(path)
    frame = _read_table(path).reset_index(drop=True)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    _require_columns(frame, ("symbol", "asset_class", "quote_type", "currency", "calendar"), path)
    if frame.empty:
        raise InputError(f"{path}: empty file (header only, no rows)")
    for column in frame.columns:
        frame[column] = frame[column].astype(str).str.strip()
    for i, row in frame.iterrows():
        where = f"{path} {_row_label(path, int(i))}"
        if not row["symbol"]:
            raise InputError(f"{where}: empty symbol")
        empty = [c for c in ("asset_class", "currency") if not row[c]]
        if empty:  # the currency picks the FX conversion: an empty one would value the feed as USD unflagged
            raise InputError(f"{where}: {row['symbol']} has an empty {empty[0]}")
        if row["quote_type"] not in QUOTE_TYPES:
            raise InputError(
                f"{where}: {row['symbol']} has quote_type '{row['quote_type']}'"
                f" (expected one of {', '.join(QUOTE_TYPES)})"
            )
        if row["calendar"] not in known_calendars():
            raise InputError(f"{where}: {row['symbol']} has unknown exchange calendar '{row['calendar']}'")
    dup = frame["symbol"].duplicated()
    if dup.any():
        i = int(np.argmax(dup))
        raise InputError(f"{path} {_row_label(path, i)}: symbol '{frame['symbol'].iat[i]}' is listed twice")
    for column in INSTRUMENT_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    return frame.reset_index(drop=True)
