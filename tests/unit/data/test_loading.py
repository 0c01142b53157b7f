"""Bad input gets one clear line naming the file and row; good input parses as delivered."""

import numpy as np
import pandas as pd
import pytest

from risk_platform.data.loading import load_instruments, load_prices
from risk_platform.errors import InputError

GOOD = "date,symbol,value\n2024-01-02,SPX,4742.83\n2024-01-02,UST10Y,3.95\n2024-01-03,SPX,4704.81\n"


def write(tmp_path, text, name="p.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date,symbol\n2024-01-02,SPX\n", "missing column(s) value"),
        ("date,symbol,value\n2024-01-02,SPX,abc\n", "line 2: value 'abc' for SPX on 2024-01-02 is not a number"),
        ("date,symbol,value\n2024-01-02,SPX,1\n2024-01-02,SPX,2\n", "SPX on 2024-01-02 has conflicting values"),
        ("date,symbol,value\n2024-01-02,NOPE,1\n", "line 2: unknown symbol 'NOPE'"),
        ("", "empty file"),
        ("date,symbol,value\n", "empty file (header only"),
        ("date,symbol,value\n2024-01-03,SPX,1\n2024-01-02,SPX,2\n", "line 3: dates for SPX are not in ascending order"),
        ("date,symbol,value\n02/01/2024,SPX,1\n", "line 2: date '02/01/2024' is not a YYYY-MM-DD date"),
        ("date,symbol,value\n2024-01-02,,1\n", "line 2: empty symbol"),
        ("date,symbol,value\n2024-01-02,SPX,inf\n", "is not finite"),
        ("date,symbol,value\n2024-01-02,SPX,\"12\n", "not a readable CSV file"),
        ("date,symbol,value\n2024-01-02,SPX,1,2\n", "not a readable CSV file (Expected 3 fields in line 2, saw 4)"),
    ],
)
def test_bad_price_files_name_the_problem(tmp_path, instruments, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_prices(path, instruments)
    message = str(err.value)
    assert expected in message
    assert str(path) in message or path.name in message
    assert "\n" not in message


def test_missing_tokens_are_kept_as_missing_values(tmp_path, instruments):
    text = GOOD + "2024-01-04,SPX,\n2024-01-05,SPX,.\n2024-01-08,SPX,null\n"
    raw = load_prices(write(tmp_path, text), instruments)
    spx = raw.frame[raw.frame["symbol"] == "SPX"]
    assert spx["value"].isna().sum() == 3
    assert raw.missing_token_rows == 3
    assert list(spx["value_raw"].tail(3)) == ["", ".", "null"]


def test_exact_duplicates_are_dropped_and_counted(tmp_path, instruments):
    raw = load_prices(write(tmp_path, GOOD + "2024-01-03,SPX,4704.81\n"), instruments)
    assert raw.exact_duplicates_dropped == 1
    assert len(raw.frame) == 3


def test_file_digest_is_sha256_of_bytes(tmp_path, instruments):
    import hashlib

    path = write(tmp_path, GOOD)
    raw = load_prices(path, instruments)
    assert raw.files[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_directory_of_csv_and_parquet_files(tmp_path, instruments):
    write(tmp_path, "date,symbol,value\n2024-01-02,SPX,4742.83\n2024-01-03,SPX,4704.81\n", "spx.csv")
    gold = pd.DataFrame({"date": ["2024-01-02"], "symbol": ["GOLD"], "value": ["2064.4"]})
    gold.to_parquet(tmp_path / "gold.parquet")
    raw = load_prices(tmp_path, instruments)
    assert raw.symbols == ["GOLD", "SPX"]
    assert len(raw.files) == 2
    np.testing.assert_allclose(raw.frame.set_index("symbol").loc["GOLD", "value"], 2064.4)


def test_parquet_errors_name_the_row(tmp_path, instruments):
    pd.DataFrame({"date": ["2024-01-02"], "symbol": ["SPX"], "value": ["x"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"bad.parquet row 1: value 'x'"):
        load_prices(tmp_path / "bad.parquet", instruments)


def test_missing_file_and_empty_directory(tmp_path, instruments):
    with pytest.raises(InputError, match="file not found"):
        load_prices(tmp_path / "nope.csv", instruments)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .csv or .parquet price files"):
        load_prices(tmp_path / "empty", instruments)


def test_bundled_instruments_have_a_calendar_per_symbol(instruments):
    assert len(instruments) == 28
    assert instruments["calendar"].ne("").all()
    assert instruments.set_index("symbol").at["N225", "calendar"] == "XTKS"


def test_bad_instruments(tmp_path):
    path = write(tmp_path, "symbol,asset_class,quote_type,currency,calendar\nX,equity,price,USD,NOPE\n", "i.csv")
    with pytest.raises(InputError, match="line 2: X has unknown exchange calendar 'NOPE'"):
        load_instruments(path)
    path = write(tmp_path, "symbol,asset_class,quote_type,currency,calendar\nX,equity,level,USD,XNYS\n", "i.csv")
    with pytest.raises(InputError, match="quote_type 'level'"):
        load_instruments(path)


def test_blank_lines_do_not_shift_line_numbers(tmp_path, instruments):
    path = write(tmp_path, "date,symbol,value\n2024-01-02,SPX,1\n\n2024-01-03,SPX,x\n")
    with pytest.raises(InputError, match="line 4: value 'x'"):
        load_prices(path, instruments)


def test_the_same_number_written_differently_is_not_a_conflict(tmp_path, instruments):
    raw = load_prices(write(tmp_path, "date,symbol,value\n2024-01-02,SPX,100\n2024-01-02,SPX,100.0\n"), instruments)
    assert raw.exact_duplicates_dropped == 1
