"""The `train` pipeline's work as a plain script, without Kedro: what Kedro's cost is
measured against (`python benchmarks/speed.py --parts overhead`).

    python benchmarks/overhead.py     # prints the test accuracy as JSON

It calls the same library functions in the same order as the `train` pipeline
(validation, split, every modality's steps, training, predictions, metrics, modality
analysis, plots, the run record, the HTML report) with the same parameters and feature
cache, and writes what a user keeps (model weights and spec, metrics, confusion matrix,
run record, report) to a scratch folder, but has no session, catalog, hooks or datasets:
no intermediate result is saved or read back between steps. Run it after one
`kedro run --pipelines=train`, which builds the demo and fills the cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

DEMO = Path("data/01_raw/demo/manifest.csv")


def plain_train() -> float:
    """The `train` pipeline's work without Kedro; the test accuracy."""
    from kedro.config import OmegaConfigLoader
    from safetensors.torch import save_file

    from multimodal_fusion.contract.manifest import assign_splits, read_manifest
    from multimodal_fusion.contract.quarantine import screen_manifest
    from multimodal_fusion.core.config import typed_settings
    from multimodal_fusion.evaluation.metrics import (
        classification_metrics,
        probability_metrics,
    )
    from multimodal_fusion.evaluation.plots import (
        confusion_heatmap,
        contributions_chart,
        reliability_diagram,
        robustness_chart,
        training_curves,
    )
    from multimodal_fusion.evaluation.report import render_report
    from multimodal_fusion.evaluation.robustness import EvaluationSettings, modality_analysis
    from multimodal_fusion.modalities import column_rules, manifest_columns, modality_names
    from multimodal_fusion.modalities.common import extraction_settings
    from multimodal_fusion.models.inputs import StoredSplit, assemble_model_inputs, batch_for_split
    from multimodal_fusion.models.predict import predict_proba
    from multimodal_fusion.runs.record import run_record
    from multimodal_fusion.serving.inference import recipe_features
    from multimodal_fusion.settings import CONFIG_LOADER_ARGS
    from multimodal_fusion.training.strategies import train

    started = time.time()
    params = OmegaConfigLoader("conf", **CONFIG_LOADER_ARGS)["parameters"]
    seed, extraction = params["seed"], params["extraction"]
    preparation = params["data_preparation"]
    rules = column_rules({m: params[m]["preprocessing"] for m in modality_names()})
    kept, _ = screen_manifest(read_manifest(DEMO, text_columns=manifest_columns()), preparation,
                              rules, extraction_settings(extraction).processes)
    split = assign_splits(kept, preparation["test_size"], preparation["val_size"], seed)
    tables = recipe_features(split, {m: params[m] for m in modality_names()}, extraction, seed)
    inputs = assemble_model_inputs(split, tables)
    model, history = train(inputs, params["training"], seed)
    batch = batch_for_split(inputs, "test", model.spec)
    probabilities = predict_proba(model, batch)
    classes = model.spec["classes"]
    labels = batch.labels.numpy()
    metrics = classification_metrics([classes[i] for i in labels],
                                     [classes[i] for i in probabilities.argmax(axis=1)], classes)
    settings = typed_settings(EvaluationSettings, params["evaluation"], "evaluation")
    metrics |= probability_metrics(labels, probabilities, classes, settings.top_k,
                                   settings.calibration_bins)
    metrics |= {"fusion": model.spec["fusion"], "modalities": sorted(model.spec["modalities"]),
                "epochs": len(history), "train_seconds": sum(h["seconds"] for h in history),
                "by_presence": {}}
    analysis = modality_analysis(model, StoredSplit(inputs, "test", model.spec), settings, seed)
    figures = [training_curves(history), confusion_heatmap(metrics["confusion_normalised"]),
               reliability_diagram(metrics), contributions_chart(analysis),
               robustness_chart(analysis)]
    out = Path(tempfile.mkdtemp(prefix="plain-train-"))
    save_file({name: t.contiguous() for name, t in model.state_dict().items()},
              out / "fusion_model.safetensors")
    (out / "fusion_model.json").write_text(json.dumps(model.spec, default=str))
    (out / "metrics.json").write_text(json.dumps(metrics, default=str))
    record = run_record({"run_id": "plain", "project_path": ".", "started": started}, params,
                        split, seed)
    (out / "run_record.json").write_text(json.dumps(record, default=str))
    (out / "report.html").write_text(render_report("plain", "", params, inputs, figures,
                                                   metrics, analysis, record=record))
    shutil.rmtree(out)
    return metrics["accuracy"]


if __name__ == "__main__":
    print(json.dumps({"accuracy": plain_train()}))
