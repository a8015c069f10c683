"""MLflow tracking through kedro-mlflow: on where conf/ has an mlflow.yml, off otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_project
from test_evaluate import run
from test_inference import write_samples

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")


@pytest.fixture
def manifest(tmp_path) -> str:
    (tmp_path / "samples").mkdir()
    write_samples(tmp_path / "samples").to_csv(tmp_path / "samples" / "m.csv", index=False)
    return str(tmp_path / "samples" / "m.csv")


def test_a_configured_project_logs_params_metrics_record_and_report(tmp_path, manifest):
    project = make_project(tmp_path / "project")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (project / "conf" / "local" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: {store}\n"
        "tracking:\n  experiment:\n    name: fusion-test\n")
    run(project, "train", manifest=manifest)
    client = mlflow.MlflowClient(tracking_uri=store)
    (tracked,) = client.search_runs([client.get_experiment_by_name("fusion-test").experiment_id])
    assert tracked.data.params["training.model.fusion"] == "concat"  # the fast preset's
    assert 0 <= tracked.data.metrics["accuracy"] <= 1 and "macro.f1" in tracked.data.metrics
    files = {artifact.path for artifact in client.list_artifacts(tracked.info.run_id)}
    assert {"run_report.html", "run_record.json"} <= files


def test_without_an_mlflow_yml_nothing_is_tracked(tmp_path, manifest, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = make_project(tmp_path / "project")
    run(project, "train", manifest=manifest)
    assert not any(Path(tmp_path).rglob("mlflow.db")) and not any(Path(tmp_path).rglob("mlruns"))
