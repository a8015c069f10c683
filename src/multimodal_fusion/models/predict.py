"""Class probabilities from a trained classifier: what evaluation and inference share."""

from __future__ import annotations

import numpy as np
import torch

from multimodal_fusion.device import autocast
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.inputs import Batch


@torch.no_grad()
def predict_proba(model: MultimodalClassifier, batch: Batch, batch_size: int = 256,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities for every sample of `batch`, in order, on the model's device."""
    device = next(model.parameters()).device
    model.eval()
    chunks = []
    for start in range(0, len(batch), batch_size):
        part = batch.select(torch.arange(start, min(start + batch_size, len(batch)))).to(device)
        with autocast(device, bf16):
            logits = model(part.inputs, part.present)
        chunks.append(torch.softmax(logits.float(), dim=1).cpu())
    return torch.cat(chunks).numpy()
