"""Nodes of the `inference` pipeline."""

from __future__ import annotations

import logging

import pandas as pd
from torch import nn

from multimodal_fusion.contract.quarantine import screen_manifest, with_extraction_faults
from multimodal_fusion.modalities import extraction_faults
from multimodal_fusion.modalities.common import FeatureTable, extraction_settings
from multimodal_fusion.models.predict import for_inference, predict_proba
from multimodal_fusion.serving.inference import (
    inference_batch,
    predictions_table,
    recipe_features,
    recipe_of,
    recipe_rules,
)

logger = logging.getLogger(__name__)


def validate_new_samples(manifest: pd.DataFrame, settings: dict, model: nn.Module,
                         extraction: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the new samples' columns the model reads, as training checked its own; labels
    are not needed."""
    recipe = recipe_of(model.spec, "the fusion_model version loaded")
    return screen_manifest(manifest, settings, recipe_rules(recipe),
                           extraction_settings(extraction).processes, labelled=False)


def compute_new_features(manifest: pd.DataFrame, model: nn.Module, extraction: dict,
                         seed: int) -> dict[str, FeatureTable]:
    """Each modality the model reads, made as it was for training (the model's recipe)."""
    return recipe_features(manifest, recipe_of(model.spec, "the fusion_model version loaded"),
                           extraction, seed)


def report_new_quarantine(validation: pd.DataFrame, manifest: pd.DataFrame, settings: dict,
                          features: dict[str, FeatureTable]) -> pd.DataFrame:
    """Validation's report on the new samples, with each file that then failed in
    extraction (that sample is predicted without the modality)."""
    return with_extraction_faults(validation, extraction_faults(manifest, features), manifest,
                                  settings)


def predict_new_samples(model: nn.Module, features: dict[str, FeatureTable],
                        manifest: pd.DataFrame) -> pd.DataFrame:
    """The predicted class and every class's probability per sample, with its extra columns."""
    batch = inference_batch(manifest, features, model.spec)
    probabilities = predict_proba(for_inference(model), batch)
    predictions = predictions_table(manifest, probabilities, batch, model.spec)
    logger.info("Predicted %d samples: %s", len(predictions),
                predictions["predicted"].value_counts().to_dict())
    return predictions
