"""Checkpoints: a damaged one is discarded with a warning, never trusted; the run key that
names them (and stored trainings) follows the data without reading it for every training."""

from __future__ import annotations

import logging

import numpy as np
import torch

from helpers import toy_inputs, truncate, with_fit
from multimodal_fusion.core.npz import is_mapped, read_npz, read_rows, write_npz
from multimodal_fusion.training import checkpoint
from multimodal_fusion.training.checkpoint import CheckpointStore, run_key
from multimodal_fusion.training.reuse import TrainingStore
from multimodal_fusion.training.strategies import build_model, train


def test_a_truncated_checkpoint_is_discarded_and_training_starts_afresh(
        tmp_path, caplog, monkeypatch):
    settings = with_fit(max_epochs=3, checkpoint_dir=str(tmp_path))
    expected, _ = train(toy_inputs(), settings, seed=2)
    with monkeypatch.context() as killed:  # a run killed mid-training leaves its checkpoint
        killed.setattr(CheckpointStore, "clear", lambda self: None)
        train(toy_inputs(), settings, seed=2)
    (saved,) = tmp_path.glob("*/last.pt")
    truncate(saved)
    with caplog.at_level(logging.WARNING):
        again, _ = train(toy_inputs(), settings, seed=2)
    assert f"The checkpoint {saved} cannot be read (" in caplog.text
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], tensor)
    assert not list(tmp_path.glob("*/last.pt"))


def test_the_run_key_reads_mapped_model_inputs_once_and_still_follows_their_values(
        tmp_path, monkeypatch):
    inputs = toy_inputs()
    write_npz(tmp_path / "inputs.npz", inputs)
    mapped = read_npz(tmp_path / "inputs.npz", map_from=0)
    assert is_mapped(mapped["audio"])
    first = run_key({}, {"fit": 1}, 0, mapped)
    assert first == run_key({}, {"fit": 1}, 0, inputs)  # the same values, the same key
    reads = []
    monkeypatch.setattr(checkpoint, "read_rows", lambda *args: reads.append(args) or
                        read_rows(*args))
    assert run_key({}, {"fit": 2}, 0, mapped) != first  # a search's next trial: no reading
    assert not [array for array, _ in reads if is_mapped(array)]
    changed = {**inputs, "audio": inputs["audio"] + 1}
    write_npz(tmp_path / "changed.npz", changed)
    assert run_key({}, {"fit": 1}, 0, read_npz(tmp_path / "changed.npz", map_from=0)) != first
    fold = {**mapped, "split": np.where(mapped["split"] == "val", "train", mapped["split"])}
    assert run_key({}, {"fit": 1}, 0, fold) != first  # another fold, the other arrays known


def test_a_training_stored_by_code_that_trained_otherwise_is_not_reused(tmp_path, monkeypatch,
                                                                         caplog):
    store = TrainingStore(tmp_path, build_model)
    settings = with_fit(max_epochs=2)
    train(toy_inputs(), settings, 0, store)
    with caplog.at_level(logging.INFO):
        train(toy_inputs(), settings, 0, store)
    assert "trained before; reusing" in caplog.text
    monkeypatch.setattr(checkpoint, "TRAINING_VERSION", "training-next")
    caplog.clear()
    with caplog.at_level(logging.INFO):
        train(toy_inputs(), settings, 0, store)
    assert "trained before; reusing" not in caplog.text and "train samples" in caplog.text
