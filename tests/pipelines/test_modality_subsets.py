"""Any subset of the modalities trains, evaluates and compares through the real project."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from helpers import make_project, write_tone
from multimodal_fusion.modalities import modality_names
from multimodal_fusion.training.strategies import AUTO, ENSEMBLE, FUSION, LINEAR, UNIMODAL, of_kind

CLASSES = ("apple", "banana", "cherry")
PER_CLASS = 12
COLUMNS = {"image": ["image"], "text": ["text"], "audio": ["audio"], "tabular": ["cue", "band"]}
FIT = {"max_epochs": 2, "patience": 2, "batch_size": 16}
# The fast preset keeps the many cases quick; the case with every modality runs the default
# preset's pretrained encoders (on images large enough for them).
PRESETS = {"fast": {"preset": "fast", "image": {"preprocessing": {"size": 8}}},
           "default": {"image": {"preprocessing": {"size": 32}}}}


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    """36 samples of three classes, each modality telling them apart on its own."""
    folder = tmp_path_factory.mktemp("samples")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(len(CLASSES) * PER_CLASS):
        label_index = i % len(CLASSES)
        label = CLASSES[label_index]
        pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
        pixels[[slice(0, 4), slice(4, 8), slice(2, 6)][label_index]] = 250
        Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
        write_tone(folder / f"{i}.wav", sample_rate=8000, seconds=0.3,
                   frequency=300.0 * (label_index + 1) + rng.uniform(-20, 20))
        rows.append({"sample_id": f"s{i}", "label": label, "image": f"{i}.png",
                     "text": f"this one is an {label}", "audio": f"{i}.wav",
                     "cue": f"{label_index + rng.normal(0, 0.1):.2f}",
                     "band": ["low", "mid", "high"][label_index]})
    pd.DataFrame(rows).to_csv(folder / "all.csv", index=False)
    return folder


def manifest_with(samples: Path, modalities: tuple[str, ...]) -> str:
    """A manifest holding only these modalities' columns."""
    frame = pd.read_csv(samples / "all.csv", dtype=str, keep_default_na=False)
    kept = ["sample_id", "label", *(c for m in modalities for c in COLUMNS[m])]
    path = samples / f"{'-'.join(modalities)}.csv"
    frame[kept].to_csv(path, index=False)
    return str(path)


def run(project: Path, pipeline: str, manifest: str, modalities: tuple[str, ...]) -> None:
    tabular = {"numeric": ["cue"], "categorical": ["band"]} if "tabular" in modalities else {}
    preset = PRESETS["default" if len(modalities) == len(modality_names()) else "fast"]
    params = {**preset, "manifest": manifest, "tabular": {"preprocessing": tabular},
              "extraction": {"cache": None}, "compare": {"trainings": str(project / "trainings")},
              "training": {"fit": {**FIT, "checkpoint_dir": str(project / "checkpoints")}}}
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=[pipeline])


def latest_json(project: Path, relative: str) -> dict | list:
    version = sorted((project / relative).iterdir())[-1]
    return json.loads((version / Path(relative).name).read_text())


PAIRS = list(itertools.combinations(modality_names(), 2))


@pytest.mark.parametrize("modalities", [*PAIRS, ("text",), modality_names()],
                         ids=lambda m: "+".join(m))
def test_a_manifest_with_these_modalities_trains_evaluates_and_compares(
        samples, tmp_path, modalities):
    project = make_project(tmp_path)
    manifest = manifest_with(samples, modalities)
    run(project, "train", manifest, modalities)
    metrics = latest_json(project, "data/08_reporting/metrics.json")
    assert metrics["modalities"] == sorted(modalities)
    assert metrics["n_samples"] > 0 and 0 <= metrics["accuracy"] <= 1

    run(project, "compare", manifest, modalities)
    board = {row["strategy"]: row for row in latest_json(project,
                                                         "data/08_reporting/leaderboard.json")}
    ranked = {name for name, row in board.items() if row["rank"] is not None}
    baselines = {f"{m}_only" for m in modalities}
    trained = {*of_kind(FUSION), *of_kind(AUTO), *of_kind(ENSEMBLE), *of_kind(LINEAR)}
    assert ranked == {*trained, *baselines}
    for skipped in set(of_kind(UNIMODAL)) - baselines:
        assert board[skipped]["skipped"].startswith("no training sample has")
    for strategy in trained:
        used = latest_json(project, f"data/08_reporting/compare/{strategy}/metrics.json")
        assert used["modalities"] == sorted(modalities), strategy
