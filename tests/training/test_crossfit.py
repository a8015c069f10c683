import logging

import numpy as np
import pytest
import torch

from helpers import image_toy_inputs, search_settings
from multimodal_fusion.models.ensemble import macro_f1_of
from multimodal_fusion.models.inputs import batch_for_split, split_labels
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.training.crossfit import (
    cross_fit,
    fitted_labels,
    fold_inputs,
    fold_stores,
)
from multimodal_fusion.training.search import trial_settings
from multimodal_fusion.training.strategies import (
    build_model,
    search_hyperparameters,
    train,
    train_or_take_searched,
)


def test_folds_split_the_training_and_validation_samples_once_each_by_label():
    inputs = image_toy_inputs()
    folds = fold_inputs(inputs, 3, seed=0)
    fitted = np.isin(inputs["split"], ["train", "val"])
    held = np.stack([fold["split"] == "val" for fold in folds])
    assert (held.sum(axis=0) == fitted).all(), "each such sample is held out exactly once"
    for fold in folds:
        assert (fold["split"][~fitted] == "test").all()
        counts = np.unique(fold["label"][fold["split"] == "val"], return_counts=True)[1]
        assert counts.max() - counts.min() <= 1, "stratified by label"
    assert all((a["split"] == b["split"]).all()
               for a, b in zip(folds, fold_inputs(inputs, 3, seed=0), strict=True))


def test_too_many_folds_for_a_class_are_refused_naming_it():
    inputs = image_toy_inputs(n=30)
    with pytest.raises(ValueError, match=r"folds 20: class 'c0' has only 8 .* at most 8"):
        fold_inputs(inputs, 20, seed=0)


def test_out_of_fold_probabilities_come_from_the_model_that_did_not_see_the_sample(tmp_path):
    inputs = image_toy_inputs()
    settings = trial_settings(search_settings(tmp_path), {
        "strategy": "concat", "learning_rate": 0.002, "weight_decay": 1e-4, "dropout": 0.0,
        "modality_dropout": 0.0, "hidden_dim": 16, "cnn_width": 16,
        "pretrained_features": "all"})
    stores = fold_stores(tmp_path / "crossfit", 3, build_model)
    fit = cross_fit(inputs, settings, 0, train, stores)
    assert len(fit.models) == 3 and fit.seconds > 0
    np.testing.assert_allclose(fit.probabilities.sum(axis=1), 1, atol=1e-5)
    fold = fold_inputs(inputs, 3, seed=0)[1]
    rows = np.flatnonzero(np.isin(inputs["split"], ["train", "val"]))
    held = np.isin(rows, np.flatnonzero(fold["split"] == "val"))
    own = predict_proba(fit.models[1], batch_for_split(fold, "val", fit.models[1].spec))
    np.testing.assert_allclose(fit.probabilities[held], own, atol=1e-6)
    labels = fitted_labels(inputs, fit.models[0].spec)
    assert (labels[held] == split_labels(fold, "val", fit.models[1].spec).numpy()).all()
    assert macro_f1_of(fit.probabilities, labels) > 1 / 3, "above chance out of fold"


def test_a_cross_fitted_search_keeps_the_bag_of_the_finalist_best_out_of_fold(tmp_path,
                                                                               caplog):
    settings = search_settings(tmp_path, n_trials=5, folds=3, finalists=2)
    inputs = image_toy_inputs()
    record = search_hyperparameters(inputs, settings, 0)
    model, history = train_or_take_searched(inputs, settings, 0, record)
    chosen = model.spec["ensemble"]
    assert model.spec["fusion"] == "ensemble" and len(model.members) == 3
    assert chosen["folds"] == 3 and len(chosen["members"]) == 1
    assert "trial 0 (concat)" in chosen["candidates"], "the user's settings are a finalist"
    assert len(chosen["candidates"]) in (2, 3)
    assert chosen["val_macro_f1"] == max(chosen["candidates"].values())
    assert chosen["val_macro_f1"] == max(epoch["val_macro_f1"] for epoch in history)
    np.testing.assert_allclose(model.spec["weights"], [1 / 3] * 3)
    assert model.spec["search"]["folds"] == 3
    caplog.clear()
    with caplog.at_level(logging.INFO):
        mixed, _ = train_or_take_searched(
            inputs, search_settings(tmp_path, n_trials=5, folds=3, finalists=2,
                                    keep="ensemble"), 0, record)
    assert "train samples" not in caplog.text, "the fold models come from their stores"
    assert mixed.spec["ensemble"]["val_macro_f1"] >= chosen["val_macro_f1"]
    assert abs(sum(mixed.spec["weights"]) - 1) < 1e-6
    test = batch_for_split(inputs, "test", mixed.spec)
    np.testing.assert_allclose(predict_proba(mixed, test).sum(axis=1), 1, atol=1e-5)


def test_folds_without_a_search_bag_your_own_settings_and_none_train_one_model(tmp_path):
    inputs = image_toy_inputs()
    settings = search_settings(tmp_path, n_trials=0, folds=3)
    record = search_hyperparameters(inputs, settings, 0)
    assert record["trials"] == [] and record["folds"] == 3
    bag, history = train_or_take_searched(inputs, settings, 0, record)
    assert bag.spec["fusion"] == "ensemble" and len(bag.members) == 3
    assert bag.spec["ensemble"]["members"] == ["your settings (concat)"]
    np.testing.assert_allclose(bag.spec["weights"], [1 / 3] * 3)
    stores = fold_stores(tmp_path / "search" / "crossfit", 3, build_model)
    fit = cross_fit(inputs, settings, 0, train, stores)
    for member, fold_model in zip(bag.members, fit.models, strict=True):
        for name, tensor in fold_model.state_dict().items():
            assert torch.equal(member.state_dict()[name], tensor)
    assert bag.spec["ensemble"]["val_macro_f1"] == macro_f1_of(
        fit.probabilities, fitted_labels(inputs, fit.models[0].spec))
    assert "search" not in bag.spec and len(history) == 1
    single = search_settings(tmp_path, n_trials=0, folds=0)
    model, _ = train_or_take_searched(inputs, single, 0, search_hyperparameters(inputs, single, 0))
    assert model.spec["fusion"] == "concat"
