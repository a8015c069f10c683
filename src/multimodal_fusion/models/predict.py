"""Class probabilities from a trained classifier: what evaluation and inference share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch import nn

from multimodal_fusion.core.device import autocast
from multimodal_fusion.models.inputs import Batch


class Samples(Protocol):
    """What predictions read: a `Batch`, or a split that training streams."""

    def parts(self, size: int) -> Iterator[Batch]: ...


@torch.no_grad()
def predict_proba(model: nn.Module, samples: Samples, batch_size: int = 256,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities for every sample, in order, computed on the model's device and
    brought back once (a copy per part would wait on the device each time)."""
    device = next(model.parameters()).device
    model.eval()
    chunks = []
    for part in samples.parts(batch_size):
        part = part.to(device)
        with autocast(device, bf16):
            logits = model(part.inputs, part.present)
        chunks.append(torch.softmax(logits.float(), dim=1))
    return torch.cat(chunks).cpu().numpy()
