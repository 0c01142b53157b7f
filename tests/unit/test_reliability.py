"""The reliability catalogue (:data:`bench.reliability.CASES`: malformed and unusual prices, instruments,
positions and limits files, and bad arguments of every command) through the command line's ``main`` in
process: the exit code, ONE line on stderr naming the file, row, field or argument, no traceback, the flag when
the exit is 0, and nothing under the inputs folder changed. ``python -m bench.reliability`` runs the same cases
in subprocesses and prints the figures."""

import pytest

from bench.reliability import CASES, Outcome, run_case
from risk_platform.cli import main


def _params() -> list:
    return [pytest.param(case, id=case.name, marks=[pytest.mark.xfail(reason=case.xfail, strict=True)]
                         if case.xfail else []) for case in CASES]


def test_the_catalogue_has_at_least_105_cases_each_named_once():
    assert len(CASES) >= 105 and len({case.name for case in CASES}) == len(CASES)
    assert {case.exit for case in CASES} == {0, 2, 3}
    assert {case.argv[0] for case in CASES if case.argv} >= {"check-data", "risk", "stress", "backtest", "lineage"}


@pytest.mark.parametrize("case", _params())
def test_a_case_exits_as_expected_with_one_line_and_leaves_the_inputs_untouched(case, tmp_path, capsys):
    def execute(argv: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(argv)  # an exception escaping main fails the test with its traceback
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    outcome: Outcome = run_case(case, tmp_path, execute)
    assert outcome.problems == [], f"{outcome.problems}: {outcome.stderr.strip()[-600:]}"
