"""The promotion outcome as a person reads it: one line, and the gates as a coloured table."""

from risk_platform.models.governance import GateCheck, GateResult
from risk_platform.reporting.model_views import failed_gates, gate_table_markdown, promotion_headline
from risk_platform.workflows.promotion import PromotionDecision

CHECKS = (GateCheck(True, "walk-forward Kupiec 99% bootstrap p >= 0.05", "wf_kupiec_boot_p_99", 0.5012, 0.05),
          GateCheck(False, "no more crisis exceptions than the best baseline", "crisis_excess_exceptions", 2.0, 0.0),
          GateCheck(False, "walk-forward coverage 97.5%", note="no walk-forward producer for this family"))


def decision(model: str, passed: bool, checks: tuple[GateCheck, ...] = CHECKS) -> PromotionDecision:
    return PromotionDecision(model=model, version="3", passed=passed, moves="", validation_run_id="r", report="",
                             gates="", aliases={}, gate_result=GateResult(passed, checks))


def test_the_headline_and_the_coloured_table_say_which_gate_refused_and_by_what_figure():
    decisions = [decision("lstm_vol", True, CHECKS[:1]), decision("gnn_corr", False)]
    assert promotion_headline(decisions) == "lstm_vol v3 promoted; gnn_corr v3 refused (2 of 3 gates failed)"
    table = gate_table_markdown(decisions).splitlines()
    assert len(table) == 2 + 1 + 3
    assert table[2] == ("| lstm_vol | v3 | 🟢 pass | walk-forward Kupiec 99% bootstrap p >= 0.05 |"
                        " wf_kupiec_boot_p_99 = 0.5012 | 0.05 |")
    assert table[4] == ("| gnn_corr | v3 | 🔴 FAIL | no more crisis exceptions than the best baseline |"
                        " crisis_excess_exceptions = 2 | 0 |")
    assert table[5].endswith("| 🔴 FAIL | walk-forward coverage 97.5% | no walk-forward producer for this family |  |")
    assert failed_gates(decisions[1]) == [CHECKS[1].line, CHECKS[2].line]


def test_the_zone_table_opens_on_the_worst_window():
    import pandas as pd

    from risk_platform.workflows.promotion import Promotion

    rows = [("covid_2020", "hs", "red"), ("covid_2020", "lstm", "red"), ("euro_2011", "hs", "green"),
            ("euro_2011", "lstm", "yellow"), ("gfc_2008", "hs", "red"), ("gfc_2008", "lstm", "green"),
            ("svb_2023", "hs", "green")]
    zones = pd.DataFrame([{"window": w, "method": m, "alpha": 0.99, "zone": z} for w, m, z in rows])
    table = Promotion([], zones).zones_99()
    assert list(table.index) == ["covid_2020", "gfc_2008", "euro_2011", "svb_2023"]
    assert table.at["svb_2023", "lstm"] == "not evaluable"
