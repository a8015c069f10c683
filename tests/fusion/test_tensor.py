"""Tensor and low-rank fusion: products of modalities kept at the scale of one."""

import pytest
import torch

from multimodal_fusion.fusion.common import FusionShape
from multimodal_fusion.fusion.tensor import (
    LowRankFusion,
    LowRankSettings,
    TensorFusion,
    TensorSettings,
)

MODALITIES = ("audio", "image", "tabular", "text")


@pytest.mark.parametrize("module, settings", [(TensorFusion, TensorSettings(tensor_dim=8)),
                                              (LowRankFusion, LowRankSettings(rank=4))])
def test_a_product_of_modalities_does_not_grow_as_a_power_of_the_embeddings(module, settings):
    fusion = module(FusionShape({m: 6 for m in MODALITIES}, 16, 3, 0.0), settings)
    generator = torch.Generator().manual_seed(0)
    embeddings = {m: torch.randn(5, 6, generator=generator) for m in MODALITIES}
    present = {m: torch.ones(5, dtype=torch.bool) for m in MODALITIES}
    for scale in (10.0, 100.0, 1000.0):
        fused = fusion({m: z * scale for m, z in embeddings.items()}, present)
        assert torch.allclose(fused.std(dim=1, unbiased=False), torch.ones(5), atol=0.02)
