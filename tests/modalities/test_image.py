"""Images: decoding, colour policy, sizing, and the tensors or features each encoder reads."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import ExifTags, Image, ImageCms

from helpers import manifest_of, settings, typed, write_image
from multimodal_fusion.contract.quarantine import InputLimits
from multimodal_fusion.modalities.image import (
    ImageFeatures,
    ImagePreprocessing,
    check_image_file,
    encode_images,
    extract_image_tensors,
    image_features,
    load_efficientnet_lite0,
)
from multimodal_fusion.serving.inference import recipe_features, recipe_of


def tensors_of(manifest: pd.DataFrame, **preprocessing) -> dict:
    """The preprocessing step, in this process, these settings changed from the project's."""
    return extract_image_tensors(
        manifest, typed(ImagePreprocessing, "image.preprocessing", **preprocessing), 1)


def images_for(manifest: pd.DataFrame, size: int, encoder: str = "small_cnn", **options) -> dict:
    """Both image steps."""
    if "augment" in options:
        options["augment"] = {**settings("image.features")["augment"], **options["augment"]}
    return image_features(tensors_of(manifest, size=size),
                          typed(ImageFeatures, "image.features", encoder=encoder, **options))


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "CMYK", "P"])
def test_any_colour_mode_becomes_a_normalised_rgb_tensor(tmp_path, mode):
    suffix = "jpg" if mode == "CMYK" else "png"
    path = write_image(tmp_path / f"a.{suffix}", mode=mode, size=(20, 12))
    table = images_for(manifest_of("image", [path, ""]), size=16, encoder="resnet18")
    assert table["values"].shape == (2, 3, 16, 16)
    assert str(table["encoder"]) == "resnet18"
    assert table["present"].tolist() == [True, False]
    assert np.isfinite(table["values"]).all()
    assert -1.0 <= table["values"][0].min() < table["values"][0].max() <= 1.0
    assert not table["values"][1].any()
    assert table["sample_id"].tolist() == ["s0", "s1"]


@pytest.mark.parametrize(("wide", "suffix"), [
    (lambda ramp: ramp.astype(np.uint16) * 257, "png"),  # a 16-bit scan: Pillow's I;16
    (lambda ramp: ramp.astype(np.int32) * 257, "tif"),  # the same as 32-bit integers: I
    (lambda ramp: ramp.astype(np.float32) / 255, "tif"),  # floats from 0 to 1: F
])
def test_grey_wider_than_8_bits_is_scaled_not_clipped(tmp_path, wide, suffix):
    """Pillow alone clips such pixels to 0-255: a 16-bit scan would turn white."""
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(ramp).save(tmp_path / "eight.png")
    Image.fromarray(wide(ramp)).save(tmp_path / f"wide.{suffix}")
    manifest = manifest_of("image", [str(tmp_path / "eight.png"), str(tmp_path / f"wide.{suffix}")])
    values = tensors_of(manifest, size=16)["values"]
    np.testing.assert_array_equal(values[1], values[0])
    assert values[1].min() == -1.0 and values[1].max() == 1.0


@pytest.mark.parametrize("suffix", ["heic", "avif"])
def test_phone_photo_formats_are_read_like_any_other(tmp_path, suffix):
    """HEIC is what an iPhone takes photos in; Pillow reads it only through pillow-heif."""
    gradient = np.linspace(0, 255, 48 * 32 * 3).reshape(32, 48, 3).astype(np.uint8)
    Image.fromarray(gradient).save(tmp_path / "lossless.png")
    Image.fromarray(gradient).save(tmp_path / f"photo.{suffix}", quality=95)
    check_image_file(str(tmp_path / f"photo.{suffix}"), InputLimits(**settings(
        "data_preparation.limits")))
    values = tensors_of(manifest_of("image", [str(tmp_path / "lossless.png"),
                                              str(tmp_path / f"photo.{suffix}")]), size=16)
    assert values["present"].tolist() == [True, True]
    assert np.abs(values["values"][1] - values["values"][0]).mean() < 0.05


def test_a_corrupt_image_costs_its_sample_the_image_and_is_named(tmp_path, caplog):
    good = write_image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    table = tensors_of(manifest_of("image", [good, str(bad)]), size=8)
    assert table["present"].tolist() == [True, False] and table["failed"].tolist() == [1]
    assert "manifest.csv row 2 (sample_id 's1')" in caplog.text and str(bad) in caplog.text
    assert images_for(manifest_of("image", [good, str(bad)]), size=8)["failed"].tolist() == [1]


