"""The lines that end a run: its result against the references, and what it saved."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.evaluation.summary import (
    compare_summary,
    evaluate_summary,
    inference_summary,
    train_summary,
)

METRICS = {"fusion": "late", "auto": {"chosen": "late"}, "modalities": ["audio", "text"],
           "accuracy": 0.91114, "macro": {"f1": 0.9}, "demo_ceiling": 0.9275}


def test_train_reads_the_model_against_its_best_single_modality_and_the_reference():
    told = train_summary(METRICS, {"alone": {"audio": 0.5, "text": 0.61}},
                         {"fusion": "linear_early", "accuracy": 0.8833})
    assert told["lines"] == [
        "late fusion (auto's choice) of audio, text: test accuracy 0.9111, macro-F1 0.9000 "
        "(the demo's ceiling 0.9275)",
        "against text alone 0.6100 (the model's best single modality); linear_early 0.8833 "
        "(linear reference)"]
    assert told["saved"] == ["fusion_model", "run_report", "metrics"]
    alone = train_summary({**METRICS, "modalities": ["text"]}, {"alone": {"text": 0.9}},
                          {"fusion": None, "skipped": "evaluation.reference is null"})
    assert alone["lines"][1] == "against no linear reference (evaluation.reference is null)"
    searched = train_summary(
        {**METRICS, "search": {"trials": 20, "pruned": 12, "seconds": 95.4, "keep": "ensemble",
                               "best": {"number": 7, "value": 0.93,
                                        "params": {"strategy": "attention"}}}},
        {"alone": {"text": 0.9}}, {"fusion": "linear_late", "accuracy": 0.95})
    assert searched["lines"][2:] == [
        "the linear reference linear_late beats this model on test: on this data the neural "
        "fusion does not earn its cost",
        "chosen by a search of 20 trials (12 pruned, 95 s): kept ensemble, best trial 7 "
        "(attention) at validation macro-F1 0.9300"]
    bagged = train_summary(
        {**METRICS, "ensemble": {"folds": 5, "members": ["trial 7 (attention)", "trial 0 (late)"],
                                 "val_macro_f1": 0.912}},
        {"alone": {"text": 0.9}}, {"fusion": "linear_late", "accuracy": 0.5})
    assert bagged["lines"][2:] == [
        "cross-fitted over 5 folds: the bag of trial 7 (attention), trial 0 (late) by "
        "out-of-fold macro-F1 0.9120; its validation figures are not held out (its fold "
        "models saw those samples)"]


def test_compare_evaluate_and_inference_say_their_own_result():
    rows = [{"rank": 1, "strategy": "late", "kind": "fusion", "macro_f1": 0.9, "accuracy": 0.91},
            {"rank": None, "strategy": "tabular_only", "kind": "unimodal", "skipped": "none"}]
    assert compare_summary(rows)["lines"] == [
        "1 strategies compared by test macro-F1; best:",
        "  1. late (fusion): macro-F1 0.9000, accuracy 0.9100"]
    linear_first = [{**rows[0], "strategy": "linear_late", "kind": "linear reference"}]
    assert compare_summary(linear_first)["lines"][-1] == (
        "a linear reference (linear_late) ranks first: on this data no neural fusion earns "
        "its cost")
    assert evaluate_summary({"reproduced": True, "differences": []}, METRICS)["lines"] == [
        "late model re-evaluated: test accuracy 0.9111; it reproduces its stored metrics exactly"]
    predictions = pd.DataFrame({"predicted": ["a"] * 3 + ["b"]})
    unlabelled = {"scored": 0, "left_out": {"unlabelled": 4, "unknown_classes": {}}}
    assert inference_summary(predictions, unlabelled) == {
        "lines": ["4 samples predicted: a 3, b 1"], "saved": ["predictions"]}
    labelled = {"scored": 3, "accuracy": 2 / 3, "macro": {"f1": 0.5},
                "left_out": {"unlabelled": 0, "unknown_classes": {"c": 1}}}
    assert inference_summary(predictions, labelled) == {
        "lines": ["4 samples predicted: a 3, b 1", "against the 3 labels of classes the model "
                  "knows: accuracy 0.6667, macro-F1 0.5000 (1 of unknown classes left out)"],
        "saved": ["predictions", "inference_metrics"]}
