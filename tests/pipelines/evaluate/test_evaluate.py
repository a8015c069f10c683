"""`evaluate` scores a stored model again on its own split and reproduces its metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, make_project, run_small, write_samples
from multimodal_fusion.pipelines.evaluation.pipeline import PLOTS


def versions(project: Path, relative: str) -> list[Path]:
    return sorted((project / relative).iterdir())


def read(version: Path) -> dict:
    return json.loads((version / version.parent.name).read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    """Two models of one manifest, trained with different seeds; the first is evaluated."""
    root = tmp_path_factory.mktemp("evaluate")
    (root / "samples").mkdir()
    write_samples(root / "samples").to_csv(root / "samples" / "manifest.csv", index=False)
    project = make_project(root / "project")
    manifest = str(root / "samples" / "manifest.csv")
    run_small(project, "train", manifest=manifest, seed=1)
    run_small(project, "train", manifest=manifest, seed=2, data_preparation={"test_size": 0.3})
    return project, root / "samples"


def test_evaluate_reproduces_a_stored_versions_metrics_exactly(project):
    project, _ = project
    first = versions(project, "data/06_models/fusion_model.safetensors")[0].name
    run_small(project, "evaluate", {"fusion_model": first})
    reproduction = read(versions(project, "data/08_reporting/evaluate/reproduction.json")[-1])
    assert reproduction == {"reproduced": True, "differences": {}}
    stored = read(versions(project, "data/08_reporting/metrics.json")[0])
    again = read(versions(project, "data/08_reporting/evaluate/metrics.json")[-1])
    assert again == stored and stored["n_samples"] != read(
        versions(project, "data/08_reporting/metrics.json")[1])["n_samples"]


def test_evaluate_refuses_when_the_data_changed_naming_the_file(project):
    project, samples = project
    image = samples / "3.png"
    original = image.read_bytes()
    image.write_bytes(original + b"\0")
    try:
        with pytest.raises(Exception, match=r"The data behind fusion_model .* changed since "
                                            r"that run.*3\.png"):
            run_small(project, "evaluate")
    finally:
        image.write_bytes(original)


def test_a_run_record_sits_beside_each_model(project):
    project, _ = project
    models = [v.name for v in versions(project, "data/06_models/fusion_model.safetensors")]
    records = versions(project, "data/06_models/run_record.json")
    assert [r.name for r in records] == models
    assert [read(r)["seed"] for r in records] == [1, 2]
    assert read(records[0])["run_id"] == models[0]


def test_kedro_viz_previews_the_runs_plots(project):
    project, _ = project
    subprocess.run([sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
                   cwd=project, check=True, capture_output=True,
                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    graph = json.loads((project / "build" / "api" / "main").read_text())
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    for plot in PLOTS:
        node = json.loads((project / "build" / "api" / "nodes" / ids[plot]).read_text())
        assert node["preview_type"] == "PlotlyPreview" and node["preview"]["data"], plot


@pytest.mark.skipif(not any(shutil.which(b) for b in ("chromium", "chromium-browser")),
                    reason="no Chromium to open the report with (apt install chromium)")
def test_the_html_report_opens_in_a_browser_with_every_plot_drawn(project):
    project, _ = project
    report = versions(project, "data/08_reporting/report.html")[-1] / "report.html"
    check = subprocess.run([sys.executable, str(REPO / "benchmarks" / "report_check.py"),
                            str(report)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "5 of 5 plots drawn" in check.stdout, check.stdout
