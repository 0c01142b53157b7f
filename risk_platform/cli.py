"""``risk-platform``: the command line over the same library functions the Dagster assets call.

Exit codes: 0 success, 2 bad input (one line on stderr, no traceback), 3 valid input but a gate failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.errors import ComputationError, GateFailedError, InputError
from risk_platform.validation.methods import LSTM_METHODS, METHODS

EXIT_OK, EXIT_BAD_INPUT, EXIT_GATE_FAILED = 0, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        print(f"risk-platform: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _date(text: str) -> pd.Timestamp:
    """A YYYY-MM-DD date (pandas would also take ``now`` or ``today`` as the current time)."""
    try:
        return pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a YYYY-MM-DD date") from None


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0.5 < value < 1.0:
        raise argparse.ArgumentTypeError(f"confidence must be between 0.5 and 1, got {value}")
    return value


MIN_WINDOW = 20  # backtest history: a tail quantile from fewer days is noise (and 0 or 1 day has none)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _clock_time(text: str) -> str:
    """HH:MM (24 h)."""
    try:
        datetime.strptime(text, "%H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a time HH:MM") from None
    return text


def _count(text: str) -> int:
    return _whole_number(text, 0)


def _window(text: str) -> int:
    return _whole_number(text, MIN_WINDOW)


def _method_list(text: str) -> tuple[str, ...]:
    """``hs,fhs,evt_ewma``: backtest methods, each known, none twice."""
    names = tuple(t.strip() for t in text.split(","))
    unknown = [n for n in names if n not in METHODS]
    if unknown or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"'{text}': expected distinct methods among {', '.join(METHODS)}")
    return names


def _run_id(text: str) -> str:
    from risk_platform.lineage import check_run_id

    try:
        return check_run_id(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _delivery(args: argparse.Namespace):
    """The instruments, the prices delivered and the gate's suite named by the arguments."""
    from risk_platform.data.loading import load_instruments, load_prices
    from risk_platform.data.quality import default_suite_path, load_suite

    if args.window_start is not None and args.window_end is not None and args.window_start > args.window_end:
        raise InputError(f"--window-start {args.window_start:%Y-%m-%d} is after --window-end"
                         f" {args.window_end:%Y-%m-%d}")
    instruments = load_instruments(args.instruments)
    raw = load_prices(args.prices, instruments)
    return instruments, raw, load_suite(Path(args.suite) if args.suite else default_suite_path())


def _market(args: argparse.Namespace, symbol: str | None = None):
    """The gated market inputs of the risk engine (:func:`risk_platform.workflows.market_inputs.gated_market_inputs`),
    of one ``symbol`` only when given."""
    from risk_platform.workflows.market_inputs import gated_market_inputs

    instruments, raw, suite = _delivery(args)
    if symbol is not None and symbol not in set(raw.frame["symbol"]):
        raise InputError(f"{args.prices}: no rows for symbol '{symbol}'")
    return gated_market_inputs(raw.frame, instruments, suite, window_start=args.window_start,
                               window_end=args.window_end, symbols=None if symbol is None else [symbol])


def cmd_check_data(args: argparse.Namespace) -> int:
    from risk_platform.data.quality import gate_delivery

    instruments, raw, suite = _delivery(args)
    outcome = gate_delivery(raw.frame, instruments, suite, window_start=args.window_start, window_end=args.window_end,
                            gx=args.gx, quarantine_dir=Path(args.quarantine) if args.quarantine else None)
    decision = outcome.decision
    if args.json:
        feeds = decision.table.to_dict(orient="records")
        payload = {
            "passed": outcome.passed,
            "threshold": decision.threshold,
            "accepted": list(decision.accepted),
            "rejected": [f for f in feeds if not f["accepted"]],
            "feeds": feeds,
            "files": [{"path": f.path, "sha256": f.sha256, "rows": f.rows} for f in raw.files],
            "gx_validation_id": decision.gx_validation_id,
            "quarantined": [str(p.parent) for p in outcome.quarantined],
            "suspect_points": outcome.suspects.assign(date=outcome.suspects["date"].astype(str)).to_dict("records"),
            "implausible_feeds_rejected": list(outcome.plausibility.rejected) if outcome.plausibility else [],
        }
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(outcome.summary())
    outcome.raise_if_failed()
    return EXIT_OK


def _portfolio_report(args: argparse.Namespace, *, copula: bool, stress: bool):
    """Gate the data, load the book and compute its report (non-model methods: the CLI loads no models)."""
    from risk_platform.data.loading import load_instruments
    from risk_platform.portfolio.positions import load_portfolio
    from risk_platform.risk.config import RiskConfig
    from risk_platform.workflows.assessment import assess

    portfolio = load_portfolio(args.portfolio, load_instruments(args.instruments))  # bad positions fail first
    market = _market(args)
    config = RiskConfig(mc_scenarios=args.mc_scenarios, fit_copula=copula, evaluation_date=args.evaluation_date)
    return assess(portfolio, market, config, asof=args.asof, stress=stress), market


def _risk_exit(report) -> int:
    """:class:`GateFailedError` (exit 3) when a held position's feed was rejected (figures computed without
    it); stale prices, data stale against the clock and flagged market data points (removed or unconfirmed,
    one line each: what they affect) only warn."""
    for flag in report.data_flags:
        print(f"risk-platform: warning: data flag: {flag['statement']}", file=sys.stderr)
    if report.stale_against_clock:
        print(f"risk-platform: warning: stale against the clock: {report.stale_against_clock_reason}",
              file=sys.stderr)
    if report.stale:
        print(f"risk-platform: warning: stale prices for {', '.join(report.stale_symbols)}: figures flagged stale",
              file=sys.stderr)
    return _excluded_exit([f for f in report.flagged_positions if f["excluded"]])


NO_MODELS = "none: the command line runs the non-model methods only (historical, EWMA parametric, filtered HS," \
    " conditional EVT, vine copula, regime-adjusted with empirical regime transitions); model methods run in the" \
    " Dagster pipeline"


