"""The scale benchmark's runner: prerequisites, one real stage measured in its own process, failures recorded
and dependants skipped, results merged per N, the cost curves drawn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import scale


def test_stages_run_with_their_prerequisites_in_pipeline_order():
    assert scale.stages_with_prerequisites(["risk"]) == ["ingest", "risk"]
    assert scale.stages_with_prerequisites(["promotion"]) == [s for s in scale.STAGES if s != "risk"]
    assert scale.stages_with_prerequisites(["train_gnn", "ingest"]) == ["ingest", "features", "train_gnn"]
    with pytest.raises(SystemExit, match="unknown stage"):
        scale.stages_with_prerequisites(["nope"])


def test_ingest_measured_in_its_own_process(tmp_path, capsys):
    out = tmp_path / "scale.json"
    assert scale.main(["--universe", "5", "--stages", "ingest", "--json", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    entry = printed["universes"]["5"]
    assert entry["universe"]["series"] == 5
    row = entry["stages"]["ingest"]
    assert row["status"] == "ok", row
    assert row["wall_s"] > 0 and 50 < row["peak_rss_mb"] < 6000
    assert "0 feed(s) rejected" in row["note"]
    assert set(printed["machine"]) >= {"cpu", "cores", "ram_gb"} and printed["git_commit"]
    assert json.loads(out.read_text())["universes"]["5"]["stages"]["ingest"] == row


def test_failing_child_reports_its_last_error_line(tmp_path):
    log = tmp_path / "child.log"
    run = scale.measured_child(["--child-stage", "features", "--workdir", str(tmp_path / "empty")], log)
    assert run.code == 1 and run.wall_s > 0 and run.peak_rss_mb > 0 and run.cpu_s > 0 and not run.stopped
    assert scale.failure_reason(run, log).startswith("exit 1: ")
    assert "empty" in scale.failure_reason(run, log)
    killed = scale.ChildRun(-9, 1.0, 10.0, 1.0)
    assert scale.failure_reason(killed, log) == "killed by SIGKILL (out of memory?)"


def test_child_over_the_memory_limit_is_stopped(tmp_path):
    log = tmp_path / "child.log"
    run = scale.measured_child(["--child-stage", "features", "--workdir", str(tmp_path / "empty")], log,
                               scale.Limits(max_rss_mb=1.0))
    assert run.code == -9 and run.stopped == "stopped: RSS above the 1 MB limit"
    assert scale.failure_reason(run, log) == run.stopped


def test_failed_stage_skips_the_stages_that_need_it(tmp_path, monkeypatch):
    def fake_child(args: list[str], log: Path, limits: scale.Limits) -> scale.ChildRun:
        workdir = Path(args[args.index("--workdir") + 1])
        if "--build-universe" in args:
            (workdir / "universe").mkdir(parents=True)
            (workdir / "universe" / "construction.json").write_text(json.dumps({"series": 3}))
            return scale.ChildRun(0, 0.1, 10.0, 0.1)
        log.write_text("Traceback ...\nMemoryError: cannot allocate\n")
        return scale.ChildRun(1, 2.0, 5000.0, 1.5)

    monkeypatch.setattr(scale, "measured_child", fake_child)
    measured = scale.run_universe(3, ["ingest", "features", "risk"], 10, 0, False, ("covid_2020",), keep=tmp_path)
    stages = measured["stages"]
    assert {k: stages["ingest"][k] for k in ("wall_s", "peak_rss_mb", "status", "cpu_s", "note")} == {
        "wall_s": 2.0, "peak_rss_mb": 5000.0, "status": "failed", "cpu_s": 1.5,
        "note": "exit 1: MemoryError: cannot allocate"}
    assert stages["features"]["status"] == "skipped" and stages["features"]["note"] == "needs ingest (failed)"
    assert stages["risk"]["status"] == "skipped"


def _result(n: int, stages: dict[str, tuple[float, float]], date: str) -> dict:
    rows = {s: {"wall_s": w, "peak_rss_mb": m, "status": "ok", "note": ""} for s, (w, m) in stages.items()}
    return {"date": date, "universes": {str(n): {"date": date, "universe": {"series": n}, "stages": rows}}}


def test_merge_keeps_other_stages_and_universes():
    old = scale.merge_results({}, _result(100, {"ingest": (2.0, 400.0), "features": (30.0, 5000.0)}, "d1"))
    old = scale.merge_results(old, _result(28, {"ingest": (1.0, 300.0)}, "d1"))
    merged = scale.merge_results(old, _result(100, {"features": (10.0, 900.0)}, "d2"))
    assert list(merged["universes"]) == ["28", "100"]
    stages = merged["universes"]["100"]["stages"]
    assert stages["ingest"]["wall_s"] == 2.0 and stages["features"]["wall_s"] == 10.0
    assert merged["date"] == "d2" and merged["universes"]["28"]["stages"]["ingest"]["wall_s"] == 1.0
    text = scale.table_text(merged)
    assert "N = 100" in text and "features" in text and "900" in text


def test_plot_writes_the_cost_curves(tmp_path):
    results = scale.merge_results(_result(28, {"ingest": (1.0, 300.0), "risk": (5.0, 380.0)}, "d"),
                                  _result(100, {"ingest": (3.0, 500.0)}, "d"))
    source, png = tmp_path / "scale.json", tmp_path / "curves.png"
    source.write_text(json.dumps(results))
    assert scale.main(["--plot", str(source), "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000


def test_growth_exponent_is_the_log_log_slope():  # ln 100 / ln(1000 / 28) = 1.288
    assert scale.growth_exponent((28, 100, 1000), (1.0, 5.0, 100.0)) == pytest.approx(1.288, abs=1e-3)
    assert scale.growth_exponent((100, 1000), (3.0, 30.0)) == pytest.approx(1.0)
    assert scale.growth_exponent((28,), (1.0,)) is None
