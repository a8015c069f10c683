import logging

import pytest
import torch

from helpers import image_toy_inputs, training_settings
from multimodal_fusion.training.auto import AutoSettings, choose_and_fit, with_fusion
from multimodal_fusion.training.reuse import TrainingStore
from multimodal_fusion.training.strategies import build_model, train

SETTINGS = training_settings({
    "model": {"fusion": "auto", "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0},
    "auto": {"candidates": ["concat", "linear_early", "late"], "max_epochs": 2},
    "fit": {"max_epochs": 4, "batch_size": 32, "device": "cpu", "checkpoint_dir": None}})


def counting(calls: list[dict]):
    """`train`, remembering each strategy and budget it was asked for."""
    def counted(inputs, settings, seed):
        calls.append((settings["model"]["fusion"], settings["fit"]["max_epochs"]))
        return train(inputs, settings, seed)
    return counted


def test_auto_trains_the_candidate_best_on_validation_and_records_why():
    model, history = train(image_toy_inputs(), SETTINGS, seed=0)
    record = model.spec["auto"]
    tried = {t["strategy"]: t["val_macro_f1"] for t in record["tried"]}
    assert list(tried) == ["concat", "linear_early", "late"]
    assert record["chosen"] == max(tried, key=tried.get) == model.spec["fusion"]
    assert record["max_epochs"] == 2 and record["search_seconds"] > 0
    assert f"{tried[record['chosen']]:.4f}" in record["reason"]
    assert history and all(t["seconds"] > 0 for t in record["tried"])


@pytest.mark.parametrize("budget, refits", [(2, True), (None, False), (4, False)])
def test_a_short_search_refits_the_winner_and_a_full_one_keeps_it(budget, refits):
    calls = []
    settings = {**SETTINGS, "auto": {"candidates": ["concat", "late"], "max_epochs": budget}}
    model, _ = choose_and_fit(image_toy_inputs(), settings, 0, counting(calls))
    searched = [(strategy, budget if refits else 4) for strategy in ("concat", "late")]
    assert calls == searched + ([(model.spec["fusion"], 4)] if refits else [])


def fitted(caplog) -> list[str]:
    """The strategies actually trained (not loaded from a store) while `caplog` listened."""
    return [r.getMessage().split(":")[0] for r in caplog.records
            if "train samples" in r.getMessage() or r.getMessage().startswith("linear_")]


def test_a_store_trains_each_candidate_once_and_auto_reports_their_real_cost(tmp_path, caplog):
    store = TrainingStore(tmp_path / "trainings", build_model)
    settings = {**SETTINGS, "auto": {"candidates": ["concat", "late"], "max_epochs": None}}
    with caplog.at_level(logging.INFO):
        late, late_history = train(image_toy_inputs(), with_fusion(settings, "late"), 0, store)
        chosen, _ = train(image_toy_inputs(), settings, 0, store)
        concat, _ = train(image_toy_inputs(), with_fusion(settings, "concat"), 0, store)
    assert len(fitted(caplog)) == 2, "late, then concat for auto; auto reuses late"
    assert caplog.text.count("trained before; reusing") == 2  # late for auto, then concat
    winner = {"late": late, "concat": concat}[chosen.spec["fusion"]]
    assert all(torch.equal(a, b) for a, b in zip(chosen.state_dict().values(),
                                                  winner.state_dict().values(), strict=True))
    assert "auto" not in late.spec and "auto" not in concat.spec
    tried = {t["strategy"]: t["seconds"] for t in chosen.spec["auto"]["tried"]}
    assert tried["late"] == sum(epoch["seconds"] for epoch in late_history) > 0
    alone, _ = train(image_toy_inputs(), with_fusion(settings, "late"), 0)
    assert all(torch.equal(a, b) for a, b in zip(alone.state_dict().values(),
                                                  late.state_dict().values(), strict=True))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        train(image_toy_inputs(n=120), with_fusion(settings, "late"), 0, store)
    assert len(fitted(caplog)) == 1, "new data trains again"
    assert len(list((tmp_path / "trainings").iterdir())) == 1, "only the latest data is kept"


def test_a_stored_training_that_cannot_be_read_is_trained_again(tmp_path, caplog):
    store = TrainingStore(tmp_path, build_model)
    settings = with_fusion(SETTINGS, "concat")
    expected, _ = train(image_toy_inputs(), settings, 0, store)
    (weights,) = tmp_path.glob("*/*/model.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        again, _ = train(image_toy_inputs(), settings, 0, store)
    assert f"The stored training {weights.parent} cannot be read" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                  expected.state_dict().values(), strict=True))


def test_auto_refuses_bad_candidates_and_misspelt_keys():
    with pytest.raises(ValueError, match="training.auto.candidates: unknown fusion strategy "
                                         "'gatd'"):
        train(image_toy_inputs(), {**SETTINGS, "auto": {"candidates": ["gatd"],
                                                         "max_epochs": None}}, seed=0)
    with pytest.raises(ValueError, match="not auto"):
        AutoSettings(candidates=["auto"], max_epochs=None)
    with pytest.raises(ValueError, match=r"training.auto: unknown key 'budget'"):
        train(image_toy_inputs(), {**SETTINGS, "auto": {"budget": 3}}, seed=0)
    with pytest.raises(ValueError, match=r"training: unknown key 'fitt'"):
        train(image_toy_inputs(), {**SETTINGS, "fitt": {}}, seed=0)
