"""End to end: a small demo built and trained through the real Kedro project and catalog."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import AbstractRunner, ThreadRunner

from helpers import make_project
from multimodal_fusion.training.strategies import every_strategy

SMALL_RUN = {
    "demo_data": {"n_samples": 200},
    "training": {"fit": {"max_epochs": 25, "patience": 25}},
}


def run(project: Path, pipeline: str, runner: AbstractRunner | None = None,
        **runtime_params) -> None:
    bootstrap_project(project)
    checkpoints = {"checkpoint_dir": str(project / "data/06_models/checkpoints")}
    training = runtime_params.pop("training", SMALL_RUN["training"])
    runtime_params = {**SMALL_RUN,
                      "compare": {"trainings": str(project / "data/06_models/compare/trainings")},
                      **runtime_params,
                      "extraction": {"cache": str(project / "data/04_feature/cache"),
                                     **runtime_params.get("extraction", {})},
                      "training": {**training, "fit": {**training["fit"], **checkpoints}}}
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_names=[pipeline], runner=runner)


def versions(project: Path, relative: str) -> list[Path]:
    return sorted((project / relative).iterdir())


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory) -> Path:
    """`train` run twice on a fresh project; the first run has to build the demo itself."""
    project = make_project(tmp_path_factory.mktemp("project"))
    run(project, "train")
    run(project, "train")
    return project


def test_train_builds_the_missing_demo_then_reports_sane_metrics(trained_project):
    assert (trained_project / "data/01_raw/demo/manifest.csv").is_file()
    first = versions(trained_project, "data/08_reporting/metrics.json")[0]
    metrics = json.loads((first / "metrics.json").read_text())
    assert metrics["n_samples"] == 40
    assert 0.3 <= metrics["accuracy"] <= 1.0
    assert 0.0 <= metrics["macro"]["f1"] <= 1.0
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert 0.5 < metrics["demo_ceiling"] <= 1.0
    assert metrics["modalities"] == ["audio", "image", "text"]


def test_each_run_leaves_a_new_version_and_keeps_the_old(trained_project):
    for relative in ("data/06_models/fusion_model.safetensors", "data/08_reporting/metrics.json",
                     "data/08_reporting/plots/confusion_normalised.json"):
        assert len(versions(trained_project, relative)) == 2, relative
    model_versions = versions(trained_project, "data/06_models/fusion_model.safetensors")
    for version in model_versions:
        assert (version / "fusion_model.safetensors").stat().st_size > 10_000
        assert json.loads((version / "fusion_model.json").read_text())["fusion"] == "late"


def test_two_runs_with_one_seed_give_the_same_metrics(trained_project):
    first, second = (json.loads((version / "metrics.json").read_text())
                     for version in versions(trained_project, "data/08_reporting/metrics.json"))
    assert first.pop("train_seconds") > 0 and second.pop("train_seconds") > 0
    assert first == second
    first, second = (json.loads((version / "modality_analysis.json").read_text()) for version
                     in versions(trained_project, "data/08_reporting/modality_analysis.json"))
    assert first == second


def test_under_the_thread_runner_train_gives_what_it_gives_in_a_row(trained_project):
    """The modalities' feature namespaces run at once (README, "Scaling out")."""
    cache = trained_project / "data/04_feature/threads"
    run(trained_project, "train", runner=ThreadRunner(), extraction={"cache": str(cache)})
    in_a_row = trained_project / "data/04_feature/cache"
    tables = sorted(p.relative_to(cache) for p in cache.rglob("*.npz"))
    assert tables == sorted(p.relative_to(in_a_row) for p in in_a_row.rglob("*.npz"))
    for table in tables:
        with np.load(cache / table) as ours, np.load(in_a_row / table) as theirs:
            assert set(ours.files) == set(theirs.files)
            for key in ours.files:
                np.testing.assert_array_equal(ours[key], theirs[key], err_msg=str(table))
    first, threaded = (versions(trained_project, "data/08_reporting/metrics.json")[i]
                       for i in (0, -1))
    for name in ("metrics.json", "modality_analysis.json"):
        figures = [json.loads((v.parent.parent / name / v.name / name).read_text())
                   for v in (first, threaded)]
        for each in figures:
            each.pop("train_seconds", None)
        assert figures[0] == figures[1], name


def test_demo_build_is_byte_identical_for_one_seed(trained_project, tmp_path):
    again = make_project(tmp_path)
    run(again, "demo_data")
    demo, rebuilt = trained_project / "data/01_raw/demo", again / "data/01_raw/demo"
    assert (demo / "manifest.csv").read_bytes() == (rebuilt / "manifest.csv").read_bytes()
    clips = sorted(p.name for p in (demo / "audio").iterdir())
    assert clips == sorted(p.name for p in (rebuilt / "audio").iterdir())
    for name in clips:
        assert (demo / "audio" / name).read_bytes() == (rebuilt / "audio" / name).read_bytes()


