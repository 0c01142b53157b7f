"""Malformed inputs through the real command line: exit 2, one line on stderr naming the file, row or argument,
no traceback, and the input file left byte for byte as it was."""

import subprocess
import sys

import pytest

from risk_platform import paths

INSTRUMENTS = str(paths.BUNDLED_INSTRUMENTS)
POSITIONS_HEADER = b"symbol,notional,asset_class,sector,region,avg_daily_volume,bid_ask_bps\n"
POSITION = "{symbol: SPX, asset_class: equity, sector: x, region: US, avg_daily_volume: 1e9, bid_ask_bps: 1"
ALIAS_BOMB = b"".join(
    [b'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    + [f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n".encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
    + [b"portfolio: {nav: 1000000}\npositions: *i\n"]
)

# (name, file name, bytes, command (``{file}`` is the bad file), what the one line must say)
CASES = [
    ("prices not UTF-8", "prices.csv", b"date,symbol,value\n2024-01-02,SPX,5\xff00\n",
     ["check-data", "--prices", "{file}"], "{file} line 2: not UTF-8 text (byte 0xff at offset 34)"),
    ("prices binary", "prices.csv", b"\x7fELF\x02\x01\x01\x00\x00\x00" * 50,
     ["check-data", "--prices", "{file}"], "{file} line 1: binary file (NUL byte), expected UTF-8 text"),
    ("positions not UTF-8", "book.csv", POSITIONS_HEADER + b"SPX,1e6,equity,\xe9quities,US,1e9,1\n",
     ["risk", "--portfolio", "{file}"], "{file} line 2: not UTF-8 text (byte 0xe9 at offset 86)"),
    ("positions binary", "book.csv", POSITIONS_HEADER + b"\x00\x01\x02",
     ["risk", "--portfolio", "{file}"], "{file} line 2: binary file (NUL byte)"),
    ("positions unbalanced quote", "book.csv", POSITIONS_HEADER + b'SPX,"1e6,equity,x,US,1e9,1\n',
     ["risk", "--portfolio", "{file}"], "{file}: not a readable CSV file (EOF inside string starting at row 1)"),
    ("positions extra field", "book.csv", POSITIONS_HEADER + b"SPX,1e6,equity,x,US,1e9,1,oops\n",
     ["risk", "--portfolio", "{file}"], "{file}: not a readable CSV file (Expected 7 fields in line 2, saw 8)"),
    ("positions alias bomb", "book.yaml", ALIAS_BOMB, ["risk", "--portfolio", "{file}"],
     "{file} line 1: YAML anchors and aliases are not accepted ('a')"),
    ("nav true", "book.yaml", f"portfolio: {{nav: true}}\npositions:\n - {POSITION}, notional: 1}}\n".encode(),
     ["risk", "--portfolio", "{file}"], "{file}: portfolio nav is a boolean (True), not a number"),
    ("quantity 1e300", "book.yaml", f"positions:\n - {POSITION}, quantity: 1e300}}\n".encode(),
     ["risk", "--portfolio", "{file}"], "{file} position 1: SPX quantity 1e+300 is beyond the bound"),
]


# well-formed files with an implausible point: the plausibility gate names and removes it (exit 3, the gate failed)
SUSPECT_POINTS = [
    ("price 1e308", b"date,symbol,value\n2024-01-02,SPX,5906.94\n2024-01-03,SPX,1e308\n",
     "SPX 2024-01-03 value 1e308 ({file}): value outside the representable range"),
    ("price dated 2099", b"date,symbol,value\n2024-12-31,HSI,20059.95\n2099-01-05,HSI,20000\n",
     "HSI 2099-01-05 value 20000 ({file}): dated after the evaluation date"),
]


@pytest.mark.parametrize(("name", "content", "expected"), SUSPECT_POINTS, ids=[c[0] for c in SUSPECT_POINTS])
def test_an_implausible_point_fails_the_gate_naming_it_and_leaves_the_file_untouched(tmp_path, name, content,
                                                                                    expected):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    bad = inputs / "prices.csv"
    bad.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", "check-data", "--prices", str(bad),
                           "--instruments", INSTRUMENTS, "--quarantine", str(tmp_path / "quarantine")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected.format(file=bad) in done.stderr
    assert bad.read_bytes() == content and [p.name for p in inputs.iterdir()] == ["prices.csv"]


@pytest.mark.parametrize(("name", "file_name", "content", "command", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_file_exits_2_with_one_line_and_is_left_untouched(tmp_path, name, file_name, content, command,
                                                               expected):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    bad = inputs / file_name
    bad.write_bytes(content)
    args = [a.format(file=bad) for a in command] + ["--instruments", INSTRUMENTS]
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("risk-platform: error: " + expected.format(file=bad)), done.stderr
    assert bad.read_bytes() == content and [p.name for p in inputs.iterdir()] == [file_name]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["backtest", "--symbol", "SPX", "--method", "hs", "--window", "0"],
         "argument --window: must be at least 20, got 0"),
        (["backtest", "--symbol", "SPX", "--method", "fhs", "--window", "-5"],
         "argument --window: must be at least 20, got -5"),
        (["lineage", "../../mlruns/alias_audit"],
         "argument run_id: '../../mlruns/alias_audit' is not a run id (a Dagster or MLflow run id: 8 to 64 hex"
         " digits and hyphens)"),
    ],
)
def test_a_bad_argument_exits_2_with_one_line_naming_it(tmp_path, args, expected):
    if args[0] == "backtest":
        args += ["--prices", str(paths.BUNDLED_PRICES), "--instruments", INSTRUMENTS]
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"risk-platform: error: {expected}\n"
    assert list(tmp_path.iterdir()) == []  # nothing read or created (no MLflow store, no lineage folder)


def test_a_window_beyond_the_venue_calendar_exits_2_naming_the_calendar_and_date(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_bytes(b"date,symbol,value\n2024-12-30,HSI,20000\n2024-12-31,HSI,20059.95\n")
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", "check-data", "--prices", str(prices),
                           "--instruments", INSTRUMENTS, "--window-end", "2099-01-01"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == "risk-platform: error: calendar XHKG is recorded only to 2049-12-31; asked for 2099-01-01\n"


def test_a_limits_file_with_yaml_aliases_is_refused_naming_it(tmp_path):
    from risk_platform.errors import InputError
    from risk_platform.risk.limits import load_limits

    path = tmp_path / "limits.yaml"
    path.write_bytes(ALIAS_BOMB.replace(b"positions", b"limits"))
    with pytest.raises(InputError) as err:
        load_limits(path)
    assert str(err.value) == f"{path} line 1: YAML anchors and aliases are not accepted ('a'); write the values out"
