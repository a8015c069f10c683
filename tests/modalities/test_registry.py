"""The modality registry: every modality declares what the pipelines and the model need."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import make_project, project_parameters, run_small
from multimodal_fusion.modalities import (
    MODALITIES,
    manifest_columns,
    modality,
    modality_names,
    registered,
)
from multimodal_fusion.modalities.common import run_steps
from multimodal_fusion.models.encoders import ENCODERS

SHARED = {"manifest", "extraction", "seed"}
PARAMETERS = project_parameters()


def test_each_modality_declares_steps_that_end_in_its_feature_table():
    for name in modality_names():
        declared = modality(name)
        assert declared.name == name
        written = set()
        for step in declared.steps:
            for read in step.reads:
                assert read in SHARED | written | {"preprocessing", "features"}, (
                    f"{name}.{step.name} reads {read}, which nothing before it writes")
            written.add(step.writes)
        assert declared.steps[-1].writes == "table"
        assert set(declared.encoders) <= set(ENCODERS)
        assert set(PARAMETERS[name]) == {"preprocessing", "features"}


def test_manifest_columns_come_from_the_registry():
    assert manifest_columns() == ["image", "text", "audio"]
    files = [m for m in registered() if m.holds_files]
    assert [m.column for m in files] == ["image", "audio"]
    assert all(m.check_file for m in files), "validation decodes every file before features"
    assert [m.name for m in registered()] == list(modality_names())
    with pytest.raises(ValueError, match="unknown modality 'video'; the registered ones are"):
        modality("video")


def table_of(name: str, manifest: pd.DataFrame) -> dict:
    """A modality's feature table, its steps run with the project's parameters."""
    return run_steps(modality(name), {
        "manifest": manifest, "extraction": {"cache": None, "workers": 1}, "seed": 0,
        "preprocessing": PARAMETERS[name]["preprocessing"],
        "features": PARAMETERS[name]["features"]})["table"]


@pytest.mark.parametrize("name", modality_names())
def test_a_modality_the_manifest_lacks_is_absent_and_costs_nothing(name):
    manifest = pd.DataFrame({"sample_id": ["a", "b"], "label": ["x", "y"],
                             "split": ["train", "test"]}, index=pd.RangeIndex(1, 3))
    table = table_of(name, manifest)
    assert table["sample_id"].tolist() == ["a", "b"]
    assert not table["present"].any()
    assert table["values"].shape == (2, 0)


def sensor_manifest(folder: Path) -> Path:
    """Texts that say little and readings that name the class; one reading is not a number."""
    rng = np.random.default_rng(0)
    rows = [{"sample_id": f"s{i}", "label": "hot" if i % 2 else "cold",
             "text": "a reading", "reading": f"{(i % 2) * 10 + rng.normal():.2f}"}
            for i in range(60)]
    rows[5]["reading"] = "broken"
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


def test_a_new_modality_is_its_module_its_registry_line_and_its_parameters(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setitem(MODALITIES, "sensor", "toy_sensor")
    project = make_project(tmp_path / "project")
    (project / "conf" / "base" / "parameters_sensor.yml").write_text(
        "sensor:\n  preprocessing:\n    columns: [reading]\n  features: {}\n")
    manifest = sensor_manifest(tmp_path / "samples")
    run_small(project, "train", manifest=str(manifest))
    metrics = latest(project, "data/08_reporting/metrics.json")
    assert metrics["modalities"] == ["sensor", "text"] and metrics["accuracy"] > 0.9
    report = pd.read_csv(next((project / "data/08_reporting/quarantine.csv").glob(
        "*/quarantine.csv")), dtype=str)
    assert report[["row", "column", "action"]].values.tolist() == [
        ["6", "reading", "reading emptied"]]
    assert latest(project, "data/06_models/sensor_fitted.json")["mean"]
    pd.read_csv(manifest).drop(columns="label").to_csv(tmp_path / "new.csv", index=False)
    run_small(project, "inference", manifest=str(tmp_path / "new.csv"))
    predictions = pd.read_csv(next((project / "data/07_model_output/predictions.csv").glob(
        "*/predictions.csv")))
    assert set(predictions["modalities"]) == {"sensor+text", "text"}
    assert "reading" not in predictions.columns, "a column the model reads is not an extra"


def latest(project: Path, relative: str) -> dict:
    version = sorted((project / relative).iterdir())[-1]
    return json.loads((version / version.parent.name).read_text())
