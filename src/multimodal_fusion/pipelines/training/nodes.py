"""Nodes of the `training` pipeline."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.modalities.common import FeatureTable
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.inputs import ModelInputs, assemble_model_inputs
from multimodal_fusion.training.engine import train_on_inputs


def build_model_inputs(manifest: pd.DataFrame, **features: FeatureTable) -> ModelInputs:
    """One table of every sample's features, presence masks, label and split."""
    return assemble_model_inputs(manifest, features)


def train_model(model_inputs: ModelInputs, settings: dict,
                seed: int) -> tuple[MultimodalClassifier, list[dict]]:
    """Build the classifier for these inputs and fit it with early stopping."""
    return train_on_inputs(model_inputs, settings, seed)
