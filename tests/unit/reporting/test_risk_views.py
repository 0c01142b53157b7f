"""What the risk assets show: formatted figures, the headline, ranked stress, limit utilisation, the recent VaR
backtest and the charts (real PNGs, inline Markdown)."""

import base64

import numpy as np
import pandas as pd
import pytest

from risk_platform import paths
from risk_platform.portfolio.positions import load_portfolio
from risk_platform.render.charts import markdown_image, ranked_bars
from risk_platform.render.formatting import money, percent, share
from risk_platform.reporting.risk_views import (
    headline_utilisation,
    limits_table,
    stress_frame,
    utilisation_frame,
    var_against_pnl_chart,
)
from risk_platform.risk.limits import LimitResult
from risk_platform.risk.report import var_headline
from risk_platform.validation.backtest import traffic_light
from risk_platform.validation.book_backtest import recent_book_backtest, validation_book
from risk_platform.validation.crisis import book_pnl
from risk_platform.validation.var_forecasts import rolling_var

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("value", "shown"), [(6190471, "USD 6.19m"), (999_600, "USD 1.00m"), (999_400, "USD 999k"),
                                              (-4.2e6, "USD -4.20m"), (2.5e9, "USD 2.50bn"), (950, "USD 950"),
                                              (float("nan"), "n/a")])
def test_money_has_a_currency_three_figures_and_a_magnitude(value, shown):
    assert money(value) == shown


def test_the_headline_reads_like_the_issue_asks():
    line = var_headline(6_190_471, 500_000_000, "vine_copula: vine copula (26 factors, 424 days)", "USD",
                        limit_utilisation=0.619)
    assert line == "VaR 99% 1-day USD 6.19m, 1.24% of NAV, 62% of limit, bound by vine copula"
    assert var_headline(1e6, 1e8, "", "EUR") == "VaR 99% 1-day EUR 1.00m, 1.00% of NAV, bound by unknown"
    assert percent(1.2381) == "1.24%" and share(0.5) == "50%"


def test_stress_is_ranked_worst_first_with_losses_positive_and_the_correlation_var_apart():
    stress = {"gain": {"kind": "hypothetical", "pnl": 5e6, "pnl_pct_nav": 1.0},
              "gfc": {"kind": "historical_replay", "pnl": -30e6, "pnl_pct_nav": -6.0},
              "covid": {"kind": "historical_replay", "pnl": -20e6, "pnl_pct_nav": -4.0},
              "counterfactual correlation": {"kind": "counterfactual_correlation", "pnl": -9e6, "pnl_pct_nav": -1.8}}
    frame = stress_frame(stress)
    assert list(frame["scenario"]) == ["gfc", "covid", "gain"]
    assert list(frame["loss_usd"]) == [30e6, 20e6, -5e6] and frame["loss_pct_nav"].iloc[0] == 6.0


def limit(name, status, figure, warn, breach, unit="", direction="above", metric="x"):
    return LimitResult(limit=name, family="f", metric=metric, status=status, severity=None, figure=figure,
                       threshold=breach, warn_threshold=warn, breach_threshold=breach, utilisation=None, unit=unit,
                       limit_severity="warn", direction=direction)


def test_utilisation_is_the_share_of_the_breach_threshold_floors_inverted():
    limits = [limit("var_99_pct_nav", "ok", 1.24, 1.5, 2.0, "% of NAV", metric="var_99"),
              limit("liquidity_floor", "warn", 0.5, 0.6, 0.4, direction="below"),
              limit("regime", "ok", "normal", ["high"], None),
              limit("zero", "ok", 0.1, None, 0.0)]
    frame = utilisation_frame(limits)
    assert list(frame.index) == ["var_99_pct_nav", "liquidity_floor"]  # categorical and zero limits: no scale
    assert frame.at["var_99_pct_nav", "used_pct"] == pytest.approx(62.0)
    assert frame.at["var_99_pct_nav", "warn_pct"] == pytest.approx(75.0)
    assert frame.at["liquidity_floor", "used_pct"] == pytest.approx(80.0)  # 0.4 / 0.5: nearer the floor is worse
    assert frame.at["liquidity_floor", "warn_pct"] == pytest.approx(100 * 0.4 / 0.6)
    assert headline_utilisation(limits) == pytest.approx(0.62)
    shown = limits_table(limits)
    assert list(shown.columns[:3]) == ["limit", "status", "used_%_of_breach"]
    assert shown.loc[0, ["used_%_of_breach", "figure", "breach_at"]].tolist() == ["62%", "1.24%", "2.00%"]
    assert shown.loc[2, "used_%_of_breach"] == "n/a" and shown.loc[2, "warn_at"] == "high"


def test_charts_are_pngs_inline_in_markdown():
    png = ranked_bars(pd.Series([3.0, 1.0], index=["a", "b"]), "t", "x", "USD")
    assert png.startswith(PNG_MAGIC) and len(png) < 60_000
    text = markdown_image(png, "alt")
    assert text.startswith("![alt](data:image/png;base64,") and base64.b64decode(text.split(",", 1)[1][:-1]) == png


def test_the_recent_backtest_is_the_books_last_250_days_of_the_rolling_method(market_inputs, instruments):
    book = load_portfolio(paths.SAMPLE_PORTFOLIO, instruments)
    m = market_inputs
    recent = recent_book_backtest(book, m.panel, m.instruments, m.unavailable, m.returns)
    assert len(recent.dates) == 250 and recent.dates[-1] == m.returns["date"].max()
    exposure = validation_book(book, m.panel, m.instruments, m.unavailable).exposure
    full = rolling_var(book_pnl(m.returns, exposure), "price", "fhs", 0.99, 500)  # the whole history
    last = full.take(np.arange(len(full.dates) - 250, len(full.dates)))
    np.testing.assert_allclose(recent.var, last.var, rtol=1e-9)  # reading only the rows needed changes nothing
    np.testing.assert_allclose(recent.losses, last.losses, rtol=1e-12)
    chart = var_against_pnl_chart(recent)
    exceptions = int((recent.losses > recent.var).sum())
    zone = traffic_light(exceptions, 250, 0.99)
    assert f"last 250 days: {exceptions} exceptions (2.5 expected), Basel {zone}" in chart
    assert "![VaR against P&L](data:image/png;base64," in chart
