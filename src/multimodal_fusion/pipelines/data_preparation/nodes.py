"""Nodes of the `data_preparation` pipeline."""

from __future__ import annotations

import logging

import pandas as pd

from multimodal_fusion.contract.copies import first_copies, warn_of_copies
from multimodal_fusion.contract.manifest import assign_splits
from multimodal_fusion.contract.quarantine import PreparationSettings, screen_manifest
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.modalities import column_rules
from multimodal_fusion.modalities.common import extraction_settings

logger = logging.getLogger(__name__)


def validate(manifest: pd.DataFrame, settings: dict, extraction: dict,
             **preprocessing: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the usable rows and cells; set the rest aside in a report naming each fault's fix.

    Each modality's cells are checked by its own rules, given its `preprocessing` parameters.
    """
    return screen_manifest(manifest, settings, column_rules(preprocessing),
                           extraction_settings(extraction).processes)


def split(manifest: pd.DataFrame, settings: dict, seed: int, extraction: dict,
          **preprocessing: dict) -> pd.DataFrame:
    """Add the train/val/test split, stratified by label unless the manifest fixes it, with
    copies of one sample kept on one side of it (or warned of, when the manifest fixes it)."""
    chosen = typed_settings(PreparationSettings, settings, "data_preparation")
    firsts = first_copies(manifest, column_rules(preprocessing),
                          extraction_settings(extraction).cache)
    result = assign_splits(manifest, chosen.test_size, chosen.val_size, seed, firsts)
    warn_of_copies(result, firsts)
    logger.info("Split sizes: %s", result["split"].value_counts().to_dict())
    return result
