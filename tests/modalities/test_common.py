"""Per-file work shared by the modalities: worker processes, and a file that fails named by
its row without stopping the run."""


import numpy as np

from helpers import audio_features, manifest_of, settings, typed, write_tone
from multimodal_fusion.core import parallel
from multimodal_fusion.modalities.audio import (
    AudioPreprocessing,
    clip_features,
    preprocess_clips,
)
from multimodal_fusion.modalities.common import failure_rows

CLEANING = typed(AudioPreprocessing, "audio.preprocessing")


def test_worker_processes_give_the_same_features_and_a_bad_file_costs_only_its_sample(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(parallel, "PARALLEL_WORTH_SECONDS", 0.0)
    monkeypatch.setattr(parallel, "CHUNK_FILES", 2)
    paths = [write_tone(tmp_path / f"{i}.wav", frequency=200.0 + 150 * i) for i in range(5)]
    manifest = manifest_of("audio", [*paths[:2], "", *paths[2:]])
    alone = audio_features(manifest, tmp_path, n_mfcc=13)
    store = preprocess_clips(manifest, CLEANING, tmp_path / "parallel", "k", workers=2)
    together = clip_features(manifest, store, settings("audio.features", n_mfcc=13),
                             workers=2)
    np.testing.assert_array_equal(together["values"], alone["values"])
    assert together["present"].tolist() == alone["present"].tolist()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    manifest = manifest_of("audio", [*paths, str(broken)])
    store = preprocess_clips(manifest, CLEANING, tmp_path / "bad", "k", workers=2)
    assert store["present"].tolist() == [True] * 5 + [False]
    assert store["failed"].tolist() == [5]
    assert "row 6 (sample_id 's5')" in caplog.text and str(broken) in caplog.text
    table = clip_features(manifest, store, settings("audio.features", n_mfcc=13), workers=2)
    np.testing.assert_array_equal(table["values"][:5], together["values"][[0, 1, 3, 4, 5]])
    assert table["failed"].tolist() == [5]
    assert [row["row"] for row in failure_rows(manifest, "audio", "audio", table)] == [6]
