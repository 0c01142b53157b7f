"""Sensors: what makes the platform react without anyone touching it.

* ``new_market_data_file``: a new or changed CSV/Parquet file in the prices landing folder runs
  ``ingest_and_risk`` with the market data source pointed at that folder (run config of the
  ``market_data`` resource: the folder's files together are the delivery, see ``load_prices``).
* ``new_positions_file``: a new or changed positions file (CSV/YAML) in the positions landing folder runs
  ``intraday_risk`` on that file (run config of the ``portfolio_source`` resource).
* ``model_alias_change``: any alias move in the MLflow registry (stable / current / experimental of any
  model) runs ``intraday_risk``, so the figures use the models now aliased.
* ``live_monitor_snapshot``: the live monitor's (``risk-platform monitor``) last snapshot, read from its
  checkpoint, recorded as an observation of ``portfolio_risk`` (headline figures, limits, anomalies, latency),
  so the asset's page shows when the monitor last ran and what it saw. It runs nothing.
* ``model_drift_retrain``: a ``model_monitoring`` materialization whose metadata says ``drift_breach: true``
  runs ``retrain_models`` (``full`` preset).

Nothing is submitted twice: file run keys are name + mtime (ns) + size, the alias run key is the count of
changes seen plus a hash of the new aliases, the drift run key is the event's storage id; Dagster drops a
run request whose run key this sensor already used, and the cursors move past what was seen.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg

from jobs.schedules import training_run_config
from jobs.validation import crisis_validation, promote_models
from resources import LandingResource, LiveMonitorResource, MarketDataResource, MlflowResource, PortfolioResource
from risk_platform.errors import RegistryUnavailable
from risk_platform.families import FAMILIES, LSTM_VOL

PRICE_SUFFIXES = (".csv", ".parquet")
POSITION_SUFFIXES = (".csv", ".yaml", ".yml")
MONITORING_ASSET = dg.AssetKey("model_monitoring")


def landed_files(folder: Path | str, suffixes: tuple[str, ...]) -> dict[str, str]:
    """File name -> ``mtime_ns:size`` for the data files directly in ``folder`` (hidden and partial files,
    e.g. ``.x.tmp-…`` of an atomic write, are ignored). Empty when the folder does not exist."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in suffixes or not path.is_file():
            continue
        stat = path.stat()
        out[path.name] = f"{stat.st_mtime_ns}:{stat.st_size}"
    return out


def resource_config(resource: dg.ConfigurableResource, **overrides: str) -> dict:
    """Run config for a resource: its current values with ``overrides`` (run config replaces a resource's
    whole config, so every field is given; the run records exactly which paths it used)."""
    values = {k: v for k, v in resource.model_dump().items() if v is not None}
    return {"config": {**values, **overrides}}


def _new_files(context: dg.SensorEvaluationContext, current: dict[str, str]) -> list[str]:
    seen = json.loads(context.cursor) if context.cursor else {}
    return [name for name, stamp in current.items() if seen.get(name) != stamp]


@dg.sensor(
    name="new_market_data_file",
    job_name="ingest_and_risk",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new or changed prices file in the landing folder: ingest it, rebuild features, recompute"
    " risk and limits.",
)
def new_market_data_file(context: dg.SensorEvaluationContext, landing: LandingResource,
                         market_data: MarketDataResource):
    current = landed_files(landing.prices_dir, PRICE_SUFFIXES)
    new = _new_files(context, current)
    if not new:
        context.update_cursor(json.dumps(current, sort_keys=True))
        return dg.SkipReason(f"no new prices file in {landing.prices_dir}")
    run_key = "prices:" + ",".join(f"{name}@{current[name]}" for name in new)
    context.update_cursor(json.dumps(current, sort_keys=True))
    return dg.RunRequest(
        run_key=run_key,
        run_config={"resources": {"market_data": resource_config(market_data, prices_path=str(landing.prices_dir))}},
        tags={"risk_platform/trigger": "landing_prices", "risk_platform/files": ",".join(new)[:250]},
    )


