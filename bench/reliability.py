"""The reliability catalogue: malformed and unusual inputs through the real command line, and its figures.

``python -m bench.reliability`` runs every case of :data:`CASES` through ``risk-platform`` in a subprocess and
prints the figures: cases, exit codes as expected, tracebacks, silent wrong results (exit 0 without the expected
flag), inputs modified, and every failing case. ``tests/unit/test_reliability.py`` runs the same catalogue in
process.

A case writes the base inputs (a small panel of five feeds from the bundled data, its instruments, a book in YAML
and CSV, the bundled limits) into a fresh ``inputs/`` folder, replaces or adds the case's files, and runs its
arguments (``{in}``: the inputs folder, ``{out}``: a scratch folder beside it). What must hold:

* the exit code: 2 bad input, 3 a gate failed, 0 fine;
* exit 2 or 3: stderr is ONE line, no traceback, containing ``says`` (the file, row, field or argument);
* exit 0: ``says`` (the flag, or the figure that shows the input was read right) appears in stdout or stderr,
  and stderr holds no traceback;
* nothing under ``inputs/`` changed: the same file names and bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from risk_platform import paths

SYMBOLS = ("SPX", "HSI", "EURUSD", "UST10Y", "WTI")
FIRST_DATE = "2023-01-01"


@dataclass(frozen=True)
class Case:
    """One input and what the command line must do with it."""

    name: str
    argv: tuple[str, ...]
    exit: int
    says: str
    files: dict[str, bytes] = field(default_factory=dict)  # replaces or adds files under inputs/
    xfail: str = ""  # a known defect, with the reason (the case is still run and counted)


@dataclass(frozen=True)
class Outcome:
    """What one run of a case did, and what was wrong with it."""

    case: Case
    exit: int
    stdout: str
    stderr: str
    inputs_changed: bool

    @property
    def traceback(self) -> bool:
        return "Traceback" in self.stderr

    @property
    def silent_wrong(self) -> bool:
        """Exit 0 where a refusal was expected, or without the expected flag."""
        return self.exit == 0 and (self.case.exit != 0 or self.case.says not in self.stdout + self.stderr)

    @property
    def problems(self) -> list[str]:
        """Every way the run differs from the case's expectation (empty: the case holds)."""
        found = []
        if self.exit != self.case.exit:
            found.append(f"exit {self.exit}, expected {self.case.exit}")
        if self.traceback:
            found.append("traceback")
        if self.case.exit != 0 and self.stderr.count("\n") != 1:
            found.append(f"stderr has {self.stderr.count(chr(10))} lines, expected 1")
        text = self.stderr if self.case.exit != 0 else self.stdout + self.stderr
        if self.case.says and self.case.says not in text:
            found.append(f"does not say {self.case.says!r}")
        if self.inputs_changed:
            found.append("inputs modified")
        return found


@cache
def base_files() -> dict[str, bytes]:
    """The base inputs: five feeds of the bundled panel from 2023, their instruments, a book, the limits."""
    lines = paths.BUNDLED_PRICES.read_bytes().splitlines(keepends=True)
    keep = [line for line in lines[1:] if line.split(b",")[1].decode() in SYMBOLS and line[:10] >= FIRST_DATE.encode()]
    instruments = paths.BUNDLED_INSTRUMENTS.read_bytes().splitlines(keepends=True)
    from risk_platform.risk.limits import BUNDLED_LIMITS

    return {"prices.csv": lines[0] + b"".join(keep),
            "instruments.csv": instruments[0] + b"".join(r for r in instruments[1:] if r.split(b",")[0].decode()
                                                         in SYMBOLS),
            "book.yaml": BOOK_YAML.encode(), "book.csv": BOOK_CSV.encode(), "limits.yaml": BUNDLED_LIMITS.read_bytes()}


POSITIONS = (
    ("SPX", "notional: 20000000", "equity", "US large cap", "US", "3.0e11", "0.5"),
    ("HSI", "notional: -5000000", "equity", "Asia large cap", "Hong Kong", "1.0e10", "1.5"),
    ("EURUSD", "notional: 10000000", "fx", "FX G10", "Euro area", "1.5e12", "0.3"),
    ("UST10Y", "notional: 30000000, dv01: 25000", "rates", "Government", "US", "1.0e11", "0.8"),
    ("WTI", "notional: 5000000", "commodity", "Energy", "US", "5.0e10", "2.0"),
)
HEADER = "portfolio: {name: reliability book, base_currency: USD, nav: 100000000}\n"
BOOK_YAML = HEADER + "positions:\n" + "".join(
    f"  - {{symbol: {s}, {size}, asset_class: {a}, sector: {sec}, region: {r}, avg_daily_volume: {adv},"
    f" bid_ask_bps: {ba}}}\n" for s, size, a, sec, r, adv, ba in POSITIONS)
CSV_HEADER = "symbol,notional,asset_class,sector,region,avg_daily_volume,bid_ask_bps"
BOOK_CSV = (CSV_HEADER + "\nSPX,20000000,equity,US large cap,US,3.0e11,0.5\n"
            "EURUSD,10000000,fx,FX G10,Euro area,1.5e12,0.3\n")

