"""Checkpoints: a damaged one is discarded with a warning, never trusted."""

from __future__ import annotations

import logging

import torch

from helpers import toy_inputs, truncate, with_fit
from multimodal_fusion.training.checkpoint import CheckpointStore
from multimodal_fusion.training.strategies import train


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
