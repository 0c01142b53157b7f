"""The plausibility gate: per delivered point, is the value believable? Validated by the GX suite
``expectations/market_panel_plausibility.json`` beside the completeness suite, in the same gate.

One row per delivered value (:func:`point_table`), four derived columns, each bounded by one
``expect_column_values_to_be_between`` of the suite (the bounds live in the suite, not here):

* ``magnitude_log10`` = log10 |x| (0 for x = 0, +inf for a non-finite x): between -300 and 12, so a denormal
  (1e-320), |x| > 1e12 and non-finite values are suspect;
* ``sign_margin`` = x where the quote type forbids x <= 0, else 1: strictly above 0. Prices, index levels and
  FX rates must be positive; yields (``yield_pct``) may be <= 0 (UST3M printed 0.00 in 2008) and so may
  commodity prices (``asset_class`` commodity: WTI settled at -36.98 on 2020-04-20);
* ``days_past_limit`` = days after the evaluation date (today by default) or after the last day the venue
  calendar knows (XHKG: 2049-12-31), whichever is earlier: at most 0;
* ``spike_score``: a one-day spike that reverses. With r_in the return into the point and r_out the return out
  of it (log return, or the change in bp for yields, between consecutive delivered values of the feed), and
  sigma = 1.4826 x the median |return| of the feed's previous ``MAD_WINDOW`` (63) returns (a MAD about zero:
  daily returns have a median of about 0), floored at ``SIGMA_FLOOR`` (0.1% log, 1 bp), the score is
  min(|r_in|, |r_out|) / sigma when r_in and r_out have opposite signs and the move is undone,
  |r_in + r_out| <= 0.5 x max(|r_in|, |r_out|); else 0. At most k = 50: the highest score on the real
  2000-2024 panel is 33 (Henry Hub gas, 2024-01-12, a real cold-snap print), a decimal slip (x10) on SPX
  scores about 190. A point whose neighbours cross zero (a commodity below zero) is not scored: relative
  returns mean nothing there. Points suspect by the other three rules are left out before scoring.

Rule per feed (``max_recent_suspect_points`` in the suite's meta, 3): suspect points are removed from the
panel and listed; a feed with more than 3 of them in its last 63 venue sessions is rejected, otherwise kept and
flagged.

The latest point of each feed has no next day to confirm or undo its move, so the spike rule cannot judge it.
:func:`unconfirmed_points` flags it instead when |r_in| / sigma (the same robust scale) exceeds the same k:
the point is NOT removed (a real crash on the last day of a delivery must still count) but listed as
``unconfirmed`` with how far beyond the limit the move is, and the risk report says its figures use that price.
Limits: two consecutive wrong values are not a one-day spike.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.calendars import calendar_last_day, sessions
from risk_platform.errors import ComputationError, InputError

PLAUSIBILITY_SUITE = "market_panel_plausibility"
MAD_WINDOW = 63
MAD_MIN_PERIODS = 20
MAD_TO_SIGMA = 1.4826
SIGMA_FLOOR = {"yield_pct": 1.0, "log": 1e-3}
REVERSAL_SHARE = 0.5
RECENT_SESSIONS = 63
SIGN_FREE_QUOTES = ("yield_pct",)
SIGN_FREE_ASSET_CLASSES = ("commodity",)
RULE_COLUMNS = ("magnitude_log10", "days_past_limit", "sign_margin", "spike_score")
SUSPECT_COLUMNS = ["file", "symbol", "date", "value", "rule", "why"]
UNCONFIRMED = "unconfirmed"
UNCONFIRMED_COLUMNS = [*SUSPECT_COLUMNS, "times_limit"]
REMOVED = "removed"
FLAG_POINT_COLUMNS = [*UNCONFIRMED_COLUMNS, "status"]


def default_plausibility_suite_path() -> Path:
    """``expectations/market_panel_plausibility.json`` (or under ``RISK_PLATFORM_EXPECTATIONS_DIR``)."""
    return paths.expectations_dir() / f"{PLAUSIBILITY_SUITE}.json"


def point_rules(suite: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The suite's bound per rule column: column -> ``expect_column_values_to_be_between`` kwargs."""
    rules = {e["kwargs"]["column"]: e["kwargs"] for e in suite.get("expectations", [])
             if e.get("type") == "expect_column_values_to_be_between"}
    missing = [c for c in RULE_COLUMNS if c not in rules]
    if missing:
        raise InputError(f"suite {suite.get('name')}: no expect_column_values_to_be_between on {', '.join(missing)}")
    return rules