def cmd_risk(args: argparse.Namespace) -> int:
    from risk_platform.risk.limits import evaluate_limits, limit_on, load_limits

    limits = load_limits(args.limits)  # a bad limits file fails before any figure
    report, market = _portfolio_report(args, copula=args.mc_scenarios > 0, stress=not args.no_stress)
    checked = evaluate_limits(report.to_dict(), limits)
    var_limit = limit_on(checked)
    if args.json:
        print(json.dumps({**report.to_dict(), "headline": report.headline(var_limit and var_limit.of_limit()[0]),
                          "rejected_feeds": list(market.unavailable), "flagged_feeds": market.flagged,
                          "models": NO_MODELS, "limits_file": limits.source,
                          "limits": [r.to_dict() for r in checked]}, indent=1, default=str))
    else:
        print(report.summary(var_limit))
        print(f"  models: {NO_MODELS}")
        print(f"  limits ({limits.source}):")
        for result in checked:
            print(f"    {result.message}")
    return _risk_exit(report)


def cmd_stress(args: argparse.Namespace) -> int:
    """Stress losses worst first; the counterfactual correlation apart, as the VaR it is (text: losses positive;
    JSON: ``pnl`` in USD, gains positive)."""
    report, market = _portfolio_report(args, copula=False, stress=True)
    if args.json:
        print(json.dumps({"asof": report.asof, "portfolio": report.portfolio, "nav": report.nav,
                          "currency": report.currency, "stale": report.stale, "stale_symbols": report.stale_symbols,
                          "evaluation_date": report.evaluation_date, "feed_age_sessions": report.feed_age_sessions,
                          "stale_against_clock": report.stale_against_clock,
                          "stale_against_clock_reason": report.stale_against_clock_reason,
                          "flagged_positions": report.flagged_positions, "rejected_feeds": list(market.unavailable),
                          "flagged_feeds": market.flagged, "data_flags": report.data_flags,
                          "models": NO_MODELS, "sign_convention": "pnl in USD, gains positive (a loss is negative)",
                          "stress_test_results": {s["name"]: s for s in report.stress_losses()},
                          "counterfactual_correlation": report.counterfactual_var()}, indent=1, default=float))
    else:
        print(f"{report.portfolio} as of {report.asof}: NAV {report.nav:,.0f} {report.currency}"
              + (f"  [STALE: {', '.join(report.stale_symbols)}]" if report.stale else ""))
        print("\n".join(report.stress_lines(by_asset_class=True)))
    return _risk_exit(report)


def cmd_backtest(args: argparse.Namespace) -> int:
    """Backtest one series (--symbol) or a book (--portfolio) by one method (--method) or compare the methods on
    the same days (--compare), or list the methods (--list-methods)."""
    if args.list_methods:
        return _list_methods(args)
    if args.compare:
        if args.method is not None:
            raise InputError("--compare runs several methods: name them with --methods, not --method")
        return _compare(args)
    if args.methods is not None:
        raise InputError("--methods goes with --compare (one method: --method)")
    if args.method is None:
        raise InputError("--method is required with --symbol or --portfolio (see --list-methods)")
    if args.portfolio is not None:
        return _book_backtest(args)
    from risk_platform.validation.var_forecasts import rolling_var

    market = _market(args, args.symbol)
    if args.symbol in market.unavailable:
        raise GateFailedError(f"{args.symbol} rejected by the missing-data gate")
    panel, returns, instruments = market.panel, market.returns, market.instruments
    series, quote_type = _series(args.symbol, market)
    lstm_variance, model = None, None
    if args.method in LSTM_METHODS:
        lstm_variance, model = _lstm_variance(_registered_lstm(args), args.symbol, panel, returns, instruments)
    forecast = rolling_var(series, quote_type, args.method, args.confidence, args.window, lstm_variance)
    after = _out_of_sample_after(model, forecast, args.symbol)
    payload, result = _scored(args, args.symbol, forecast, after)
    shot = " (zero-shot: not in the model's training series)" if model and not model["seen_in_training"] else ""
    _print_backtest(args, {"symbol": args.symbol, **payload, **({"model": model} if model else {})},
                    f"{args.symbol} {args.method}{shot} {payload['start']}..{payload['end']}: {result.summary()}")
    return EXIT_OK


def _series(symbol: str, market) -> tuple[pd.Series, str]:
    """The gated return series of ``symbol`` (on its own sessions) and its quote type."""
    series = market.returns.set_index("date")["ret"].rename(symbol)
    return series, market.instruments.set_index("symbol").at[symbol, "quote_type"]


def _out_of_sample_after(model: dict | None, forecast, symbol: str) -> pd.Timestamp | None:
    """The LSTM's training end (days up to it are not scored), or None without a model; :class:`InputError`
    when no forecast day is left after it."""
    after = pd.Timestamp(model["train_end"]) if model and model.get("train_end") else None
    if after is not None and not (forecast.dates > after).any():
        raise InputError(f"{model['name']} v{model['version']} was trained on data through {after:%Y-%m-%d}, past"
                         f" {symbol}'s last day: no day left to backtest it out of sample (its validation"
                         " evidence: 'risk-platform models')")
    return after


def _within(args: argparse.Namespace, name: str, forecast, after: pd.Timestamp | None = None):
    """``forecast`` on its days after ``after`` within --start/--end; :class:`InputError` under two days."""
    keep = np.ones(len(forecast.dates), dtype=bool)
    if after is not None:
        keep &= forecast.dates > after
    if args.start is not None:
        keep &= forecast.dates >= args.start
    if args.end is not None:
        keep &= forecast.dates <= args.end
    if keep.sum() < 2:
        raise InputError(f"{name}: no forecast days between the given --start and --end")
    return forecast.take(keep)


