"""The HTML report reads as tables: each parameter once, by the name `--params` gives it, the
run record without a second copy of them, and no rows for groups of samples that do not
exist."""

from helpers import toy_inputs
from multimodal_fusion.evaluation.report import render_report

RECORD = {"run_id": "2026-01-01T00.00.00.000Z", "seed": 3, "parameters": {"seed": 3},
          "libraries": {"torch": "2.14.1", "numpy": "2.4.6"}}
METRICS = {"fusion": "late", "modalities": ["audio", "text"], "n_samples": 30,
           "accuracy": 0.9, "macro": {"f1": 0.8}, "epochs": 2, "train_seconds": 1.5,
           "by_presence": {"all present": {"n_samples": 30, "accuracy": 0.9, "macro_f1": 0.8},
                           "audio missing": {"n_samples": 0, "accuracy": None,
                                             "macro_f1": None}}}


def test_parameters_appear_once_by_their_dotted_names_and_empty_groups_are_left_out():
    parameters = {"seed": 3, "training": {"fit": {"max_epochs": 40, "device": "auto"}}}
    page = render_report("t", "s", parameters, toy_inputs(), [], metrics=METRICS,
                         record=RECORD)
    assert page.count("training.fit.max_epochs") == 1
    assert "<td>training.fit.device</td><td class=\"value\">&#34;auto&#34;</td>" in page
    assert "<td>libraries</td><td class=\"value\">torch 2.14.1, numpy 2.4.6</td>" in page
    assert "all present" in page and "audio missing" not in page
    assert "<pre>" not in page
