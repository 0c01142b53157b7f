"""The promotion outcome as a person reads it: one line, and the gates as a coloured table."""

from risk_platform.reporting.model_views import gate_lines, gate_table_markdown, promotion_headline
from risk_platform.workflows.promotion import PromotionDecision

GATES = ("pass walk-forward Kupiec 99%: bootstrap p 0.50 >= 0.05; FAIL crisis windows: gfc_2008 6 exceptions > best"
         " baseline 4; pass QLIKE 1.44 <= 1.05 x EWMA 1.44")


def decision(model: str, passed: bool, gates: str = GATES) -> PromotionDecision:
    return PromotionDecision(model=model, version="3", passed=passed, moves="", validation_run_id="r", report="",
                             gates=gates, aliases={})


def test_gate_lines_split_on_each_gate_not_inside_one():
    assert gate_lines(GATES) == ["pass walk-forward Kupiec 99%: bootstrap p 0.50 >= 0.05",
                                "FAIL crisis windows: gfc_2008 6 exceptions > best baseline 4",
                                "pass QLIKE 1.44 <= 1.05 x EWMA 1.44"]


def test_the_headline_and_the_coloured_table_say_which_gate_refused():
    decisions = [decision("lstm_vol", True, "pass a; pass b"), decision("gnn_corr", False)]
    assert promotion_headline(decisions) == "lstm_vol v3 promoted; gnn_corr v3 refused (1 of 3 gates failed)"
    table = gate_table_markdown(decisions).splitlines()
    assert len(table) == 2 + 2 + 3
    assert table[5] == "| gnn_corr | v3 | 🔴 FAIL | crisis windows: gfc_2008 6 exceptions > best baseline 4 |"
    assert table[2] == "| lstm_vol | v3 | 🟢 pass | a |"
