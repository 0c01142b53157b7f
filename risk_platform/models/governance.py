"""Model governance: the promotion policy between the aliases ``experimental`` -> ``current`` -> ``stable``
and the append-only audit log of every alias move (MLflow keeps no history of alias moves).

Policy (configurable, :class:`PromotionPolicy`): a new version starts as ``experimental`` (the challenger); it
becomes ``current`` (the champion) only if every gate of :data:`POLICY_GATES`, then its family's own
(``ModelFamily.gates`` in :mod:`risk_platform.families`), passes on the validation metrics the report shows
(:mod:`risk_platform.validation.report`, whose docstring defines each metric); the version it replaces becomes
``stable`` if it had been ``current`` for at least ``stable_after_days`` without a recorded monitoring failure.
Each move is one JSON line in the audit log (time, model, alias, from and to version, reason, validation run
id, actor) and is mirrored on the MLflow model version as its ``alias_history`` tag (the latest move, in words).

Rationale (SR 11-7's benchmarking and outcomes analysis: a model is judged against what it would replace, on the
same data, with tests that can fail). The gates, in order:

a) **Coverage over the whole walk-forward out-of-sample period**, at 99% and 97.5%: Kupiec (proportion of
   failures) and Christoffersen (independence) p-values above ``min_coverage_p``, read from the Monte Carlo
   bootstrap under the null (the chi2 limits are poor with the few exceptions of a 99% VaR; the asymptotic
   p-values are reported beside them). A model must be calibrated in ordinary times, not only in crises. The
   forecasts judged are the family's ``judged_method`` (``evt_lstm`` for the LSTM), made by the *evaluation fit*
   (trained before the period) for the validation book (:func:`~risk_platform.workflows.promotion.
   walk_forward_evidence`); a family without them fails (a) with its ``no_walk_forward`` reason.
b) **Crisis windows against the best standard baseline on the same days** (HS, EWMA-normal, GARCH-t, FHS; the
   best is the one with the lowest mean tick loss in that window): in no window more than
   ``max_excess_exceptions`` exceptions more than it, and its tick loss not significantly worse on the crisis days
   pooled (one-sided Diebold-Mariano p above ``dm_size``; per window the test is degenerate in a short window
   without an exception, see :mod:`risk_platform.validation.report`). This replaces the old gate "no
   window in the red zone": every method, the baselines included, is red in COVID on the validation book, so that
   gate could never pass and said nothing about the model; a zone is a property of the crisis as much as of the
   model, the comparison on the same days is not. At least ``min_windows_compared`` windows must be compared.
c) **Against the incumbent** ``current`` (when one exists and is not the candidate): on the crisis days both
   scored, no more exceptions than it (``max_excess_exceptions``) and tick loss not significantly worse
   (``dm_size``): a challenger must not be a step back.
d) **The family's own gates** (QLIKE against EWMA, Frobenius error against the 63-day sample, generator tails).

A model equivalent to the best baseline passes (b) and (c) (no excess exception, DM p 0.5); a model whose VaR
is too small fails (b) on its exceptions and tick loss and (a) on coverage. A metric that is missing fails its
gate, naming the metric; a gate that does not apply (no incumbent) says so in its line.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from risk_platform.errors import InputError
from risk_platform.models.audit import RESTORED_EVENT, AuditLog, AuditRecord, UnauditedMove, record_unaudited
from risk_platform.models.names import ALIAS_HISTORY_TAG, registered_name

if TYPE_CHECKING:
    from risk_platform.models.registry import ModelRegistry


@dataclass(frozen=True)
class PromotionPolicy:
    """Gates for experimental -> current, and the period for current -> stable."""

    min_windows_compared: int = 5  # crisis windows compared with the baselines (of the seven; a family cannot
    # be trained before some windows)
    min_coverage_p: float = 0.05  # bootstrap Kupiec and Christoffersen p over the walk-forward out-of-sample period
    max_excess_exceptions: int = 0  # exceptions beyond the best baseline's (each window) or the incumbent's
    dm_size: float = 0.05  # "significantly worse" in tick loss: one-sided Diebold-Mariano p at or below this
    max_qlike_ratio_to_ewma: float = 1.0  # LSTM QLIKE no worse than EWMA(0.94)
    max_frobenius_ratio_to_sample: float = 1.0  # GNN no worse than the 63-day sample correlation
    max_generator_rel_err: float = 0.10  # GAN/VAE portfolio VaR and ES in the stress regime
    stable_after_days: int = 182  # about six months as current

    @classmethod
    def from_yaml(cls, path: Path | str) -> PromotionPolicy:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"{path}: cannot read promotion policy ({exc.__class__.__name__})") from None
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"{path}: unknown policy setting(s) {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class GateCheck:
    """One gate's outcome: the gate in words (threshold included), the metric, its figure and threshold (None
    when missing or not applicable), and ``note`` (why not applicable, why missing)."""

    passed: bool
    gate: str
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    note: str = ""

    @classmethod
    def failed(cls, problem: str) -> GateCheck:
        """A failing line that is no gate's: why the candidate cannot be judged."""
        return cls(False, problem)

    @property
    def line(self) -> str:
        """``pass``/``FAIL``, the gate, then the figure (``metric = value``) or the note."""
        head = f"{'pass' if self.passed else 'FAIL'} {self.gate}"
        if self.value is not None:
            return f"{head}: {self.metric} = {self.value:.4g}"
        return f"{head}: {self.note}" if self.note else head


