"""The promotion decision of every model family: its crisis-window summary and report logged to MLflow
(validation experiment, linked from the model version), then the promotion policy (``experimental`` ->
``current`` if the gates pass, the replaced ``current`` -> ``stable`` after its period), every decision in the
audit log. The challenger is compared with the incumbent ``current`` on the window forecasts the incumbent's
own validation run stored (``validation_report/windows.json``).

Walk-forward evidence (the coverage gates' input, :func:`walk_forward_evidence`): the LSTM's registered
version is the refit on every day, so its own forecasts are in sample; its training run stores the *evaluation
fit*'s variance forecasts of every series at every origin (``evaluation/evaluation_variances.parquet``, the
fit trained on targets up to the param ``validation_train_end``). From them the promotion forecasts the
validation book on every day after ``validation_train_end`` (``lstm`` and ``evt_lstm``, with the baselines on
the same days: :func:`~risk_platform.validation.crisis.walk_forward_forecasts`). A stored table rather than the
evaluation fit's weights: the book forecast needs only the per-series variances (plus EWMA correlations of the
returns), the table is small, readable by a reviewer, and needs no model code at promotion. The other families
have no producer: their coverage gates fail as missing with ``ModelFamily.no_walk_forward``."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from risk_platform.errors import InputError
from risk_platform.families import FAMILIES, ModelFamily
from risk_platform.io import exclusive_run
from risk_platform.models.audit import AuditLog
from risk_platform.models.governance import (
    GateCheck,
    GateResult,
    PromotionPolicy,
    apply_policy,
    evaluate_gates,
    restore_audited_aliases,
)
from risk_platform.models.mlflow_ui import REPORT_DIR, REPORT_HTML
from risk_platform.models.names import VALIDATION_RUN_TAG, registered_name
from risk_platform.models.version_page import Decision, version_links, write_version_page
from risk_platform.validation.crisis import WindowValidation, walk_forward_forecasts
from risk_platform.validation.report import (
    COVERAGE_ALPHAS,
    WINDOWS_FILE,
    read_windows,
    summarize_family,
    write_report,
)
from risk_platform.validation.var_forecasts import VarForecast

if TYPE_CHECKING:
    from risk_platform.models.registry import ModelRegistry


@dataclass(frozen=True)
class Candidate:
    """The version the crisis windows validated and the metrics its training run logged; ``problem``: why it
    cannot be judged (its gates then fail with that reason)."""

    version: str
    metrics: Mapping[str, float]
    problem: str | None = None


def validated_candidate(registry: ModelRegistry, family: ModelFamily, window_values: Mapping[str, Mapping]
                        ) -> Candidate:
    """The candidate a family's crisis-window asset values (partition -> value with ``candidate_version``)
    validated: the promotion judges that version, whatever the training asset holds now (another run may have
    registered a newer one meanwhile). Windows that validated different versions cannot be judged together:
    the newest is named, with the problem."""
    versions = {key: str(value["candidate_version"]) for key, value in window_values.items()}
    distinct = sorted(set(versions.values()), key=int)
    if not distinct:
        return Candidate("?", {}, f"no crisis window of {family.key} was validated")
    version = distinct[-1]
    problem = None
    if len(distinct) > 1:
        by_version = "; ".join(f"v{v}: {', '.join(k for k, w in sorted(versions.items()) if w == v)}"
                               for v in distinct)
        problem = (f"the crisis windows validated different versions ({by_version}): re-run the validation of"
                   f" v{version} in every window")
    return Candidate(version, registry.training_metrics(family.key, version), problem)


@dataclass(frozen=True)
class WalkForward:
    """A family's walk-forward out-of-sample forecasts of the validation book (its methods' and the baselines'
    on the same days), or why it has none (``missing``: the coverage gates fail saying so)."""

    forecasts: tuple[VarForecast, ...] = ()
    missing: str = ""


def lstm_walk_forward(registry: ModelRegistry, version: str, daily: pd.DataFrame, exposure: pd.Series
                      ) -> WalkForward:
    """The book's forecasts after ``validation_train_end`` from the evaluation variances ``version``'s training
    run stored (module docstring), at the coverage gates' confidences; why not, naming the version, when the run
    has no evaluation or no table, or the table misses a book factor."""
    label = f"lstm_vol v{version}"
    run_id = registry.client.get_model_version(registered_name("lstm_vol"), version).run_id
    params = registry.run(run_id).data.params
    train_end = params.get("validation_train_end", "none")
    if train_end == "none":
        return WalkForward(missing=f"{label} was not evaluated out of sample"
                                   f" ({params.get('evaluation_note', 'no validation_train_end param')})")
    from risk_platform.models.reports import EVALUATION_FOLDER, EVALUATION_VARIANCES  # Lightning: not at start-up

    try:
        wide_var = registry.read_artifact(run_id, f"{EVALUATION_FOLDER}/{EVALUATION_VARIANCES}", pd.read_parquet)
    except InputError as exc:
        return WalkForward(missing=f"{label}: training {exc}: retrain it")
    try:
        return WalkForward(tuple(walk_forward_forecasts(wide_var, daily, exposure, pd.Timestamp(train_end),
                                                        COVERAGE_ALPHAS)))
    except InputError as exc:
        return WalkForward(missing=f"{label}: {exc}")


WALK_FORWARD_PRODUCERS = {"lstm_vol": lstm_walk_forward}  # family -> its producer (the others: no_walk_forward)


def walk_forward_evidence(registry: ModelRegistry, candidates: Mapping[str, Candidate], daily: pd.DataFrame,
                          exposure: pd.Series) -> dict[str, WalkForward]:
    """Each family's :class:`WalkForward` for its candidate: from its producer (:data:`WALK_FORWARD_PRODUCERS`),
    else the family's ``no_walk_forward`` reason."""
    out = {}
    for key, family in FAMILIES.items():
        produce, candidate = WALK_FORWARD_PRODUCERS.get(key), candidates[key]
        if produce is None:
            out[key] = WalkForward(missing=family.no_walk_forward or f"no walk-forward producer for {key}")
        else:
            out[key] = WalkForward(missing=candidate.problem) if candidate.problem else produce(
                registry, candidate.version, daily, exposure)
    return out


