"""The market-data gate: the missing-data gate (per feed, the share of venue sessions without a value) and,
beside it, the plausibility gate (per point, :mod:`risk_platform.data.plausibility`), each validated by a GX suite.

A value is missing when the instrument's venue was open (its ``exchange_calendars`` sessions) and the
delivery has no value for that day (no row, or an empty / ``.`` / ``null`` value). Venue holidays are
not missing. The threshold lives in the Great Expectations suite ``expectations/market_panel_completeness.json``.

Two ways to evaluate the same suite:

* :func:`apply_gate` reads the threshold from the suite JSON and decides in numpy (fast; the CLI's default);
* :func:`validate_with_gx` runs the suite with GX Core 1.x (the Dagster asset, and the CLI's ``--gx``), which
  checks that both agree.

:func:`gate_delivery` is the gate as one call (used by the ``market_panel`` asset and ``risk-platform
check-data``): the plausibility gate first (suspect points are removed, so a row dated 2027 cannot make every
feed "100% missing"), then the completeness decision on what is left, the GX runs and their recorded results,
the quarantine of rejected raw files and of suspect points, and the outcome's severity (:class:`GateOutcome`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from risk_platform import paths
from risk_platform.data.calendars import sessions
from risk_platform.data.loading import sha256_file
from risk_platform.data.plausibility import (
    PlausibilityDecision,
    default_plausibility_suite_path,
    flag_points,
    flag_points_json,
    plausibility_gate,
    without_suspects,
)
from risk_platform.errors import ComputationError, GateFailedError, InputError
from risk_platform.io import atomic_write_text

COMPLETENESS_SUITE = "market_panel_completeness"
MISSING_DATES_SHOWN = 10
RECENT_SESSIONS = 63


@dataclass(frozen=True)
class GateDecision:
    """Which feeds pass the missing-data gate.

    ``table`` has one row per evaluated feed (see :func:`completeness_table`) plus ``accepted`` (bool);
    ``rules`` are the suite's per-feed bounds ``(column, min, max)``; ``not_evaluated`` lists feeds with no
    venue session inside the evaluated window (neither accepted nor rejected, and not in the panel).
    """

    table: pd.DataFrame
    threshold: float
    accepted: tuple[str, ...]
    rejected: tuple[str, ...]
    rules: tuple[tuple[str, float | None, float | None], ...] = ()
    not_evaluated: tuple[str, ...] = ()
    gx_validation_id: str | None = None
    gx_result: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return not self.rejected

    def rejection_lines(self) -> list[str]:
        """One line per rejected feed: the rule(s) it failed with the figures, and the latest missing dates (newest
        first, runs of consecutive sessions as ranges: the gap behind a recent-sessions rejection)."""
        rows = self.table[~self.table["accepted"]]
        return [f"{r.symbol}: {'; '.join(self.failed_rules(r))}; latest missing: {r.latest_missing_dates}"
                for r in rows.itertuples()]

    def failed_rules(self, row: Any) -> list[str]:
        """The suite's bounds a feed's ``row`` (a table row as a named tuple) breaks, each with its figure."""
        said = {"missing_share": f"{row.missing_share:.1%} of {row.expected_sessions} {row.calendar} sessions"
                                 f" {row.window_start}..{row.window_end} missing",
                "recent_missing_share": f"last {row.recent_sessions} sessions {row.recent_missing_share:.1%} missing"}
        failed = []
        for column, low, high in self.rules:
            value = getattr(row, column)
            over, under = high is not None and value > high, low is not None and value < low
            if over or under:
                bound = high if over else low
                shown = f"{bound:.0%}" if column.endswith("_share") else f"{bound:g}"
                failed.append(f"{said.get(column, f'{column} {value:g}')} ({'max' if over else 'min'} {shown})")
        return failed

    def summary(self) -> str:
        head = f"missing-data gate (max {self.threshold:.0%}): {len(self.accepted)} feeds accepted, "
        head += f"{len(self.rejected)} rejected"
        lines = [head, *("  REJECTED " + line for line in self.rejection_lines())]
        if self.not_evaluated:
            lines.append(f"  not evaluated (no venue session in the window): {', '.join(self.not_evaluated)}")
        return "\n".join(lines)


def default_suite_path() -> Path:
    """``expectations/market_panel_completeness.json`` (or under ``RISK_PLATFORM_EXPECTATIONS_DIR``)."""
    return paths.expectations_dir() / f"{COMPLETENESS_SUITE}.json"


def load_suite(path: Path | str) -> dict[str, Any]:
    """Read a GX suite stored as JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: expectation suite not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: expectation suite is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def gate_rules(suite: dict[str, Any]) -> tuple[tuple[str, float | None, float | None], ...]:
    """The suite's per-feed bounds: every ``expect_column_values_to_be_between`` as (column, min, max)."""
    rules = []
    for expectation in suite.get("expectations", []):
        if expectation.get("type") == "expect_column_values_to_be_between":
            kwargs = expectation["kwargs"]
            rules.append((kwargs["column"], kwargs.get("min_value"), kwargs.get("max_value")))
    return tuple(rules)