def test_validation_refuses_float_pixels_that_are_not_finite(tmp_path):
    pixels = np.ones((4, 4), dtype=np.float32)
    pixels[1, 2] = np.nan
    path = tmp_path / "nan.tiff"
    Image.fromarray(pixels, mode="F").save(path)
    with pytest.raises(ValueError, match="1 of its pixels are not finite"):
        check_image_file(str(path), typed(InputLimits, "data_preparation.limits"))


def test_an_unknown_image_encoder_lists_the_choices():
    with pytest.raises(ValueError, match="unknown image encoder 'vgg'.*small_cnn, resnet18"):
        images_for(manifest_of("image", []), size=8, encoder="vgg")


def test_transparent_areas_are_laid_over_white(tmp_path):
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    table = tensors_of(manifest_of("image", [str(tmp_path / "clear.png")]), size=4)
    np.testing.assert_allclose(table["values"][0], 1.0)


def test_augmentation_settings_travel_to_the_model(tmp_path):
    path = write_image(tmp_path / "a.png")
    table = images_for(manifest_of("image", [path]), size=8, augment={"rotation": 5})
    assert json.loads(str(table["encoder_options"])) == {"augment": {
        "rotation": 5, "crop_scale": 1.0, "horizontal_flip": False, "colour_jitter": 0.0}}
    with pytest.raises(ValueError, match=r"image.features.augment: unknown key 'rotate'.*rotation"):
        images_for(manifest_of("image", [path]), size=8, augment={"rotate": 5})
    with pytest.raises(ValueError, match="crop_scale in"):
        images_for(manifest_of("image", [path]), size=8, augment={"crop_scale": 1.5})


def test_efficientnet_lite0_gives_frozen_deterministic_pretrained_features(tmp_path):
    paths = [write_image(tmp_path / "a.png"), "", write_image(tmp_path / "b.png", mode="L")]
    manifest = manifest_of("image", paths)
    table = images_for(manifest, size=32, encoder="efficientnet_lite0")
    assert table["values"].shape == (3, 1280)
    assert table["present"].tolist() == [True, False, True]
    assert str(table["encoder"]) == "mlp"
    assert np.isfinite(table["values"]).all() and table["values"][0].any()
    assert not table["values"][1].any()
    again = images_for(manifest, size=32, encoder="efficientnet_lite0")
    np.testing.assert_array_equal(table["values"], again["values"])


def test_cnn_and_pretrained_features_travel_in_one_vector_per_image(tmp_path):
    paths = [write_image(tmp_path / "a.png", size=(40, 40)), ""]
    manifest = manifest_of("image", paths)
    table = images_for(manifest, size=64, encoder="small_cnn+efficientnet_lite0", cnn_size=16)
    pixels = 3 * 16 * 16
    assert table["values"].shape == (2, pixels + 1280)
    assert str(table["encoder"]) == "small_cnn+mlp"
    assert json.loads(str(table["encoder_options"])) == {
        "image_shape": [3, 16, 16], "pretrained_parts": {"head": [0, 1280]}}
    alone = images_for(manifest, size=64, encoder="efficientnet_lite0")
    np.testing.assert_allclose(table["values"][:, pixels:], alone["values"], rtol=1e-5)
    assert not table["values"][1].any()
    with pytest.raises(ValueError, match="augment applies to the encoders that train on pixels"):
        images_for(manifest, size=64, encoder="small_cnn+efficientnet_lite0",
                   augment={"rotation": 5})


def test_efficientnet_lite0_gives_its_pooled_head_its_grid_or_both(tmp_path):
    manifest = manifest_of("image", [write_image(tmp_path / "a.png", size=(40, 40)), ""])
    tensors = tensors_of(manifest, size=64)
    tables = {kind: image_features(tensors, typed(
        ImageFeatures, "image.features", encoder="efficientnet_lite0", pretrained_features=kind))
        for kind in ("head", "grid", "head+grid")}
    head, grid, both = (tables[kind]["values"] for kind in ("head", "grid", "head+grid"))
    assert head.shape == (2, 1280) and grid.shape == (2, 192 * 3 * 3)
    np.testing.assert_array_equal(both, np.concatenate([head, grid], axis=1))
    assert json.loads(str(tables["head+grid"]["encoder_options"])) == {
        "pretrained_parts": {"head": [0, 1280], "grid": [1280, 1280 + 1728]}}
    with torch.no_grad():
        pooled = load_efficientnet_lite0().extract_features(
            torch.from_numpy(tensors["values"][:1])).mean(dim=(2, 3)).numpy()
    np.testing.assert_array_equal(head[:1], pooled, err_msg="the head is what models had")
    assert grid[0].any() and not grid[1].any()
    hybrid = image_features(tensors, typed(
        ImageFeatures, "image.features", encoder="small_cnn+efficientnet_lite0", cnn_size=16,
        pretrained_features="grid"))
    np.testing.assert_allclose(hybrid["values"][:, 3 * 16 * 16:], grid, rtol=1e-5)
    with pytest.raises(ValueError, match="pretrained_features 'top'; choose one of head, grid"):
        image_features(tensors, typed(ImageFeatures, "image.features",
                                      encoder="efficientnet_lite0", pretrained_features="top"))


