"""What the model assets show a person: the promotion outcome in one line and its gates as a coloured table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from risk_platform.models.governance import GateCheck, GateResult
from risk_platform.render.formatting import sig4


class PromotionDecision(Protocol):
    """A promotion decision as the views read it (:class:`risk_platform.workflows.promotion.PromotionDecision`)."""

    model: str
    version: str
    passed: bool
    gate_result: GateResult | None

PASS_MARK, FAIL_MARK = "🟢 pass", "🔴 FAIL"


def gate_checks(decision: PromotionDecision) -> tuple[GateCheck, ...]:
    """The decision's gates one by one (none when it carries no gate result)."""
    return decision.gate_result.rows if decision.gate_result is not None else ()


def promotion_headline(decisions: Sequence[PromotionDecision]) -> str:
    """``'lstm_vol v3 promoted; gnn_corr v2 refused (2 of 9 gates failed); ...'``."""
    parts = []
    for d in decisions:
        checks = gate_checks(d)
        failed = sum(not c.passed for c in checks)
        parts.append(f"{d.model} v{d.version} promoted" if d.passed
                     else f"{d.model} v{d.version} refused ({failed} of {len(checks)} gates failed)")
    return "; ".join(parts) or "no version to judge"


def failed_gates(decision: PromotionDecision) -> list[str]:
    """The lines of the gates a decision failed."""
    return [c.line for c in gate_checks(decision) if not c.passed]


def gate_table_markdown(decisions: Sequence[PromotionDecision]) -> str:
    """One Markdown table row per gate of every decision, the result coloured (green pass, red FAIL), the figure
    against its threshold (4 significant figures) or why there is none."""
    rows = ["| family | version | result | gate | figure | threshold |", "|---|---|---|---|---|---|"]
    for d in decisions:
        for c in gate_checks(d):
            figure = f"{c.metric} = {sig4(c.value)}" if c.value is not None else (c.note or "n/a")
            threshold = sig4(c.threshold) if c.threshold is not None else ""
            cells = [d.model, f"v{d.version}", PASS_MARK if c.passed else FAIL_MARK, c.gate, figure, threshold]
            rows.append("| " + " | ".join(str(x).replace("|", "/") for x in cells) + " |")
    return "\n".join(rows)
