"""Runs whose steps are processes of their own (an Airflow DAG run, each task one stage):
each step reads its own run's versions, two runs interleaved never mix, the training step
can launch torchrun, a retried step replaces its earlier attempt; and the DAG kedro-airflow
writes imports in Airflow with the pipeline's task graph."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from slugify import slugify

from helpers import make_project
from multimodal_fusion.orchestration import dag_run_version, run_step
from multimodal_fusion.pipeline_registry import register_pipelines
from multimodal_fusion.runs.versions import ORCHESTRATED_RUN, VersionError, orchestrated_version
from test_hooks import text_manifest

REPO = Path(__file__).resolve().parents[1]
# Airflow in an environment of its own (`.ci/run` makes it): it pins much of the world.
AIRFLOW_PYTHON = Path(os.environ.get("AIRFLOW_PYTHON", REPO / ".airflow" / "bin" / "python"))
TRAIN_STEPS = ["data_preparation", "audio", "image", "tabular", "text", "training",
               "evaluation"]


def airflow_project(folder: Path) -> Path:
    project = make_project(folder)
    shutil.copytree(REPO / "conf" / "airflow", project / "conf" / "airflow")
    return project


def small(project: Path, manifest: Path) -> dict:
    return {"manifest": str(manifest), "preset": "fast",
            "extraction": {"cache": str(project / "cache")},
            "training": {"fit": {"max_epochs": 3, "patience": 3, "batch_size": 16,
                                 "checkpoint_dir": str(project / "checkpoints")}}}


def saved(project: Path, relative: str, version: str) -> dict:
    name = Path(relative).name
    return json.loads((project / "data" / relative / version / name).read_text())


@pytest.mark.filterwarnings("error:Save version:UserWarning")
def test_two_dag_runs_interleaved_step_by_step_each_describe_their_own_data(tmp_path, caplog):
    project = airflow_project(tmp_path / "project")
    runs = {"2026-12-01T10.00.00.000Z": text_manifest(tmp_path / "fruit",
                                                      ("apple", "banana", "cherry"), 20),
            "2026-12-01T10.00.05.000Z": text_manifest(tmp_path / "animals", ("ant", "bee"), 15)}
    # the second run's training task launches torchrun with two processes, its conf holding
    # a list (commas that `kedro run --params` would split) and a width its model must have
    params = {version: small(project, manifest) | (
        {"orchestration": {"processes_per_node": 2},
         "evaluation": {"noise_levels": [0.0, 0.5]}} if i else {})
        for i, (version, manifest) in enumerate(runs.items())}
    params[list(runs)[1]]["training"]["model"] = {"hidden_dim": 48}
    for step in TRAIN_STEPS:  # each step of one run, then of the other, before the next
        for version in runs:
            run_step(project, "airflow", "train", step, version, params[version])
    fruit, animals = (saved(project, "08_reporting/metrics.json", v) for v in runs)
    assert set(fruit["per_class"]) == {"apple", "banana", "cherry"} and fruit["n_samples"] == 12
    assert set(animals["per_class"]) == {"ant", "bee"} and animals["n_samples"] == 6
    by_run = project / "data/04_feature/by_run/text_features.npz"
    features = sorted(p.name for p in by_run.iterdir())
    assert features == sorted(runs), "each run's features under its own version"
    assert ORCHESTRATED_RUN not in os.environ
    spec = json.loads((project / "data/06_models/fusion_model.safetensors" / list(runs)[1]
                       / "fusion_model.json").read_text())
    assert spec["trained_with"]["processes"] == 2, "trained by two torchrun processes"
    assert spec["hidden_dim"] == 48, "the ranks trained with the run's parameters"
    version = next(iter(runs))
    with caplog.at_level(logging.WARNING):
        run_step(project, "airflow", "train", "evaluation", version, params[version])
    assert "an earlier attempt of this step saved version" in caplog.text
    again = saved(project, "08_reporting/metrics.json", version)
    assert {k: v for k, v in again.items() if k != "train_seconds"} == {
        k: v for k, v in fruit.items() if k != "train_seconds"}


def test_a_step_of_no_version_is_refused_with_the_form_to_use(monkeypatch):
    monkeypatch.setenv(ORCHESTRATED_RUN, "yesterday")
    with pytest.raises(VersionError, match="2026-11-29T05.16.48.533Z"):
        orchestrated_version()


def test_a_dag_runs_version_is_when_it_was_due():
    from datetime import UTC, datetime
    assert dag_run_version(datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)) == (
        "2026-12-01T09.30.00.123Z")


def generated_dags(folder: Path) -> dict[str, Path]:
    for pipeline in ("train", "inference"):
        subprocess.run([sys.executable, "-m", "kedro", "airflow", "create",
                        f"--pipelines={pipeline}", "--env=airflow", "--group-by=namespace",
                        "--jinja-file=src/multimodal_fusion/airflow_dag.j2",
                        f"--target-dir={folder}"], cwd=REPO, check=True, capture_output=True,
                       env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    return {"train": folder / "multimodal_fusion_airflow_train_dag.py",
            "inference": folder / "multimodal_fusion_airflow_inference_dag.py"}


LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                  "dags": {dag_id: {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
                           for dag_id, dag in bag.dags.items()}}))
"""


@pytest.mark.skipif(not AIRFLOW_PYTHON.is_file(), reason=f"no Airflow at {AIRFLOW_PYTHON}: "
                    "python3.11 -m venv .airflow && .airflow/bin/pip install apache-airflow==3.3.2")
def test_the_generated_dags_import_in_airflow_with_the_pipelines_task_graph(tmp_path):
    dags = generated_dags(tmp_path / "dags")
    assert all(path.is_file() for path in dags.values())
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
                   "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    loaded = json.loads(subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", LOAD_DAGS, str(tmp_path / "dags")], env=environment,
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    for pipeline in dags:
        expected = {slugify(group.name): sorted(slugify(d) for d in group.dependencies)
                    for group in register_pipelines()[pipeline].group_nodes_by("namespace")}
        assert loaded["dags"][f"multimodal-fusion-{pipeline}"] == expected
    assert set(loaded["dags"]["multimodal-fusion-train"]) == {slugify(s) for s in TRAIN_STEPS}