@dg.sensor(
    name="new_positions_file",
    job_name="intraday_risk",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new or changed positions file in the landing folder: recompute risk and limits on it.",
)
def new_positions_file(context: dg.SensorEvaluationContext, landing: LandingResource,
                       portfolio_source: PortfolioResource):
    current = landed_files(landing.positions_dir, POSITION_SUFFIXES)
    new = _new_files(context, current)
    context.update_cursor(json.dumps(current, sort_keys=True))
    if not new:
        return dg.SkipReason(f"no new positions file in {landing.positions_dir}")
    return [
        dg.RunRequest(
            run_key=f"positions:{name}@{current[name]}",
            run_config={"resources": {"portfolio_source": resource_config(
                portfolio_source, positions_path=str(Path(landing.positions_dir) / name))}},
            tags={"risk_platform/trigger": "landing_positions", "risk_platform/files": name[:250]},
        )
        for name in new
    ]


def registry_aliases(mlflow: MlflowResource) -> dict[str, dict[str, str]]:
    """model key -> {alias: version} for every platform model as the registry holds them, audited or not (empty
    dicts for models without aliases): an unaudited move also triggers a risk run, which refuses it, fails
    ``model_aliases_audited`` and alerts at once."""
    registry = mlflow.registry()
    return {key: dict(sorted(registry.registry_alias_map(key).items())) for key in sorted(FAMILIES)}


@dg.sensor(
    name="model_alias_change",
    job_name="intraday_risk",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="An alias (stable / current / experimental) moved in the MLflow registry: recompute risk with"
    " the models now aliased. The first evaluation records the aliases without a run.",
)
def model_alias_change(context: dg.SensorEvaluationContext, mlflow: MlflowResource):
    store = mlflow.tracking_uri.removeprefix("sqlite:///")
    if mlflow.tracking_uri.startswith("sqlite:///") and not Path(store).exists():
        return dg.SkipReason(f"no MLflow store at {store} yet (nothing trained)")  # reading must not create it
    try:
        aliases = registry_aliases(mlflow)
    except RegistryUnavailable as exc:  # an outage is not an alias move: keep the cursor, try again next tick
        return dg.SkipReason(str(exc))
    state = json.loads(context.cursor) if context.cursor else None
    if state is None:
        context.update_cursor(json.dumps({"aliases": aliases, "changes": 0}, sort_keys=True))
        return dg.SkipReason("recorded the registry's aliases (baseline)")
    if state["aliases"] == aliases:
        return dg.SkipReason("no alias moved")
    changes = state["changes"] + 1
    moved = sorted(k for k in aliases if aliases[k] != state["aliases"].get(k))
    digest = hashlib.sha256(json.dumps(aliases, sort_keys=True).encode()).hexdigest()[:16]
    context.update_cursor(json.dumps({"aliases": aliases, "changes": changes}, sort_keys=True))
    return dg.RunRequest(
        run_key=f"aliases:{changes}:{digest}",
        tags={"risk_platform/trigger": "alias_change", "risk_platform/models": ",".join(moved)},
    )


@dg.sensor(
    name="model_drift_retrain",
    job_name="retrain_models",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches model_monitoring materializations: one whose metadata says drift_breach (rolling"
    " QLIKE or VaR exception rate out of expectation) retrains the models with the full preset.",
)
def model_drift_retrain(context: dg.SensorEvaluationContext):
    """An asset sensor on ``model_monitoring`` that reads every new materialization since the cursor (the
    last storage id seen), not only the latest, so a breach followed by a clean result in one interval is
    not missed. Breaches seen together make one retraining, keyed by the newest breach's storage id."""
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=MONITORING_ASSET, after_storage_id=after), limit=100, ascending=True
    ).records
    if not records:
        return dg.SkipReason("no new model_monitoring materialization")
    breaches = []
    for record in records:
        materialization = record.asset_materialization
        metadata = materialization.metadata if materialization is not None else {}
        flag = metadata.get("drift_breach")
        if flag is not None and bool(flag.value):
            model = metadata.get("model_key")
            breaches.append((record, str(model.value) if model is not None else "unknown"))
    context.update_cursor(str(records[-1].storage_id))
    if not breaches:
        return dg.SkipReason(f"{len(records)} model_monitoring result(s), no drift breach")
    newest = breaches[-1][0]
    models = sorted({model for _, model in breaches})
    return dg.RunRequest(
        run_key=f"drift:{newest.storage_id}",
        run_config=training_run_config("full"),
        tags={"risk_platform/trigger": "drift", "risk_platform/drift_models": ",".join(models)[:250],
              "risk_platform/monitoring_run": newest.run_id},
    )