def _scored(args: argparse.Namespace, name: str, forecast, after: pd.Timestamp | None = None):
    """The backtest of ``forecast`` on the days after ``after`` within --start/--end: the JSON fields (method,
    window, first and last day, the :class:`~risk_platform.validation.backtest.BacktestResult`) and the result."""
    from risk_platform.validation.backtest import backtest

    kept = _within(args, name, forecast, after)
    result = backtest(kept.losses, kept.var, args.confidence, kept.es)
    return {"method": args.method, "window": args.window, "start": f"{kept.dates[0]:%Y-%m-%d}",
            "end": f"{kept.dates[-1]:%Y-%m-%d}", **result.to_dict()}, result


def _print_backtest(args: argparse.Namespace, payload: dict, text: str) -> None:
    print(json.dumps(payload, indent=1) if args.json else text)


def _list_methods(args: argparse.Namespace) -> int:
    """Every backtest method with its family (``baseline`` or ``model``), from the one methods table."""
    from risk_platform.validation.methods import BACKTEST_METHODS

    rows = [{"method": m.name, "family": m.family, "learned": m.learned, "description": m.description}
            for m in BACKTEST_METHODS]
    print(json.dumps({"methods": rows}, indent=1) if args.json
          else "\n".join(f"{r['method']:<9} {r['family']:<9} {'learned' if r['learned'] else '':<8} {r['description']}"
                          for r in rows))
    return EXIT_OK


def _book_backtest(args: argparse.Namespace) -> int:
    """The book's VaR/ES backtest with fixed exposures (:mod:`risk_platform.validation.book_backtest`); exit 3
    after the figures when a position was excluded because its feed was rejected."""
    from risk_platform.data.loading import load_instruments
    from risk_platform.portfolio.positions import load_portfolio
    from risk_platform.validation.book_backtest import book_forecast, validation_book

    portfolio = load_portfolio(args.portfolio, load_instruments(args.instruments))  # bad positions fail first
    market = _market(args)
    book = validation_book(portfolio, market.panel, market.instruments, market.unavailable)
    daily, lstm, model = market.returns, None, None
    if args.method in LSTM_METHODS:
        daily, lstm, model = _book_lstm(_registered_lstm(args), market, book)
    forecast = book_forecast(daily, book.exposure, args.method, args.confidence, args.window, lstm)
    payload, result = _scored(args, portfolio.name, forecast)
    excluded = ", ".join(f"{f['position']} ({f['reason']})" for f in book.excluded)
    _print_backtest(args, {"portfolio": portfolio.name, **payload, "exposure_asof": f"{book.asof:%Y-%m-%d}",
                           "exposure_usd": {k: float(v) for k, v in book.exposure.items()},
                           "excluded_positions": book.excluded, "rejected_feeds": list(market.unavailable),
                           **({"model": model} if model else {})},
                    f"{portfolio.name} (book, exposures of {book.asof:%Y-%m-%d} held fixed) {args.method}"
                    f" {payload['start']}..{payload['end']}: {result.summary()}"
                    + (f"\n  excluded: {excluded}" if excluded else ""))
    return _excluded_exit(book.excluded)


def _book_lstm(registered: tuple, market, book):
    """The registered LSTM (``registered``: :func:`_registered_lstm`) as the book backtest reads it: the feature
    table, the :class:`~risk_platform.validation.book_backtest.LstmModel` and which version it is (with the
    book's series it forecasts zero-shot)."""
    from risk_platform.features.engineering import series_features
    from risk_platform.features.market_stress import MarketRoles
    from risk_platform.validation.book_backtest import LstmModel

    loaded, model = registered
    daily = series_features(market.returns, market.panel, market.instruments)
    lstm = LstmModel(loaded.module, list(loaded.metadata["symbols"]), int(loaded.metadata["seq_len"]),
                     pd.Timestamp(model["train_end"]) if model.get("train_end") else None,
                     MarketRoles.from_metadata(loaded.metadata.get("market_inputs")))
    return daily, lstm, {**model, "zero_shot_series": sorted(set(book.exposure.index) - set(lstm.symbols))}


def _compare(args: argparse.Namespace) -> int:
    """Every method of --methods (default: all) on the same days, side by side
    (:func:`~risk_platform.validation.significance.compare_methods`); a method that cannot run (an LSTM method
    without a registered version it can score out of sample) is named in ``not_run`` with why, one line."""
    from risk_platform.validation.significance import compare_methods, same_days

    wanted = args.methods or METHODS
    registered, lstm_why = None, ""
    if any(m in LSTM_METHODS for m in wanted):
        try:
            registered = _registered_lstm(args)
        except (InputError, ComputationError) as exc:
            lstm_why = " ".join(str(exc).split())
    runner = _book_runner if args.portfolio is not None else _series_runner
    subject, forecasts, not_run, model, book = runner(args, wanted, registered, lstm_why)
    if not forecasts:
        raise InputError(f"{subject['name']}: no method could run: "
                         + "; ".join(f"{m}: {why}" for m, why in not_run.items()))
    aligned = same_days(list(forecasts.values()))
    comparison = compare_methods(aligned)
    payload = {**subject["fields"], "confidence": args.confidence, "window": args.window,
               "start": f"{aligned[0].dates[0]:%Y-%m-%d}", "end": f"{aligned[0].dates[-1]:%Y-%m-%d}",
               "loss_unit": subject["unit"], **comparison.to_dict(),
               "learned_vs_not_learned": {"best_learned": _best_row(comparison, comparison.best_learned),
                                          "best_not_learned": _best_row(comparison, comparison.best_not_learned)},
               "not_run": not_run, **({"model": model} if model else {}), **(book or {})}
    print(json.dumps(payload, indent=1) if args.json else _comparison_text(payload))
    return _excluded_exit(book["excluded_positions"]) if book else EXIT_OK


def _best_row(comparison, method: str | None) -> dict | None:
    """The comparison's row of ``method`` (None when no method of its group ran)."""
    return None if method is None else comparison.row(method)


