"""The Dagster code location starts without the model stack: torch, Lightning, torch_geometric, MLflow, shap, arch
and scikit-learn are imported where a model is trained, loaded, registered or plotted, not when definitions load."""

import json
import subprocess
import sys

HEAVY = ("torch", "lightning", "torch_geometric", "mlflow", "shap", "arch", "sklearn")


def test_loading_the_definitions_imports_no_model_stack():
    code = ("import json, sys; import risk_platform.definitions;"
            f" print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
