"""The feature cache: keys that follow the data, reuse, and damaged state rebuilt with a warning."""

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import settings, truncate, write_image, write_tone
from multimodal_fusion.core import digests
from multimodal_fusion.core.digests import DIGEST_INDEX
from multimodal_fusion.modalities.audio import audio_vectors, preprocess_audio
from multimodal_fusion.modalities.cache import cached_features, fingerprint
from multimodal_fusion.modalities.image import encode_images, preprocess_images

SETTINGS = {"sample_rate": 16000, "n_mfcc": 13, "trim_top_db": 30, "segments": 2}
CLEANING = settings("audio.preprocessing", sample_rate=16000, trim_top_db=30)
FEATURES = settings("audio.features", extractor="mfcc", n_mfcc=13, segments=2)


@pytest.fixture
def manifest(tmp_path) -> pd.DataFrame:
    clips = [write_tone(tmp_path / f"{i}.wav", frequency=300 + 100 * i) for i in range(3)]
    image = write_image(tmp_path / "b.png")
    return pd.DataFrame({"sample_id": ["a", "b", "c"], "audio": [clips[0], "", clips[2]],
                         "image": ["", image, ""]}, index=pd.RangeIndex(1, 4))


def key(manifest, settings=SETTINGS, version="v1", folder=None):
    return fingerprint(manifest, "audio", settings, version, files=True, cache=folder)


def as_a_new_process(monkeypatch) -> list[str]:
    """No digest known in memory, as in the next stage's process; the files it reads."""
    monkeypatch.setattr(digests, "_DIGESTS", {})
    monkeypatch.setattr(digests, "_INDEXED", {})
    reads = []
    read = digests._read_digest
    monkeypatch.setattr(digests, "_read_digest", lambda path: reads.append(path) or read(path))
    return reads


def age(*paths: str) -> None:
    """Modified a minute ago, so the clock's resolution cannot hide a later change."""
    for path in paths:
        os.utime(path, (time.time() - 60, time.time() - 60))


def test_fingerprint_follows_contents_settings_and_version(manifest, tmp_path):
    original = key(manifest)
    assert key(manifest.copy()) == original
    assert key(manifest, {**SETTINGS, "n_mfcc": 20}) != original
    assert key(manifest, version="v2") != original
    assert key(manifest.assign(sample_id=["a", "b", "z"])) != original
    write_tone(tmp_path / "0.wav", frequency=999)
    assert key(manifest) != original