def test_a_missing_file_is_quarantined_or_stops_the_run_naming_row_and_file(trained_project):
    demo = trained_project / "data/01_raw/demo"
    manifest = (demo / "manifest.csv").read_text().splitlines()
    manifest[3] = manifest[3].replace("audio/00002.wav", "audio/nowhere.wav")
    broken = demo / "broken.csv"
    broken.write_text("\n".join(manifest) + "\n")
    run(trained_project, "data_preparation", manifest=str(broken))
    report = pd.read_csv(versions(trained_project, "data/02_intermediate/validation.csv")[-1]
                         / "validation.csv", dtype=str, keep_default_na=False)
    assert report[["row", "column", "action"]].values.tolist() == [["3", "audio",
                                                                     "audio dropped"]]
    with pytest.raises(Exception, match=r"row 3 \(sample_id 'digit-00002'\) audio "
                                        r".*nowhere.wav: the file does not exist"):
        run(trained_project, "data_preparation", manifest=str(broken),
            data_preparation={"on_bad_input": "stop"})
    broken.unlink()


def test_kedro_viz_shows_kedros_layers_and_each_modality_with_its_steps(tmp_path):
    project = make_project(tmp_path)
    subprocess.run([sys.executable, "-m", "kedro", "viz", "build"], cwd=project, check=True,
                   capture_output=True, env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    graph = json.loads((project / "build" / "api" / "main").read_text())
    assert graph["layers"] == ["raw", "intermediate", "primary", "feature", "model_input",
                               "models", "model_output", "reporting"]
    assert {"data_preparation", "image", "text", "audio", "tabular", "training",
            "evaluation"} <= set(graph["modular_pipelines"])
    steps = {}
    for task in (n for n in graph["nodes"] if n["type"] == "task" and n["modular_pipelines"]):
        steps.setdefault(task["modular_pipelines"][0], []).append(task["name"])
    assert steps["image"] == ["preprocess_images", "encode_images"]
    assert steps["text"] == ["clean_texts", "fit_text_vectorizer", "text_vectors"]
    assert steps["audio"] == ["preprocess_audio", "audio_vectors"]
    assert steps["tabular"] == ["select_columns", "fit_statistics", "tabular_vectors"]
    inference = json.loads((project / "build" / "api" / "pipelines" / "inference").read_text())
    assert [n["name"] for n in inference["nodes"] if n["type"] == "task"] == [
        "validate_new_samples", "compute_new_features", "predict_new_samples",
        "report_new_quarantine", "score_labelled_predictions", "summarise_predictions"]


def leaderboard(project: Path) -> list[dict]:
    """The latest leaderboard, without its training seconds (which no two runs share)."""
    board = json.loads((versions(project, "data/08_reporting/leaderboard.json")[-1]
                        / "leaderboard.json").read_text())
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in board]


def test_compare_ranks_every_strategy_and_baseline_alike_under_any_runner(trained_project):
    names = list(every_strategy())
    trainings = trained_project / "data/06_models/compare/trainings"
    fit = {"fit": {"max_epochs": 3, "patience": 3}}
    run(trained_project, "compare", training=fit)
    board = json.loads((versions(trained_project, "data/08_reporting/leaderboard.json")[0]
                        / "leaderboard.json").read_text())
    assert {row["strategy"] for row in board} == set(names)
    ranked = [row for row in board if row["rank"] is not None]
    assert [row["macro_f1"] for row in ranked] == sorted(
        (row["macro_f1"] for row in ranked), reverse=True)
    assert [row["rank"] for row in ranked] == list(range(1, len(names)))
    assert all(row["n_parameters"] > 0 and row["train_seconds"] > 0 for row in ranked)
    assert board[-1] == {"strategy": "tabular_only", "kind": "unimodal", "rank": None,
                         "skipped": "no training sample has tabular"}
    kinds = {row["strategy"]: row["kind"] for row in board}
    assert kinds["linear_early"] == kinds["linear_late"] == "linear reference"
    assert kinds["gated"] == "fusion" and kinds["text_only"] == "unimodal"
    assert kinds["auto"] == "auto"
    auto_metrics = versions(trained_project, "data/08_reporting/compare/auto/metrics.json")[-1]
    chosen = json.loads((auto_metrics / "metrics.json").read_text())["auto"]["chosen"]
    figures = {row["strategy"]: (row["accuracy"], row["val_macro_f1"]) for row in ranked}
    assert figures["auto"] == figures[chosen], "auto keeps its chosen candidate's model"
    assert versions(trained_project, "data/08_reporting/plots/leaderboard.json")
    report = versions(trained_project, "data/08_reporting/compare_report.html")[-1]
    page = (report / "compare_report.html").read_text()
    assert all(f"<td>{row['strategy']}</td>" in page for row in board)
    assert "no training sample has tabular" in page and "data_fingerprint" in page
    (data,) = trainings.iterdir()
    # auto's own training too, and the linear reference that `train` trained with its
    # own training settings
    assert len(list(data.glob("*/model.safetensors"))) == len(ranked) + 1

    fresh = {"trainings": str(trained_project / "data/06_models/compare/threads")}
    run(trained_project, "compare", runner=ThreadRunner(), training=fit, compare=fresh)
    assert leaderboard(trained_project) == [
        {k: v for k, v in row.items() if k != "train_seconds"} for row in board]


