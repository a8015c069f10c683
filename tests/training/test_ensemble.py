import numpy as np
import pytest
import torch

from helpers import image_toy_inputs, training_settings
from multimodal_fusion.evaluation.robustness import embed_split
from multimodal_fusion.models.ensemble import macro_f1_of, select_greedily
from multimodal_fusion.models.inputs import StoredSplit, batch_for_split
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.models.storage import load_model, save_model
from multimodal_fusion.training.auto import with_fusion
from multimodal_fusion.training.reuse import TrainingStore
from multimodal_fusion.training.strategies import build_model, train

SETTINGS = training_settings({
    "model": {"fusion": "ensemble", "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0},
    "ensemble": {"members": ["concat", "late", "linear_early", "image_only"], "rounds": 10},
    "fit": {"max_epochs": 4, "batch_size": 32, "device": "cpu", "checkpoint_dir": None}})


def test_greedy_selection_keeps_its_best_round_so_never_trails_its_best_member():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    members = [rng.dirichlet(np.ones(3), 60) for _ in range(4)]
    members.append(np.eye(3)[labels] * 0.6 + 0.4 * rng.dirichlet(np.ones(3), 60))
    weights, scores = select_greedily(members, labels, rounds=8)
    assert scores[0] == 1.0 and weights == [0, 0, 0, 0, 1.0], "the sure member alone"
    weights, scores = select_greedily(members[:4], labels, rounds=8)
    alone = [macro_f1_of(p, labels) for p in members[:4]]
    assert scores[0] == max(alone) and max(scores) > max(alone), "mixing weak members pays"
    assert abs(sum(weights) - 1) < 1e-9 and sum(w > 0 for w in weights) > 1


def test_an_ensemble_is_never_worse_on_validation_than_its_best_member_and_reloads(tmp_path):
    inputs = image_toy_inputs()
    store = TrainingStore(tmp_path / "trainings", build_model)
    ensemble, history = train(inputs, SETTINGS, 0, store)
    record = ensemble.spec["ensemble"]
    assert set(record["candidates"]) == {"concat", "late", "linear_early", "image_only"}
    assert record["val_macro_f1"] >= max(record["candidates"].values())
    assert max(h["val_macro_f1"] for h in history) == record["val_macro_f1"]
    assert len(history) == 10 and history[0]["seconds"] > 0
    assert abs(sum(ensemble.spec["weights"]) - 1) < 1e-6
    val = batch_for_split(inputs, "val", ensemble.spec)
    members = {name: train(inputs, with_fusion(SETTINGS, name), 0, store)[0]
               for name in record["members"]}
    mixed = sum(weight * predict_proba(members[name], batch_for_split(inputs, "val",
                                                                      members[name].spec))
                for name, weight in zip(record["members"], record["weights"], strict=True))
    np.testing.assert_allclose(predict_proba(ensemble, val), mixed, atol=1e-5)
    save_model(ensemble, tmp_path / "ensemble.safetensors")
    loaded = load_model(tmp_path / "ensemble.safetensors", build_model)
    np.testing.assert_allclose(predict_proba(loaded, val), predict_proba(ensemble, val),
                               atol=1e-6)


def test_an_ensemble_splits_into_embeddings_and_fusion_as_evaluation_needs():
    inputs = image_toy_inputs()
    ensemble, _ = train(inputs, SETTINGS, 0)
    split = StoredSplit(inputs, "test", ensemble.spec)
    embedded = embed_split(ensemble, split)
    with torch.no_grad():
        fused = ensemble.fuse(embedded.embeddings, embedded.present)
        direct = ensemble(*[getattr(batch_for_split(inputs, "test", ensemble.spec), part)
                            for part in ("inputs", "present")])
    torch.testing.assert_close(fused, direct, atol=1e-5, rtol=1e-5)


def test_an_ensemble_of_nothing_or_of_itself_is_refused():
    with pytest.raises(ValueError, match="training.ensemble.members: list one or more"):
        train(image_toy_inputs(), {**SETTINGS, "ensemble": {"members": ["ensemble"],
                                                            "rounds": 3}}, 0)
    with pytest.raises(ValueError, match="training.ensemble.members: unknown fusion strategy"):
        train(image_toy_inputs(), {**SETTINGS, "ensemble": {"members": ["conact"],
                                                            "rounds": 3}}, 0)
