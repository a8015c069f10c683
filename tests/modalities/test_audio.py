"""Audio: cleaning clips, their features, and memory that does not grow with the clips."""

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from helpers import audio_features, manifest_of, settings, typed, write_aac, write_tone
from multimodal_fusion.contract.quarantine import InputLimits
from multimodal_fusion.modalities.audio import (
    AudioFeatures,
    AudioPreprocessing,
    check_audio_file,
    clip_features,
    levinson,
    plp_cepstra,
    pooled_width,
    preprocess_clips,
    spectral_gate,
)


def cleaning(**changes) -> AudioPreprocessing:
    """The project's audio cleaning settings, these changed."""
    return typed(AudioPreprocessing, "audio.preprocessing", **changes)


def audio_settings(**changes) -> AudioFeatures:
    """The project's audio feature settings for 16 kHz clips, these changed."""
    return typed(AudioFeatures, "audio.features", sample_rate=16000, **changes)


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
    assert table["values"].shape == (4, pooled_width(audio_settings(**settings))) == (4, 3 * 13 * 5)
    assert table["present"].tolist() == [True, True, False, True]
    assert np.isfinite(table["values"]).all()
    assert not np.allclose(table["values"][1], table["values"][3])


def test_an_audio_file_that_fails_in_extraction_costs_its_sample_the_audio(tmp_path, caplog):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16_000)
    good = write_tone(tmp_path / "good.wav")
    table = audio_features(manifest_of("audio", [str(empty), good]), tmp_path)
    assert table["present"].tolist() == [False, True]
    assert table["failed"].tolist() == [0] and "no samples" in table["failure"][0]
    assert "row 1 (sample_id 's0')" in caplog.text and str(empty) in caplog.text


def test_a_voice_memo_in_aac_is_read_as_its_wav_would_be(tmp_path):
    """libsndfile cannot read AAC (.m4a, what phones record voice memos in); FFmpeg can."""
    wav = write_tone(tmp_path / "memo.wav", sample_rate=16_000, seconds=1.0)
    memo = write_aac(tmp_path / "memo.m4a", sf.read(wav, dtype="float32")[0], 16_000)
    check_audio_file(memo, typed(InputLimits, "data_preparation.limits"))
    with pytest.raises(ValueError, match="1.3 s long, over the budget of 1 s"):
        check_audio_file(memo, typed(InputLimits, "data_preparation.limits",
                                     max_audio_seconds=1.0))
    table = audio_features(manifest_of("audio", [wav, memo]), tmp_path)
    assert table["present"].tolist() == [True, True]
    wav_values, memo_values = table["values"]
    assert np.linalg.norm(memo_values - wav_values) < 0.01 * np.linalg.norm(wav_values)


@pytest.mark.parametrize("problem", ["nan", "empty"])
def test_validation_refuses_audio_that_extraction_cannot_use(problem, tmp_path):
    path = tmp_path / "clip.wav"
    samples = np.sin(np.linspace(0, 400, 16_000)).astype(np.float32)
    if problem == "nan":
        samples[100:110] = np.nan
    sf.write(path, samples if problem == "nan" else samples[:0], 16_000, subtype="FLOAT")
    limits = typed(InputLimits, "data_preparation.limits", min_audio_seconds=0.0)
    with pytest.raises(ValueError, match="10 of its 16,000 samples are not finite"
                       if problem == "nan" else "holds no samples"):
        check_audio_file(str(path), limits)


def test_loudness_normalisation_makes_quiet_and_loud_clips_alike(tmp_path):
    loud = write_tone(tmp_path / "loud.wav")
    samples, rate = sf.read(loud)
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, samples * 0.05, rate, subtype="FLOAT")  # float: no extra quantisation noise
    quiet = str(quiet)
    manifest = manifest_of("audio", [quiet, loud])
    plain = audio_features(manifest, tmp_path, n_mfcc=13)["values"]
    levelling = cleaning(normalise_loudness=True, pre_emphasis=0.97)
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
    settings = audio_settings(extractor="plp")
    low_cepstra = plp_cepstra(low.astype(np.float32), settings).mean(axis=1)
    quiet_cepstra = plp_cepstra((0.1 * low).astype(np.float32), settings).mean(axis=1)
    high_cepstra = plp_cepstra(high.astype(np.float32), settings).mean(axis=1)
    assert low_cepstra.shape == (12,)
    np.testing.assert_allclose(low_cepstra, quiet_cepstra, atol=1e-3)
    assert np.abs(low_cepstra - high_cepstra).max() > 0.5


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


def test_audio_memory_does_not_grow_with_the_number_of_clips(tmp_path):
    paths = [write_tone(tmp_path / f"{i}.wav", seconds=2.0, frequency=200.0 + 20 * i)
             for i in range(40)]
    audio_features(manifest_of("audio", paths[:2]), tmp_path)  # first-call set-up, untraced

    clean, features = cleaning(), settings("audio.features", n_mfcc=13)

    def peak_bytes(clips: int) -> int:
        manifest = manifest_of("audio", paths[:clips])
        tracemalloc.start()
        store = preprocess_clips(manifest, clean, tmp_path / f"n{clips}", "k")
        clip_features(manifest, store, features)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    few, many = peak_bytes(5), peak_bytes(40)
    all_audio_of_many = 40 * 2 * 16_000 * 4
    assert many < 1.3 * few
    assert many < all_audio_of_many / 2


def test_logmel_is_a_fixed_size_image_for_a_cnn(tmp_path):
    paths = [write_tone(tmp_path / "short.wav", seconds=0.2),
             write_tone(tmp_path / "long.wav", seconds=2.5, frequency=900.0)]
    table = audio_features(manifest_of("audio", paths), tmp_path, extractor="logmel", n_mels=32,
                           clip_seconds=1.0)
    assert table["values"].shape == (2, 1, 32, 63)
    assert str(table["encoder"]) == "small_cnn"
    assert np.isfinite(table["values"]).all()
    assert -1.01 <= table["values"].min() and table["values"].max() <= 1.01
