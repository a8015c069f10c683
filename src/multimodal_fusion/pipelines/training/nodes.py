"""Nodes of the `training` pipeline."""

from __future__ import annotations

import pandas as pd
from torch import nn

from multimodal_fusion.contract.quarantine import with_extraction_faults
from multimodal_fusion.evaluation.comparison import reference_record
from multimodal_fusion.modalities import extraction_faults
from multimodal_fusion.modalities.common import FeatureTable
from multimodal_fusion.models.inputs import ModelInputs, assemble_model_inputs
from multimodal_fusion.serving.inference import RECIPE, feature_recipe
from multimodal_fusion.training.strategies import search_hyperparameters, train_or_take_searched


def build_model_inputs(manifest: pd.DataFrame, **features: FeatureTable) -> ModelInputs:
    """One table of every sample's features, presence masks, label and split."""
    return assemble_model_inputs(manifest, features)


def train_reference(model_inputs: ModelInputs, manifest: pd.DataFrame, demo_metadata: dict,
                    settings: dict, compare: dict, evaluation: dict, seed: int) -> dict:
    """The reference strategy (`evaluation.reference`) trained and scored as `compare` does
    it, for the run's result to be read against."""
    return reference_record(model_inputs, manifest, demo_metadata, settings, compare,
                            evaluation, seed)


def report_quarantine(validation: pd.DataFrame, manifest: pd.DataFrame, settings: dict,
                      **features: FeatureTable) -> pd.DataFrame:
    """Validation's quarantine report, with each file that then failed in extraction."""
    return with_extraction_faults(validation, extraction_faults(manifest, features), manifest,
                                  settings)


def collect_feature_recipe(**parts: dict) -> dict[str, dict]:
    """Every modality's parameter groups (`<modality>`) and what it fitted
    (`<modality>_fitted`), for the model to keep."""
    fitted = {name.removesuffix("_fitted"): value for name, value in parts.items()
              if name.endswith("_fitted")}
    settings = {name: value for name, value in parts.items() if not name.endswith("_fitted")}
    return {"settings": settings, "fitted": fitted}


def hyperparameter_search(model_inputs: ModelInputs, settings: dict, seed: int) -> dict:
    """The hyperparameter search's study on validation (`training.search`): its trials, its
    best trial's settings and what mattered; or why none ran."""
    return search_hyperparameters(model_inputs, settings, seed)


def train_model(model_inputs: ModelInputs, settings: dict, seed: int, recipe: dict,
                search: dict) -> tuple[nn.Module, list[dict]]:
    """Build the classifier for these inputs and fit it with early stopping (or take what
    the search kept); it keeps the recipe of the inputs it reads, so inference makes them
    the same way."""
    model, history = train_or_take_searched(model_inputs, settings, seed, search)
    model.spec[RECIPE] = feature_recipe(recipe["settings"], recipe["fitted"],
                                        list(model.spec["modalities"]))
    return model, history
