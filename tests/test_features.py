import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from conftest import write_image, write_tone
from multimodal_fusion.modalities import common
from multimodal_fusion.modalities.audio import (
    AudioFeatures,
    AudioPreprocessing,
    clip_features,
    levinson,
    plp_cepstra,
    pooled_width,
    preprocess_clips,
    spectral_gate,
)
from multimodal_fusion.modalities.common import ModalityFileError
from multimodal_fusion.modalities.image import extract_image_tensors, image_features
from multimodal_fusion.modalities.text import (
    TextPreprocessing,
    TextSettings,
    clean_texts,
    fit_text_features,
    text_features,
)


def manifest_of(column: str, cells: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(cells))], column: cells})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "/data/manifest.csv"
    return frame


def audio_features(manifest: pd.DataFrame, folder, cleaning: AudioPreprocessing | None = None,
                   **features) -> dict:
    """Both audio steps, the clips stored in a folder of their own."""
    clips = folder / f"clips-{len(list(folder.iterdir()))}"
    store = preprocess_clips(manifest, cleaning or AudioPreprocessing(), clips, "key")
    return clip_features(manifest, store, features)


def images_for(manifest: pd.DataFrame, size: int, encoder: str = "small_cnn", **options) -> dict:
    """Both image steps."""
    return image_features(extract_image_tensors(manifest, size), encoder, **options)


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


