import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from PIL import Image

from conftest import write_image, write_tone
from multimodal_fusion.modalities import ModalityFileError
from multimodal_fusion.modalities.audio import (
    AudioSettings,
    extract_audio_features,
    mfcc_width,
    spectral_gate,
)
from multimodal_fusion.modalities.image import augment_batch, augmentation, extract_image_tensors
from multimodal_fusion.modalities.text import TextSettings, fit_text_features, text_features


def manifest_of(column: str, cells: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(cells))], column: cells})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "/data/manifest.csv"
    return frame


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "CMYK", "P"])
def test_any_colour_mode_becomes_a_normalised_rgb_tensor(tmp_path, mode):
    suffix = "jpg" if mode == "CMYK" else "png"
    path = write_image(tmp_path / f"a.{suffix}", mode=mode, size=(20, 12))
    table = extract_image_tensors(manifest_of("image", [path, ""]), size=16, encoder="resnet18")
    assert table["values"].shape == (2, 3, 16, 16)
    assert str(table["encoder"]) == "resnet18"
    assert table["present"].tolist() == [True, False]
    assert np.isfinite(table["values"]).all()
    assert -1.0 <= table["values"][0].min() < table["values"][0].max() <= 1.0
    assert not table["values"][1].any()
    assert table["sample_id"].tolist() == ["s0", "s1"]


def test_a_corrupt_image_names_its_row_and_file(tmp_path):
    good = write_image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ModalityFileError) as error:
        extract_image_tensors(manifest_of("image", [good, str(bad)]), size=8)
    assert "manifest.csv row 2 (sample_id 's1')" in str(error.value)
    assert str(bad) in str(error.value)


def test_tfidf_vocabulary_comes_from_training_texts_only():
    state = fit_text_features(["seven", "sieben"], TextSettings(min_df=1, ngram_min=3, ngram_max=3))
    assert "sev" in state["vocabulary"]
    assert "eig" not in state["vocabulary"]
    table = text_features(manifest_of("text", ["Seven!", "", "eight"]), state)
    assert table["values"].shape == (3, len(state["idf"]))
    assert table["present"].tolist() == [True, False, True]
    assert np.isfinite(table["values"]).all()
    assert table["values"][0].any()
    assert not table["values"][1].any()


def test_text_is_unicode_normalised_before_vectorising():
    state = fit_text_features(["número"], TextSettings(min_df=1))
    composed = text_features(manifest_of("text", ["NÚMERO", "nu\u0301mero"]), state)
    np.testing.assert_allclose(composed["values"][0], composed["values"][1])


def test_mfcc_vector_has_fixed_length_whatever_the_clip(tmp_path):
    paths = [
        write_tone(tmp_path / "short.wav", seconds=0.05),
        write_tone(tmp_path / "stereo44k.wav", sample_rate=44_100, channels=2, seconds=1.0),
        "",
        write_tone(tmp_path / "long.flac", seconds=3.0, frequency=880.0),
    ]
    settings = AudioSettings(n_mfcc=13, segments=3)
    table = extract_audio_features(manifest_of("audio", paths), settings)
    assert table["values"].shape == (4, mfcc_width(settings)) == (4, 3 * 13 * 5)
    assert table["present"].tolist() == [True, True, False, True]
    assert np.isfinite(table["values"]).all()
    assert not np.allclose(table["values"][1], table["values"][3])


def test_an_empty_audio_file_names_its_row(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16_000)
    with pytest.raises(ModalityFileError, match=r"row 1 \(sample_id 's0'\).*empty\.wav"):
        extract_audio_features(manifest_of("audio", [str(empty)]), AudioSettings())


def test_an_unknown_image_encoder_lists_the_choices():
    with pytest.raises(ValueError, match="unknown image encoder 'vgg'.*small_cnn, resnet18"):
        extract_image_tensors(manifest_of("image", []), size=8, encoder="vgg")


def test_logmel_is_a_fixed_size_image_for_a_cnn(tmp_path):
    paths = [write_tone(tmp_path / "short.wav", seconds=0.2),
             write_tone(tmp_path / "long.wav", seconds=2.5, frequency=900.0)]
    settings = AudioSettings(extractor="logmel", n_mels=32, clip_seconds=1.0)
    table = extract_audio_features(manifest_of("audio", paths), settings)
    assert table["values"].shape == (2, 1, 32, 63)
    assert str(table["encoder"]) == "small_cnn"
    assert np.isfinite(table["values"]).all()
    assert -1.01 <= table["values"].min() and table["values"].max() <= 1.01


def test_loudness_normalisation_makes_quiet_and_loud_clips_alike(tmp_path):
    loud = write_tone(tmp_path / "loud.wav")
    samples, rate = sf.read(loud)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, samples * 0.05, rate, subtype="FLOAT")  # float: no extra quantisation noise
    quiet = str(quiet)
    manifest = manifest_of("audio", [quiet, loud])
    plain = extract_audio_features(manifest, AudioSettings(n_mfcc=13))["values"]
    levelled = extract_audio_features(
        manifest, AudioSettings(n_mfcc=13, normalise_loudness=True, pre_emphasis=0.97))["values"]
    assert not np.allclose(plain[0], plain[1], atol=1e-2)
    np.testing.assert_allclose(levelled[0], levelled[1], atol=1e-2)