# How a phone stores the pixels of a photo shown upright, by the Orientation tag it writes.
STORED_SIDEWAYS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
                   8: Image.Transpose.ROTATE_270}


def write_tagged(upright_path: str, path, orientation: int) -> str:
    """The upright image's pixels stored as a camera would with that Orientation tag."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    with Image.open(upright_path) as upright:
        upright.transpose(STORED_SIDEWAYS[orientation]).save(path, exif=exif.tobytes())
    return str(path)


@pytest.mark.parametrize("orientation", sorted(STORED_SIDEWAYS))
def test_a_photo_is_turned_upright_as_its_exif_tag_says(tmp_path, orientation):
    """A portrait photo from a phone is stored sideways; a viewer turns it, and so must we,
    or training and prediction see a rotated image."""
    upright = write_image(tmp_path / "upright.png", size=(20, 12))
    tagged = write_tagged(upright, tmp_path / "tagged.png", orientation)
    manifest = manifest_of("image", [upright, tagged])
    shown = tensors_of(manifest, size=16)["values"]
    np.testing.assert_array_equal(shown[1], shown[0])
    stored = tensors_of(manifest, size=16, orientation="stored")["values"]
    assert not np.array_equal(stored[1], stored[0]), "stored: the pixels as they lie"
    with pytest.raises(ValueError, match="orientation 'up'; choose one of exif, stored"):
        tensors_of(manifest, size=16, orientation="up")


def primaries_swapped_profile() -> bytes:
    """LittleCMS's sRGB profile with its red and green primaries swapped: a pixel stored as
    pure red is, by this profile, pure green. No other RGB profile ships offline."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    tags = {bytes(data[at:at + 4]): (int.from_bytes(data[at + 4:at + 8], "big"),
                                     int.from_bytes(data[at + 8:at + 12], "big"))
            for at in range(132, 132 + 12 * int.from_bytes(data[128:132], "big"), 12)}
    (red, length), (green, _) = tags[b"rXYZ"], tags[b"gXYZ"]
    data[red:red + length], data[green:green + length] = (data[green:green + length],
                                                          data[red:red + length])
    return bytes(data)


def test_colours_are_read_in_srgb_as_the_files_icc_profile_says(tmp_path):
    """A phone's Display P3 photo or an Adobe RGB scan stores numbers that mean other colours
    than sRGB's; a colour-managed viewer converts them, and so must we."""
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    pixels[..., 0] = 255
    path = str(tmp_path / "red.png")
    Image.fromarray(pixels).save(path, icc_profile=primaries_swapped_profile())
    manifest = manifest_of("image", [path])
    shown = tensors_of(manifest, size=8)["values"][0]
    np.testing.assert_allclose(shown.mean(axis=(1, 2)), [-1, 1, -1], atol=0.02)
    stored = tensors_of(manifest, size=8, colour="stored")["values"][0]
    np.testing.assert_array_equal(stored.mean(axis=(1, 2)), [1, -1, -1])
    with pytest.raises(ValueError, match="colour 'p3'; choose one of srgb, stored"):
        tensors_of(manifest, size=8, colour="p3")


def test_images_whose_icc_profile_is_damaged_keep_their_colours_with_one_warning(tmp_path):
    """A camera that writes a damaged profile writes it into every photo: one warning."""
    plain = write_image(tmp_path / "plain.png")
    damaged = [str(tmp_path / f"damaged-{i}.png") for i in range(2)]
    with Image.open(plain) as image:
        for path in damaged:
            image.save(path, icc_profile=f"not a profile {tmp_path}".encode())
    manifest = manifest_of("image", [plain, *damaged])
    with pytest.warns(UserWarning) as warned:
        values = tensors_of(manifest, size=8)["values"]
    assert [str(w.message).split(":")[0] for w in warned] == [damaged[0]]
    assert "its ICC colour profile cannot be used" in str(warned[0].message)
    np.testing.assert_array_equal(values[1], values[0])
    np.testing.assert_array_equal(values[2], values[0])


