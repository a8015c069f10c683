"""State left on disk that fails to load is rebuilt with a warning naming it, never trusted."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import make_project, write_tone
from multimodal_fusion.modalities.audio import audio_vectors, preprocess_audio
from multimodal_fusion.training.checkpoint import CheckpointStore
from multimodal_fusion.training.engine import train_on_inputs
from test_training import toy_inputs, with_fit

CLEANING = {"sample_rate": 16000, "trim_top_db": 30}
FEATURES = {"extractor": "mfcc", "n_mfcc": 13, "segments": 2}


def truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])


@pytest.fixture
def clips(tmp_path) -> pd.DataFrame:
    paths = [write_tone(tmp_path / f"{i}.wav", frequency=300 + 100 * i) for i in range(3)]
    return pd.DataFrame({"sample_id": ["a", "b", "c"], "audio": paths},
                        index=pd.RangeIndex(1, 4))


def features(manifest: pd.DataFrame, cache: Path) -> dict:
    store = preprocess_audio(manifest, CLEANING, str(cache), 1)
    return audio_vectors(manifest, store, FEATURES, str(cache), 1)


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


def test_a_truncated_checkpoint_is_discarded_and_training_starts_afresh(
        tmp_path, caplog, monkeypatch):
    settings = with_fit(max_epochs=3, checkpoint_dir=str(tmp_path))
    expected, _ = train_on_inputs(toy_inputs(), settings, seed=2)
    with monkeypatch.context() as killed:  # a run killed mid-training leaves its checkpoint
        killed.setattr(CheckpointStore, "clear", lambda self: None)
        train_on_inputs(toy_inputs(), settings, seed=2)
    (saved,) = tmp_path.glob("*/last.pt")
    truncate(saved)
    with caplog.at_level(logging.WARNING):
        again, _ = train_on_inputs(toy_inputs(), settings, seed=2)
    assert f"The checkpoint {saved} cannot be read (" in caplog.text
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], tensor)
    assert not list(tmp_path.glob("*/last.pt"))


def kedro(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", *args], cwd=project, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "COLUMNS": "200"})


def test_a_demo_build_killed_midway_is_noticed_and_built_again(tmp_path):
    project = make_project(tmp_path)
    params = "--params=demo_data.n_samples=60"
    build = kedro(project, "--pipeline=demo_data", params)
    images = project / "data/01_raw/demo/images"
    deadline = time.monotonic() + 120
    while len(list(images.glob("*.png"))) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait(timeout=30)
    assert not (project / "data/01_raw/demo/manifest.csv").exists()

    rerun = kedro(project, "--pipeline=data_preparation", params)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert f"The demo dataset in {project / 'data/01_raw/demo'} is incomplete" in output
    manifest = pd.read_csv(project / "data/01_raw/demo/manifest.csv", keep_default_na=False)
    assert len(manifest) == 60

    gone = project / "data/01_raw/demo" / manifest["audio"].loc[manifest["audio"] != ""].iloc[0]
    gone.unlink()
    rerun = kedro(project, "--pipeline=data_preparation", params)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "1 files missing or empty, such as" in output and gone.name in output
    assert gone.is_file()