def test_a_later_process_reads_only_the_files_changed_since_an_earlier_one(
        manifest, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    age(*manifest["audio"][manifest["audio"] != ""])
    original = key(manifest)
    assert key(manifest, folder=folder) == original
    assert (folder / DIGEST_INDEX).is_file()
    reads = as_a_new_process(monkeypatch)
    assert key(manifest, folder=folder) == original and reads == []
    write_tone(tmp_path / "0.wav", frequency=999)
    changed = key(manifest, folder=folder)
    assert changed != original and reads == [str(tmp_path / "0.wav")]
    reads = as_a_new_process(monkeypatch)
    assert key(manifest, folder=folder) == changed
    assert reads == [str(tmp_path / "0.wav")], "a file modified just now is not remembered"


def test_an_unusable_digest_index_costs_reading_the_files_not_the_run(
        manifest, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / DIGEST_INDEX).write_bytes(b"not a database" * 100)
    original = key(manifest)
    reads = as_a_new_process(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert key(manifest, folder=folder) == original
    assert len(reads) == 2
    assert f"{folder / DIGEST_INDEX} cannot be used" in caplog.text
    assert "delete the file" in caplog.text


def test_a_cached_table_is_computed_once_and_then_reused(tmp_path, caplog):
    calls = []

    def compute():
        calls.append(1)
        return {"sample_id": np.array(["a"]), "values": np.ones((1, 2), np.float32),
                "present": np.array([True])}

    with caplog.at_level(logging.INFO):
        first = cached_features(tmp_path, "audio", "k1", compute)
        again = cached_features(tmp_path, "audio", "k1", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["values"], again["values"])
    assert "inputs and settings unchanged, reusing" in caplog.text
    cached_features(None, "audio", "k1", compute)
    assert len(calls) == 2


def cached_in(cache: str | None) -> dict:
    """Extraction settings caching in `cache` (None: off), in this process."""
    return {"cache": cache, "workers": 1}


def audio_run(manifest, cache, cleaning=CLEANING, features=FEATURES):
    return audio_vectors(manifest, preprocess_audio(manifest, cleaning, cached_in(cache)),
                         features, cached_in(cache))


def test_changing_one_modality_recomputes_only_that_one(manifest, tmp_path):
    cache = str(tmp_path / "cache")
    audio_run(manifest, cache)
    tensors = preprocess_images(manifest, settings("image.preprocessing", size=8), cached_in(cache))
    audio_run(manifest, cache, features={**FEATURES, "n_mfcc": 20})
    preprocess_images(manifest, settings("image.preprocessing", size=8), cached_in(cache))
    assert len(list((tmp_path / "cache" / "audio").iterdir())) == 2
    assert len(list((tmp_path / "cache" / "image_tensors").iterdir())) == 1
    resnet = settings("image.features", encoder="resnet18")
    encoded = encode_images(tensors, resnet, cached_in(cache))
    assert str(encoded["encoder"]) == "resnet18"


def test_changing_audio_features_reuses_the_cleaned_clips(manifest, tmp_path, caplog):
    cache = str(tmp_path / "cache")
    with caplog.at_level(logging.INFO):
        mfcc = audio_run(manifest, cache)
        plp = audio_run(manifest, cache, features={**FEATURES, "extractor": "plp"})
    assert "clips and settings unchanged, reusing" in caplog.text
    assert len(list((tmp_path / "cache" / "audio_clips").iterdir())) == 1
    assert mfcc["present"].tolist() == plp["present"].tolist() == [True, False, True]
    assert plp["values"].shape == (3, 3 * 12 * 4)
    audio_run(manifest, cache, cleaning={**CLEANING, "pre_emphasis": 0.97})
    assert len(list((tmp_path / "cache" / "audio_clips").iterdir())) == 2


def test_without_a_cache_clips_go_to_a_scratch_folder(manifest):
    clips = preprocess_audio(manifest, CLEANING, cached_in(None))
    assert clips["present"].tolist() == [True, False, True]
    assert "multimodal-fusion-clips-" in str(clips["folder"])
    assert audio_vectors(manifest, clips, FEATURES, cached_in(None))["values"][0].any()


@pytest.fixture
def clips(tmp_path) -> pd.DataFrame:
    paths = [write_tone(tmp_path / f"{i}.wav", frequency=300 + 100 * i) for i in range(3)]
    return pd.DataFrame({"sample_id": ["a", "b", "c"], "audio": paths},
                        index=pd.RangeIndex(1, 4))


def features(manifest: pd.DataFrame, cache: Path) -> dict:
    return audio_run(manifest, str(cache))


def test_a_truncated_feature_table_is_computed_again(clips, tmp_path, caplog):
    expected = features(clips, tmp_path / "cache")
    (table,) = (tmp_path / "cache" / "audio").glob("*.npz")
    truncate(table)
    with caplog.at_level(logging.WARNING):
        again = features(clips, tmp_path / "cache")
    assert f"the cached table {table} cannot be read (BadZipFile" in caplog.text
    np.testing.assert_array_equal(again["values"], expected["values"])
    assert features(clips, tmp_path / "cache")["values"].shape == expected["values"].shape


@pytest.mark.parametrize("damage", ["samples", "index"])
def test_a_damaged_clip_store_is_cleaned_again(clips, tmp_path, caplog, damage):
    expected = features(clips, tmp_path / "cache")
    (store,) = (tmp_path / "cache" / "audio_clips").iterdir()
    truncate(store / ("samples.f32" if damage == "samples" else "index.npz"))
    for table in (tmp_path / "cache" / "audio").glob("*.npz"):
        table.unlink()  # the features must be read from the store again
    with caplog.at_level(logging.WARNING):
        again = features(clips, tmp_path / "cache")
    assert f"the cached clips in {store} are damaged" in caplog.text
    np.testing.assert_array_equal(again["values"], expected["values"])
