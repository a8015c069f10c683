"""Weighted fusions: fixed weights per modality, checked against the modalities there are."""

import pytest
import torch

from multimodal_fusion.fusion.common import FusionShape
from multimodal_fusion.fusion.weighted import WeightedSumFusion, WeightedSumSettings

DIMS = {"audio": 4, "image": 4, "text": 4}


def fixed(weights: dict) -> WeightedSumFusion:
    return WeightedSumFusion(FusionShape(DIMS, 6, 3, 0.0), WeightedSumSettings(weights=weights))


def test_fixed_weights_silence_a_zero_weighted_modality():
    fusion = fixed({"image": 1, "text": 0, "audio": 2})
    embeddings = {m: torch.randn(5, 4, generator=torch.Generator().manual_seed(i))
                  for i, m in enumerate(DIMS)}
    present = {m: torch.ones(5, dtype=torch.bool) for m in DIMS}
    changed = {**embeddings, "text": embeddings["text"] * 50}
    torch.testing.assert_close(fusion(embeddings, present), fusion(changed, present))


def test_fixed_weights_must_weigh_every_modality_and_not_all_be_zero():
    with pytest.raises(ValueError, match="lack text"):
        fixed({"image": 1, "audio": 2})
    with pytest.raises(ValueError, match="non-negative, not all 0"):
        fixed({"image": 0, "text": 0, "audio": 0})