@dataclass(frozen=True)
class GateResult:
    """Whether a version may become ``current``, with one :class:`GateCheck` per gate."""

    passed: bool
    rows: tuple[GateCheck, ...]

    @property
    def checks(self) -> tuple[str, ...]:
        """One line per gate, each starting ``pass`` or ``FAIL``."""
        return tuple(row.line for row in self.rows)

    @property
    def reason(self) -> str:
        return "; ".join(self.checks)

    def table(self) -> pd.DataFrame:
        """One row per gate, the outcome first: outcome (``pass``/``FAIL``), gate, metric, figure (the note
        when there is none: missing or not applicable), threshold."""
        return pd.DataFrame([{"outcome": "pass" if r.passed else "FAIL", "gate": r.gate, "metric": r.metric or "",
                              "figure": r.value if r.value is not None else r.note, "threshold": r.threshold}
                             for r in self.rows], columns=["outcome", "gate", "metric", "figure", "threshold"])


@dataclass(frozen=True)
class Gate:
    """One promotion gate: ``passes(metrics[metric], threshold)`` with the threshold the promotion policy's
    field ``setting`` holds; ``description`` may use ``{threshold}``. ``applies_when``: a 0/1 metric; when it
    is 0 the gate does not apply (and its line says so). ``missing``: why the metric can be absent (the gate
    then fails saying so)."""

    metric: str
    setting: str
    passes: Callable[[float, float], bool]
    description: str
    applies_when: str | None = None
    missing: str = ("not evaluated on this universe: the training run's not_evaluated says why; or no validation"
                    " run")


NO_WALK_FORWARD = "no walk-forward out-of-sample forecasts of the validation book reached the promotion"
NO_CRISIS_COMPARISON = "no crisis window with both the model's and the baselines' forecasts"
NO_COMMON_DAYS = "the incumbent's stored window forecasts share no crisis day with the candidate's"


def _coverage_gates(alpha: str, label: str) -> tuple[Gate, ...]:
    return tuple(Gate(f"oos_{test}_p_boot_{alpha}", "min_coverage_p", operator.gt,
                      f"{name} bootstrap p at {label} over the walk-forward out-of-sample period above {{threshold}}",
                      missing=NO_WALK_FORWARD)
                 for test, name in (("kupiec", "Kupiec"), ("christoffersen", "Christoffersen independence")))


