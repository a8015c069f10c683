"""Runs that keep apart and the demo they build: two runs at once in one project folder each
report on their own data, each reads the versions it saved, and a half-built demo is built
again; MLflow tracking on only where conf/ has an mlflow.yml."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner

from helpers import make_project, run_small, write_samples
from multimodal_fusion.datasets import RunJSONDataset
from multimodal_fusion.hooks import pin_versions
from multimodal_fusion.runs.versions import VersionError


def text_manifest(folder: Path, classes: tuple[str, ...], per_class: int) -> Path:
    """Texts naming their class, in a manifest of its own folder."""
    folder.mkdir()
    rows = [{"sample_id": f"{label}-{i}", "label": label, "text": f"a {label} number {i}"}
            for label in classes for i in range(per_class)]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def start_train(project: Path, manifest: Path) -> subprocess.Popen:
    params = (f"manifest={manifest},preset=fast,extraction.cache=null,"
              "training.fit.max_epochs=3,training.fit.patience=3")
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipelines=train", f"--params={params}"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"})


def test_two_train_runs_at_once_with_different_manifests_each_describe_their_own_data(
        tmp_path):
    project = make_project(tmp_path / "project")
    fruit = text_manifest(tmp_path / "fruit", ("apple", "banana", "cherry"), 20)
    animals = text_manifest(tmp_path / "animals", ("ant", "bee"), 15)
    runs = {"fruit": start_train(project, fruit), "animals": start_train(project, animals)}
    outputs = {name: run.communicate(timeout=600)[0] for name, run in runs.items()}
    for name, run in runs.items():
        assert run.returncode == 0, outputs[name]
    assert sum("Another run is using" in output for output in outputs.values()) == 1
    reports = sorted((project / "data/08_reporting/metrics.json").iterdir())
    classes = {frozenset(json.loads((version / "metrics.json").read_text())["per_class"])
               for version in reports}
    assert classes == {frozenset({"apple", "banana", "cherry"}), frozenset({"ant", "bee"})}
    samples = {json.loads((version / "metrics.json").read_text())["n_samples"]
               for version in reports}
    assert samples == {12, 6}  # each test split, a fifth of its own manifest


def report_dataset(folder: Path, name: str = "report") -> RunJSONDataset:
    return RunJSONDataset(filepath=str(folder / f"{name}.json"),
                          version=Version(None, "2026-01-01T00.00.00.000Z"))


def test_a_run_saves_under_its_own_version_and_reads_that_not_a_newer_one(tmp_path):
    """A run that started later and finished first left a newer version; and two runs
    started in one millisecond got Kedro's one session version: neither is read or hit."""
    catalog = DataCatalog({"report": report_dataset(tmp_path), "echo": MemoryDataset()})
    for taken in ("2026-01-01T00.00.00.000Z", "2026-06-01T00.00.00.000Z"):
        (tmp_path / "report.json" / taken).mkdir(parents=True)
        (tmp_path / "report.json" / taken / "report.json").write_text('"another run\'s"')
    pipeline = Pipeline([node(lambda: "this run's", None, "report", name="write"),
                         node(lambda report: report, "report", "echo", name="read")])
    assert pin_versions(pipeline, catalog, "2026-07-01T00.00.00.000Z", {}) is None
    SequentialRunner().run(pipeline, catalog)
    assert catalog.load("echo") == "this run's"
    saved = tmp_path / "report.json" / "2026-07-01T00.00.00.000Z" / "report.json"
    assert json.loads(saved.read_text()) == "this run's"


def test_a_run_reads_every_stored_dataset_at_one_stored_runs_version(tmp_path):
    catalog = DataCatalog({name: report_dataset(tmp_path, name) for name in ("model", "record")}
                          | {"out": MemoryDataset()})
    for name, versions in {"model": ("v1", "v2", "v3"), "record": ("v1", "v2")}.items():
        for version in versions:
            (tmp_path / f"{name}.json" / version).mkdir(parents=True)
            (tmp_path / f"{name}.json" / version / f"{name}.json").write_text(f'"{version}"')
    pipeline = Pipeline([node(lambda model, record: (model, record), ["model", "record"],
                              "out", name="read")])
    assert pin_versions(pipeline, catalog, "now", {}) == "v2", "the newest they all have"
    SequentialRunner().run(pipeline, catalog)
    assert catalog.load("out") == ("v2", "v2")
    assert pin_versions(pipeline, catalog, "now", {"model": "v1"}) == "v1"
    with pytest.raises(VersionError, match="record has no version v3, which --load-versions"):
        pin_versions(pipeline, catalog, "now", {"model": "v3"})


def kedro(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", *args], cwd=project, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"})