def _series_runner(args: argparse.Namespace, wanted: tuple[str, ...], registered, lstm_why: str):
    """The single-series forecasts of ``wanted`` for --compare, each on its days within --start/--end (the LSTM
    methods after the model's training end): the subject, forecasts by method, ``not_run``, the model used."""
    from risk_platform.features.returns import BP_QUOTES
    from risk_platform.validation.var_forecasts import rolling_var

    market = _market(args, args.symbol)
    if args.symbol in market.unavailable:
        raise GateFailedError(f"{args.symbol} rejected by the missing-data gate")
    series, quote_type = _series(args.symbol, market)
    lstm: dict = {}

    def run(method: str):
        if method in LSTM_METHODS and not lstm:
            lstm["variance"], lstm["model"] = _lstm_variance(registered, args.symbol, market.panel, market.returns,
                                                             market.instruments)
        forecast = rolling_var(series, quote_type, method, args.confidence, args.window, lstm.get("variance"))
        after = _out_of_sample_after(lstm["model"], forecast, args.symbol) if method in LSTM_METHODS else None
        return _within(args, f"{args.symbol} {method}", forecast, after)

    forecasts, not_run = _run_each(wanted, registered, lstm_why, run)
    model = lstm.get("model")
    unit = "bp of yield" if quote_type in BP_QUOTES else "log return"
    return ({"name": args.symbol, "fields": {"symbol": args.symbol}, "unit": unit}, forecasts, not_run, model,
            None)


def _run_each(wanted: tuple[str, ...], registered, lstm_why: str, run) -> tuple[dict, dict]:
    """``run(method)`` for each of ``wanted``: the forecasts by method, and ``not_run`` (method -> one-line why:
    an LSTM method without a registered model, or the method's own error)."""
    forecasts, not_run = {}, {}
    for method in wanted:
        if method in LSTM_METHODS and registered is None:
            not_run[method] = lstm_why
            continue
        try:
            forecasts[method] = run(method)
        except (InputError, ComputationError) as exc:
            not_run[method] = " ".join(str(exc).split())
    return forecasts, not_run


def _book_runner(args: argparse.Namespace, wanted: tuple[str, ...], registered, lstm_why: str):
    """The book's forecasts of ``wanted`` for --compare (as :func:`_series_runner`), and the book's fields
    (exposures, excluded positions, rejected feeds)."""
    from risk_platform.data.loading import load_instruments
    from risk_platform.portfolio.positions import load_portfolio
    from risk_platform.validation.book_backtest import book_forecast, validation_book

    portfolio = load_portfolio(args.portfolio, load_instruments(args.instruments))  # bad positions fail first
    market = _market(args)
    book = validation_book(portfolio, market.panel, market.instruments, market.unavailable)
    lstm: dict = {}

    def run(method: str):
        if method in LSTM_METHODS and not lstm:
            lstm["features"], lstm["model"], lstm["version"] = _book_lstm(registered, market, book)
        daily = lstm["features"] if method in LSTM_METHODS else market.returns
        forecast = book_forecast(daily, book.exposure, method, args.confidence, args.window, lstm.get("model"))
        return _within(args, f"{portfolio.name} {method}", forecast)

    forecasts, not_run = _run_each(wanted, registered, lstm_why, run)
    model = lstm.get("version")
    fields = {"exposure_asof": f"{book.asof:%Y-%m-%d}",
              "exposure_usd": {k: float(v) for k, v in book.exposure.items()},
              "excluded_positions": book.excluded, "rejected_feeds": list(market.unavailable)}
    return ({"name": portfolio.name, "fields": {"portfolio": portfolio.name}, "unit": "USD"}, forecasts, not_run,
            model, fields)


COMPARE_COLUMNS = (  # header, key, format: the --compare table (p-values: asymptotic / bootstrap)
    ("method", "method", "{:<9}"), ("family", "family", "{:<8}"), ("learned", "learned", "{!s:<7}"),
    ("n", "n", "{:>5}"), ("exc", "exceptions", "{:>4}"), ("expected", "expected_exceptions", "{:>8.1f}"),
    ("zone", "zone", "{:<6}"), ("Kupiec p", ("kupiec_p", "kupiec_p_boot"), "{:.3f}/{:.3f}"),
    ("Christ. p", ("christoffersen_p", "christoffersen_p_boot"), "{:.3f}/{:.3f}"),
    ("cond.cov p", ("conditional_coverage_p", "conditional_coverage_p_boot"), "{:.3f}/{:.3f}"),
    ("tick loss", "tick_loss", "{:>10.4g}"), ("MCS90", "in_mcs_90", "{!s:<5}"),
    ("DM p worse", "dm_p_worse_vs_best_baseline", "{:>10}"),
)


