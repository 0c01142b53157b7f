"""``risk-platform-demo``: run the main job through Dagster on the project's own instance and print a summary.

The run, its materializations and check results are stored in ``$DAGSTER_HOME`` (``var/dagster_home`` by
default), so ``make ui`` shows them afterwards.
"""

import os
import sys
import time
from pathlib import Path

import dagster as dg

from risk_platform import paths


def _instance() -> dg.DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.state_dir() / "dagster_home")))
    if not (home / "dagster.yaml").exists():
        raise SystemExit(f"{home}/dagster.yaml missing: run 'make demo' (it installs the embedded instance config)")
    return dg.DagsterInstance.get()


def main() -> int:
    from risk_platform.definitions import defs

    started = time.perf_counter()
    with _instance() as instance:
        job = defs.resolve_job_def("risk_pipeline")
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=quiet)
        elapsed = time.perf_counter() - started
        print(f"risk_pipeline run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'} in {elapsed:.1f} s")
        for event in result.get_asset_check_evaluations():
            status = "passed" if event.passed else f"FAILED ({event.severity.value})"
            print(f"  check {event.asset_key.to_user_string()}:{event.check_name} {status}")
            if not event.passed:
                print(f"    {event.description}")
        if result.success:
            report = result.output_for_node("portfolio_risk")
            hs, pm = report["methods"]["historical"], report["methods"]["parametric_ewma"]
            print(f"  {report['portfolio']} as of {report['asof']} (NAV {report['nav']:,.0f} USD),"
                  " 1-day, losses positive:")
            print(f"    historical 500d   VaR95 {hs['var_95']:>12,.0f}  VaR99 {hs['var_99']:>12,.0f}"
                  f"  ES95 {hs['es_95']:>12,.0f}  ES99 {hs['es_99']:>12,.0f}")
            print(f"    parametric EWMA   VaR95 {pm['var_95']:>12,.0f}  VaR99 {pm['var_99']:>12,.0f}"
                  f"  ES95 {pm['es_95']:>12,.0f}  ES99 {pm['es_99']:>12,.0f}")
            for flag in report["flagged_positions"]:
                print(f"    FLAGGED {flag['symbol']}: {flag['reason']}")
            _print_models(result)
        state = paths.state_dir()
        print(f"  results: {state / 'assets'} (asset values), {state / 'feature_store'} (features),"
              f" {state / 'quarantine'} (rejected files)")
        print(f"  Dagster instance: {instance.root_directory}; UI: make ui -> http://127.0.0.1:3000")
        print(f"  lineage of this run: .venv/bin/risk-platform lineage {result.run_id}")
        return 0 if result.success else 1


HEADLINE_METRICS = {
    "lstm_vol_model": ("qlike_lstm", "qlike_garch_t", "qlike_ewma", "qlike_ratio_to_garch_t"),
    "gnn_corr_model": ("frobenius_gnn", "frobenius_sample63", "frobenius_ewma"),
    "gan_scenarios_model": ("stress_disc_score", "stress_var99_rel_err_equal_weight", "stress_es975_rel_err_60_40"),
    "vae_scenarios_model": ("stress_disc_score", "stress_var99_rel_err_equal_weight", "stress_es975_rel_err_60_40"),
}


def _print_models(result: dg.ExecuteInProcessResult) -> None:
    """One line per registered model: name, version, alias, headline out-of-sample metrics."""
    print("  models registered in MLflow (make mlflow-ui -> http://127.0.0.1:5000):")
    for node, keys in HEADLINE_METRICS.items():
        out = result.output_for_node(node)
        figures = "  ".join(f"{k} {out['metrics'][k]:.3f}" for k in keys if k in out["metrics"])
        print(f"    {out['model_uri']} (alias experimental)  {figures}")


if __name__ == "__main__":
    sys.exit(main())
