"""Nodes of the `export` pipeline."""

from __future__ import annotations

import logging

from torch import nn

from multimodal_fusion.serving.export import export_onnx
from multimodal_fusion.serving.inference import recipe_of

logger = logging.getLogger(__name__)


def export_model(model: nn.Module) -> bytes:
    """The stored model as ONNX, with its spec (classes, feature recipe) in the metadata."""
    recipe_of(model.spec, "the fusion_model version loaded")
    exported = export_onnx(model)
    logger.info("Exported %s fusion over %s to ONNX (%d kB)", model.spec["fusion"],
                ", ".join(sorted(model.spec["modalities"])), len(exported) // 1024)
    return exported