DATA = ("--prices", "{in}/prices.csv", "--instruments", "{in}/instruments.csv")
CHECK = ("check-data", *DATA)
CLOCK = ("--evaluation-date", "2025-01-02")  # the day after the data end: not stale against the clock
FAST = ("--mc-scenarios", "0", *CLOCK)
RISK = ("risk", "--portfolio", "{in}/book.yaml", *DATA, "--no-stress", *FAST)
RISK_CSV = ("risk", "--portfolio", "{in}/book.csv", *DATA, "--no-stress", *FAST)
STRESS = ("stress", "--portfolio", "{in}/book.yaml", *DATA, *FAST)
BACKTEST = ("backtest", *DATA, "--symbol", "SPX", "--window", "250")
HS = (*BACKTEST, "--method", "hs")
LINEAGE = ("--lineage-dir", "{out}/lineage", "--mlflow-uri", "sqlite:///{out}/mlflow.db")
PRICES = "{in}/prices.csv"
INSTRUMENTS = "{in}/instruments.csv"
BOOK = "{in}/book.yaml"
LIMITS = "{in}/limits.yaml"
ACCEPTED = "5 feeds accepted, 0 rejected"
VAR_LINE = "VaR"  # the risk summary's figures were printed


def prices(*edits: tuple[str, str]) -> dict[str, bytes]:
    """The base prices with each ``(old, new)`` text replaced (``old`` must occur)."""
    text = base_files()["prices.csv"].decode()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return {"prices.csv": text.encode()}


def book(*positions: str, header: str = HEADER) -> dict[str, bytes]:
    """A YAML book of the given flow-mapping positions (``base`` fields of SPX unless overridden)."""
    return {"book.yaml": (header + "positions:\n" + "".join(f"  - {{{p}}}\n" for p in positions)).encode()}


SPX = "symbol: SPX, asset_class: equity, sector: x, region: US, avg_daily_volume: 3e11, bid_ask_bps: 0.5"
ALIAS_BOMB = "".join(
    ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)])
LAST_SPX = "2024-12-31,SPX,5881.6299"
PREV_SPX = "2024-12-30,SPX,5906.9399"
FIRST_SPX = "2023-01-03,SPX,3824.1399"


def _limits(body: str) -> dict[str, bytes]:
    return {"limits.yaml": body.encode()}


REMOVED = "warning: data flag: SPX "  # risk and stress warn naming the point and what it affects, exit 0
LIMIT = "{name: v, family: var, metric: var_99, scale: pct_nav, warn: 1.5, breach: 2.0, severity: error}"

