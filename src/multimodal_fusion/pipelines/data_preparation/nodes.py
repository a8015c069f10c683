"""Nodes of the `data_preparation` pipeline."""

from __future__ import annotations

import logging

import pandas as pd

from multimodal_fusion.manifest import assign_splits, validate_manifest

logger = logging.getLogger(__name__)


def validate(manifest: pd.DataFrame) -> pd.DataFrame:
    """Stop the run on a manifest that would break later steps, naming the row to fix."""
    return validate_manifest(manifest)


def split(manifest: pd.DataFrame, settings: dict, seed: int) -> pd.DataFrame:
    """Add the train/val/test split, stratified by label unless the manifest fixes it."""
    result = assign_splits(manifest, settings["test_size"], settings["val_size"], seed)
    logger.info("Split sizes: %s", result["split"].value_counts().to_dict())
    return result
