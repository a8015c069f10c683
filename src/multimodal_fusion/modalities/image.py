"""Images: decode any format Pillow reads, convert to RGB, resize and normalise to [-1, 1]."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.transforms import v2

from multimodal_fusion.modalities import FeatureTable, extract_per_file

# Bump when the extraction changes what it computes, so cached features are not reused.
IMAGE_FEATURES_VERSION = "rgb-normalised-1"
CHANNELS = 3
ENCODERS = ("small_cnn", "resnet18", "pixels")


def image_transform(size: int) -> v2.Compose:
    """Square resize and scaling to [-1, 1], the same for training and inference."""
    return v2.Compose([
        v2.ToImage(),
        v2.Resize((size, size), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=[0.5] * CHANNELS, std=[0.5] * CHANNELS),
    ])


def load_image(path: str) -> Image.Image:
    """Decode fully (so truncated files fail here) and convert grey, palette or CMYK to RGB."""
    with Image.open(path) as image:
        image.load()
        return image.convert("RGB")


def extract_image_tensors(manifest: pd.DataFrame, size: int,
                          encoder: str = "small_cnn") -> FeatureTable:
    """A normalised CHW tensor per sample, for an encoder that learns from pixels in training.

    `encoder` is `small_cnn`, `resnet18` (torchvision's architecture, trained from scratch)
    or `pixels` (a linear map of the raw pixels: a baseline).
    """
    if encoder not in ENCODERS:
        raise ValueError(f"unknown image encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    transform = image_transform(size)

    def to_array(path: str) -> np.ndarray:
        return transform(load_image(path)).numpy()

    return extract_per_file(manifest, "image", to_array, (CHANNELS, size, size), encoder)