CASES: tuple[Case, ...] = (
    # ---- prices CSV: encoding and structure
    Case("prices: as delivered", CHECK, 0, ACCEPTED),
    Case("prices: not UTF-8", CHECK, 2, f"{PRICES} line 2: not UTF-8 text",
         {"prices.csv": b"date,symbol,value\n2024-01-02,SPX,5\xff00\n"}),
    Case("prices: binary", CHECK, 2, f"{PRICES} line 1: binary file (NUL byte)",
         {"prices.csv": b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50}),
    Case("prices: UTF-16", CHECK, 2, f"{PRICES} line 1: binary file (NUL byte)",
         {"prices.csv": "date,symbol,value\n2024-01-02,SPX,5\n".encode("utf-16")}),
    Case("prices: Latin-1 symbol", CHECK, 2, f"{PRICES} line 2: not UTF-8 text",
         {"prices.csv": b"date,symbol,value\n2024-01-02,SP\xc9,5\n"}),
    Case("prices: byte-order mark", CHECK, 0, ACCEPTED,
         {"prices.csv": b"\xef\xbb\xbf" + base_files()["prices.csv"]}),
    Case("prices: CRLF line ends", CHECK, 0, ACCEPTED,
         {"prices.csv": base_files()["prices.csv"].replace(b"\n", b"\r\n")}),
    Case("prices: quoted fields", CHECK, 0, ACCEPTED, prices((LAST_SPX, '"2024-12-31","SPX","5881.6299"'))),
    Case("prices: unbalanced quote", CHECK, 2, f"{PRICES}: not a readable CSV file",
         prices((LAST_SPX, '2024-12-31,SPX,"5881.6299'))),
    Case("prices: extra field", CHECK, 2, f"{PRICES}: not a readable CSV file", prices((LAST_SPX, LAST_SPX + ",x"))),
    Case("prices: missing field", CHECK, 2, f"{PRICES}: not a readable CSV file (expected 3 fields",
         prices((LAST_SPX, "2024-12-31,SPX"))),
    Case("prices: missing column", CHECK, 2, f"{PRICES}: missing column(s) value",
         {"prices.csv": b"date,symbol\n2024-01-02,SPX\n"}),
    Case("prices: extra column", CHECK, 0, ACCEPTED,
         {"prices.csv": b"".join(line.rstrip(b"\n") + b",x\n" for line in base_files()["prices.csv"].splitlines())}),
    Case("prices: columns reordered", CHECK, 0, "1 feeds accepted, 0 rejected",
         {"prices.csv": b"value,symbol,date\n" + b"".join(
             b",".join(line.split(b",")[::-1]) + b"\n" for line in base_files()["prices.csv"].splitlines()[1:]
             if b",SPX," in line)}),
    Case("prices: header in capitals", CHECK, 0, ACCEPTED, prices(("date,symbol,value", "DATE,Symbol,VALUE"))),
    Case("prices: duplicated column", CHECK, 2, f"{PRICES} line 1: column(s) 'value' appear more than once",
         {"prices.csv": b"date,symbol,value,value\n2024-01-02,SPX,5,5\n"}),
    Case("prices: empty file", CHECK, 2, f"{PRICES}: empty file", {"prices.csv": b""}),
    Case("prices: header only", CHECK, 2, f"{PRICES}: empty file (header only, no rows)",
         {"prices.csv": b"date,symbol,value\n"}),
    Case("prices: blank lines only", CHECK, 2, f"{PRICES}: empty file", {"prices.csv": b"\n\n\n"}),
    Case("prices: blank lines inside", CHECK, 0, ACCEPTED, prices((LAST_SPX, "\n\n" + LAST_SPX))),
    Case("prices: exact duplicate row", CHECK, 0, ACCEPTED, prices((LAST_SPX, LAST_SPX + "\n" + LAST_SPX))),
    Case("prices: conflicting duplicate", CHECK, 2, "SPX", prices((LAST_SPX, LAST_SPX + "\n2024-12-31,SPX,5000"))),
    Case("prices: unsorted dates", CHECK, 2, "dates for SPX are not in ascending order",
         prices((PREV_SPX, "TMP"), (LAST_SPX, PREV_SPX), ("TMP", LAST_SPX))),
    # ---- prices CSV: values
    Case("prices: value not a number", CHECK, 2, "value 'abc' for SPX on 2024-12-31 is not a number",
         prices((LAST_SPX, "2024-12-31,SPX,abc"))),
    Case("prices: value NaN", CHECK, 2, "value 'NaN' for SPX on 2024-12-31 is not a number",
         prices((LAST_SPX, "2024-12-31,SPX,NaN"))),
    Case("prices: value inf", CHECK, 2, "value 'inf' for SPX on 2024-12-31 is not finite",
         prices((LAST_SPX, "2024-12-31,SPX,inf"))),
    Case("prices: value -inf", CHECK, 2, "value '-inf' for SPX on 2024-12-31 is not finite",
         prices((LAST_SPX, "2024-12-31,SPX,-inf"))),
    Case("prices: thousands separator", CHECK, 2, "value '5,881.63' for SPX on 2024-12-31 is not a number",
         prices((LAST_SPX, '2024-12-31,SPX,"5,881.63"'))),
    Case("prices: empty value (missing)", CHECK, 0, ACCEPTED, prices((PREV_SPX, "2024-12-30,SPX,"))),
    Case("prices: '.' value (missing)", CHECK, 0, ACCEPTED, prices((PREV_SPX, "2024-12-30,SPX,."))),
    Case("prices: 1e308", CHECK, 3, "SPX 2024-12-31 value 1e308", prices((LAST_SPX, "2024-12-31,SPX,1e308"))),
    Case("prices: 1e-320 (denormal)", CHECK, 3, "SPX 2024-12-31 value 1e-320",
         prices((LAST_SPX, "2024-12-31,SPX,1e-320"))),
    Case("prices: negative index level", CHECK, 3, "SPX 2024-12-31 value -5881.6299",
         prices((LAST_SPX, "2024-12-31,SPX,-5881.6299"))),
    Case("prices: zero index level", CHECK, 3, "SPX 2024-12-31 value 0", prices((LAST_SPX, "2024-12-31,SPX,0"))),
    Case("prices: fat finger x10", CHECK, 3, "SPX 2024-12-30 value 59069.399",
         prices((PREV_SPX, "2024-12-30,SPX,59069.399"))),
    Case("prices: negative yield", CHECK, 0, ACCEPTED, prices(("2024-12-31,UST10Y,4.58", "2024-12-31,UST10Y,-0.01"))),
    Case("prices: dated 2027", CHECK, 3, "SPX 2027-01-04 value 5900",
         prices((LAST_SPX, LAST_SPX + "\n2027-01-04,SPX,5900"))),
    Case("prices: dated 2099", CHECK, 3, "HSI 2099-01-05 value 20000",
         prices(("2024-12-31,HSI,20059.9492", "2024-12-31,HSI,20059.9492\n2099-01-05,HSI,20000"))),
    Case("prices: dated 1800", CHECK, 2,
         f"{PRICES} line 4: date 1800-01-02 for SPX is before 1900-01-01, the earliest date accepted",
         prices((FIRST_SPX, "1800-01-02,SPX,3800\n" + FIRST_SPX))),
    Case("prices: garbage date", CHECK, 2, "date '2024-13-45' is not a YYYY-MM-DD date",
         prices((LAST_SPX, "2024-13-45,SPX,5881.6299"))),
    Case("prices: day-first date", CHECK, 2, "date '31/12/2024' is not a YYYY-MM-DD date",
         prices((LAST_SPX, "31/12/2024,SPX,5881.6299"))),
    Case("prices: unknown symbol", CHECK, 2, "unknown symbol 'FOO' (not in instruments)",
         prices((LAST_SPX, LAST_SPX + "\n2024-12-31,FOO,1"))),
    Case("prices: empty symbol", CHECK, 2, "empty symbol", prices((LAST_SPX, LAST_SPX + "\n2024-12-31,,1"))),
    Case("prices: padded symbol", CHECK, 0, ACCEPTED, prices((LAST_SPX, "2024-12-31, SPX ,5881.6299"))),
    Case("prices: a feed mostly missing", CHECK, 3, "WTI",
         {"prices.csv": b"".join(line for line in base_files()["prices.csv"].splitlines(True)
                                 if not (b",WTI," in line and line[:7] >= b"2024-10"))}),
    Case("prices: file not found", ("check-data", "--prices", "{in}/nope.csv", "--instruments", INSTRUMENTS), 2,
         "{in}/nope.csv: file not found"),
    Case("prices: a folder of files", ("check-data", "--prices", "{in}", "--instruments", INSTRUMENTS), 2, "{in}"),
    Case("prices: unreadable Parquet", ("check-data", "--prices", "{in}/p.parquet", "--instruments", INSTRUMENTS),
         2, "{in}/p.parquet: not a readable Parquet file", {"p.parquet": b"PAR1 not really"}),
    Case("prices: path traversal to /etc/passwd", ("check-data", "--prices", "{in}/../../../../../../etc/passwd",
                                                   "--instruments", INSTRUMENTS), 2, "/etc/passwd"),
    # ---- instruments CSV
    Case("instruments: missing column", CHECK, 2, f"{INSTRUMENTS}: missing column(s) calendar",
         {"instruments.csv": b"symbol,name,asset_class,quote_type,currency,region,venue\nSPX,x,equity,index_level,"
                             b"USD,US,NYSE\n"}),
    Case("instruments: unknown quote_type", CHECK, 2, "quote_type",
         {"instruments.csv": base_files()["instruments.csv"].replace(b"equity,index_level,USD,US",
                                                                     b"equity,level,USD,US")}),
    Case("instruments: duplicate symbol", CHECK, 2, "SPX",
         {"instruments.csv": base_files()["instruments.csv"] + base_files()["instruments.csv"].splitlines(True)[1]}),
    Case("instruments: unknown calendar", CHECK, 2, "XMARS",
         {"instruments.csv": base_files()["instruments.csv"].replace(b",XNYS,", b",XMARS,", 1)}),
    Case("instruments: empty file", CHECK, 2, f"{INSTRUMENTS}: empty file", {"instruments.csv": b""}),
    Case("instruments: header only", CHECK, 2, INSTRUMENTS,
         {"instruments.csv": base_files()["instruments.csv"].splitlines(True)[0]}),
    Case("instruments: binary", CHECK, 2, f"{INSTRUMENTS} line 1: binary file", {"instruments.csv": b"\x00\x01" * 40}),
    Case("instruments: not UTF-8", CHECK, 2, f"{INSTRUMENTS} line 2: not UTF-8 text",
         {"instruments.csv": base_files()["instruments.csv"].replace(b"S&P 500", b"S\xe9P 500")}),
    Case("instruments: file not found", ("check-data", "--prices", PRICES, "--instruments", "{in}/nope.csv"), 2,
         "{in}/nope.csv"),
    Case("instruments: a folder", ("check-data", "--prices", PRICES, "--instruments", "{in}"), 2, "{in}"),
    Case("instruments: empty currency", CHECK, 2, f"{INSTRUMENTS} line 2: SPX has an empty currency",
         {"instruments.csv": base_files()["instruments.csv"].replace(b"index_level,USD,US", b"index_level,,US", 1)}),
    Case("instruments: empty symbol", CHECK, 2, f"{INSTRUMENTS} line 7: empty symbol",
         {"instruments.csv": base_files()["instruments.csv"] + b',x,equity,price,USD,US,NYSE,XNYS,a,b,c,d\n'}),
    # ---- positions YAML
    Case("book: as delivered", RISK, 0, VAR_LINE),
    Case("book: nav true", RISK, 2, f"{BOOK}: portfolio nav is a boolean (True), not a number",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: true}\n")),
    Case("book: nav text", RISK, 2, f"{BOOK}: portfolio nav 'lots' is not a number",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: lots}\n")),
    Case("book: nav negative", RISK, 2, f"{BOOK}: portfolio nav must be a finite positive number, got -5",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: -5}\n")),
    Case("book: nav zero", RISK, 2, f"{BOOK}: portfolio nav must be a finite positive number, got 0",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: 0}\n")),
    Case("book: nav 1e300", RISK, 2, f"{BOOK}: portfolio nav 1e+300 is beyond the bound",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: 1.0e+300}\n")),
    Case("book: nav .inf", RISK, 2, f"{BOOK}: portfolio nav must be a finite positive number, got inf",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: .inf}\n")),
    Case("book: nav .nan", RISK, 2, f"{BOOK}: portfolio nav must be a finite positive number, got nan",
         book(f"{SPX}, notional: 1", header="portfolio: {nav: .nan}\n")),
    Case("book: quantity true", RISK, 2, f"{BOOK} position 1: SPX quantity is a boolean (True), not a number",
         book(f"{SPX}, quantity: true")),
    Case("book: notional yes", RISK, 2, f"{BOOK} position 1: SPX notional is a boolean (True), not a number",
         book(f"{SPX}, notional: yes")),
    Case("book: quantity 1e300", RISK, 2, f"{BOOK} position 1: SPX quantity 1e+300 is beyond the bound",
         book(f"{SPX}, quantity: 1e300")),
    Case("book: notional .inf", RISK, 2, f"{BOOK} position 1: SPX notional must be finite, got inf",
         book(f"{SPX}, notional: .inf")),
    Case("book: notional .nan", RISK, 2, f"{BOOK} position 1: SPX notional",
         book(f"{SPX}, notional: .nan")),
    Case("book: notional text", RISK, 2, f"{BOOK} position 1: SPX notional 'ten million' is not a number",
         book(f"{SPX}, notional: ten million")),
    Case("book: notional quoted number", RISK, 0, VAR_LINE, book(f"{SPX}, notional: '1e6'")),
    Case("book: negative ADV", RISK, 2, f"{BOOK} position 1: SPX avg_daily_volume must be positive, got -3",
         book(SPX.replace("3e11", "-3e11") + ", notional: 1e6")),
    Case("book: zero ADV", RISK, 2, f"{BOOK} position 1: SPX avg_daily_volume must be positive, got 0",
         book(SPX.replace("3e11", "0") + ", notional: 1e6")),
    Case("book: negative spread", RISK, 2, f"{BOOK} position 1: SPX bid_ask_bps must be zero or positive",
         book(SPX.replace("bid_ask_bps: 0.5", "bid_ask_bps: -1") + ", notional: 1e6")),
    Case("book: unknown symbol", RISK, 2, f"{BOOK} position 1: unknown symbol 'FOO' (not in instruments)",
         book(SPX.replace("SPX", "FOO") + ", notional: 1e6")),
    Case("book: missing field", RISK, 2, f"{BOOK}: missing column(s) sector",
         book("symbol: SPX, notional: 1e6, asset_class: equity, region: US, avg_daily_volume: 3e11, bid_ask_bps: 1")),
    Case("book: quantity and notional", RISK, 2, "SPX needs exactly one of quantity or notional",
         book(f"{SPX}, notional: 1e6, quantity: 10")),
    Case("book: neither quantity nor notional", RISK, 2, f"{BOOK}: missing column(s) quantity or notional",
         book(SPX)),
    Case("book: zero notional", RISK, 2, "SPX has zero size", book(f"{SPX}, notional: 0")),
    Case("book: duplicate position", RISK, 2, f"{BOOK} position 2: duplicated position for SPX",
         book(f"{SPX}, notional: 1e6", f"{SPX}, notional: 2e6")),
    Case("book: yield without dv01", RISK, 2, "UST10Y is quoted as a yield: dv01 (USD per bp) is required",
         book(SPX.replace("SPX", "UST10Y") + ", notional: 1e6")),
    Case("book: dv01 on an index", RISK, 2, "SPX is not yield-quoted (index_level): dv01 does not apply",
         book(f"{SPX}, notional: 1e6, dv01: 10")),
    Case("book: quantity of an FX rate", RISK, 2, "EURUSD is an FX rate: give notional (USD), not quantity",
         book(SPX.replace("SPX", "EURUSD") + ", quantity: 10")),
    Case("book: sector no (boolean)", RISK, 2, "SPX sector is a YAML boolean (False), not text",
         book(SPX.replace("sector: x", "sector: no") + ", notional: 1e6")),
    Case("book: option greeks on FX", RISK, 2, "EURUSD option greeks are only accepted",
         book(SPX.replace("SPX", "EURUSD") + ", notional: 1e5, delta: 1e6, gamma: 1, vega: 1")),
    Case("book: option without gamma", RISK, 2, "SPX option needs delta, gamma, vega (missing gamma)",
         book(f"{SPX}, notional: 1e5, delta: 1e6, vega: 1")),
    Case("book: alias bomb", RISK, 2, f"{BOOK} line 1: YAML anchors and aliases are not accepted ('a')",
         {"book.yaml": (ALIAS_BOMB + "portfolio: {nav: 1000000}\npositions: *i\n").encode()}),
    Case("book: !!python/object tag", RISK, 2, f"{BOOK} line 1: not valid YAML",
         {"book.yaml": b"portfolio: !!python/object:collections.OrderedDict {}\npositions: []\n"}),
    Case("book: !!python/object/apply", RISK, 2, f"{BOOK} line 1: not valid YAML",
         {"book.yaml": b"positions: !!python/object/apply:os.system ['touch {out}/owned']\n"}),
    Case("book: deeply nested", RISK, 2, f"{BOOK} line 1: YAML nested more than 32 levels deep",
         {"book.yaml": b"positions: " + b"[" * 100_000 + b"]" * 100_000}),
    Case("book: huge file", RISK, 2, f"{BOOK}: ", {"book.yaml": b"# padding\n" * 3_000_000}),
    Case("book: syntax error", RISK, 2, f"{BOOK} line 2: not valid YAML", {"book.yaml": b"positions:\n  - {a: [}\n"}),
    Case("book: empty file", RISK, 2, BOOK, {"book.yaml": b""}),
    Case("book: a list at the top", RISK, 2, f"{BOOK}: expected a 'positions:' list", {"book.yaml": b"- 1\n- 2\n"}),
    Case("book: empty positions", RISK, 2, f"{BOOK}: expected a 'positions:' list",
         {"book.yaml": b"positions: []\n"}),
    Case("book: a position that is text", RISK, 2, "every item of 'positions:' must be a mapping",
         {"book.yaml": b"positions:\n  - SPX\n"}),
    Case("book: portfolio not a mapping", RISK, 2, "'portfolio:' must be a mapping",
         book(f"{SPX}, notional: 1e6", header="portfolio: [1]\n")),
    Case("book: .txt suffix", ("risk", "--portfolio", "{in}/book.txt", *DATA, *FAST), 2,
         "{in}/book.txt: positions file must be .yaml, .yml or .csv", {"book.txt": BOOK_YAML.encode()}),
    Case("book: file not found", ("risk", "--portfolio", "{in}/nope.yaml", *DATA, *FAST), 2,
         "{in}/nope.yaml: file not found"),
    Case("book: a folder", ("risk", "--portfolio", "{in}", *DATA, *FAST), 2, "{in}"),
    Case("book: not UTF-8", RISK, 2, f"{BOOK} line 2: not UTF-8 text",
         {"book.yaml": b"positions:\n  - {symbol: \xe9}\n"}),
    # ---- positions CSV
    Case("book csv: as delivered", RISK_CSV, 0, VAR_LINE),
    Case("book csv: not UTF-8", RISK_CSV, 2, "{in}/book.csv line 2: not UTF-8 text",
         {"book.csv": f"{CSV_HEADER}\n".encode() + b"SPX,1e6,equity,\xe9quities,US,1e9,1\n"}),
    Case("book csv: binary", RISK_CSV, 2, "{in}/book.csv line 2: binary file (NUL byte)",
         {"book.csv": f"{CSV_HEADER}\n".encode() + b"\x00\x01\x02"}),
    Case("book csv: unbalanced quote", RISK_CSV, 2, "{in}/book.csv: not a readable CSV file",
         {"book.csv": f'{CSV_HEADER}\nSPX,"1e6,equity,x,US,1e9,1\n'.encode()}),
    Case("book csv: extra field", RISK_CSV, 2, "{in}/book.csv: not a readable CSV file",
         {"book.csv": f"{CSV_HEADER}\nSPX,1e6,equity,x,US,1e9,1,oops\n".encode()}),
    Case("book csv: missing column", RISK_CSV, 2, "{in}/book.csv: missing column(s) bid_ask_bps",
         {"book.csv": b"symbol,notional,asset_class,sector,region,avg_daily_volume\nSPX,1e6,equity,x,US,1e9\n"}),
    Case("book csv: header only", RISK_CSV, 2, "{in}/book.csv: empty file (header only, no positions)",
         {"book.csv": f"{CSV_HEADER}\n".encode()}),
    Case("book csv: empty file", RISK_CSV, 2, "{in}/book.csv: empty file", {"book.csv": b""}),
    Case("book csv: boolean text", RISK_CSV, 2, "{in}/book.csv line 2: SPX notional 'true' is not a number",
         {"book.csv": f"{CSV_HEADER}\nSPX,true,equity,x,US,1e9,1\n".encode()}),
    Case("book csv: inf", RISK_CSV, 2, "{in}/book.csv line 2: SPX notional must be finite, got inf",
         {"book.csv": f"{CSV_HEADER}\nSPX,inf,equity,x,US,1e9,1\n".encode()}),
    Case("book csv: 1e300", RISK_CSV, 2, "{in}/book.csv line 2: SPX notional 1e+300 is beyond the bound",
         {"book.csv": f"{CSV_HEADER}\nSPX,1e300,equity,x,US,1e9,1\n".encode()}),
    Case("book csv: byte-order mark", RISK_CSV, 0, VAR_LINE, {"book.csv": b"\xef\xbb\xbf" + BOOK_CSV.encode()}),
    # ---- limits YAML (risk --limits)
    Case("limits: the bundled limits", (*RISK, "--limits", LIMITS), 0, "    var_99_pct_nav: "),
    Case("limits: alias bomb", (*RISK, "--limits", LIMITS), 2,
         f"{LIMITS} line 1: YAML anchors and aliases are not accepted", _limits(ALIAS_BOMB + "limits: *i\n")),
    Case("limits: !!python/object tag", (*RISK, "--limits", LIMITS), 2, f"{LIMITS} line 1: not valid YAML",
         _limits("limits: !!python/object/apply:os.system ['true']\n")),
    Case("limits: unknown key", (*RISK, "--limits", LIMITS), 2, "unknown key",
         _limits(f"version: 1\nlimits: [{LIMIT}]\nbreach_all: true\n")),
    Case("limits: warn beyond breach", (*RISK, "--limits", LIMITS), 2, "warn 3 must be",
         _limits(f"version: 1\nlimits: [{LIMIT.replace('warn: 1.5', 'warn: 3')}]\n")),
    Case("limits: threshold a boolean", (*RISK, "--limits", LIMITS), 2, "must be a finite number, got True",
         _limits(f"version: 1\nlimits: [{LIMIT.replace('breach: 2.0', 'breach: true')}]\n")),
    Case("limits: threshold .inf", (*RISK, "--limits", LIMITS), 2, "must be a finite number, got inf",
         _limits(f"version: 1\nlimits: [{LIMIT.replace('breach: 2.0', 'breach: .inf')}]\n")),
    Case("limits: version 2", (*RISK, "--limits", LIMITS), 2, "unsupported version 2",
         _limits(f"version: 2\nlimits: [{LIMIT}]\n")),
    Case("limits: empty list", (*RISK, "--limits", LIMITS), 2, "must be a non-empty list",
         _limits("version: 1\nlimits: []\n")),
    Case("limits: not a mapping", (*RISK, "--limits", LIMITS), 2, "must be a mapping with a 'limits' list",
         _limits("- 1\n")),
    Case("limits: file not found", (*RISK, "--limits", "{in}/nope.yaml"), 2, "{in}/nope.yaml: limits file not found"),
    Case("limits: unknown severity", (*RISK, "--limits", LIMITS), 2, "must be one of",
         _limits(f"version: 1\nlimits: [{LIMIT.replace('severity: error', 'severity: fatal')}]\n")),
    # ---- risk and stress: data the figures depend on
    Case("risk: fat finger the day before", RISK, 0, REMOVED + "2024-12-30",
         prices((PREV_SPX, "2024-12-30,SPX,59069.399"))),
    Case("risk: negative close on the as-of day", RISK, 0, REMOVED + "2024-12-31",
         prices((LAST_SPX, "2024-12-31,SPX,-5881.63"))),
    Case("risk: zero close on the as-of day", RISK, 0, REMOVED + "2024-12-31", prices((LAST_SPX, "2024-12-31,SPX,0"))),
    Case("risk: denormal close", RISK, 0, REMOVED + "2024-12-31", prices((LAST_SPX, "2024-12-31,SPX,1e-320"))),
    Case("risk: a row dated 2027", RISK, 0, REMOVED + "2027-01-04",
         prices((LAST_SPX, LAST_SPX + "\n2027-01-04,SPX,5900"))),
    Case("risk: read on 2026-11-30", ("risk", "--portfolio", BOOK, *DATA, "--no-stress", "--mc-scenarios", "0",
                                      "--evaluation-date", "2026-11-30"), 0, "stale against the clock"),
    Case("risk: today's clock", ("risk", "--portfolio", BOOK, *DATA, "--no-stress", "--mc-scenarios", "0"), 0,
         "stale against the clock"),
    Case("risk: one feed ends a month early", RISK, 3, "excluded because their feed was rejected: SPX",
         {"prices.csv": b"".join(line for line in base_files()["prices.csv"].splitlines(True)
                                 if not (b",SPX," in line and line[:7] == b"2024-12"))}),
    Case("risk: a held feed rejected", RISK, 3, "excluded because their feed was rejected: WTI",
         {"prices.csv": b"".join(line for line in base_files()["prices.csv"].splitlines(True)
                                 if not (b",WTI," in line and line[:7] >= b"2024-10"))}),
    Case("stress: as delivered", STRESS, 0, "stress losses"),
    Case("stress: fat finger", STRESS, 0, REMOVED + "2024-12-30",
         prices((PREV_SPX, "2024-12-30,SPX,59069.399"))),
    # ---- command-line arguments
    Case("backtest: as delivered", HS, 0, "zone"),
    Case("backtest: window 0", (*HS[:-2], "--method", "hs", "--window", "0"), 2,
         "argument --window: must be at least 20, got 0"),
    Case("backtest: window 1 (fhs)", (*BACKTEST[:-2], "--method", "fhs", "--window", "1"), 2,
         "argument --window: must be at least 20, got 1"),
    Case("backtest: window -1", (*BACKTEST[:-2], "--method", "fhs", "--window", "-1"), 2,
         "argument --window: must be at least 20, got -1"),
    Case("backtest: window text", (*BACKTEST[:-2], "--method", "hs", "--window", "x"), 2,
         "argument --window: 'x' is not a whole number"),
    Case("backtest: window longer than the data", (*BACKTEST[:-2], "--method", "hs", "--window", "100000"), 2,
         "SPX"),
    Case("backtest: confidence 0", (*HS, "--confidence", "0"), 2, "argument --confidence: confidence must be between"),
    Case("backtest: confidence 1", (*HS, "--confidence", "1"), 2, "argument --confidence: confidence must be between"),
    Case("backtest: confidence 1.5", (*HS, "--confidence", "1.5"), 2,
         "argument --confidence: confidence must be between"),
    Case("backtest: confidence x", (*HS, "--confidence", "x"), 2, "argument --confidence: 'x' is not a number"),
    Case("backtest: confidence nan", (*HS, "--confidence", "nan"), 2, "argument --confidence"),
    Case("backtest: unknown method", (*BACKTEST, "--method", "magic"), 2, "argument --method: invalid choice"),
    Case("backtest: unknown symbol", ("backtest", *DATA, "--symbol", "FOO", "--method", "hs"), 2,
         f"{PRICES}: no rows for symbol 'FOO'"),
    Case("backtest: dates reversed", (*HS, "--start", "2024-12-01", "--end", "2024-06-01"), 2,
         "SPX: no forecast days between the given --start and --end"),
    Case("backtest: garbage date", (*HS, "--start", "yesterday"), 2,
         "argument --start: 'yesterday' is not a YYYY-MM-DD date"),
    Case("backtest: start in 2099", (*HS, "--start", "2099-01-01"), 2, "no forecast days"),
    Case("backtest: prices is a folder", ("backtest", "--prices", "{in}/empty", "--instruments", INSTRUMENTS,
                                          "--symbol", "SPX", "--method", "hs"), 2, "{in}/empty",
         {"empty/.keep": b""}),
    Case("backtest: lstm without a registry", (*BACKTEST, "--method", "lstm", "--mlflow-uri",
                                               "sqlite:///{out}/mlflow.db"), 2,
         "sqlite:///{out}/mlflow.db: no MLflow store there (the database file does not exist)"),
    Case("backtest: garch window too short", (*BACKTEST, "--method", "garch"), 2, "GARCH needs 500"),
    Case("risk: asof garbage", (*RISK, "--asof", "2024-02-30"), 2, "argument --asof: '2024-02-30' is not a YYYY-MM-DD"),
    Case("risk: asof before the data", (*RISK, "--asof", "1990-01-02"), 2, "1990-01-02"),
    Case("risk: asof after the data", (*RISK, "--asof", "2025-06-30", "--evaluation-date", "2025-07-01"), 0,
         "stale prices for"),
    Case("risk: negative draws", (*RISK, "--mc-scenarios", "-1"), 2,
         "argument --mc-scenarios: must be at least 0, got -1"),
    Case("risk: draws text", (*RISK, "--mc-scenarios", "many"), 2, "argument --mc-scenarios: 'many' is not a whole"),
    Case("risk: evaluation date garbage", (*RISK, "--evaluation-date", "now"), 2, "argument --evaluation-date"),
    Case("risk: evaluation date before the as-of", (*RISK, "--evaluation-date", "2020-01-02"), 2, "2020-01-02"),
    Case("check-data: window reversed", (*CHECK, "--window-start", "2024-12-01", "--window-end", "2024-06-01"), 2,
         "--window-start 2024-12-01 is after --window-end 2024-06-01"),
    Case("check-data: window end garbage", (*CHECK, "--window-end", "2024/12/31"), 2,
         "argument --window-end: '2024/12/31' is not a YYYY-MM-DD date"),
    Case("check-data: window beyond the calendar", (*CHECK, "--window-end", "2099-01-01"), 2,
         "calendar XHKG is recorded only to 2049-12-31; asked for 2099-01-01"),
    Case("check-data: suite not found", (*CHECK, "--suite", "{in}/nope.json"), 2, "{in}/nope.json"),
    Case("check-data: suite not JSON", (*CHECK, "--suite", "{in}/suite.json"), 2, "{in}/suite.json",
         {"suite.json": b"{not json"}),
    Case("check-data: suite a folder", (*CHECK, "--suite", "{in}"), 2, "{in}"),
    Case("check-data: quarantine is a file", (*CHECK, "--quarantine", "{in}/instruments.csv"), 2, INSTRUMENTS,
         prices((PREV_SPX, "2024-12-30,SPX,59069.399"))),
    Case("lineage: path traversal", ("lineage", "../../mlruns/alias_audit", *LINEAGE), 2,
         "argument run_id: '../../mlruns/alias_audit' is not a run id"),
    Case("lineage: absolute path", ("lineage", "/etc/passwd", *LINEAGE), 2, "argument run_id: '/etc/passwd'"),
    Case("lineage: empty id", ("lineage", "", *LINEAGE), 2, "argument run_id: '' is not a run id"),
    Case("lineage: unknown run, no MLflow store", ("lineage", "0123456789abcdef", *LINEAGE), 2,
         "0123456789abcdef: neither a Dagster run with recorded lineage in {out}/lineage nor an MLflow run"),
    Case("cli: unknown command", ("explode",), 2, "argument command: invalid choice: 'explode'"),
    Case("cli: no command", (), 2, "the following arguments are required: command"),
    Case("cli: unknown option", (*CHECK, "--force"), 2, "unrecognized arguments: --force"),
    Case("stress: portfolio not found", ("stress", "--portfolio", "{in}/nope.yaml", *DATA, *FAST), 2,
         "{in}/nope.yaml: file not found"),
)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare(case: Case, root: Path) -> tuple[list[str], Path]:
    """Write the case's inputs under ``root/inputs`` and return its arguments and the inputs folder."""
    inputs, out = root / "inputs", root / "out"
    out.mkdir(parents=True, exist_ok=True)
    for name, content in {**base_files(), **case.files}.items():
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        (inputs / name).write_bytes(content)
    return [a.replace("{in}", str(inputs)).replace("{out}", str(out)) for a in case.argv], inputs