def gate_threshold(suite: dict[str, Any]) -> float:
    """The maximum missing share allowed by the suite's ``missing_share`` expectation."""
    for column, _, high in gate_rules(suite):
        if column == "missing_share" and high is not None:
            return float(high)
    raise InputError(f"suite {suite.get('name')}: no expect_column_values_to_be_between on missing_share")


def completeness_table(
    raw: pd.DataFrame,
    instruments: pd.DataFrame,
    window_start: pd.Timestamp | None = None,
    window_end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Per delivered feed, the venue sessions in the evaluated window and how many have no value.

    The window of a feed runs from its first observation (or ``window_start`` if later) to ``window_end``
    (default: the last date of the whole delivery, so a feed that stopped early counts its silent tail).
    ``recent_*`` columns measure the last ``RECENT_SESSIONS`` venue sessions of that window. Feeds with no
    venue session in the window (e.g. starting after ``window_end``) get no row.
    """
    frame = raw
    end = window_end if window_end is not None else frame["date"].max()
    calendar_of = instruments.set_index("symbol")["calendar"]
    rows = []
    for symbol, feed in frame.groupby("symbol", sort=True):
        calendar = calendar_of[symbol]
        start = feed["date"].min() if window_start is None else max(feed["date"].min(), window_start)
        venue_days = sessions(calendar, start, end)
        valued = pd.DatetimeIndex(feed.loc[feed["value"].notna(), "date"])
        in_window = valued[(valued >= start) & (valued <= end)]
        if venue_days.empty:
            continue
        missing = venue_days[~venue_days.isin(in_window)]
        expected = len(venue_days)
        recent = venue_days[-RECENT_SESSIONS:]
        recent_missing = int((~recent.isin(in_window)).sum())
        rows.append(
            {
                "symbol": symbol,
                "calendar": calendar,
                "window_start": start.strftime("%Y-%m-%d"),
                "window_end": end.strftime("%Y-%m-%d"),
                "expected_sessions": expected,
                "observed_sessions": expected - len(missing),
                "missing_sessions": len(missing),
                "missing_share": len(missing) / expected,
                "recent_sessions": len(recent),
                "recent_missing_share": recent_missing / len(recent),
                "off_session_values": int((~in_window.isin(venue_days)).sum()),
                "first_missing_dates": ", ".join(d.strftime("%Y-%m-%d") for d in missing[:MISSING_DATES_SHOWN]),
                "latest_missing_dates": latest_missing_runs(missing, venue_days),
            }
        )
    columns = ["symbol", "calendar", "window_start", "window_end", "expected_sessions", "observed_sessions",
               "missing_sessions", "missing_share", "recent_sessions", "recent_missing_share", "off_session_values",
               "first_missing_dates", "latest_missing_dates"]
    return pd.DataFrame(rows, columns=columns)


def latest_missing_runs(missing: pd.DatetimeIndex, venue_days: pd.DatetimeIndex, shown: int = MISSING_DATES_SHOWN
                        ) -> str:
    """The missing sessions newest first, each run of consecutive venue sessions as one range, e.g.
    ``'2024-12-02..2024-12-31 (21 sessions), 2024-11-15, ... and 40 earlier runs'``; ``''`` when none is missing."""
    position = venue_days.get_indexer(missing)
    runs = np.split(missing, np.flatnonzero(np.diff(position) != 1) + 1) if len(missing) else []
    texts = [f"{run[0]:%Y-%m-%d}..{run[-1]:%Y-%m-%d} ({len(run)} sessions)" if len(run) > 1 else f"{run[0]:%Y-%m-%d}"
             for run in reversed(runs[-shown:])]
    earlier = len(runs) - shown
    return ", ".join(texts) + (f", ... and {earlier} earlier run(s)" if earlier > 0 else "")


def apply_gate(table: pd.DataFrame, suite: dict[str, Any], delivered: list[str] | None = None) -> GateDecision:
    """Decide per feed with the suite's bounds (no GX import: the fast path, used by the CLI).

    ``delivered``: all symbols of the delivery, to list those the window left out as ``not_evaluated``.
    """
    rules = gate_rules(suite)
    accepted_mask = np.ones(len(table), dtype=bool)
    for column, low, high in rules:
        values = table[column].to_numpy(dtype=float)
        if low is not None:
            accepted_mask &= values >= low
        if high is not None:
            accepted_mask &= values <= high
    table = table.assign(accepted=accepted_mask)
    return GateDecision(
        table=table,
        threshold=gate_threshold(suite),
        accepted=tuple(table.loc[accepted_mask, "symbol"]),
        rejected=tuple(table.loc[~accepted_mask, "symbol"]),
        rules=rules,
        not_evaluated=tuple(sorted(set(delivered or []) - set(table["symbol"]))),
    )


def validate_with_gx(decision: GateDecision, suite: dict[str, Any]) -> GateDecision:
    """Run the suite with GX Core 1.x on the completeness table; the GX result decides the rejected feeds.

    Raises :class:`ComputationError` if GX and the fast path disagree (that would be a bug, not bad data).
    """
    import great_expectations as gx  # slow import (about 5 s): only where GX really runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    table = decision.table.drop(columns="accepted")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("risk_platform")
        .add_dataframe_asset(COMPLETENESS_SUITE)
        .add_batch_definition_whole_dataframe("delivery")
        .get_batch(batch_parameters={"dataframe": table})
    )
    suite_obj = gx.ExpectationSuite(
        name=suite["name"], expectations=suite["expectations"], meta=suite.get("meta", {})
    )
    result = batch.validate(
        suite_obj, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["symbol"]}
    )
    result_dict = result.to_json_dict()
    gx_rejected: set[str] = set()
    for item in result_dict["results"]:
        if item["expectation_config"]["type"] == "expect_column_values_to_be_between" and not item["success"]:
            gx_rejected |= {row["symbol"] for row in item["result"].get("unexpected_index_list", [])}
    if gx_rejected != set(decision.rejected):
        raise ComputationError(f"GX and the gate disagree: GX {sorted(gx_rejected)} vs {sorted(decision.rejected)}")
    validation_id = str(uuid.uuid4())
    result_dict["id"] = validation_id
    return dataclasses.replace(
        decision, gx_validation_id=validation_id, gx_result=result_dict
    )


def quarantine_rejected(decision: GateDecision, raw: pd.DataFrame, quarantine_dir: Path) -> list[Path]:
    """Copy each raw file that delivered a rejected feed into quarantine, with a JSON reason file.

    ``raw`` is :attr:`RawPrices.frame` (it names each row's ``source_file``). The original file is never
    modified or deleted (it may hold accepted feeds too); the copy is checked byte for byte by sha256.
    Returns the reason files written.
    """
    if decision.passed:
        return []
    rejected = decision.table[~decision.table["accepted"]].set_index("symbol")
    frame = raw[raw["symbol"].isin(decision.rejected)]
    written = []
    for source_file, symbols in frame.groupby("source_file")["symbol"].unique().items():
        source = Path(source_file)
        target_dir, sha, copy = _quarantine_copy(source, quarantine_dir)
        reason = {
            "file": str(source),
            "sha256": sha,
            "quarantined_copy": str(copy),
            "reason": f"missing-data gate: more than {decision.threshold:.0%} of venue sessions missing",
            "gx_validation_id": decision.gx_validation_id,
            "rejected_feeds": [
                {
                    "symbol": s,
                    "missing_share": float(rejected.at[s, "missing_share"]),
                    "missing_sessions": int(rejected.at[s, "missing_sessions"]),
                    "expected_sessions": int(rejected.at[s, "expected_sessions"]),
                    "calendar": rejected.at[s, "calendar"],
                    "recent_missing_share": float(rejected.at[s, "recent_missing_share"]),
                    "first_missing_dates": [d for d in rejected.at[s, "first_missing_dates"].split(", ") if d],
                    "latest_missing_dates": rejected.at[s, "latest_missing_dates"],
                }
                for s in sorted(symbols)
            ],
        }
        reason_path = target_dir / "REASON.json"
        atomic_write_text(reason_path, json.dumps(reason, indent=2))
        written.append(reason_path)
    return written


def _quarantine_copy(source: Path, quarantine_dir: Path) -> tuple[Path, str, Path]:
    """A byte-identical copy of ``source`` in ``<quarantine_dir>/<stem>-<sha[:12]>/`` (checked by sha256):
    the folder, the file's sha256 and the copy."""
    sha = sha256_file(source)
    target_dir = quarantine_dir / f"{source.stem}-{sha[:12]}"
    target_dir.mkdir(parents=True, exist_ok=True)
    copy = target_dir / source.name
    if not copy.exists():
        tmp = target_dir / f".{source.name}.tmp-{uuid.uuid4().hex}"
        shutil.copyfile(source, tmp)
        tmp.replace(copy)
    if sha256_file(copy) != sha:
        raise InputError(f"{source}: changed while being quarantined (the copy's sha256 differs)")
    return target_dir, sha, copy


SUSPECT_FILE = "SUSPECT_POINTS.csv"


def quarantine_suspects(plausibility: PlausibilityDecision, quarantine_dir: Path) -> list[Path]:
    """Per raw file with suspect points: its verified copy and ``SUSPECT_POINTS.csv`` (file, symbol, date, value,
    rule, why) beside it. The raw file is never modified. Returns the CSV files written."""
    written = []
    for source_file, points in plausibility.suspects.groupby("file", sort=True):
        target_dir, _, _ = _quarantine_copy(Path(source_file), quarantine_dir)
        text = points.assign(date=points["date"].dt.strftime("%Y-%m-%d")).to_csv(index=False)
        written.append(atomic_write_text(target_dir / SUSPECT_FILE, text))
    return written


def accepted_panel(raw: pd.DataFrame, instruments: pd.DataFrame, decision: GateDecision) -> pd.DataFrame:
    """The market panel from :attr:`RawPrices.frame`: accepted feeds only, each on its own venue's sessions,
    missing values dropped.

    Columns ``date, symbol, value``; values delivered on days the venue was closed are left out (their
    count is ``off_session_values`` in the gate table).
    """
    frame = raw[raw["symbol"].isin(decision.accepted) & raw["value"].notna()]
    calendar_of = instruments.set_index("symbol")["calendar"]
    parts = []
    for symbol, feed in frame.groupby("symbol", sort=True):
        venue_days = sessions(calendar_of[symbol], feed["date"].min(), feed["date"].max())
        parts.append(feed.loc[feed["date"].isin(venue_days), ["date", "symbol", "value"]])
    if not parts:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "symbol": pd.Series(dtype=str),
                             "value": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class GateOutcome:
    """The gate applied to one delivery: the decision, the GX result file (when GX ran and a folder was given)
    and the reason files of the quarantined raw files.

    ``passed``: every feed accepted and the suite's table-level expectations (columns, unique symbols; known
    when GX ran) met. ``severity`` of a failure: ``warn`` when some feeds are rejected and the others proceed,
    ``error`` when none passes or a table-level expectation failed.
    """

    decision: GateDecision
    gx_result_path: Path | None = None
    quarantined: tuple[Path, ...] = ()
    plausibility: PlausibilityDecision | None = None
    suspect_files: tuple[Path, ...] = ()

    @property
    def suspects(self) -> pd.DataFrame:
        """The suspect points removed from the panel (file, symbol, date, value, rule, why); empty when none."""
        if self.plausibility is None:
            return pd.DataFrame(columns=["file", "symbol", "date", "value", "rule", "why"])
        return self.plausibility.suspects

    @property
    def accepted(self) -> tuple[str, ...]:
        """Feeds that pass both gates."""
        dropped = set(self.plausibility.rejected) if self.plausibility is not None else set()
        return tuple(s for s in self.decision.accepted if s not in dropped)

    @property
    def rejected(self) -> tuple[str, ...]:
        """Feeds rejected by either gate, sorted."""
        extra = self.plausibility.rejected if self.plausibility is not None else ()
        return tuple(sorted(set(self.decision.rejected) | set(extra)))

    @property
    def flagged(self) -> tuple[str, ...]:
        """Accepted feeds whose suspect points were removed."""
        return tuple(s for s in (self.plausibility.flagged if self.plausibility else ()) if s in self.accepted)

    def flag_points(self) -> pd.DataFrame:
        """The points the risk report names: removed suspects and kept unconfirmed latest points
        (:meth:`PlausibilityDecision.flag_points`)."""
        return self.plausibility.flag_points() if self.plausibility is not None else flag_points(self.suspects)

    def feed_table(self) -> pd.DataFrame:
        """The completeness table with ``suspect_points`` and ``recent_suspect_points`` per feed, and
        ``flag_points_json``: the feed's :meth:`flag_points` as JSON records (so the stored ``feed_quality``
        asset carries them to the risk report); ``accepted`` is the fate under both gates."""
        feeds = (self.plausibility.feeds if self.plausibility is not None
                 else pd.DataFrame(columns=["symbol", "suspect_points", "recent_suspect_points"]))
        table = self.decision.table.merge(feeds[["symbol", "suspect_points", "recent_suspect_points"]],
                                          on="symbol", how="left")
        counts = table[["suspect_points", "recent_suspect_points"]].fillna(0).astype(int)
        as_json = flag_points_json(self.flag_points())
        return table.assign(**counts, accepted=table["symbol"].isin(self.accepted),
                            flag_points_json=table["symbol"].map(as_json).fillna("[]"))

    def panel(self, raw: pd.DataFrame, instruments: pd.DataFrame) -> pd.DataFrame:
        """:func:`accepted_panel` of the feeds both gates accept, without the suspect points."""
        clean = without_suspects(raw, self.suspects)
        return accepted_panel(clean[clean["symbol"].isin(self.accepted)], instruments, self.decision)

    @property
    def table_expectations_met(self) -> bool:
        """The suite's expectations other than the per-feed bounds (True when GX did not run)."""
        results = (self.decision.gx_result or {}).get("results", [])
        return all(r["success"] for r in results
                   if r["expectation_config"]["type"] != "expect_column_values_to_be_between")

    @property
    def passed(self) -> bool:
        """Every feed accepted, the table-level expectations met, and no suspect point."""
        return self.decision.passed and self.table_expectations_met and self.suspects.empty and not self.rejected

    @property
    def severity(self) -> str:
        return "warn" if self.accepted and self.table_expectations_met else "error"

    def failure(self) -> str:
        """One line saying why the gate failed (empty when it passed): the rejected feeds of each gate and
        the first suspect points."""
        if self.passed:
            return ""
        parts = []
        rejected = self.decision.rejected
        if rejected or not self.table_expectations_met:
            what = f"{len(rejected)} feed(s) rejected: {', '.join(rejected)}" if rejected else "no feed rejected"
            if not self.table_expectations_met:
                what += "; the suite's table-level expectations failed"
            parts.append(f"missing-data gate ({self.severity}): {what}")
        if self.plausibility is not None and not self.suspects.empty:
            plaus = self.plausibility
            shown = "; ".join(plaus.lines()[:3]) + ("; ..." if len(plaus.suspects) > 3 else "")
            fate, feeds = ("rejected", plaus.rejected) if plaus.rejected else ("flagged", plaus.flagged)
            verdict = f"{fate}: {', '.join(feeds)}"
            parts.append(f"plausibility gate ({self.severity}): {len(plaus.suspects)} suspect point(s) removed,"
                         f" feed(s) {verdict}: {shown}")
        return "; ".join(parts)

    def summary(self) -> str:
        """Both gates' summaries (``check-data``'s text output)."""
        parts = [self.decision.summary()]
        if self.plausibility is not None:
            parts.append(self.plausibility.summary())
        return "\n".join(parts)

    def markdown(self) -> str:
        """:meth:`summary` as Markdown (the Dagster check's description): each gate's head line a paragraph, each
        rejected feed, suspect or unconfirmed point a bullet of its own."""
        return "\n".join(f"- {line.strip()}" if line.startswith("  ") else f"\n{line}\n"
                         for line in self.summary().splitlines()).strip()

    def lineage_facts(self) -> dict[str, Any]:
        """What lineage keeps of the gate: the GX validation, the suite, the feeds' fate, the quarantine."""
        decision = self.decision
        plaus = self.plausibility
        return {"gx_validation_id": decision.gx_validation_id, "gx_result": str(self.gx_result_path),
                "suite": f"expectations/{COMPLETENESS_SUITE}.json", "accepted": list(self.accepted),
                "rejected": list(self.rejected), "quarantined": [str(p.parent) for p in self.quarantined],
                "plausibility_gx_validation_id": plaus.gx_validation_id if plaus is not None else None,
                "suspect_points": [f"{line}" for line in (plaus.lines() if plaus is not None else [])],
                "suspect_files": [str(p) for p in self.suspect_files]}

    def raise_if_failed(self) -> None:
        """:class:`GateFailedError` with :meth:`failure` when the gate failed."""
        if not self.passed:
            raise GateFailedError(self.failure())


def record_gx_result(decision: GateDecision | PlausibilityDecision, validations_dir: Path) -> Path | None:
    """Keep a GX validation result as ``<validations_dir>/<id>.json`` (lineage points at it); None when GX
    did not run."""
    if decision.gx_validation_id is None or decision.gx_result is None:
        return None
    return atomic_write_text(validations_dir / f"{decision.gx_validation_id}.json",
                             json.dumps(decision.gx_result, indent=1))


def gate_delivery(raw: pd.DataFrame, instruments: pd.DataFrame, suite: dict[str, Any], *,
                  window_start: pd.Timestamp | None = None, window_end: pd.Timestamp | None = None,
                  gx: bool = False, validations_dir: Path | None = None, quarantine_dir: Path | None = None,
                  plausibility_suite: dict[str, Any] | None = None,
                  evaluation_date: pd.Timestamp | None = None) -> GateOutcome:
    """The gate on :attr:`RawPrices.frame` as one call: the plausibility gate (``plausibility_suite``, default
    ``expectations/market_panel_plausibility.json``; ``evaluation_date`` today by default), then completeness
    per feed on the delivery without its suspect points (``gx``: both validated by GX too, the results kept under
    ``validations_dir`` when given); the raw files of rejected feeds, and the suspect points with their reasons,
    go to ``quarantine_dir`` when given."""
    plaus_suite = plausibility_suite or load_suite(default_plausibility_suite_path())
    plausibility = plausibility_gate(raw, instruments, plaus_suite, evaluation_date=evaluation_date,
                                     window_end=window_end, gx=gx)
    clean = without_suspects(raw, plausibility.suspects)
    table = completeness_table(clean, instruments, window_start, window_end)
    decision = apply_gate(table, suite, delivered=sorted(raw["symbol"].unique()))
    if gx:
        decision = validate_with_gx(decision, suite)
    result_path = None
    if validations_dir is not None:
        result_path = record_gx_result(decision, validations_dir)
        record_gx_result(plausibility, validations_dir)
    quarantined = quarantine_rejected(decision, clean, quarantine_dir) if quarantine_dir is not None else []
    suspect_files = quarantine_suspects(plausibility, quarantine_dir) if quarantine_dir is not None else []
    return GateOutcome(decision, result_path, tuple(quarantined), plausibility, tuple(suspect_files))
