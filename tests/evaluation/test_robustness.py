"""Modality contributions and robustness, read through the presence mask of a trained model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from helpers import TOY_SETTINGS, image_toy_inputs, toy_inputs, typed, with_fit
from multimodal_fusion.evaluation import robustness
from multimodal_fusion.evaluation.metrics import by_presence, calibration, probability_metrics
from multimodal_fusion.evaluation.robustness import (
    EvaluationSettings,
    modality_analysis,
    shapley_values,
)
from multimodal_fusion.models.inputs import Batch, StoredSplit, batch_for_split
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.training.strategies import train


@pytest.fixture(scope="module")
def analysed() -> dict:
    inputs = toy_inputs(240)
    model, _ = train(inputs, TOY_SETTINGS, seed=0)
    chosen = typed(EvaluationSettings, "evaluation", repeats=4)
    return modality_analysis(model, StoredSplit(inputs, "test", model.spec), chosen, seed=0)


def by_full_passes(model: torch.nn.Module, batch: Batch, settings: EvaluationSettings,
                   seed: int) -> dict:
    """The analysis as defined: every figure a pass of the whole model over the test split,
    its inputs and masks changed (the way evaluation computed it before it kept embeddings).
    """
    def accuracy(present=None, inputs=None) -> float:
        changed = Batch(inputs or batch.inputs, present or batch.present, batch.labels)
        return float((predict_proba(model, changed).argmax(axis=1) == batch.labels.numpy())
                     .mean())

    names = sorted(batch.present)
    subsets = {frozenset(kept): accuracy(present={m: p & (m in kept)
                                                  for m, p in batch.present.items()})
               for size in range(len(names) + 1) for kept in itertools.combinations(names, size)}
    draws = [np.random.default_rng([seed, r]).random((len(batch), len(names)))
             for r in range(settings.repeats)]
    missing = [np.mean([accuracy(present={m: batch.present[m] & torch.from_numpy(
        draw[:, i] >= share) for i, m in enumerate(names)}) for draw in draws])
        for share in settings.missing_shares]
    noise = {}
    for index, m in enumerate(names):
        values, present = batch.inputs[m], batch.present[m]
        if not values.is_floating_point():
            continue  # word ids: no noise curve
        spread = values[present].double().std(dim=0).float()
        draws = [torch.from_numpy(np.random.default_rng([seed, index, r]).standard_normal(
            tuple(values.shape)).astype(np.float32)) * spread for r in range(settings.repeats)]
        noise[m] = [np.mean([accuracy(inputs=batch.inputs | {m: values + level * z})
                             for z in draws]) for level in settings.noise_levels]
    return {"subsets": subsets, "missing": missing, "noise": noise}


@pytest.mark.parametrize("strategy", ["concat", "attention", "linear_early", "linear_late"])
def test_kept_embeddings_give_the_figures_of_full_passes(strategy, monkeypatch):
    monkeypatch.setattr(robustness, "PART", 16)  # several parts, a short last one
    inputs = image_toy_inputs(170)
    settings = with_fit(max_epochs=2)
    model, _ = train(inputs, {**settings, "model": {**settings["model"], "fusion": strategy}},
                     seed=0)
    chosen = typed(EvaluationSettings, "evaluation")
    fast = modality_analysis(model, StoredSplit(inputs, "test", model.spec), chosen, seed=3)
    slow = by_full_passes(model, batch_for_split(inputs, "test", model.spec), chosen, seed=3)
    everyone = frozenset(model.spec["modalities"])
    assert fast["accuracy_all"] == pytest.approx(slow["subsets"][everyone], abs=1e-6)
    assert fast["shapley"] == pytest.approx(shapley_values(slow["subsets"]), abs=1e-6)
    assert [p["accuracy"] for p in fast["missing_curve"]] == pytest.approx(slow["missing"],
                                                                           abs=1e-6)
    assert sorted(fast["noise_curves"]) == sorted(slow["noise"])
    for modality, curve in fast["noise_curves"].items():
        assert [p["accuracy"] for p in curve] == pytest.approx(slow["noise"][modality], abs=1e-6)
    assert any(len(set(curve)) > 1 for curve in slow["noise"].values())  # noise tells
    assert "text" not in fast["noise_curves"]  # word ids


def test_the_informative_modality_carries_the_contribution(analysed):
    assert analysed["shapley"]["audio"] > 0.2 > abs(analysed["shapley"]["text"])
    assert sum(analysed["shapley"].values()) == pytest.approx(
        analysed["accuracy_all"] - analysed["accuracy_none"], abs=1e-9)
    assert analysed["ablation"]["audio"]["drop"] > 0.2
    assert analysed["ablation"]["audio"]["accuracy_without"] == pytest.approx(
        analysed["accuracy_all"] - analysed["ablation"]["audio"]["drop"])


def test_the_curves_run_from_the_full_model_to_the_empty_one(analysed):
    curve = analysed["missing_curve"]
    assert [point["share"] for point in curve] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert curve[0]["accuracy"] == analysed["accuracy_all"]
    assert curve[-1]["accuracy"] == analysed["accuracy_none"] <= analysed["chance"]
    audio = analysed["noise_curves"]["audio"]
    assert audio[0]["accuracy"] == analysed["accuracy_all"] > audio[-1]["accuracy"] + 0.1


def test_shapley_values_of_a_known_game():
    scores = {frozenset(): 0.1, frozenset("a"): 0.5, frozenset("b"): 0.3,
              frozenset("ab"): 0.9}
    assert shapley_values(scores) == pytest.approx({"a": 0.5, "b": 0.3})


def test_calibration_error_of_known_confidences():
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])
    result = calibration(labels, probabilities, bins=10)
    # bin (0.8, 0.9]: 2 right at 0.9; bin (0.5, 0.6]: 1 of 2 right at 0.6
    assert result["expected_calibration_error"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    assert [row["count"] for row in result["reliability"]] == [2, 2]


def test_probability_metrics_and_the_split_by_presence():
    labels = np.array([0, 1, 2, 2])
    probabilities = np.array([[0.7, 0.2, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8],
                              [0.2, 0.3, 0.5]])
    metrics = probability_metrics(labels, probabilities, ["a", "b", "c"], top_k=2, bins=5)
    assert metrics["balanced_accuracy"] == pytest.approx((1 + 0 + 1) / 3)
    assert metrics["top_2_accuracy"] == 1.0
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.4, 0.8, 0.5])))
    assert metrics["confusion_normalised"]["rows"][1] == [1.0, 0.0, 0.0]
    groups = by_presence(labels, probabilities.argmax(axis=1),
                         {"audio": np.array([True, True, False, True]),
                          "text": np.array([True, False, True, True])})
    assert groups["all present"] == {"n_samples": 2, "accuracy": 1.0, "macro_f1": 1.0}
    assert groups["audio missing"]["n_samples"] == 1
    assert groups["text missing"]["accuracy"] == 0.0


def test_a_large_test_split_has_its_noise_curves_measured_on_a_drawn_part(monkeypatch):
    monkeypatch.setattr(robustness, "PART", 16)
    inputs = toy_inputs(240)
    model, _ = train(inputs, TOY_SETTINGS, seed=0)
    split = StoredSplit(inputs, "test", model.spec)
    capped = typed(EvaluationSettings, "evaluation", noise_samples=20)
    analysis = modality_analysis(model, split, capped, seed=0)
    whole = modality_analysis(model, split, typed(EvaluationSettings, "evaluation",
                                                  noise_samples=len(split)), seed=0)
    assert {k: v for k, v in analysis.items() if k != "noise_curves"} == {
        k: v for k, v in whole.items() if k != "noise_curves"}
    audio = [point["accuracy"] for point in analysis["noise_curves"]["audio"]]
    assert all(round(a * 20 * 3) == pytest.approx(a * 20 * 3) for a in audio)  # of 20 samples
    assert audio != [point["accuracy"] for point in whole["noise_curves"]["audio"]]