def test_a_demo_build_killed_midway_is_noticed_and_built_again(tmp_path):
    project = make_project(tmp_path)
    params = "--params=demo_data.n_samples=60"
    build = kedro(project, "--pipelines=demo_data", params)
    images = project / "data/01_raw/demo/images"
    deadline = time.monotonic() + 120
    while len(list(images.glob("*.png"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    assert not (project / "data/01_raw/demo/manifest.csv").exists()

    rerun = kedro(project, "--pipelines=data_preparation", params)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert f"The demo dataset in {project / 'data/01_raw/demo'} is incomplete" in output
    manifest = pd.read_csv(project / "data/01_raw/demo/manifest.csv", keep_default_na=False)
    assert len(manifest) == 60

    gone = project / "data/01_raw/demo" / manifest["audio"].loc[manifest["audio"] != ""].iloc[0]
    gone.unlink()
    rerun = kedro(project, "--pipelines=data_preparation", params)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "1 files missing or empty, such as" in output and gone.name in output
    assert gone.is_file()


@pytest.fixture
def mlflow_extra():
    """mlflow, or the test is skipped where the mlflow extra is not installed."""
    pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")
    return pytest.importorskip("mlflow", reason="the mlflow extra is not installed")


@pytest.fixture
def samples(tmp_path) -> str:
    (tmp_path / "samples").mkdir()
    write_samples(tmp_path / "samples").to_csv(tmp_path / "samples" / "m.csv", index=False)
    return str(tmp_path / "samples" / "m.csv")


def test_a_configured_project_logs_params_metrics_record_and_report(tmp_path, samples,
                                                                    mlflow_extra):
    project = make_project(tmp_path / "project")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (project / "conf" / "local" / "mlflow.yml").write_text(
        f"server:\n  mlflow_tracking_uri: {store}\n"
        "tracking:\n  experiment:\n    name: fusion-test\n")
    run_small(project, "train", manifest=samples)
    client = mlflow_extra.MlflowClient(tracking_uri=store)
    (tracked,) = client.search_runs([client.get_experiment_by_name("fusion-test").experiment_id])
    assert tracked.data.params["training.model.fusion"] == "concat"  # the fast preset's
    assert 0 <= tracked.data.metrics["accuracy"] <= 1 and "macro.f1" in tracked.data.metrics
    files = {artifact.path for artifact in client.list_artifacts(tracked.info.run_id)}
    assert {"run_report.html", "run_record.json"} <= files
    assert mlflow_extra.active_run() is None, "the next run in this process is its own"

    run_small(project, "inference", manifest=samples)
    (saved,) = (project / "data" / "08_reporting" / "inference").glob("metrics.json/*/*.json")
    scored = json.loads(saved.read_text())
    newest = client.search_runs([tracked.info.experiment_id], order_by=["start_time DESC"])[0]
    assert newest.info.run_id != tracked.info.run_id
    assert newest.data.metrics["accuracy"] == scored["accuracy"]
    assert newest.data.metrics["scored"] == 36


def test_without_an_mlflow_yml_nothing_is_tracked(tmp_path, samples, mlflow_extra, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = make_project(tmp_path / "project")
    run_small(project, "train", manifest=samples)
    assert not any(Path(tmp_path).rglob("mlflow.db")) and not any(Path(tmp_path).rglob("mlruns"))


def ending(records: list[logging.LogRecord]) -> list[str]:
    """What a run logged after Kedro's line that the pipeline completed."""
    lines = [record.getMessage() for record in records]
    done = max(i for i, line in enumerate(lines) if line.startswith("Pipeline execution"))
    return lines[done + 1:]


def test_the_end_of_a_run_says_what_happened_and_where_it_went(tmp_path, samples, caplog):
    caplog.set_level(logging.INFO)
    project = make_project(tmp_path / "project")
    run_small(project, "train", manifest=samples)
    result, against, saved, *paths = ending(caplog.records)
    assert re.fullmatch(r"concat fusion of audio, image, text: test accuracy [01]\.\d{4}, "
                        r"macro-F1 [01]\.\d{4}", result)
    assert re.fullmatch(r"against (audio|image|text) alone [01]\.\d{4} \(the model's best single "
                        r"modality\); linear_early [01]\.\d{4} \(linear reference\)", against)
    version = re.fullmatch(r"saved as version (\S+):", saved).group(1)
    assert [line.split(":")[0] for line in paths] == [
        "  fusion model", "  run report", "  metrics"]
    for line, name in zip(paths, ["fusion_model.safetensors", "report.html", "metrics.json"],
                          strict=True):
        path = line.split(": ")[1]
        assert path.endswith(f"{name}/{version}/{name}") and (project / path).is_file()
    caplog.clear()
    run_small(project, "inference", manifest=samples)
    predicted, scored, saved, predictions, metrics = ending(caplog.records)
    assert re.fullmatch(r"36 samples predicted: .*", predicted)
    assert re.fullmatch(r"against the 36 labels of classes the model knows: accuracy "
                        r"[01]\.\d{4}, macro-F1 [01]\.\d{4}", scored)
    assert predictions.startswith("  predictions: data/07_model_output/predictions.csv/")
    assert metrics.startswith("  inference metrics: data/08_reporting/inference/metrics.json/")