def test_an_unknown_audio_extractor_lists_the_choices():
    with pytest.raises(ValueError, match="unknown audio extractor 'plp'.*mfcc, logmel"):
        extract_audio_features(manifest_of("audio", []), AudioSettings(extractor="plp"))


def test_tokens_are_word_ids_from_the_training_vocabulary():
    state = fit_text_features(["the digit is seven", "the digit is two"],
                              TextSettings(extractor="tokens", min_df=1, max_tokens=5))
    table = text_features(manifest_of("text", ["The DIGIT is nine", "", "seven " * 9]), state)
    assert table["values"].dtype == np.int64 and table["values"].shape == (3, 5)
    vocabulary = state["vocabulary"]
    assert table["values"][0].tolist() == [vocabulary["the"], vocabulary["digit"],
                                           vocabulary["is"], 1, 0]
    assert table["values"][1].tolist() == [0] * 5
    assert table["values"][2].tolist() == [vocabulary["seven"]] * 5
    assert str(table["encoder"]) == "embedding_bag"
    assert json.loads(str(table["encoder_options"])) == {"vocab_size": len(vocabulary) + 2}


def test_transparent_areas_are_laid_over_white(tmp_path):
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    table = extract_image_tensors(manifest_of("image", [str(tmp_path / "clear.png")]), size=4)
    np.testing.assert_allclose(table["values"][0], 1.0)


def test_augmentation_draws_anew_per_image_and_keeps_shape_and_range():
    assert augmentation({}, 16) is None
    assert augmentation({"rotation": 0, "crop_scale": 1.0, "colour_jitter": 0}, 16) is None
    transform = augmentation({"rotation": 20, "crop_scale": 0.7, "horizontal_flip": True,
                              "colour_jitter": 0.3}, 16)
    images = torch.rand(6, 3, 16, 16) * 2 - 1
    torch.manual_seed(0)
    first = augment_batch(images, transform)
    torch.manual_seed(0)
    assert torch.equal(first, augment_batch(images, transform))
    assert first.shape == images.shape and first.min() >= -1.0 and first.max() <= 1.0
    twins = augment_batch(images[:1].repeat(6, 1, 1, 1), transform)
    assert not torch.allclose(twins[0], twins[1])


def test_augmentation_settings_travel_to_the_model(tmp_path):
    path = write_image(tmp_path / "a.png")
    table = extract_image_tensors(manifest_of("image", [path]), size=8,
                                  augment={"rotation": 5})
    assert json.loads(str(table["encoder_options"])) == {"augment": {"rotation": 5}}


def test_efficientnet_lite0_gives_frozen_deterministic_pretrained_features(tmp_path):
    paths = [write_image(tmp_path / "a.png"), "", write_image(tmp_path / "b.png", mode="L")]
    manifest = manifest_of("image", paths)
    table = extract_image_tensors(manifest, size=32, encoder="efficientnet_lite0")
    assert table["values"].shape == (3, 1280)
    assert table["present"].tolist() == [True, False, True]
    assert str(table["encoder"]) == "mlp"
    assert np.isfinite(table["values"]).all() and table["values"][0].any()
    assert not table["values"][1].any()
    again = extract_image_tensors(manifest, size=32, encoder="efficientnet_lite0")
    np.testing.assert_array_equal(table["values"], again["values"])


def test_a_corrupt_file_in_a_pretrained_batch_still_names_its_row(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    manifest = manifest_of("image", [write_image(tmp_path / "a.png"), str(bad)])
    with pytest.raises(ModalityFileError, match=r"row 2 \(sample_id 's1'\).*bad\.png"):
        extract_image_tensors(manifest, size=32, encoder="efficientnet_lite0")


def test_image_weights_are_checked_before_extraction(tmp_path):
    manifest = manifest_of("image", [write_image(tmp_path / "a.png")])
    with pytest.raises(ValueError, match="apply to the resnet18 encoder, not small_cnn"):
        extract_image_tensors(manifest, size=8, weights=str(tmp_path / "w.pth"))
    with pytest.raises(ValueError, match="w.pth does not exist"):
        extract_image_tensors(manifest, size=8, encoder="resnet18",
                              weights=str(tmp_path / "w.pth"))


def test_spectral_gate_removes_background_hiss_and_keeps_the_tone():
    rate = 16_000
    t = np.arange(rate) / rate
    tone = np.where((t > 0.4) & (t < 0.6), 0.5 * np.sin(2 * np.pi * 440 * t), 0.0)
    noisy = (tone + np.random.default_rng(0).normal(0, 0.01, rate)).astype(np.float32)
    cleaned = spectral_gate(noisy, strength=3.0)
    pause = slice(0, int(0.3 * rate))
    assert np.std(cleaned[pause]) < 0.3 * np.std(noisy[pause])
    speech = slice(int(0.45 * rate), int(0.55 * rate))
    assert np.std(cleaned[speech]) > 0.9 * np.std(tone[speech])