def kedro_run(project: Path, *args: str) -> subprocess.Popen:
    """`kedro run` in `project` as a separate process, as a user would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", *args], cwd=project, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"},
    )


def latest_metrics(project: Path) -> dict:
    latest = versions(project, "data/08_reporting/metrics.json")[-1]
    metrics = json.loads((latest / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return metrics


def test_sigkill_mid_training_then_the_same_command_resumes_to_the_same_metrics(
        trained_project):
    command = ("--pipelines=training,evaluation",
               "--params=training.fit.max_epochs=30,training.fit.patience=30")
    uninterrupted = kedro_run(trained_project, *command)
    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stdout.read()
    expected = latest_metrics(trained_project)

    killed = kedro_run(trained_project, *command)
    checkpoints = trained_project / "data/06_models/checkpoints"
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("*/last.pt")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=30) == -signal.SIGKILL, killed.stdout.read()
    assert list(checkpoints.glob("*/last.pt")), "the killed run left a checkpoint"

    resumed = kedro_run(trained_project, *command)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert "Resuming from the checkpoint of epoch" in output
    assert latest_metrics(trained_project) == expected
    assert not list(checkpoints.glob("*/last.pt"))


def torchrun(project: Path, params: str) -> str:
    """`kedro run --pipelines=training,evaluation` with two CPU ranks: its output."""
    launch = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "kedro",
         "run", "--pipelines=training,evaluation", f"--params={params}"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"},
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr
    return launch.stdout + launch.stderr


def test_torchrun_trains_with_two_ranks_and_only_rank_0_writes(trained_project):
    before = len(versions(trained_project, "data/08_reporting/metrics.json"))
    output = torchrun(trained_project, "training.fit.max_epochs=3")
    assert "rank 0 of 2" in output and "rank 1 of 2" in output
    assert "Rank 1 of 2: outputs stay in memory" in output
    assert len(versions(trained_project, "data/08_reporting/metrics.json")) == before + 1
    assert latest_metrics(trained_project)["epochs"] == 3


def test_torchrun_bags_the_fold_models_each_trained_on_both_ranks(trained_project):
    """The `bagged` preset's cross-fit under torchrun: both ranks train every fold model
    together, and one bag is saved."""
    before = len(versions(trained_project, "data/06_models/fusion_model.safetensors"))
    output = torchrun(trained_project, "training.search.folds=2,training.fit.max_epochs=2")
    assert "cross-fit: your settings (late) 1.00 over 2 folds" in " ".join(output.split())
    saved = versions(trained_project, "data/06_models/fusion_model.safetensors")
    assert len(saved) == before + 1
    spec = json.loads((saved[-1] / "fusion_model.json").read_text())
    assert spec["fusion"] == "ensemble" and spec["ensemble"]["folds"] == 2
    assert spec["weights"] == [0.5, 0.5]


def test_a_misspelt_fusion_option_stops_the_run_naming_it(trained_project):
    misspelt = kedro_run(trained_project, "--pipelines=training",
                         "--params=training.model.fusion_options.rnak=4")
    output, _ = misspelt.communicate(timeout=300)
    assert misspelt.returncode != 0
    assert "training.model.fusion_options: unknown key 'rnak'" in " ".join(output.split())


def test_train_with_a_search_keeps_its_best_trial_and_reports_the_trials(trained_project):
    training = {"fit": {"max_epochs": 4, "patience": 4},
                "search": {"n_trials": 3, "strategies": ["late", "concat"],
                           "folder": str(trained_project / "data/06_models/search")}}
    run(trained_project, "train", training=training)
    latest = versions(trained_project, "data/06_models/hyperparameter_search.json")[-1]
    search = json.loads((latest / "hyperparameter_search.json").read_text())
    assert len(search["trials"]) == 3 and search["trials"][0]["params"]["strategy"] == "late"
    model = versions(trained_project, "data/06_models/fusion_model.safetensors")[-1]
    spec = json.loads((model / "fusion_model.json").read_text())
    assert spec["fusion"] == search["best"]["params"]["strategy"]
    assert spec["search"]["best"] == search["best"]
    assert latest_metrics(trained_project)["val_macro_f1"] == search["best"]["value"]
    report = versions(trained_project, "data/08_reporting/report.html")[-1]
    assert "Hyperparameter search: best trial" in (report / "report.html").read_text()
