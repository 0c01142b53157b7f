"""``make mlflow-ui`` (``risk-platform mlflow-ui``): a real MLflow server on 127.0.0.1 over the embedded store,
read-only. A reviewer sees the models and their aliases; an alias move through the REST API (what the UI's
alias editor calls, with no login on loopback) is refused and the store is unchanged."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.integration
NAME = "risk_platform-lstm_vol"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, body: dict | None = None, method: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_mlflow_ui_shows_the_aliases_and_refuses_to_move_them(tmp_path):
    db = tmp_path / "mlflow.db"
    client = MlflowClient(f"sqlite:///{db}", registry_uri=f"sqlite:///{db}")
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, f"file://{tmp_path}/model")
    client.set_registered_model_alias(NAME, "current", "1")
    before = db.read_bytes()
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "risk_platform.cli", "mlflow-ui", "--db", str(db), "--port",
                               str(port)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                status, model = _call(f"{api}/registered-models/get?name={NAME}")
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(1)
        assert status == 200
        assert model["registered_model"]["aliases"] == [{"alias": "current", "version": "1"}]
        status, answer = _call(f"{api}/registered-models/alias", {"name": NAME, "alias": "current", "version": "2"})
        assert status >= 400 and "readonly database" in answer["message"], answer
        status, answer = _call(f"{api}/registered-models/delete", {"name": NAME}, method="DELETE")
        assert status >= 400 and "readonly database" in answer["message"], answer
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert client.get_registered_model(NAME).aliases == {"current": 1}
    assert db.read_bytes() == before


def test_the_mlflow_ui_without_a_store_says_so_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "risk_platform.cli", "mlflow-ui", "--db", str(tmp_path / "none.db")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"risk-platform: error: {tmp_path / 'none.db'}: no MLflow store there yet (run make demo" \
                          " first)\n"


def test_a_reviewer_reads_a_versions_description_in_the_classic_layout(tmp_path):
    """The version page the platform writes (:func:`write_version_page`), opened in a real browser by the link the
    platform writes: the classic layout (its sidebar has the model registry) and the description's data and links."""
    from risk_platform.models.mlflow_ui import mlflow_model_version_url
    from risk_platform.models.registry import ModelRegistry
    from risk_platform.models.version_page import write_version_page
    from tests.browser import Page
    from tests.integration.test_ui_browser import SCREENSHOTS

    db = tmp_path / "mlflow.db"
    registry = ModelRegistry(f"sqlite:///{db}", artifact_root=str(tmp_path / "artifacts"))
    experiment = registry.client.create_experiment("risk_platform")
    run = registry.client.create_run(experiment, run_name="lstm_vol v1 data:c0ffee12",
                                     tags={"data_sha256": "c0ffee12" * 8, "dagster_run_id": "0123abcd-run"})
    registry.client.set_terminated(run.info.run_id)
    registry.client.create_registered_model(NAME)
    registry.client.create_model_version(NAME, f"file://{tmp_path}/model", run_id=run.info.run_id)
    write_version_page(registry, "lstm_vol", "1")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "risk_platform.cli", "mlflow-ui", "--db", str(db), "--port",
                               str(port)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    page = None
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(1)
        page = Page.open()
        page.goto(mlflow_model_version_url(NAME, "1").replace("http://127.0.0.1:5000", f"http://127.0.0.1:{port}"))
        page.wait_for("document.body.innerText.includes('What it is')")
        text = page.evaluate("document.body.innerText")
        assert "Model registry" in text  # the classic sidebar (the GenAI one has none)
        assert "c0ffee12" * 8 in text and "training run lstm_vol v1 data:c0ffee12" in text
        page.screenshot(SCREENSHOTS / "mlflow_model_version.png")
    finally:
        if page is not None:
            page.close()
        server.terminate()
        server.wait(timeout=30)
