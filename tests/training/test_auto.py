import pytest
import torch

from helpers import image_toy_inputs
from multimodal_fusion.training import memo as memo_module
from multimodal_fusion.training.auto import AutoSettings, choose_and_fit, with_fusion
from multimodal_fusion.training.engine import train_on_inputs
from multimodal_fusion.training.memo import TrainingMemo

SETTINGS = {"model": {"fusion": "auto", "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0},
            "auto": {"candidates": ["concat", "linear_early", "late"], "max_epochs": 2},
            "fit": {"max_epochs": 4, "batch_size": 32, "device": "cpu", "checkpoint_dir": None}}


def counting(calls: list[dict]):
    """train_on_inputs, remembering each strategy and budget it was asked for."""
    def train(inputs, settings, seed):
        calls.append((settings["model"]["fusion"], settings["fit"]["max_epochs"]))
        return train_on_inputs(inputs, settings, seed)
    return train


def test_auto_trains_the_candidate_best_on_validation_and_records_why():
    model, history = train_on_inputs(image_toy_inputs(), SETTINGS, seed=0)
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


def test_compare_trains_each_candidate_once_and_auto_reports_their_real_cost(monkeypatch):
    calls = []
    monkeypatch.setattr(memo_module, "train_on_inputs", counting(calls))
    memo = TrainingMemo()
    settings = {**SETTINGS, "auto": {"candidates": ["concat", "late"], "max_epochs": None}}
    late, late_history = memo.train(image_toy_inputs(), with_fusion(settings, "late"), 0)
    chosen, _ = memo.train(image_toy_inputs(), settings, 0)
    concat, _ = memo.train(image_toy_inputs(), with_fusion(settings, "concat"), 0)
    assert calls == [("late", 4), ("concat", 4)]
    winner = {"late": late, "concat": concat}[chosen.spec["fusion"]]
    assert all(torch.equal(a, b) for a, b in zip(chosen.state_dict().values(),
                                                  winner.state_dict().values(), strict=True))
    assert "auto" not in late.spec and "auto" not in concat.spec
    tried = {t["strategy"]: t["seconds"] for t in chosen.spec["auto"]["tried"]}
    assert tried["late"] == sum(epoch["seconds"] for epoch in late_history) > 0
    memo.train(image_toy_inputs(n=120), with_fusion(settings, "late"), 0)
    assert calls[-1] == ("late", 4) and len(calls) == 3


def test_auto_refuses_bad_candidates_and_misspelt_keys():
    with pytest.raises(ValueError, match="unknown fusion strategy 'gatd'"):
        AutoSettings(candidates=["gatd"])
    with pytest.raises(ValueError, match="not auto"):
        AutoSettings(candidates=["auto"])
    with pytest.raises(ValueError, match=r"training.auto: unknown key 'budget'"):
        train_on_inputs(image_toy_inputs(), {**SETTINGS, "auto": {"budget": 3}}, seed=0)
    with pytest.raises(ValueError, match=r"training: unknown key 'fitt'"):
        train_on_inputs(image_toy_inputs(), {**SETTINGS, "fitt": {}}, seed=0)
