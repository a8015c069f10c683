import json
import logging
import os
import signal
import subprocess
import sys

import optuna
import pytest
import torch

from helpers import REPO, image_toy_inputs, search_settings
from multimodal_fusion.core.config import SettingsError
from multimodal_fusion.training.strategies import (
    search_hyperparameters,
    train,
    train_or_take_searched,
)


def outcome(record: dict) -> list[tuple]:
    """What a study found, trial by trial, leaving out trial numbers and seconds (a resumed
    study numbers its retried trial anew)."""
    return [(t["state"], t["value"], json.dumps(t["params"], sort_keys=True))
            for t in record["trials"]]


def test_a_search_starts_from_the_users_settings_prunes_and_keeps_its_best_model(tmp_path,
                                                                                caplog):
    settings = search_settings(tmp_path)
    with caplog.at_level(logging.INFO):
        record = search_hyperparameters(image_toy_inputs(), settings, 0)
    first = record["trials"][0]
    assert first["params"] == {"strategy": "concat", "learning_rate": 0.002,
                               "weight_decay": 0.0001, "dropout": 0.0,
                               "modality_dropout": 0.35, "hidden_dim": 16,
                               "cnn_width": 16, "pretrained_features": "all"}
    assert len(record["trials"]) == 8 and record["pruned"] >= 1
    assert all(t["epochs"] < 6 for t in record["trials"] if t["state"] == "pruned")
    completed = [t for t in record["trials"] if t["state"] == "complete"]
    assert record["best"]["value"] == max(t["value"] for t in completed) >= first["value"]
    assert set(record["importance"]) == {"strategy", "learning_rate", "weight_decay",
                                         "dropout", "modality_dropout", "hidden_dim",
                                         "cnn_width", "pretrained_features"}
    assert abs(sum(record["importance"].values()) - 1) < 1e-6
    assert "pruned after" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        model, history = train_or_take_searched(image_toy_inputs(), settings, 0, record)
    assert "trained before; reusing" in caplog.text and "train samples" not in caplog.text
    assert model.spec["fusion"] == record["best"]["params"]["strategy"]
    assert model.spec["search"]["best"] == record["best"] and model.spec["search"]["trials"] == 8
    assert max(epoch["val_macro_f1"] for epoch in history) == record["best"]["value"]
    again, _ = train(image_toy_inputs(), record["best_settings"], 0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                  again.state_dict().values(), strict=True))


def test_keeping_an_ensemble_of_the_trials_is_never_worse_on_validation_than_the_best(
        tmp_path, caplog):
    settings = search_settings(tmp_path, n_trials=6)
    record = search_hyperparameters(image_toy_inputs(), settings, 0)
    kept = search_settings(tmp_path, n_trials=6, keep="ensemble")
    again = search_hyperparameters(image_toy_inputs(), kept, 0)
    assert again["study"] == record["study"], "what is kept changes no trial"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        model, history = train_or_take_searched(image_toy_inputs(), kept, 0, again)
    assert "train samples" not in caplog.text, "every trial's model comes from the store"
    assert model.spec["fusion"] == "ensemble" and model.spec["search"]["keep"] == "ensemble"
    completed = [t for t in record["trials"] if t["state"] == "complete"]
    assert len(model.spec["ensemble"]["candidates"]) == len(completed)
    assert max(epoch["val_macro_f1"] for epoch in history) >= record["best"]["value"]


def test_a_rerun_resumes_the_study_and_a_larger_budget_extends_it(tmp_path, caplog):
    settings = search_settings(tmp_path, n_trials=3)
    search_hyperparameters(image_toy_inputs(), settings, 0)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        record = search_hyperparameters(image_toy_inputs(), settings, 0)
    assert len(record["trials"]) == 3 and "train samples" not in caplog.text
    extended = search_hyperparameters(image_toy_inputs(), search_settings(tmp_path, n_trials=5),
                                      0)
    alone = search_hyperparameters(image_toy_inputs(),
                                   search_settings(tmp_path / "alone", n_trials=5), 0)
    assert outcome(extended) == outcome(alone)
    other_seed = search_hyperparameters(image_toy_inputs(), settings, 1)
    assert other_seed["study"] != record["study"] and len(other_seed["trials"]) == 3


KILLED_SEARCH = """
import os, signal, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
from test_search import search_settings
from helpers import image_toy_inputs
from pathlib import Path
from multimodal_fusion.training import engine, strategies

trainings, real_train = [], strategies.train

def train_then_die(inputs, settings, seed, store=None):
    # the fourth trial's process is killed after its second epoch
    trainings.append(settings)
    if len(trainings) != 4:
        return real_train(inputs, settings, seed, store)
    pruning = engine.EPOCH_OBSERVER.get()
    def observe(epoch, best):
        pruning(epoch, best)
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    with engine.observing_epochs(observe):
        return real_train(inputs, settings, seed, store)

strategies.train = train_then_die
strategies.search_hyperparameters(image_toy_inputs(), search_settings(Path({folder!r})), 0)
"""


def test_a_search_killed_mid_trial_resumes_and_ends_as_one_that_ran_through(tmp_path, caplog):
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SEARCH.format(tests=str(REPO / "tests" / "training"),
                                                    folder=str(tmp_path / "killed"))],
        cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "tests")})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    settings = search_settings(tmp_path / "killed")
    storage = f"sqlite:///{tmp_path / 'killed' / 'search' / 'studies.sqlite'}"
    (study,) = optuna.get_all_study_summaries(storage)
    assert study.n_trials == 4, "three finished, the fourth running when killed"
    with caplog.at_level(logging.INFO):
        resumed = search_hyperparameters(image_toy_inputs(), settings, 0)
    assert "trial 3 was cut short" in caplog.text
    assert "Resuming from the checkpoint of epoch 2" in caplog.text
    assert [t["retry_of"] for t in resumed["trials"]].count(3) == 1
    through = search_hyperparameters(image_toy_inputs(), search_settings(tmp_path / "through"),
                                     0)
    assert outcome(resumed) == outcome(through)
    assert resumed["best"]["params"] == through["best"]["params"]
    assert resumed["best"]["value"] == through["best"]["value"]


def test_no_trials_means_no_search_and_a_bad_space_names_its_key(tmp_path):
    record = search_hyperparameters(image_toy_inputs(), search_settings(tmp_path, n_trials=0),
                                    0)
    assert record == {"trials": [], "reason": "training.search.n_trials is 0: no search ran",
                      "folds": 0, "folder": str(tmp_path / "search")}
    assert not (tmp_path / "search").exists()
    with pytest.raises(ValueError, match=r"training.search.learning_rate \[0.0, 0.01\]"):
        search_hyperparameters(image_toy_inputs(),
                               search_settings(tmp_path, learning_rate=[0, 0.01]), 0)
    with pytest.raises(ValueError, match="training.search.strategies: unknown fusion "
                                         "strategy 'concatenate'"):
        search_hyperparameters(image_toy_inputs(),
                               search_settings(tmp_path, strategies=["concatenate"]), 0)
    with pytest.raises(ValueError, match="training.search.strategies: .* not auto or ensemble"):
        search_hyperparameters(image_toy_inputs(),
                               search_settings(tmp_path, strategies=["late", "ensemble"]), 0)
    with pytest.raises(SettingsError, match="training.search: unknown key 'trials'"):
        search_hyperparameters(image_toy_inputs(), search_settings(tmp_path, trials=3), 0)