def _comparison_text(payload: dict) -> str:
    """The --compare table as aligned text: a row per method, then the best of each group and what did not run."""
    def cell(row: dict, key, fmt: str) -> str:
        if isinstance(key, tuple):
            return fmt.format(*(row[k] for k in key))
        value = row[key]
        return fmt.format("-" if value is None else f"{value:.3f}") if key.startswith("dm_") else fmt.format(value)

    cells = [[header for header, _, _ in COMPARE_COLUMNS]]
    cells += [[cell(row, key, fmt) for _, key, fmt in COMPARE_COLUMNS] for row in payload["rows"]]
    widths = [max(len(r[j]) for r in cells) for j in range(len(COMPARE_COLUMNS))]
    subject = payload.get("symbol") or f"{payload['portfolio']} (book, exposures of {payload['exposure_asof']}" \
        " held fixed)"
    lines = [f"{subject} {payload['start']}..{payload['end']}, VaR at {payload['alpha']:.1%}, the same"
             f" {payload['rows'][0]['n']} days for every method; tick loss in {payload['loss_unit']} per day;"
             " p-values asymptotic/bootstrap; DM p: tick loss worse than the best baseline"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines += [f"best {group.replace('_', ' ')}: {payload[f'best_{group}'] or '-'}"
              for group in ("baseline", "model", "learned", "not_learned")]
    lines += [f"not run {method}: {why}" for method, why in payload["not_run"].items()]
    lines += [f"excluded: {f['position']} ({f['reason']})" for f in payload.get("excluded_positions", [])]
    return "\n".join(lines)


def _excluded_exit(excluded: list[dict]) -> int:
    """:class:`GateFailedError` (exit 3) naming the positions excluded because their feed was rejected."""
    if excluded:
        raise GateFailedError(f"{len(excluded)} position(s) excluded because their feed was rejected:"
                              f" {', '.join(f['symbol'] for f in excluded)}")
    return EXIT_OK


def _registered_lstm(args: argparse.Namespace):
    """The registered LSTM under --model-alias, read through the alias audit log (unaudited moves warned and
    named), and which version it is (``train_end``: the end of its training data)."""
    _mlflow_uri(args)  # a missing store fails before torch is imported
    from risk_platform.models.lstm import require_global

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    registry = _audited_registry(args)
    refused = [move for move in registry.unaudited_moves("lstm_vol") if move.alias == args.model_alias]
    for move in refused:
        print(f"risk-platform: warning: {move.describe()}", file=sys.stderr)
    loaded = registry.load("lstm_vol", args.model_alias)
    require_global(loaded.metadata, f"{loaded.name} v{loaded.version}")
    train_end = loaded.metadata.get("train_end") or registry.run(loaded.run_id).data.params.get("train_end")
    return loaded, {"name": loaded.name, "version": loaded.version, "alias": loaded.alias,
                    "run_id": loaded.run_id, "train_end": train_end,
                    "unaudited_alias_moves": [move.to_dict() for move in refused]}


def _lstm_variance(registered: tuple, symbol: str, panel, returns, instruments):
    """The registered LSTM's (``registered``: :func:`_registered_lstm`) variance forecasts for ``symbol`` (seen
    in its training or forecast zero-shot), and which version produced them."""
    from risk_platform.features.engineering import series_features
    from risk_platform.features.market_stress import MarketRoles
    from risk_platform.models.lstm import variance_forecasts

    loaded, model = registered
    features = series_features(returns, panel, instruments)
    variance = variance_forecasts(loaded.module, features, int(loaded.metadata["seq_len"]), symbol,
                                  MarketRoles.from_metadata(loaded.metadata.get("market_inputs")))
    return variance, {**model, "seen_in_training": symbol in loaded.metadata["symbols"]}


def cmd_lineage(args: argparse.Namespace) -> int:
    from risk_platform.lineage import LineageStore, format_trace, trace

    store = LineageStore(args.lineage_dir or paths.state_dir() / "lineage")
    tags = None
    if not store.has_run(args.run_id):
        try:
            uri = _mlflow_uri(args)  # a missing store fails before MLflow is imported
            from risk_platform.models.registry import ModelRegistry

            run = ModelRegistry(uri).run(args.run_id)
        except InputError:
            raise InputError(f"{args.run_id}: neither a Dagster run with recorded lineage in {store.root}"
                             " nor an MLflow run") from None
        tags = {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")}
        tags["mlflow_run_id"] = args.run_id
        tags["inputs"] = json.dumps([{"name": d.dataset.name, "digest": d.dataset.digest}
                                     for d in run.inputs.dataset_inputs])
    chain = trace(store, args.run_id, tags)
    print(json.dumps(chain, indent=1, default=str) if args.json else format_trace(chain))
    return EXIT_OK


def cmd_override(args: argparse.Namespace) -> int:
    """Record a named human's acceptance of a flagged forecast (append-only overrides log)."""
    from dataclasses import asdict

    from risk_platform.families import MODEL_NAMES
    from risk_platform.models.guardrails import OverrideLog, accept_override

    log = OverrideLog(args.log)
    record = accept_override(log, model=args.model, version=args.version, series=args.series, asof=args.asof,
                             accepted_by=args.by, reason=args.reason, ratio=args.ratio, known_models=tuple(MODEL_NAMES))
    return _print_record(args, {**asdict(record), "log": str(log.path)},
                         f"override recorded in {log.path}: {record.model} v{record.version} {record.series}"
                         f" at {record.asof} accepted by {record.accepted_by}")


def cmd_alias(args: argparse.Namespace) -> int:
    """A named human moves an alias (a rollback, or a committee's decision): recorded in the audit log first
    and mirrored as a tag on the version, like the policy's moves."""
    from dataclasses import asdict

    from risk_platform.families import MODEL_NAMES
    from risk_platform.models.governance import move_alias

    if args.model not in MODEL_NAMES:
        raise InputError(f"unknown model {args.model!r}; expected one of {', '.join(MODEL_NAMES)}")
    if not args.by.strip() or not args.reason.strip():
        raise InputError("--by and --reason must name the person and the reason")
    registry = _audited_registry(args)
    name = MODEL_NAMES[args.model]
    try:
        registry.client.get_model_version(name, args.version)
    except Exception:  # noqa: BLE001 (MLflow raises its own types; the message is what matters)
        raise InputError(f"{name} has no version {args.version} in {registry.tracking_uri}") from None
    audit = registry.audit
    record = move_alias(registry, audit, args.model, args.alias, args.version, args.reason, actor=f"human:{args.by}")
    return _print_record(args, {**asdict(record), "audit_log": str(audit.path)},
                         f"{name}: alias {record.alias} {record.from_version or '-'} -> {record.to_version}"
                         f" by {args.by}; recorded in {audit.path}")


def cmd_models(args: argparse.Namespace) -> int:
    """Every registered version of each model (or of --model) with its aliases and training window: the
    version's own (``train_start..train_end``) and, for a refit version, the evaluation fit behind its metrics."""
    from risk_platform.families import MODEL_NAMES
    from risk_platform.models.names import training_window_text

    if args.model is not None and args.model not in MODEL_NAMES:
        raise InputError(f"unknown model {args.model!r}; expected one of {', '.join(MODEL_NAMES)}")
    registry = _audited_registry(args)
    rows = [row for key in ([args.model] if args.model else MODEL_NAMES) for row in registry.versions(key)]
    if args.json:
        print(json.dumps({"versions": rows}, indent=1))
        return EXIT_OK
    for r in rows:
        print(f"{r['model']} v{r['version']} [{', '.join(r['aliases']) or '-'}]: {training_window_text(r)}")
    return EXIT_OK


def _print_record(args: argparse.Namespace, record: dict, text: str) -> int:
    """A recorded human action: the record as JSON with ``--json``, else one line of text."""
    print(json.dumps(record, indent=1, default=str) if args.json else text)
    return EXIT_OK


def _mlflow_uri(args: argparse.Namespace) -> str:
    """--mlflow-uri, else MLFLOW_TRACKING_URI (production), else the project's embedded store. A SQLite store
    whose file does not exist is an InputError: MLflow would create an empty one, where no model is registered."""
    uri = args.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{paths.mlruns_dir() / 'mlflow.db'}"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise InputError(f"{uri}: no MLflow store there (the database file does not exist)")
    return uri


def _audited_registry(args: argparse.Namespace):
    """The model registry read through the alias audit log (--audit-log, else RISK_PLATFORM_ALIAS_AUDIT_LOG
    (production), else ``alias_audit.jsonl`` beside a SQLite store, as the platform keeps it, else the project's
    mlruns/alias_audit.jsonl): aliases moved outside it are refused."""
    from risk_platform.models.audit import AuditLog
    from risk_platform.models.registry import ModelRegistry

    uri = _mlflow_uri(args)
    beside = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else paths.mlruns_dir()
    audit = (getattr(args, "audit_log", None) or os.environ.get("RISK_PLATFORM_ALIAS_AUDIT_LOG")
             or beside / "alias_audit.jsonl")
    return ModelRegistry(uri, audit=AuditLog(audit))


def cmd_mlflow_ui(args: argparse.Namespace) -> int:
    """The MLflow UI on the embedded store, read-only: reviewers browse runs, models and aliases, and nothing
    (an alias move, a deleted run) can be written through it; aliases move only through ``risk-platform alias``
    and the promotion, which audit every move. Replaces this process with the server (127.0.0.1)."""
    from risk_platform.models.mlflow_ui import CLASSIC_LAYOUT

    db = Path(args.db) if args.db else paths.mlruns_dir() / "mlflow.db"
    if not db.is_file():
        raise InputError(f"{db}: no MLflow store there yet (run make demo first)")
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", paths.read_only_sqlite_uri(db),
               "--host", "127.0.0.1", "--port", str(args.port), "--workers", "1"]
    print(f"MLflow UI, read-only on {db}: http://127.0.0.1:{args.port}/#/experiments{CLASSIC_LAYOUT} (aliases move"
          " only through 'risk-platform alias' and the promotion)", file=sys.stderr, flush=True)
    os.execv(sys.executable, command)
    return EXIT_OK  # not reached: the server replaces this process


def cmd_monitor(args: argparse.Namespace) -> int:
    """The live monitor (:mod:`risk_platform.monitor`): runs until its updates end or SIGTERM; ``--json`` prints
    the run's figures at the end (updates, p50_ms, p99_ms, published, anomalies, rss_growth_pct, ...)."""
    from risk_platform.monitor.app import MonitorSettings, echo_stderr, run_monitor
    from risk_platform.portfolio.positions import load_portfolio
    from risk_platform.risk.limits import load_limits

    if sum(x is not None for x in (args.replay, args.landing, args.stream)) != 1:
        raise InputError("monitor: give exactly one source of price updates: --replay FILE, --landing DIR or"
                         " --stream redis://...")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")  # a registry outage: the non-model methods
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")  # within seconds, not minutes of retries
    limits = load_limits(args.limits)
    market = _market(args)
    portfolio = load_portfolio(args.portfolio, market.instruments)
    registry, note = None, "--no-models: non-model methods only"
    if not args.no_models:
        try:
            registry = _audited_registry(args)
        except InputError as exc:
            note = f"no model registry ({exc}): non-model methods only"
    settings = MonitorSettings(
        state_dir=Path(args.state_dir) if args.state_dir else paths.state_dir() / "monitor",
        replay=Path(args.replay) if args.replay else None, speed=args.speed, updates=args.updates,
        start=args.start, steps_per_day=args.steps_per_day, landing=Path(args.landing) if args.landing else None,
        stream=args.stream, duration_s=args.duration, publish=list(args.publish or []),
        page_port=None if args.no_page else args.page_port,
        webhook_url=args.webhook or os.environ.get("RISK_PLATFORM_ALERT_WEBHOOK_URL"),
        alerts_jsonl=Path(args.alerts) if args.alerts else None, alias_check_s=args.alias_check_s,
        evaluation_date=args.evaluation_date, record=Path(args.record) if args.record else None,
        **{key: value for key, value in (("mc_scenarios", args.mc_scenarios), ("close_utc", args.close_utc),
                                         ("anomaly_k", args.anomaly_k)) if value is not None})  # else the monitor's
    summary = run_monitor(settings, market, portfolio, lambda: load_portfolio(args.portfolio, market.instruments),
                          Path(args.portfolio), limits, registry, note,
                          echo=None if args.json else echo_stderr, load_inputs=lambda: _market(args),
                          prices_path=Path(args.prices))
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"monitor: {summary['published']} snapshots published, {summary['rejected']} updates rejected,"
              f" p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, {summary['anomalies']} anomalies,"
              f" memory growth {summary['rss_growth_pct']}%")
    return EXIT_OK