POLICY_GATES = (  # every family's gates (module docstring: a, b, c), before its own (ModelFamily.gates)
    *_coverage_gates("99", "99%"), *_coverage_gates("975", "97.5%"),
    Gate("windows_compared", "min_windows_compared", operator.ge,
         "at least {threshold} crisis windows compared with the baselines"),
    Gate("crisis_excess_exceptions_99", "max_excess_exceptions", operator.le,
         "in every crisis window at most {threshold} exceptions at 99% more than the best baseline",
         missing=NO_CRISIS_COMPARISON),
    Gate("crisis_dm_p_worse_99", "dm_size", operator.gt, "tick loss not significantly worse than the best baseline"
         " on the crisis days pooled (Diebold-Mariano p above {threshold})",
         missing=NO_CRISIS_COMPARISON),
    Gate("incumbent_excess_exceptions_99", "max_excess_exceptions", operator.le,
         "at most {threshold} exceptions at 99% more than the incumbent current on the same days", "has_incumbent",
         NO_COMMON_DAYS),
    Gate("incumbent_dm_p_worse_99", "dm_size", operator.gt, "tick loss not significantly worse than the incumbent"
         " current (Diebold-Mariano p above {threshold})", "has_incumbent", NO_COMMON_DAYS),
)


def _check(gate: Gate, metrics: dict[str, float], policy: PromotionPolicy) -> GateCheck:
    """One gate's outcome: passed or not on the metric's value (failed when the metric is missing)."""
    threshold = getattr(policy, gate.setting)
    description = gate.description.format(threshold=threshold)
    if gate.applies_when is not None and metrics.get(gate.applies_when) == 0:
        return GateCheck(True, description, gate.metric, None, threshold,
                         f"not applicable ({gate.applies_when} = 0)")
    if gate.metric not in metrics:
        return GateCheck(False, description, gate.metric, None, threshold,
                         f"metric {gate.metric} missing ({gate.missing})")
    value = float(metrics[gate.metric])
    return GateCheck(bool(gate.passes(value, threshold)), description, gate.metric, value, threshold)


def evaluate_gates(family_gates: Sequence[Gate], metrics: dict[str, float], policy: PromotionPolicy,
                   no_walk_forward: str = "") -> GateResult:
    """Apply the policy's gates (:data:`POLICY_GATES`), then a family's own gates (``ModelFamily.gates`` in
    :data:`~risk_platform.families.FAMILIES`), to its validation metrics. ``no_walk_forward``: why the family
    has no walk-forward forecasts (the coverage gates' missing reason, instead of :data:`NO_WALK_FORWARD`)."""
    gates = tuple(replace(g, missing=no_walk_forward) if no_walk_forward and g.missing == NO_WALK_FORWARD else g
                  for g in (*POLICY_GATES, *family_gates))
    rows = tuple(_check(gate, metrics, policy) for gate in gates)
    return GateResult(all(row.passed for row in rows), rows)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def move_alias(registry: ModelRegistry, audit: AuditLog, model_key: str, alias: str, version: str, reason: str,
               actor: str, validation_run_id: str | None = None, now: pd.Timestamp | None = None) -> AuditRecord:
    """Point ``alias`` at ``version``, log the move and mirror it on the model version as its
    :data:`~risk_platform.models.registry.ALIAS_HISTORY_TAG` (:func:`alias_history`)."""
    name = registered_name(model_key)
    aliases = registry.aliases(model_key)
    when = (now or _now()).isoformat()
    record = AuditRecord(when, "alias_move", model_key, alias, aliases.get(alias), version, reason,
                         validation_run_id, actor)
    audit.append(record)  # the record first: an alias never moves without one
    registry.client.set_registered_model_alias(name, alias, version)
    held = sorted(a for a, v in aliases.items() if v == version and a != alias)
    registry.client.set_model_version_tag(name, version, ALIAS_HISTORY_TAG, alias_history(record, held))
    return record


def alias_history(record: AuditRecord, held: Sequence[str] = ()) -> str:
    """A move to a version in words, e.g. ``experimental -> current by dagster run r1 at 2026-01-05T00:00:00+00:00
    (replaces v2)``: the aliases the version ``held`` before (``no alias`` when none), the alias, who and when."""
    replaced = f" (replaces v{record.from_version})" if record.from_version not in (None, record.to_version) else ""
    return f"{'+'.join(held) or 'no alias'} -> {record.alias} by {record.actor} at {record.time}{replaced}"


