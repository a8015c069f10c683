"""The modality registry: every modality declares what the pipelines and the model need."""

import pandas as pd
import pytest

from helpers import project_parameters
from multimodal_fusion.modalities import (
    manifest_columns,
    modality,
    modality_names,
    registered,
)
from multimodal_fusion.models.encoders import ENCODERS

SHARED = {"manifest", "cache", "workers", "seed"}
PARAMETERS = project_parameters()


def test_each_modality_declares_steps_that_end_in_its_feature_table():
    for name in modality_names():
        declared = modality(name)
        assert declared.name == name
        written = set()
        for step in declared.steps:
            for read in step.reads:
                assert read in SHARED | written | {"params:preprocessing", "params:features"}, (
                    f"{name}.{step.name} reads {read}, which nothing before it writes")
            written.add(step.writes)
        assert declared.steps[-1].writes == "features"
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


def run_steps(name: str, manifest: pd.DataFrame) -> dict:
    """A modality's steps in order, as its namespace in the features pipeline runs them."""
    data = {"manifest": manifest, "cache": None, "workers": 1, "seed": 0,
            "params:preprocessing": PARAMETERS[name]["preprocessing"],
            "params:features": PARAMETERS[name]["features"]}
    for step in modality(name).steps:
        data[step.writes] = step.function(*(data[read] for read in step.reads))
    return data["features"]


@pytest.mark.parametrize("name", modality_names())
def test_a_modality_the_manifest_lacks_is_absent_and_costs_nothing(name):
    manifest = pd.DataFrame({"sample_id": ["a", "b"], "label": ["x", "y"],
                             "split": ["train", "test"]}, index=pd.RangeIndex(1, 3))
    table = run_steps(name, manifest)
    assert table["sample_id"].tolist() == ["a", "b"]
    assert not table["present"].any()
    assert table["values"].shape == (2, 0)