def _add_monitor_command(sub: argparse._SubParsersAction, data_args) -> None:
    mon = sub.add_parser("monitor", help="the live monitor: re-prices the book on each price update, publishes"
                         " snapshots (stream, live page), alerts on limits and anomalies")
    mon.add_argument("--portfolio", help="positions file, watched for changes (default: as for risk)")
    mon.set_defaults(book_from_config=True)
    mon.add_argument("--limits", help="limits YAML (default: as for risk)")
    source = mon.add_argument_group("price updates (one of)")
    source.add_argument("--replay", help="prices file to replay (timestamp or date, symbol, value); a daily file is"
                        " replayed on a synthetic intraday path between its real closes (stated in the output)")
    source.add_argument("--landing", help="folder where update files (JSON or CSV) are dropped")
    source.add_argument("--stream", help="redis://host:port/db?stream=NAME: a stream of price updates")
    mon.add_argument("--speed", type=float, default=1.0, help="replay rate in updates per second (0: flat out)")
    mon.add_argument("--updates", type=_count, help="replay at most this many updates")
    mon.add_argument("--start", type=_date, help="replay from this date (default: the file's last 250 days)")
    mon.add_argument("--steps-per-day", type=_count, default=20, help="updates per day replaying a daily file")
    mon.add_argument("--duration", type=float, help="stop after this many seconds (landing folder, stream)")
    mon.add_argument("--publish", action="append", help="stream sink URL, repeatable: redis://host:port/db"
                     "[?stream=NAME], kafka://host:port[?topic=NAME]")
    mon.add_argument("--page-port", type=int, default=0, help="port of the live page on 127.0.0.1 (0: any free)")
    mon.add_argument("--no-page", action="store_true", help="no live page")
    mon.add_argument("--webhook", help="alert webhook URL (default: RISK_PLATFORM_ALERT_WEBHOOK_URL)")
    mon.add_argument("--alerts", help="alert log JSONL (default: var/alerts/alerts.jsonl, the Dagster assets' log)")
    mon.add_argument("--state-dir", help="checkpoint and spool folder (default: var/monitor)")
    mon.add_argument("--mc-scenarios", type=_count, help="vine-copula draws held warm (default 10000; 0: none)")
    mon.add_argument("--no-models", action="store_true", help="non-model methods only (no registry read)")
    mon.add_argument("--mlflow-uri", help="MLflow tracking URI (default: the project's mlruns/mlflow.db)")
    mon.add_argument("--audit-log", help="alias audit log (default: beside the MLflow store)")
    mon.add_argument("--record", help="append every snapshot's figures to this JSON-lines file (incident reviews)")
    mon.add_argument("--anomaly-k", type=float,
                     help="anomaly band width, in sd of each metric's log change (default 5: bench.monitor_replay)")
    mon.add_argument("--close-utc", type=_clock_time,
                     help="the daily close that ends the 1-day horizon, HH:MM UTC (default 21:00, New York in winter)")
    mon.add_argument("--alias-check-s", type=float, default=30.0, help="seconds between model-alias checks")
    mon.add_argument("--evaluation-date", type=_date, help="the day the data's age is measured on (default today)")
    data_args(mon)
    mon.set_defaults(func=cmd_monitor)