@dataclass(frozen=True)
class PromotionDecision:
    """One family's decision: the gates, the alias moves made, the validation run and report, and the
    family's aliases afterwards."""

    model: str
    version: str
    passed: bool
    moves: str
    validation_run_id: str
    report: str
    gates: str
    aliases: dict[str, str]
    restored: tuple[str, ...] = ()  # unaudited alias moves found and put back before judging
    links: dict[str, str] = field(default_factory=dict)  # MLflow UI URLs (version_page.version_links)
    gate_result: GateResult | None = None  # the gates one by one (``gate_result.table()``: outcome first)

    def to_dict(self) -> dict:
        return {"model": self.model, "version": self.version, "passed": self.passed, "moves": self.moves,
                "validation_run_id": self.validation_run_id, "report": self.report, "gates": self.gates,
                "restored": list(self.restored)}

    def lineage_facts(self) -> dict:
        return {"model": self.model, "version": self.version, "validation_run_id": self.validation_run_id,
                "passed": self.passed, "aliases": self.aliases}


@dataclass(frozen=True, eq=False)
class Promotion:
    """Every family's decision (in table order) and their zone tables beside the baselines."""

    decisions: list[PromotionDecision]
    zones: pd.DataFrame  # report.TABLE_COLUMNS and ``family``, one row per window, method and confidence

    def zones_99(self) -> pd.DataFrame:
        """Window x method: the Basel zone at 99% (the baselines once; ``not evaluable`` where a method has no
        forecast in the window), the worst window first (most red, then yellow cells; ties in window order)."""
        table = self.zones.drop_duplicates(["window", "method", "alpha"])
        pivot = table[table["alpha"] == 0.99].pivot(index="window", columns="method", values="zone")
        pivot = pivot.fillna("not evaluable")
        severity = pivot.apply(lambda row: (row == "red").sum() * 100 + (row == "yellow").sum(), axis=1)
        return pivot.loc[severity.sort_values(ascending=False, kind="stable").index]