def restore_audited_aliases(registry: ModelRegistry, audit: AuditLog, model_key: str, actor: str,
                            now: pd.Timestamp | None = None) -> list[UnauditedMove]:
    """Put every unaudited alias of ``model_key`` back where the audit log puts it (or delete it when the log
    never moved it there); each move found is recorded as unaudited, each repair as ``alias_restored``.
    Returns the moves repaired (a promotion run does this before judging anything)."""
    moves = registry.unaudited_moves(model_key)
    when = (now or _now()).isoformat()
    record_unaudited(audit, moves, actor, when)
    name = registered_name(model_key)
    for move in moves:
        if move.audited is None:
            registry.client.delete_registered_model_alias(name, move.alias)
        else:
            registry.client.set_registered_model_alias(name, move.alias, move.audited)
        audit.append(AuditRecord(when, RESTORED_EVENT, model_key, move.alias, move.found, move.audited,
                                 f"restored the audited alias: {move.describe()}", None, actor))
    return moves


def record_gate_evaluation(audit: AuditLog, model_key: str, version: str, gates: GateResult, actor: str,
                           validation_run_id: str | None = None, now: pd.Timestamp | None = None) -> AuditRecord:
    """Log a promotion decision, passed or refused, with every gate line (a refusal moves no alias)."""
    event = "gates_passed" if gates.passed else "gates_failed"
    return audit.append(AuditRecord((now or _now()).isoformat(), event, model_key, "current", None, version,
                                    gates.reason, validation_run_id, actor))


def record_monitoring(audit: AuditLog, model_key: str, version: str, passed: bool, reason: str, actor: str,
                      now: pd.Timestamp | None = None) -> AuditRecord:
    """Log a monitoring result of a version (a failure blocks its promotion to ``stable``)."""
    event = "monitoring_pass" if passed else "monitoring_failure"
    return audit.append(AuditRecord((now or _now()).isoformat(), event, model_key, None, None, version, reason,
                                    None, actor))


def current_since(audit: AuditLog, model_key: str, version: str) -> pd.Timestamp | None:
    """When ``version`` last became ``current`` (from the audit log)."""
    moves = [r for r in audit.records(model_key)
             if r.event == "alias_move" and r.alias == "current" and r.to_version == version]
    return pd.Timestamp(moves[-1].time) if moves else None


def apply_policy(registry: ModelRegistry, audit: AuditLog, model_key: str, candidate: str, gates: GateResult,
                 policy: PromotionPolicy, actor: str, validation_run_id: str | None = None,
                 now: pd.Timestamp | None = None) -> list[AuditRecord]:
    """Record the gate evaluation and promote ``candidate`` to ``current`` if its gates passed; the replaced
    ``current`` becomes ``stable`` when it served long enough without a monitoring failure. Returns the moves."""
    now = now or _now()
    record_gate_evaluation(audit, model_key, candidate, gates, actor, validation_run_id, now)
    aliases = registry.aliases(model_key)
    if not gates.passed or aliases.get("current") == candidate:
        return []
    moves = []
    previous = aliases.get("current")
    if previous is not None:
        since = current_since(audit, model_key, previous)
        failures = [r for r in audit.records(model_key)
                    if r.event == "monitoring_failure" and r.to_version == previous
                    and since is not None and pd.Timestamp(r.time) >= since]
        served = (now - since).days if since is not None else 0
        if since is not None and served >= policy.stable_after_days and not failures:
            moves.append(move_alias(registry, audit, model_key, "stable", previous,
                                    f"current for {served} days without a monitoring failure", actor,
                                    validation_run_id, now))
    moves.append(move_alias(registry, audit, model_key, "current", candidate, "passed the gates: " + gates.reason,
                            actor, validation_run_id, now))
    return moves