def test_a_corrupt_image_names_its_row_and_file(tmp_path):
    good = write_image(tmp_path / "good.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ModalityFileError) as error:
        extract_image_tensors(manifest_of("image", [good, str(bad)]), size=8)
    assert "manifest.csv row 2 (sample_id 's1')" in str(error.value)
    assert str(bad) in str(error.value)


def test_tfidf_vocabulary_comes_from_training_texts_only():
    settings = TextSettings(extractor="tfidf", analyzers=["char"], min_df=1, ngram_min=3,
                            ngram_max=3)
    state = fit_text_features(["seven", "sieben"], settings)
    fitted = state["tfidf"]["char"]
    assert "sev" in fitted["vocabulary"]
    assert "eig" not in fitted["vocabulary"]
    table = text_features(manifest_of("text", ["Seven!", "", "eight"]), state)
    assert table["values"].shape == (3, len(fitted["idf"]))
    assert table["present"].tolist() == [True, False, True]
    assert np.isfinite(table["values"]).all()
    assert table["values"][0].any()
    assert not table["values"][1].any()


def test_text_is_unicode_normalised_and_case_folded_when_cleaned():
    assert clean_texts(["NÚMERO", "nu\u0301mero", " Straße  zwei "], TextPreprocessing()) == [
        "número", "número", "strasse zwei"]


@pytest.mark.parametrize("extractor", ["mfcc", "plp"])
def test_pooled_cepstra_have_fixed_length_whatever_the_clip(tmp_path, extractor):
    paths = [
        write_tone(tmp_path / "short.wav", seconds=0.05),
        write_tone(tmp_path / "stereo44k.wav", sample_rate=44_100, channels=2, seconds=1.0),
        "",
        write_tone(tmp_path / "long.flac", seconds=3.0, frequency=880.0),
    ]
    settings = {"extractor": extractor, "n_mfcc": 13, "plp_order": 13, "segments": 3}
    table = audio_features(manifest_of("audio", paths), tmp_path, **settings)
    assert table["values"].shape == (4, pooled_width(AudioFeatures(**settings))) == (4, 3 * 13 * 5)
    assert table["present"].tolist() == [True, True, False, True]
    assert np.isfinite(table["values"]).all()
    assert not np.allclose(table["values"][1], table["values"][3])


def test_an_empty_audio_file_names_its_row(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16_000)
    with pytest.raises(ModalityFileError, match=r"row 1 \(sample_id 's0'\).*empty\.wav"):
        audio_features(manifest_of("audio", [str(empty)]), tmp_path)


def test_an_unknown_image_encoder_lists_the_choices():
    with pytest.raises(ValueError, match="unknown image encoder 'vgg'.*small_cnn, resnet18"):
        images_for(manifest_of("image", []), size=8, encoder="vgg")


def test_logmel_is_a_fixed_size_image_for_a_cnn(tmp_path):
    paths = [write_tone(tmp_path / "short.wav", seconds=0.2),
             write_tone(tmp_path / "long.wav", seconds=2.5, frequency=900.0)]
    table = audio_features(manifest_of("audio", paths), tmp_path, extractor="logmel", n_mels=32,
                           clip_seconds=1.0)
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
    plain = audio_features(manifest, tmp_path, n_mfcc=13)["values"]
    levelling = AudioPreprocessing(normalise_loudness=True, pre_emphasis=0.97)
    levelled = audio_features(manifest, tmp_path, levelling, n_mfcc=13)["values"]
    assert not np.allclose(plain[0], plain[1], atol=1e-2)
    np.testing.assert_allclose(levelled[0], levelled[1], atol=1e-2)


def test_an_unknown_audio_extractor_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown audio extractor 'rasta'.*mfcc, plp, logmel"):
        audio_features(manifest_of("audio", []), tmp_path, extractor="rasta")


def test_levinson_solves_the_normal_equations_of_linear_prediction():
    rng = np.random.default_rng(0)
    signals = rng.standard_normal((3, 200))
    autocorrelation = np.array([np.correlate(s, s, "full")[199:206] for s in signals])
    coefficients, _ = levinson(autocorrelation, 6)
    for r, a in zip(autocorrelation, coefficients, strict=True):
        toeplitz = r[np.abs(np.arange(6)[:, None] - np.arange(6)[None, :])]
        np.testing.assert_allclose(toeplitz @ a[1:], -r[1:7], atol=1e-8)


def test_plp_tells_vowel_like_spectra_apart_and_ignores_loudness():
    rate = 16_000
    t = np.arange(rate // 2) / rate
    low = np.sin(2 * np.pi * 300 * t) + 0.5 * np.sin(2 * np.pi * 700 * t)
    high = np.sin(2 * np.pi * 2300 * t) + 0.5 * np.sin(2 * np.pi * 3000 * t)
    settings = AudioFeatures(extractor="plp")
    low_cepstra = plp_cepstra(low.astype(np.float32), settings).mean(axis=1)
    quiet_cepstra = plp_cepstra((0.1 * low).astype(np.float32), settings).mean(axis=1)
    high_cepstra = plp_cepstra(high.astype(np.float32), settings).mean(axis=1)
    assert low_cepstra.shape == (12,)
    np.testing.assert_allclose(low_cepstra, quiet_cepstra, atol=1e-3)
    assert np.abs(low_cepstra - high_cepstra).max() > 0.5


def test_stop_words_and_word_ngrams_reach_tfidf():
    texts = clean_texts(["the digit is seven", "the digit is two"],
                        TextPreprocessing(stop_words="english"))
    state = fit_text_features(texts, TextSettings(extractor="tfidf", analyzers=["char", "word"],
                                                   min_df=1))
    assert "the" not in state["tfidf"]["word"]["vocabulary"]
    assert "digit seven" in state["tfidf"]["word"]["vocabulary"]
    table = text_features(manifest_of("text", ["digit seven", ""]), state)
    width = sum(len(fitted["idf"]) for fitted in state["tfidf"].values())
    assert table["values"].shape == (2, width)
    assert table["values"][0].any() and not table["values"][1].any()


def test_own_stop_words_are_normalised_like_the_text():
    cleaning = TextPreprocessing(stop_words=["The", "IS"])
    assert clean_texts(["The digit, is SEVEN.", ""], cleaning) == ["digit seven", ""]


def test_a_misspelt_text_setting_lists_the_choices():
    with pytest.raises(ValueError, match="unknown text extractor 'bert'.*tfidf, tokens, word2vec"):
        fit_text_features(["a"], TextSettings(extractor="bert"))
    with pytest.raises(ValueError, match="analyzers \\['chars'\\].*char, word"):
        fit_text_features(["a"], TextSettings(analyzers=["chars"]))
    with pytest.raises(ValueError, match="stop_words 'german'"):
        clean_texts(["a"], TextPreprocessing(stop_words="german"))


def test_word2vec_averages_vectors_learnt_from_training_texts_and_repeats_under_a_seed():
    texts = ["the digit seven", "the number seven", "the digit two", "the number two"] * 5
    settings = TextSettings(extractor="word2vec", min_df=1, vector_size=8, epochs=5)
    state = fit_text_features(texts, settings, seed=3)
    assert set(state["word_vectors"]) == {"the", "digit", "number", "seven", "two"}
    manifest = manifest_of("text", ["seven digit", "", "unknown words only"])
    table = text_features(manifest, state)
    assert table["values"].shape == (3, 8) and str(table["encoder"]) == "mlp"
    expected = np.mean([state["word_vectors"]["seven"], state["word_vectors"]["digit"]], axis=0)
    np.testing.assert_allclose(table["values"][0], expected, atol=1e-6)
    assert table["present"].tolist() == [True, False, True]
    assert not table["values"][1].any() and not table["values"][2].any()
    assert fit_text_features(texts, settings, seed=3) == state
    assert fit_text_features(texts, settings, seed=4) != state


def test_minilm_gives_frozen_deterministic_sentence_vectors_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = fit_text_features(["unused"], TextSettings(extractor="minilm"))
    manifest = manifest_of("text", ["the digit seven", "", "the number seven", "a red car"])
    table = text_features(manifest, state)
    values = table["values"]
    assert values.shape == (4, 384) and np.isfinite(values).all()
    np.testing.assert_allclose(np.linalg.norm(values[[0, 2, 3]], axis=1), 1.0, atol=1e-5)
    assert not values[1].any()
    assert values[0] @ values[2] > values[0] @ values[3]
    np.testing.assert_array_equal(text_features(manifest, state)["values"], values)


def test_tokens_are_word_ids_from_the_training_vocabulary():
    state = fit_text_features(["the digit is seven", "the digit is two"],
                              TextSettings(extractor="tokens", min_df=1, max_tokens=5))
    table = text_features(manifest_of("text", ["the digit is nine", "", "seven " * 9]), state)
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
    assert json.loads(str(table["encoder_options"])) == {"image_shape": [3, 16, 16]}
    alone = images_for(manifest, size=64, encoder="efficientnet_lite0")
    np.testing.assert_allclose(table["values"][:, pixels:], alone["values"], rtol=1e-5)
    assert not table["values"][1].any()
    with pytest.raises(ValueError, match="augment applies to the encoders that train on pixels"):
        images_for(manifest, size=64, encoder="small_cnn+efficientnet_lite0",
                   augment={"rotation": 5})


def test_image_weights_are_checked_before_training(tmp_path):
    manifest = manifest_of("image", [write_image(tmp_path / "a.png")])
    with pytest.raises(ValueError, match="apply to the resnet18 encoder, not small_cnn"):
        images_for(manifest, size=8, weights=str(tmp_path / "w.pth"))
    with pytest.raises(ValueError, match="w.pth does not exist"):
        images_for(manifest, size=8, encoder="resnet18", weights=str(tmp_path / "w.pth"))


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


def test_worker_processes_give_the_same_features_and_name_a_bad_file(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "PARALLEL_WORTH_SECONDS", 0.0)
    monkeypatch.setattr(common, "CHUNK_FILES", 2)
    paths = [write_tone(tmp_path / f"{i}.wav", frequency=200.0 + 150 * i) for i in range(5)]
    manifest = manifest_of("audio", [*paths[:2], "", *paths[2:]])
    alone = audio_features(manifest, tmp_path, n_mfcc=13)
    store = preprocess_clips(manifest, AudioPreprocessing(), tmp_path / "parallel", "k", workers=2)
    together = clip_features(manifest, store, {"n_mfcc": 13}, workers=2)
    np.testing.assert_array_equal(together["values"], alone["values"])
    assert together["present"].tolist() == alone["present"].tolist()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    manifest = manifest_of("audio", [*paths, str(broken)])
    with pytest.raises(ModalityFileError, match=r"row 6 \(sample_id 's5'\).*broken\.wav"):
        preprocess_clips(manifest, AudioPreprocessing(), tmp_path / "bad", "k", workers=2)
    assert not list(tmp_path.glob("bad*"))


def test_audio_memory_does_not_grow_with_the_number_of_clips(tmp_path):
    paths = [write_tone(tmp_path / f"{i}.wav", seconds=2.0, frequency=200.0 + 20 * i)
             for i in range(40)]
    audio_features(manifest_of("audio", paths[:2]), tmp_path)  # first-call set-up, untraced

    def peak_bytes(clips: int) -> int:
        manifest = manifest_of("audio", paths[:clips])
        tracemalloc.start()
        store = preprocess_clips(manifest, AudioPreprocessing(), tmp_path / f"n{clips}", "k")
        clip_features(manifest, store, {"n_mfcc": 13})
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    few, many = peak_bytes(5), peak_bytes(40)
    all_audio_of_many = 40 * 2 * 16_000 * 4
    assert many < 1.3 * few
    assert many < all_audio_of_many / 2


def test_crop_fit_keeps_proportions_where_squash_stretches(tmp_path):
    wide = Image.new("RGB", (40, 20), (255, 255, 255))
    wide.paste((0, 0, 0), (10, 0, 30, 20))  # a black square in the middle of a white band
    wide.save(tmp_path / "wide.png")
    manifest = manifest_of("image", [str(tmp_path / "wide.png")])
    cropped = extract_image_tensors(manifest, size=8, fit="crop")["values"][0]
    squashed = extract_image_tensors(manifest, size=8, fit="squash")["values"][0]
    assert cropped.max() < -0.9  # only the black square is left
    assert squashed.max() > 0.9  # the white sides are squeezed in
    with pytest.raises(ValueError, match="unknown image fit 'pad'.*squash, crop"):
        extract_image_tensors(manifest, size=8, fit="pad")


def test_joined_text_extractors_give_their_vectors_side_by_side():
    texts = ["the digit is seven", "the digit is two", "a frog"]
    settings = TextSettings(extractor="tfidf+minilm", analyzers=["char"], min_df=1)
    state = fit_text_features(texts, settings)
    table = text_features(manifest_of("text", ["a frog", ""]), state)
    tfidf_alone = fit_text_features(texts, TextSettings(extractor="tfidf", analyzers=["char"],
                                                        min_df=1))
    width = table["values"].shape[1] - 384
    np.testing.assert_allclose(
        table["values"][0, :width],
        text_features(manifest_of("text", ["a frog"]), tfidf_alone)["values"][0])
    assert np.linalg.norm(table["values"][0, width:]) == pytest.approx(1.0, rel=1e-4)
    assert table["present"].tolist() == [True, False] and not table["values"][1].any()
    with pytest.raises(ValueError, match="join vector extractors with"):
        fit_text_features(texts, TextSettings(extractor="tokens+minilm"))