def promote_families(registry: ModelRegistry, audit: AuditLog, policy: PromotionPolicy,
                     candidates: Mapping[str, Candidate], windows: Mapping[str, list[WindowValidation]],
                     baselines: list[WindowValidation], tags: dict[str, str], actor: str,
                     walk_forward: Mapping[str, WalkForward] | None = None) -> Promotion:
    """For each family of :data:`FAMILIES`: summarise its candidate's crisis windows (and its ``walk_forward``
    forecasts over the whole out-of-sample period, :func:`walk_forward_evidence`: without them the coverage
    gates fail as missing), log the validation run and report, and apply the policy. One promotion at a time (a
    lock beside the audit log): a second one started meanwhile fails with
    :class:`~risk_platform.errors.BusyError` instead of judging the same aliases.
    First, every alias moved outside the audited path is put back where the audit log puts it (and recorded)."""
    decisions, zones = [], []
    with exclusive_run(audit.path.parent / "locks" / "promotion.lock", "a promotion"):
        for key, family in FAMILIES.items():
            restored = restore_audited_aliases(registry, audit, key, actor)
            decision, table = decide(family, registry, audit, policy, candidates[key], windows[key], baselines,
                                     tags, actor, (walk_forward or {}).get(key, WalkForward()))
            decisions.append(replace(decision, restored=tuple(m.describe() for m in restored)))
            zones.append(table.assign(family=key))
    return Promotion(decisions, pd.concat(zones))


def decide(family: ModelFamily, registry: ModelRegistry, audit: AuditLog, policy: PromotionPolicy,
           candidate: Candidate, windows: list[WindowValidation], baselines: list[WindowValidation],
           tags: dict[str, str], actor: str, walk_forward: WalkForward = WalkForward()
           ) -> tuple[PromotionDecision, pd.DataFrame]:
    """One family's decision and its zone table: the gate metrics (the crisis summary against the baselines
    and the incumbent, the walk-forward coverage, the training metrics the family carries) logged with the
    report as a validation run, then the policy applied."""
    incumbent, incumbent_problem = incumbent_windows(registry, family, candidate.version)
    summary = summarize_family(family.key, windows, baselines, family.window_metrics, walk_forward.forecasts,
                               incumbent, method=family.judged_method)
    metrics = {**family.training_metrics_for_gates(candidate.metrics), **summary.metrics}
    gates = evaluate_gates(family.gates, metrics, policy, walk_forward.missing)
    for problem in (candidate.problem, incumbent_problem):
        if problem:
            gates = GateResult(False, (GateCheck.failed(problem), *gates.rows))
    label = f"{family.registered_name} v{candidate.version}"
    scope = (f"{summary.metrics['windows_evaluated']:.0f} of {summary.metrics['windows_total']:.0f} crisis windows"
             + (" + walk-forward" if walk_forward.forecasts else ""))
    with tempfile.TemporaryDirectory() as tmp:
        files = write_report(Path(tmp), family.key, label, summary, windows, baselines, gates)
        run_id = registry.log_validation(model_key=family.key, version=candidate.version, metrics=metrics, tags=tags,
                                         artifacts=[(f, REPORT_DIR) for f in files], scope=scope)
    moves = apply_policy(registry, audit, family.key, candidate.version, gates, policy, actor=actor,
                         validation_run_id=run_id)
    moved = ", ".join(f"{m.alias}: {m.from_version} -> {m.to_version}" for m in moves) or "none"
    write_version_page(registry, family.key, candidate.version, Decision(gates, run_id, moved))
    decision = PromotionDecision(family.key, candidate.version, gates.passed, moved, run_id,
                                 f"runs:/{run_id}/{REPORT_HTML}", gates.reason, registry.aliases(family.key),
                                 links=version_links(registry, family.key, candidate.version), gate_result=gates)
    return decision, summary.table


def incumbent_windows(registry: ModelRegistry, family: ModelFamily, candidate: str
                      ) -> tuple[list[WindowValidation] | None, str | None]:
    """The window validations of the family's ``current`` version (None when there is none, or it is the
    candidate), read from its latest validation run; and why they cannot be read, if so (the gate then fails)."""
    version = registry.aliases(family.key).get("current")
    if version is None or version == candidate:
        return None, None
    run_id = registry.client.get_model_version(family.registered_name, version).tags.get(VALIDATION_RUN_TAG)
    if run_id is None:
        return [], f"the incumbent current v{version} has no validation run to compare with"
    try:
        return registry.read_artifact(run_id, f"{REPORT_DIR}/{WINDOWS_FILE}", read_windows), None
    except InputError as exc:
        return [], f"the incumbent current v{version}'s window forecasts cannot be read: validation {exc}"