CANDIDATE_ASSET = dg.AssetKey(LSTM_VOL.asset_name)  # every training run registers all the families together
WINDOW_ASSETS = [dg.AssetKey(f.validation_asset_name) for f in FAMILIES.values()] + [dg.AssetKey("crisis_baselines")]


def validated_since(instance: dg.DagsterInstance, storage_id: int, windows: list[str]) -> list[str]:
    """The crisis windows whose every validation asset was materialized after the event ``storage_id``."""
    done = []
    for window in windows:
        latest = [instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[window],
                                                                        after_storage_id=storage_id), limit=1)
                  for key in WINDOW_ASSETS]
        if all(result.records for result in latest):
            done.append(window)
    return done


@dg.sensor(
    name="validate_new_model_versions",
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    jobs=[crisis_validation, promote_models],
    description="New model versions (a training run): validate them on every crisis window (one run per"
    " partition), then, once every window is done, apply the promotion policy (promote_models).",
)
def validate_new_model_versions(context: dg.SensorEvaluationContext):
    """Keyed by the training materialization's storage id: each window run and the promotion are submitted once."""
    latest = context.instance.fetch_materializations(CANDIDATE_ASSET, limit=1).records
    if not latest:
        return dg.SkipReason("no trained model yet")
    trained = latest[0].storage_id
    windows = crisis_validation.partitions_def.get_partition_keys()
    done = validated_since(context.instance, trained, windows)
    requests = [dg.RunRequest(run_key=f"validate:{trained}:{w}", partition_key=w, job_name="crisis_validation",
                              tags={"risk_platform/trigger": "new_model_version"})
                for w in windows if w not in done]
    if not requests:
        requests = [dg.RunRequest(run_key=f"promote:{trained}", job_name="promote_models",
                                  tags={"risk_platform/trigger": "crisis_validation_complete"})]
    return requests


@dg.sensor(
    name="live_monitor_snapshot",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="The live monitor's last snapshot (its checkpoint) as an observation of portfolio_risk: VaR/ES of"
    " the day with limits, anomalies, model versions and latency. Runs nothing.",
)
def live_monitor_snapshot(context: dg.SensorEvaluationContext, live_monitor: LiveMonitorResource):
    """Keyed by the snapshot id: each snapshot is observed once, the newest at each evaluation."""
    from risk_platform.monitor.observation import read_checkpoint, recent_chart, snapshot_headline, snapshot_markdown
    from risk_platform.render.charts import markdown_image

    checkpoint = read_checkpoint(live_monitor.state_dir)
    snapshot = checkpoint.get("snapshot")
    if snapshot is None:
        return dg.SkipReason(f"no live monitor snapshot in {live_monitor.state_dir}")
    if context.cursor == str(snapshot["snapshot_id"]):
        return dg.SkipReason(f"snapshot {snapshot['snapshot_id']} already observed")
    observation = dg.AssetObservation("portfolio_risk", metadata={
        "live VaR 99% (day)": snapshot_headline(snapshot),
        "live_snapshot": dg.MetadataValue.md(snapshot_markdown(snapshot)),
        "live_chart": dg.MetadataValue.md(markdown_image(chart, "the live monitor's recent figures")
                                          if (chart := recent_chart(checkpoint.get("recent", []))) else "no history"),
        "live_snapshot_id": dg.MetadataValue.int(int(snapshot["snapshot_id"])),
        "live_snapshot_time": snapshot["time"],
        "live_var_99_usd": dg.MetadataValue.float(float(snapshot["var_99"])),
        "live_es_99_usd": dg.MetadataValue.float(float(snapshot["es_99"])),
        "live_loss_so_far_usd": dg.MetadataValue.float(float(snapshot["loss_so_far_usd"])),
        "live_latency_ms": dg.MetadataValue.float(float(snapshot.get("latency_ms") or 0.0)),
        "live_anomalies": dg.MetadataValue.int(len(snapshot.get("anomalies", []))),
        "live_model_versions": ", ".join(snapshot.get("model_versions", [])) or "none",
    })
    return dg.SensorResult(asset_events=[observation], cursor=str(snapshot["snapshot_id"]))


SENSORS = [new_market_data_file, new_positions_file, model_alias_change, model_drift_retrain,
           validate_new_model_versions, live_monitor_snapshot]
