"""What the model assets show a person: the promotion outcome in one line and its gates as a coloured table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

_GATE_SPLIT = re.compile(r"; (?=(?:pass|FAIL)\b)")
PASS_MARK, FAIL_MARK = "🟢 pass", "🔴 FAIL"


class Decided(Protocol):
    """A promotion decision as the views read it (:class:`~risk_platform.workflows.promotion.PromotionDecision`)."""

    model: str
    version: str
    passed: bool
    moves: str
    gates: str


def gate_lines(gates: str) -> list[str]:
    """A decision's gate lines (each starts ``pass`` or ``FAIL``) from its joined ``gates`` text."""
    return [line for line in _GATE_SPLIT.split(gates) if line]


def promotion_headline(decisions: Sequence[Decided]) -> str:
    """``'lstm_vol v3 promoted; gnn_corr v2 refused (2 of 9 gates failed); ...'``."""
    parts = []
    for d in decisions:
        lines = gate_lines(d.gates)
        failed = sum(line.startswith("FAIL") for line in lines)
        parts.append(f"{d.model} v{d.version} promoted" if d.passed
                     else f"{d.model} v{d.version} refused ({failed} of {len(lines)} gates failed)")
    return "; ".join(parts) or "no version to judge"


def gate_table_markdown(decisions: Sequence[Decided]) -> str:
    """One Markdown table row per gate of every decision, its result coloured (green pass, red FAIL)."""
    rows = ["| family | version | result | gate (figure against threshold) |", "|---|---|---|---|"]
    for d in decisions:
        for line in gate_lines(d.gates):
            passed = line.startswith("pass")
            text = line.removeprefix("pass").removeprefix("FAIL").strip(" :").replace("|", "/")
            rows.append(f"| {d.model} | v{d.version} | {PASS_MARK if passed else FAIL_MARK} | {text} |")
    return "\n".join(rows)
