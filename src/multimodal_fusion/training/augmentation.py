"""Train-time image augmentation with torchvision v2, a new draw per image per batch.

The features stage checks the settings (`modalities.image.Augmentation`) and hands them to
the model spec; here they become transforms of normalised square tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from multimodal_fusion.modalities.image import Augmentation

if TYPE_CHECKING:
    from torchvision.transforms import v2


def augmentation(settings: dict, size: int) -> v2.Compose | None:
    """The transform these settings ask for, or None when every kind is off.

    The crop is resized back to `size`; colour jitter works on [0, 1], so the [-1, 1]
    tensors are mapped there and back.
    """
    from torchvision.transforms import v2

    chosen = Augmentation(**settings)
    steps: list[v2.Transform] = []
    if chosen.rotation > 0:
        steps.append(v2.RandomRotation(chosen.rotation, fill=-1.0))
    if chosen.crop_scale < 1.0:
        steps.append(v2.RandomResizedCrop(size, scale=(chosen.crop_scale, 1.0), antialias=True))
    if chosen.horizontal_flip:
        steps.append(v2.RandomHorizontalFlip())
    if chosen.colour_jitter > 0:
        jitter = chosen.colour_jitter
        steps += [v2.Lambda(lambda x: (x + 1) / 2),
                  v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter),
                  v2.Lambda(lambda x: x * 2 - 1)]
    return v2.Compose(steps) if steps else None


def augment_batch(images: torch.Tensor, transform: v2.Compose) -> torch.Tensor:
    """Each image with its own random draw (a batch-wide draw would teach the model little)."""
    return torch.stack([transform(image) for image in images])