def run_case(case: Case, root: Path, execute: Callable[[list[str]], tuple[int, str, str]]) -> Outcome:
    """Run one case in ``root`` with ``execute(argv) -> (exit, stdout, stderr)``."""
    argv, inputs = prepare(case, root)
    before = snapshot(inputs)
    code, stdout, stderr = execute(argv)
    says = case.says.replace("{in}", str(inputs)).replace("{out}", str(root / "out"))
    expected = Case(case.name, case.argv, case.exit, says, case.files, case.xfail)
    return Outcome(expected, code, stdout, stderr, snapshot(inputs) != before)


def in_subprocess(argv: list[str]) -> tuple[int, str, str]:
    """The real command line in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", *argv], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "PYTHONWARNINGS": "ignore"})
    return done.returncode, done.stdout, done.stderr


def in_process(argv: list[str]) -> tuple[int, str, str]:
    """``risk_platform.cli.main`` in this interpreter (an escaping exception is reported as a traceback)."""
    import traceback

    from risk_platform.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        except Exception:  # noqa: BLE001 (counted as a traceback)
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue()


def figures(outcomes: list[Outcome]) -> dict:
    """The figures of a run of the catalogue."""
    failing = [o for o in outcomes if o.problems]
    return {"cases": len(outcomes),
            "exit_code_matches": sum(o.exit == o.case.exit for o in outcomes),
            "tracebacks": sum(o.traceback for o in outcomes),
            "silent_wrong_results": sum(o.silent_wrong for o in outcomes),
            "inputs_modified": sum(o.inputs_changed for o in outcomes),
            "known_failures": [o.case.name for o in outcomes if o.case.xfail],
            "failing": [{"case": o.case.name, "problems": o.problems, "stderr": o.stderr.strip()[-300:]}
                        for o in failing]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", action="store_true", help="call the CLI's main() here (fast)")
    parser.add_argument("-k", help="only the cases whose name contains this text")
    args = parser.parse_args(argv)
    execute = in_process if args.in_process else in_subprocess
    outcomes = []
    for case in CASES:
        if args.k and args.k not in case.name:
            continue
        with tempfile.TemporaryDirectory() as root:
            outcomes.append(run_case(case, Path(root), execute))
    print(json.dumps(figures(outcomes), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