def _add_human_commands(sub: argparse._SubParsersAction) -> None:
    """The commands a named human runs to record a decision: ``override`` and ``alias``."""
    override = sub.add_parser("override", help="accept a forecast flagged by the guardrail (named human)")
    override.add_argument("--model", required=True, help="model key, e.g. lstm_vol")
    override.add_argument("--version", required=True, help="registered model version")
    override.add_argument("--series", required=True, help="series symbol, e.g. SPX")
    override.add_argument("--asof", required=True, type=_date, help="forecast date (YYYY-MM-DD)")
    override.add_argument("--by", required=True, help="the named human accepting the forecast")
    override.add_argument("--reason", required=True, help="why the forecast is accepted")
    override.add_argument("--ratio", type=float, help="the flagged ratio to the norm (recorded)")
    override.add_argument("--log", help="overrides log (default: mlruns/forecast_overrides.jsonl)")
    override.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    override.set_defaults(func=cmd_override)

    alias = sub.add_parser("alias", help="move a model alias by hand (named human; audit-logged)")
    alias.add_argument("--model", required=True, help="model key, e.g. lstm_vol")
    alias.add_argument("--alias", required=True, choices=("stable", "current", "experimental"))
    alias.add_argument("--version", required=True, help="registered model version")
    alias.add_argument("--by", required=True, help="the named human moving the alias")
    alias.add_argument("--reason", required=True, help="why (recorded in the audit log and on the version)")
    alias.add_argument("--audit-log", help="audit log (default: mlruns/alias_audit.jsonl)")
    alias.add_argument("--mlflow-uri", help="MLflow tracking URI (default: the project's mlruns/mlflow.db)")
    alias.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    alias.set_defaults(func=cmd_alias)

    ui = sub.add_parser("mlflow-ui", help="the MLflow UI on the embedded store, read-only (make mlflow-ui)")
    ui.add_argument("--db", help="the MLflow SQLite store (default: the project's mlruns/mlflow.db)")
    ui.add_argument("--port", type=int, default=5000, help="port on 127.0.0.1 (default 5000)")
    ui.set_defaults(func=cmd_mlflow_ui)