def max_recent_suspects(suite: dict[str, Any]) -> int:
    """Suspect points a feed may have in its last 63 sessions and still be kept (suite meta)."""
    try:
        return int(suite["meta"]["max_recent_suspect_points"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"suite {suite.get('name')}: meta.max_recent_suspect_points missing or not a number") from None


def _violates(values: np.ndarray, kwargs: dict[str, Any]) -> np.ndarray:
    """Rows outside one between-rule (NaN never violates, as in GX)."""
    bad = np.zeros(len(values), dtype=bool)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    with np.errstate(invalid="ignore"):
        if low is not None:
            bad |= values <= low if kwargs.get("strict_min") else values < low
        if high is not None:
            bad |= values >= high if kwargs.get("strict_max") else values > high
    return bad


def _static_columns(frame: pd.DataFrame, instruments: pd.DataFrame, evaluation_date: pd.Timestamp) -> pd.DataFrame:
    """magnitude_log10, sign_margin, days_past_limit (and their limit) for every point."""
    info = instruments.set_index("symbol")
    value = frame["value"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(value == 0, 0.0, np.log10(np.abs(value)))
    magnitude = np.where(np.isfinite(value), magnitude, np.inf)
    sign_free = (frame["symbol"].map(info["quote_type"]).isin(SIGN_FREE_QUOTES)
                 | frame["symbol"].map(info["asset_class"]).isin(SIGN_FREE_ASSET_CLASSES)).to_numpy()
    last_day = {c: calendar_last_day(c) for c in info["calendar"].unique()}
    limit = frame["symbol"].map(info["calendar"]).map(
        lambda c: min(evaluation_date, last_day[c]) if last_day[c] is not None else evaluation_date)
    limit = pd.to_datetime(limit)
    return frame.assign(quote_type=frame["symbol"].map(info["quote_type"]).to_numpy(),
                        magnitude_log10=magnitude, sign_margin=np.where(sign_free, 1.0, value),
                        days_past_limit=(frame["date"] - limit).dt.days.to_numpy(dtype=float), limit=limit)


def _spike_columns(points: pd.DataFrame) -> pd.DataFrame:
    """r_in, r_out, sigma and spike_score of the points (one feed's points consecutive, in date order)."""
    grouped = points.groupby("symbol", sort=False)["value"]
    value = points["value"].to_numpy(dtype=float)
    prev, nxt = grouped.shift(1).to_numpy(dtype=float), grouped.shift(-1).to_numpy(dtype=float)
    is_bp = (points["quote_type"] == "yield_pct").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        r_in = np.where(is_bp, 100.0 * (value - prev), np.log(value / prev))
        r_out = np.where(is_bp, 100.0 * (nxt - value), np.log(nxt / value))
    scale = pd.Series(np.abs(r_in)).groupby(points["symbol"].to_numpy(), sort=False).transform(
        lambda s: s.shift(1).rolling(MAD_WINDOW, min_periods=MAD_MIN_PERIODS).median())
    sigma = np.maximum(MAD_TO_SIGMA * scale.to_numpy(), np.where(is_bp, SIGMA_FLOOR["yield_pct"], SIGMA_FLOOR["log"]))
    testable = (is_bp | ((value > 0) & (prev > 0) & (nxt > 0))) & np.isfinite(r_in) & np.isfinite(r_out)
    with np.errstate(invalid="ignore"):
        big = np.maximum(np.abs(r_in), np.abs(r_out))
        reverses = (np.sign(r_in) * np.sign(r_out) < 0) & (np.abs(r_in + r_out) <= REVERSAL_SHARE * big)
        score = np.where(testable & reverses, np.minimum(np.abs(r_in), np.abs(r_out)) / sigma, 0.0)
    return points.assign(r_in=r_in, r_out=r_out, sigma=sigma, spike_score=np.nan_to_num(score, nan=0.0))


def point_table(raw: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any],
                evaluation_date: pd.Timestamp) -> pd.DataFrame:
    """One row per delivered value with the rule columns; spikes are scored on the points the other rules keep."""
    frame = raw.loc[raw["value"].notna(), ["date", "symbol", "value", "value_raw", "source_file"]]
    frame = _static_columns(frame.sort_values(["symbol", "date"], kind="stable"), instruments, evaluation_date)
    rules = point_rules(suite)
    static_bad = np.zeros(len(frame), dtype=bool)
    for column in ("magnitude_log10", "days_past_limit", "sign_margin"):
        static_bad |= _violates(frame[column].to_numpy(dtype=float), rules[column])
    scored = _spike_columns(frame[~static_bad])
    frame = frame.join(scored[["r_in", "r_out", "sigma", "spike_score"]])
    return frame.assign(spike_score=frame["spike_score"].fillna(0.0)).reset_index(drop=True)


def _why(row: Any, rule: str, evaluation_date: pd.Timestamp, k: float) -> str:
    if rule == "magnitude_log10":
        return "value outside the representable range (non-finite, |x| > 1e12, or a denormal below 1e-300)"
    if rule == "days_past_limit":
        if row.limit < evaluation_date:
            return f"dated after the last day its venue calendar knows ({row.limit:%Y-%m-%d})"
        return f"dated after the evaluation date {evaluation_date:%Y-%m-%d}"
    if rule == "sign_margin":
        return f"non-positive {row.quote_type} (only yields and commodity prices may be <= 0)"
    return (f"one-day spike: return {row.r_in:+.4g} then {row.r_out:+.4g} ({row.spike_score:.0f} x the feed's"
            f" robust daily scale {row.sigma:.4g}; limit {k:g})")


def suspect_points(points: pd.DataFrame, suite: dict[str, Any], evaluation_date: pd.Timestamp) -> pd.DataFrame:
    """The points outside a rule, first rule first: file, symbol, date, value (as delivered), rule, why."""
    rules = point_rules(suite)
    rule_of = pd.Series("", index=points.index)
    for column in ("magnitude_log10", "days_past_limit", "sign_margin", "spike_score"):
        hit = _violates(points[column].to_numpy(dtype=float), rules[column]) & (rule_of == "").to_numpy()
        rule_of[hit] = column
    bad = points[rule_of != ""]
    k = float(rules["spike_score"]["max_value"])
    rows = [{"file": r.source_file, "symbol": r.symbol, "date": r.date, "value": r.value_raw,
             "rule": rule_of[r.Index], "why": _why(r, rule_of[r.Index], evaluation_date, k)}
            for r in bad.itertuples()]
    return pd.DataFrame(rows, columns=SUSPECT_COLUMNS)


def unconfirmed_points(points: pd.DataFrame, suite: dict[str, Any], suspects: pd.DataFrame) -> pd.DataFrame:
    """Each feed's latest point that is not suspect, when its move in (|r_in|, scored like a spike against the
    feed's robust daily scale) exceeds the spike rule's k: kept, but listed (``rule`` unconfirmed, ``why``, and
    ``times_limit``: the move's score over k)."""
    k = float(point_rules(suite)["spike_score"]["max_value"])
    removed = points.set_index(["symbol", "date"]).index.isin(suspects.set_index(["symbol", "date"]).index)
    kept = points[~removed]
    kept = kept.assign(prev=kept.groupby("symbol", sort=False)["value"].shift(1))
    last = kept.groupby("symbol", sort=True).tail(1)  # its move from the previous kept value (not from a suspect)
    value, prev = last["value"].to_numpy(dtype=float), last["prev"].to_numpy(dtype=float)
    is_bp = (last["quote_type"] == "yield_pct").to_numpy()
    testable = is_bp | ((value > 0) & (prev > 0))  # a move across zero is not scored
    with np.errstate(divide="ignore", invalid="ignore"):
        r_in = np.where(is_bp, 100.0 * (value - prev), np.log(value / prev))
        score = np.where(testable & np.isfinite(r_in), np.abs(r_in) / last["sigma"].to_numpy(dtype=float), 0.0)
    last = last.assign(r_in=r_in)
    score = np.nan_to_num(score, nan=0.0)
    rows = [{"file": r.source_file, "symbol": r.symbol, "date": r.date, "value": r.value_raw, "rule": UNCONFIRMED,
             "why": (f"latest value, no next day to confirm it: return {r.r_in:+.4g} is {s:.0f} x the feed's robust"
                     f" daily scale {r.sigma:.4g}, {s / k:.1f} x the limit {k:g}; kept"),
             "times_limit": s / k}
            for r, s in zip(last.itertuples(), score, strict=True) if s > k]
    return pd.DataFrame(rows, columns=UNCONFIRMED_COLUMNS)


def flag_points(suspects: pd.DataFrame, unconfirmed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every point the risk report must name: the suspect points (``status`` removed) and the unconfirmed
    latest points (``status`` unconfirmed, kept), with ``times_limit`` (NaN for removed points)."""
    removed = suspects.assign(times_limit=np.nan, status=REMOVED)
    kept = unconfirmed.assign(status=UNCONFIRMED) if unconfirmed is not None else removed.iloc[:0]
    frames = [f[FLAG_POINT_COLUMNS] for f in (removed, kept) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FLAG_POINT_COLUMNS)


def flag_points_json(points: pd.DataFrame) -> dict[str, str]:
    """Per symbol, its :func:`flag_points` as JSON records (the ``feed_quality`` asset's ``flag_points_json``)."""
    return {symbol: group.drop(columns="symbol").to_json(orient="records", date_format="iso")
            for symbol, group in points.groupby("symbol")}


def flag_points_from_json(per_symbol: dict[str, str]) -> pd.DataFrame:
    """:func:`flag_points` back from :func:`flag_points_json`'s records (symbol -> JSON)."""
    frames = [pd.read_json(io.StringIO(text), orient="records", dtype={"value": str}).assign(symbol=symbol)
              for symbol, text in per_symbol.items() if text and text != "[]"]
    if not frames:
        return pd.DataFrame(columns=FLAG_POINT_COLUMNS)
    points = pd.concat(frames, ignore_index=True)[FLAG_POINT_COLUMNS]
    return points.assign(date=pd.to_datetime(points["date"]).dt.tz_localize(None).dt.normalize())


@dataclass(frozen=True)
class PlausibilityDecision:
    """The suspect points (``file, symbol, date, value, rule, why``), per feed how many and how many in its
    last 63 venue sessions (``feeds``: symbol, suspect_points, recent_suspect_points, rejected), the rule's
    limit, the GX run when there was one, and the ``unconfirmed`` latest points (kept; :func:`unconfirmed_points`)."""

    suspects: pd.DataFrame
    feeds: pd.DataFrame
    max_recent: int
    gx_validation_id: str | None = None
    gx_result: dict[str, Any] | None = field(default=None, repr=False)
    unconfirmed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=UNCONFIRMED_COLUMNS))

    @property
    def rejected(self) -> tuple[str, ...]:
        return tuple(self.feeds.loc[self.feeds["rejected"], "symbol"])

    @property
    def flagged(self) -> tuple[str, ...]:
        """Feeds kept with suspect points removed."""
        return tuple(self.feeds.loc[~self.feeds["rejected"], "symbol"])

    def lines(self) -> list[str]:
        """One line per suspect point: symbol, date, value, file, why."""
        return [f"{r.symbol} {r.date:%Y-%m-%d} value {r.value} ({r.file}): {r.why}" for r in self.suspects.itertuples()]

    def summary(self) -> str:
        head = (f"plausibility gate (a feed with more than {self.max_recent} suspect points in its last"
                f" {RECENT_SESSIONS} sessions is rejected): {len(self.suspects)} suspect point(s) removed,"
                f" {len(self.flagged)} feed(s) flagged, {len(self.rejected)} rejected,"
                f" {len(self.unconfirmed)} unconfirmed latest point(s) kept")
        rejected = [f"  REJECTED {s}: too many suspect points" for s in self.rejected]
        unconfirmed = [f"  UNCONFIRMED {r.symbol} {r.date:%Y-%m-%d} value {r.value} ({r.file}): {r.why}"
                       for r in self.unconfirmed.itertuples()]
        return "\n".join([head, *rejected, *("  SUSPECT " + line for line in self.lines()), *unconfirmed])

    def flag_points(self) -> pd.DataFrame:
        """:func:`flag_points` of this decision."""
        return flag_points(self.suspects, self.unconfirmed)


def _recent_starts(symbols: list[str], instruments: pd.DataFrame, end: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """The first of each feed's last 63 venue sessions up to ``end``."""
    calendar_of = instruments.set_index("symbol")["calendar"]
    starts = {}
    for symbol in symbols:
        days = sessions(calendar_of[symbol], end - pd.Timedelta(days=200), end)
        starts[symbol] = days[-RECENT_SESSIONS] if len(days) >= RECENT_SESSIONS else days[0]
    return starts


def decide(suspects: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any],
           end: pd.Timestamp) -> PlausibilityDecision:
    """Per feed with suspect points: how many, how many since its last 63 sessions before ``end``, rejected?"""
    limit = max_recent_suspects(suite)
    symbols = sorted(suspects["symbol"].unique())
    starts = _recent_starts(symbols, instruments, end)
    rows = []
    for symbol in symbols:
        dates = suspects.loc[suspects["symbol"] == symbol, "date"]
        recent = int((dates >= starts[symbol]).sum())
        rows.append({"symbol": symbol, "suspect_points": len(dates), "recent_suspect_points": recent,
                     "rejected": recent > limit})
    feeds = pd.DataFrame(rows, columns=["symbol", "suspect_points", "recent_suspect_points", "rejected"])
    return PlausibilityDecision(suspects, feeds.astype({"rejected": bool}), limit)


def validate_points_with_gx(points: pd.DataFrame, decision: PlausibilityDecision,
                            suite: dict[str, Any]) -> PlausibilityDecision:
    """Run the plausibility suite with GX Core 1.x on the point table; GX's unexpected (symbol, date) pairs must
    be the suspect points (a :class:`ComputationError` otherwise: a bug, not bad data)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    table = points[["symbol", "date", *RULE_COLUMNS]].assign(date=points["date"].dt.strftime("%Y-%m-%d"))
    batch = (context.data_sources.add_pandas("risk_platform").add_dataframe_asset(PLAUSIBILITY_SUITE)
             .add_batch_definition_whole_dataframe("delivery").get_batch(batch_parameters={"dataframe": table}))
    suite_obj = gx.ExpectationSuite(name=suite["name"], expectations=suite["expectations"], meta=suite.get("meta", {}))
    result = batch.validate(suite_obj, result_format={"result_format": "COMPLETE",
                                                      "unexpected_index_column_names": ["symbol", "date"]})
    result_dict = result.to_json_dict()
    found = {(row["symbol"], row["date"]) for item in result_dict["results"] if not item["success"]
             for row in item["result"].get("unexpected_index_list", [])}
    expected = {(r.symbol, f"{r.date:%Y-%m-%d}") for r in decision.suspects.itertuples()}
    if found != expected:
        raise ComputationError(f"GX and the plausibility gate disagree: GX {sorted(found)} vs {sorted(expected)}")
    result_dict["id"] = str(uuid.uuid4())
    return dataclasses.replace(decision, gx_validation_id=result_dict["id"], gx_result=result_dict)


def plausibility_gate(raw: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any], *,
                      evaluation_date: pd.Timestamp | None = None, window_end: pd.Timestamp | None = None,
                      gx: bool = False) -> PlausibilityDecision:
    """The plausibility gate on :attr:`RawPrices.frame` (``evaluation_date``: today by default; the recent
    window ends at ``window_end`` or the last plausible date)."""
    today = pd.Timestamp(evaluation_date if evaluation_date is not None else pd.Timestamp.today()).normalize()
    points = point_table(raw, instruments, suite, today)
    suspects = suspect_points(points, suite, today)
    kept_dates = points.loc[~points.set_index(["symbol", "date"]).index.isin(
        suspects.set_index(["symbol", "date"]).index), "date"]
    end = window_end if window_end is not None else (kept_dates.max() if len(kept_dates) else today)
    decision = decide(suspects, instruments, suite, min(end, today))
    decision = dataclasses.replace(decision, unconfirmed=unconfirmed_points(points, suite, suspects))
    return validate_points_with_gx(points, decision, suite) if gx else decision


def without_suspects(raw: pd.DataFrame, suspects: pd.DataFrame) -> pd.DataFrame:
    """The delivery without its suspect points (the raw frame's other rows unchanged)."""
    if suspects.empty:
        return raw
    drop = pd.MultiIndex.from_frame(raw[["symbol", "date"]]).isin(
        pd.MultiIndex.from_frame(suspects[["symbol", "date"]]))
    return raw[~drop]