def write_photo(path, size: tuple[int, int] = (1600, 1200)) -> str:
    """A smooth JPEG much larger than the tensors made of it, as a camera's photos are."""
    y, x = np.mgrid[0:size[1], 0:size[0]]
    pixels = np.stack([(np.sin(x / 90) + 1) * 120, (np.cos(y / 70) + 1) * 120,
                       (x + y) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return str(path)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_with_the_same_look(tmp_path):
    manifest = manifest_of("image", [write_photo(tmp_path / "photo.jpg")])
    reduced = tensors_of(manifest, size=32)["values"]
    full = tensors_of(manifest, size=32, decode="full")["values"]
    assert not np.array_equal(reduced, full), "decoded at 1/8 of its side, not every pixel"
    assert np.abs(reduced - full).mean() < 0.005  # about half a grey level in [-1, 1]
    with pytest.raises(ValueError, match="decode 'fast'; choose one of reduced, full"):
        tensors_of(manifest, size=32, decode="fast")


def test_a_jpeg_cut_short_is_refused_though_checked_at_a_reduced_scale(tmp_path):
    path = write_photo(tmp_path / "photo.jpg")
    with open(path, "rb") as whole:
        data = whole.read()
    with open(path, "wb") as cut:
        cut.write(data[:len(data) // 2])
    with pytest.raises(OSError, match="truncated"):
        check_image_file(path, typed(InputLimits, "data_preparation.limits"))


def test_a_recipe_saved_before_a_setting_existed_makes_features_as_then(tmp_path):
    """A model saved before `orientation`, `colour`, `decode` and `pretrained_features`
    existed read images as stored, every pixel, and EfficientNet's head; today's parameters
    must name every key."""
    upright = write_image(tmp_path / "upright.png", size=(20, 12))
    manifest = manifest_of("image", [write_tagged(upright, tmp_path / "tagged.png", 6)])
    preprocessing = settings("image.preprocessing", size=16)
    features = settings("image.features", encoder="efficientnet_lite0")
    saved = {"preprocessing": {k: v for k, v in preprocessing.items()
                               if k not in ("orientation", "colour", "decode")},
             "features": {k: v for k, v in features.items() if k != "pretrained_features"}}
    recipe = recipe_of({"features": {"image": saved}}, "a model")["image"]
    assert recipe["preprocessing"] == preprocessing | {
        "orientation": "stored", "colour": "stored", "decode": "full"}
    assert recipe["features"] == features | {"pretrained_features": "head"}
    extraction = {"cache": None, "workers": 1}
    then = recipe_features(manifest, {"image": recipe | {"features": settings(
        "image.features", encoder="pixels")}}, extraction, 0)["image"]["values"]
    np.testing.assert_array_equal(
        then, tensors_of(manifest, size=16, orientation="stored")["values"])
    with pytest.raises(ValueError, match="missing key 'pretrained_features'"):
        encode_images(tensors_of(manifest, size=16) | {"key": np.array("k")},
                      saved["features"], extraction)


def test_image_weights_are_checked_before_training(tmp_path):
    manifest = manifest_of("image", [write_image(tmp_path / "a.png")])
    with pytest.raises(ValueError, match="apply to the resnet18 encoder, not small_cnn"):
        images_for(manifest, size=8, weights=str(tmp_path / "w.pth"))
    with pytest.raises(ValueError, match="w.pth does not exist"):
        images_for(manifest, size=8, encoder="resnet18", weights=str(tmp_path / "w.pth"))


def test_crop_and_pad_fits_keep_proportions_where_squash_stretches(tmp_path):
    wide = Image.new("RGB", (40, 20), (255, 255, 255))
    wide.paste((0, 0, 0), (10, 0, 30, 20))  # a black square in the middle of a white band
    wide.save(tmp_path / "wide.png")
    manifest = manifest_of("image", [str(tmp_path / "wide.png")])
    cropped = tensors_of(manifest, size=8, fit="crop")["values"][0]
    squashed = tensors_of(manifest, size=8, fit="squash")["values"][0]
    padded = tensors_of(manifest, size=8, fit="pad")["values"][0]
    assert cropped.max() < -0.9  # only the black square is left
    assert squashed.max() > 0.9  # the white sides are squeezed in
    # the whole band on a white square: white all round, the black square still square
    assert padded[:, 3:5, 3:5].max() < -0.99 and padded[:, [0, 7]].min() > 0.99
    np.testing.assert_allclose(padded, padded.transpose(0, 2, 1), atol=1e-6)
    with pytest.raises(ValueError, match="unknown image.preprocessing.fit 'fill'; choose one "
                                         "of squash, crop, pad"):
        tensors_of(manifest, size=8, fit="fill")