def _add_backtest_command(sub: argparse._SubParsersAction, data_args) -> None:
    """``backtest``: one series or a book, by one method or compared (--compare), or the methods listed."""
    back = sub.add_parser("backtest", help="rolling 1-day VaR/ES backtest of one series or of a book")
    data_args(back)
    what = back.add_mutually_exclusive_group(required=True)
    what.add_argument("--symbol", help="backtest this series (a long unit position)")
    what.add_argument("--portfolio", help="backtest this book (positions file) with its exposures held fixed")
    what.add_argument("--list-methods", action="store_true", help="list the methods and their families")
    back.add_argument("--method", choices=METHODS, help="see --list-methods")
    back.add_argument("--compare", action="store_true", help="every method (or --methods) on the same days:"
                      " exceptions, zone, Kupiec/Christoffersen p (asymptotic and bootstrap), tick loss, 90%% model"
                      " confidence set, DM test against the best baseline")
    back.add_argument("--methods", type=_method_list, help="with --compare: comma-separated methods (default: all;"
                      " LSTM-based ones need a registered LSTM scored out of sample, else listed as not run)")
    back.add_argument("--confidence", type=_confidence, default=0.99, help="e.g. 0.99 (default)")
    back.add_argument("--start", type=_date, help="first backtest day (YYYY-MM-DD)")
    back.add_argument("--end", type=_date, help="last backtest day (YYYY-MM-DD)")
    back.add_argument("--window", type=_window, default=500,
                      help=f"history window in days (default 500, at least {MIN_WINDOW})")
    back.add_argument("--model-alias", default="experimental", help="LSTM version alias (lstm method)")
    back.add_argument("--mlflow-uri", help="MLflow tracking URI (default: the project's mlruns/mlflow.db)")
    back.add_argument("--audit-log", help="alias audit log (default: beside the MLflow store): lstm aliases moved"
                      " outside it are refused")
    back.set_defaults(func=cmd_backtest)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="risk-platform", description="Multi-asset portfolio risk platform")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--prices", help="prices file or directory (long format); default: RISK_PLATFORM_PRICES,"
                       " risk_platform.yaml, else the bundled panel")
        p.add_argument("--instruments", help="instruments CSV; default: RISK_PLATFORM_INSTRUMENTS,"
                       " risk_platform.yaml, else the bundled file")
        p.add_argument("--suite", help="GX suite JSON (default: expectations/market_panel_completeness.json)")
        p.add_argument("--window-start", type=_date, help="start of the evaluated window (YYYY-MM-DD)")
        p.add_argument("--window-end", type=_date, help="end of the evaluated window (default: last date)")
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    check = sub.add_parser("check-data", help="the missing-data gate per feed")
    data_args(check)
    check.add_argument("--gx", action="store_true", help="also run the suite with Great Expectations (slower)")
    check.add_argument("--quarantine", help="copy the files of rejected feeds here, each with a REASON.json")
    check.set_defaults(func=cmd_check_data)

    def book_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--portfolio", help="positions file (YAML or CSV); default: RISK_PLATFORM_POSITIONS,"
                       " risk_platform.yaml, else the bundled sample book")
        p.set_defaults(book_from_config=True)
        p.add_argument("--asof", type=_date, help="as-of date: that of the market data used (default: the last)")
        p.add_argument("--evaluation-date", type=_date, help="the day the data's age is measured on, for a"
                       " historical run (default: today, UTC); data more than 5 sessions old are flagged stale")
        p.add_argument("--mc-scenarios", type=_count, default=50_000,
                       help="vine-copula draws and stress-bootstrap draws (default 50000; 0 skips the copula)")
        data_args(p)

    risk = sub.add_parser("risk", help="portfolio risk metrics: every VaR method, liquidity, concentration, stress")
    book_args(risk)
    risk.add_argument("--no-stress", action="store_true", help="skip the stress suite")
    risk.add_argument("--limits", help="limits YAML the figures are checked against, each limit's status printed;"
                      " default: RISK_PLATFORM_LIMITS, risk_platform.yaml, else the bundled limits")
    risk.set_defaults(func=cmd_risk)

    stress = sub.add_parser("stress", help="stress results per scenario (P&L by position and asset class)")
    book_args(stress)
    stress.set_defaults(func=cmd_stress)

    _add_backtest_command(sub, data_args)

    lineage = sub.add_parser("lineage", help="the chain from a risk number or model back to the data")
    lineage.add_argument("run_id", type=_run_id, help="a Dagster run id or an MLflow run id")
    lineage.add_argument("--lineage-dir", help="lineage records (default: var/lineage)")
    lineage.add_argument("--mlflow-uri", help="MLflow tracking URI (default: the project's mlruns/mlflow.db)")
    lineage.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    lineage.set_defaults(func=cmd_lineage)

    models = sub.add_parser("models", help="registered model versions: aliases and training windows")
    models.add_argument("--model", help="one model key, e.g. lstm_vol (default: every model)")
    models.add_argument("--audit-log", help="alias audit log (default: beside the MLflow store)")
    models.add_argument("--mlflow-uri", help="MLflow tracking URI (default: the project's mlruns/mlflow.db)")
    models.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    models.set_defaults(func=cmd_models)

    _add_monitor_command(sub, data_args)
    _add_human_commands(sub)
    return parser


def _with_project_data(args: argparse.Namespace) -> argparse.Namespace:
    """Fill ``--prices``, ``--instruments`` (``--portfolio`` of ``risk``/``stress``, ``--limits`` of ``risk``) not given
    on the command line from the project configuration (:mod:`risk_platform.project_config`): environment, file,
    bundled."""
    if not hasattr(args, "prices"):
        return args
    from risk_platform.project_config import load_project_config

    book = getattr(args, "book_from_config", False)
    config = load_project_config({"prices": args.prices, "instruments": args.instruments,
                                  "positions": args.portfolio if book else None,
                                  "limits": getattr(args, "limits", None)})
    args.prices, args.instruments = str(config.prices), str(config.instruments)
    if book:
        args.portfolio = str(config.positions)
    if hasattr(args, "limits"):
        args.limits = str(config.limits)
    return args


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # model loads: clean stdout/stderr
    try:
        return args.func(_with_project_data(args))
    except (InputError, ComputationError, OSError) as exc:  # OSError: a path that is a folder, unreadable, ...
        print(f"risk-platform: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GateFailedError as exc:
        print(f"risk-platform: gate failed: {exc}", file=sys.stderr)
        return EXIT_GATE_FAILED


if __name__ == "__main__":
    sys.exit(main())
