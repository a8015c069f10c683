"""Class probabilities from a trained classifier: what evaluation and inference share."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from multimodal_fusion.core.device import autocast
from multimodal_fusion.models.inputs import Batch


class Samples(Protocol):
    """What predictions read: a `Batch`, or a split that training streams."""

    def parts(self, size: int) -> Iterator[Batch]: ...


def device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters are, so its inputs go there too."""
    return next(model.parameters()).device


def for_inference(model: nn.Module) -> nn.Module:
    """A copy of the model that only predicts, about twice as fast on a CPU: each
    convolution folded with the batch norm after it, and its 4-D weights laid out
    channels-last, which oneDNN's kernels read fastest (measured in
    benchmarks/README.md). Its outputs match the model's to float rounding; the model
    itself stays as it was, to go on training."""
    frozen = copy.deepcopy(model).eval()
    for sequence in [m for m in frozen.modules() if isinstance(m, nn.Sequential)]:
        fold_batch_norms(sequence)
    return frozen.to(memory_format=torch.channels_last)


def fold_batch_norms(sequence: nn.Sequential) -> None:
    """Each Conv2d directly followed by a BatchNorm2d becomes one Conv2d (and an Identity),
    the norm's running statistics folded into its weights."""
    for index in range(len(sequence) - 1):
        conv, norm = sequence[index], sequence[index + 1]
        if (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)
                and norm.running_mean is not None):
            sequence[index], sequence[index + 1] = fuse_conv_bn_eval(conv, norm), nn.Identity()


@torch.no_grad()
def predict_proba(model: nn.Module, samples: Samples, batch_size: int = 256,
                  bf16: bool = False) -> np.ndarray:
    """Class probabilities for every sample, in order, computed on the model's device and
    brought back once (a copy per part would wait on the device each time)."""
    device = device_of(model)
    model.eval()
    chunks = []
    for part in samples.parts(batch_size):
        part = part.to(device)
        with autocast(device, bf16):
            logits = model(part.inputs, part.present)
        chunks.append(torch.softmax(logits.float(), dim=1))
    return torch.cat(chunks).cpu().numpy()
