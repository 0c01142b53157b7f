"""``risk-platform-demo``: run the main job through Dagster on the project's own instance and print a summary.

The run, its materializations and check results are stored in ``$DAGSTER_HOME`` (``var/dagster_home`` by
default), so ``make ui`` shows them afterwards.
"""

import os
import sys
import time
from pathlib import Path

import dagster as dg

from jobs.launch import JobExecutionResult, run_job
from jobs.recovery import launcher_tags, recover_after_crash
from risk_platform import paths
from risk_platform.errors import BusyError, InputError
from risk_platform.families import FAMILIES
from risk_platform.io import exclusive_run


def _instance() -> dg.DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.state_dir() / "dagster_home")))
    if not (home / "dagster.yaml").exists():
        raise SystemExit(f"{home}/dagster.yaml missing: run 'make demo' (it installs the embedded instance config)")
    return dg.DagsterInstance.get()


def intraday() -> int:
    """``risk-platform-demo --intraday``: one ``intraday_risk`` run on the instance the main job filled."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with _instance() as instance:
        started = time.perf_counter()
        risk = run_job(instance, "intraday_risk", run_config=quiet, tags=launcher_tags())
        print(f"intraday_risk run {risk.run_id}: {'SUCCESS' if risk.success else 'FAILURE'}"
              f" in {time.perf_counter() - started:.1f} s")
        return 0 if risk.success else 1


def main() -> int:
    """The main job, one at a time: a second ``make demo`` while one runs fails at once naming the first. A bad
    project configuration (``risk_platform.yaml``, ``RISK_PLATFORM_*``) is one line and exit 2."""
    try:
        if "--intraday" in sys.argv[1:]:
            return intraday()
        with exclusive_run(paths.state_dir() / "locks" / "main_job.lock", "the main job"):
            return _main_job()
    except BusyError as exc:
        print(f"risk-platform-demo: {exc}", file=sys.stderr)
        return 4
    except InputError as exc:  # raised while the definitions load their resources
        print(f"risk-platform-demo: error: {exc}", file=sys.stderr)
        return 2


def _main_job() -> int:
    from risk_platform.crisis_windows import WINDOW_KEYS
    from risk_platform.definitions import defs

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # model loads: no progress bars
    started = time.perf_counter()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    tags = launcher_tags()  # crash recovery: a run of this host whose pid is gone is failed by the next main job
    with _instance() as instance:
        _recover(instance, defs)
        _print_data(defs)
        result = run_job(instance, "risk_pipeline", run_config=quiet, tags=tags)
        print(f"risk_pipeline run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}"
              f" in {time.perf_counter() - started:.1f} s")
        _print_checks(result)
        if not result.success:
            return 1
        _print_models(defs, instance)
        for key in WINDOW_KEYS:
            window_started = time.perf_counter()
            run = run_job(instance, "crisis_validation", run_config=quiet, tags=tags, partition_key=key)
            print(f"  crisis_validation[{key}] {'SUCCESS' if run.success else 'FAILURE'}"
                  f" in {time.perf_counter() - window_started:.1f} s")
            if not run.success:
                return 1
        promotion = run_job(instance, "promote_models", run_config=quiet, tags=tags)
        if not promotion.success:
            print("  promote_models FAILURE")
            return 1
        _print_checks(promotion)
        _print_promotion(defs.load_asset_value("model_promotion", instance=instance))
        risk = run_job(instance, "intraday_risk", run_config=quiet, tags=tags)
        print(f"intraday_risk run {risk.run_id} (after promotion): {'SUCCESS' if risk.success else 'FAILURE'}")
        _print_checks(risk)
        if risk.success:
            _print_risk(defs.load_asset_value("portfolio_risk", instance=instance))
        state = paths.state_dir()
        print(f"  main job (pipeline, seven crisis windows, promotion, risk) in {time.perf_counter() - started:.1f} s")
        print(f"  results: {state / 'assets'} (asset values), {state / 'feature_store'} (features),"
              f" {state / 'quarantine'} (rejected files)")
        print(f"  Dagster instance: {instance.root_directory}; UI: make ui -> http://127.0.0.1:3000 (Overview and Jobs"
              " list these runs)")
        print(f"  lineage of the risk run: .venv/bin/risk-platform lineage {risk.run_id}")
        return 0 if risk.success else 1


def _print_data(defs: dg.Definitions) -> None:
    """The data the run reads (the project configuration's choice in embedded mode)."""
    market, book = defs.resources["market_data"], defs.resources["portfolio_source"]
    print(f"  data: prices {market.prices_path}, instruments {market.instruments_path},"
          f" positions {book.positions_path}, limits {defs.resources['limits_source'].limits_path}")


def _recover(instance: dg.DagsterInstance, defs: dg.Definitions) -> None:
    """Before the main job, under its lock: what a killed earlier run left behind (jobs/recovery.py), in one line."""
    mlflow = defs.resources["mlflow"].process_config_and_initialize()
    recovered = recover_after_crash(instance, mlflow.tracking_uri, [paths.state_dir(), Path(mlflow.audit_log).parent])
    if recovered:
        print(recovered)


def _print_checks(result: JobExecutionResult) -> None:
    for event in result.get_asset_check_evaluations():
        status = "passed" if event.passed else f"FAILED ({event.severity.value})"
        print(f"  check {event.asset_key.to_user_string()}:{event.check_name} {status}")
        if not event.passed and event.description:
            print("\n".join(f"    {line}" for line in event.description.splitlines()))


def _print_risk(report: dict) -> None:
    print(f"  {report['portfolio']} as of {report['asof']} (NAV {report['nav']:,.0f} USD), 1-day, losses positive:")
    for name, method in report["methods"].items():
        if isinstance(method, dict) and "var_99" in method:
            print(f"    {name:<28} VaR95 {method.get('var_95', float('nan')):>12,.0f}"
                  f"  VaR99 {method['var_99']:>12,.0f}  ES99 {method.get('es_99', float('nan')):>12,.0f}")
    bound = report.get("bound_by", {})
    print(f"    limits use VaR99 {report['var_99']:,.0f} bound by {bound.get('var_99', '?')}")
    for flag in report["flagged_positions"]:
        print(f"    FLAGGED {flag['symbol']}: {flag['reason']}")


def _print_promotion(output: dict) -> None:
    print("  promotion (crisis windows -> gates -> aliases; audit log mlruns/alias_audit.jsonl):")
    for d in output["decisions"]:
        print(f"    {d['model']} v{d['version']}: {'PASSED' if d['passed'] else 'not promoted'}; moves: {d['moves']};"
              f" report {d['report']}")
        for restored in d.get("restored", []):
            print(f"      RESTORED {restored}")


HEADLINE_METRICS = {family.asset_name: family.headline_metrics for family in FAMILIES.values()}


def _print_models(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """One line per registered model (the training assets' stored values): name, version, alias, headline
    out-of-sample metrics."""
    print("  models registered in MLflow (make mlflow-ui -> http://127.0.0.1:5000/#/experiments?workflowType=machine_learning):")
    for node, keys in HEADLINE_METRICS.items():
        out = defs.load_asset_value(node, instance=instance)
        figures = "  ".join(f"{k} {out['metrics'][k]:.3f}" for k in keys if k in out["metrics"])
        print(f"    {out['model_uri']} (alias experimental)  {figures}")


if __name__ == "__main__":
    sys.exit(main())
