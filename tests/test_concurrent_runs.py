"""Two runs started at once in one project folder each report on their own data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from conftest import make_project
from multimodal_fusion.hooks import pin_own_versions, restamp_versions
from multimodal_fusion.runs.lock import ProjectLock


def text_manifest(folder: Path, classes: tuple[str, ...], per_class: int) -> Path:
    """Texts naming their class, in a manifest of its own folder."""
    folder.mkdir()
    rows = [{"sample_id": f"{label}-{i}", "label": label, "text": f"a {label} number {i}"}
            for label in classes for i in range(per_class)]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def start_train(project: Path, manifest: Path) -> subprocess.Popen:
    params = (f"manifest={manifest},preset=fast,feature_cache=null,"
              "training.fit.max_epochs=3,training.fit.patience=3")
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--pipeline=train", f"--params={params}"],
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


def test_the_lock_is_free_again_once_released_and_says_who_holds_it(tmp_path):
    first = ProjectLock(tmp_path)
    first.acquire("kedro run --pipeline=train")
    assert "kedro run --pipeline=train" in first.holder()
    first.release()
    again = ProjectLock(tmp_path)
    again.acquire("kedro run --pipeline=compare")
    assert "compare" in again.holder()
    again.release()
    assert again.holder() == "which run is not recorded"


def test_a_run_reads_the_version_it_saved_not_a_newer_one_on_disk(tmp_path):
    path = tmp_path / "report.json"
    catalog = DataCatalog({"report": JSONDataset(
        filepath=str(path), version=Version(None, "2026-01-01T00.00.00.000Z")),
        "echo": MemoryDataset()})
    newer = path / "2026-06-01T00.00.00.000Z" / "report.json"
    newer.parent.mkdir(parents=True)
    newer.write_text('"a run that started later and finished first"')
    pipeline = Pipeline([node(lambda: "this run's", None, "report", name="write"),
                         node(lambda report: report, "report", "echo", name="read")])
    pin_own_versions(pipeline, catalog)
    SequentialRunner().run(pipeline, catalog)
    assert catalog.load("echo") == "this run's"


def test_runs_stamped_with_the_same_millisecond_still_save_apart(tmp_path):
    """Two runs started at once can get one Kedro version; the one that waited restamps."""
    path = tmp_path / "report.json"
    taken = "2026-01-01T00.00.00.000Z"
    (path / taken).mkdir(parents=True)
    (path / taken / "report.json").write_text('"the first run"')
    catalog = DataCatalog({"report": JSONDataset(filepath=str(path),
                                                 version=Version(None, taken))})
    pipeline = Pipeline([node(lambda: "the second run's", None, "report", name="write")])
    version = restamp_versions(pipeline, catalog)
    SequentialRunner().run(pipeline, catalog)
    assert version > taken
    assert json.loads((path / version / "report.json").read_text()) == "the second run's"
    assert json.loads((path / taken / "report.json").read_text()) == "the first run"
