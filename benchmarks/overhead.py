"""What does Kedro cost? `kedro run --pipeline=train` against the same work as a plain script.

Run from the project's root after one `kedro run --pipeline=train` (which builds the demo
and fills the feature cache):

    python benchmarks/overhead.py [--repeats 3]

The plain script below calls the same library functions in the same order as the `train`
pipeline (validation, split, every modality's steps, training, predictions, metrics,
modality analysis, plots, the HTML report) with the same parameters and cache, but no
session, catalog, hooks or datasets: nothing is saved or read back between steps. Both
run as fresh processes, one after the other, `repeats` times each; the ratio of the
medians is Kedro's overhead. Both train the same model: their test accuracies are
printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEMO = Path("data/01_raw/demo/manifest.csv")
METRICS = Path("data/08_reporting/metrics.json")


def plain_train() -> float:
    """The `train` pipeline's work without Kedro; the test accuracy."""
    from kedro.config import OmegaConfigLoader

    from multimodal_fusion.config import typed_settings
    from multimodal_fusion.evaluation.metrics import classification_metrics, probability_metrics
    from multimodal_fusion.evaluation.plots import (
        confusion_heatmap,
        contributions_chart,
        reliability_diagram,
        robustness_chart,
        training_curves,
    )
    from multimodal_fusion.evaluation.report import render_report
    from multimodal_fusion.evaluation.robustness import EvaluationSettings, modality_analysis
    from multimodal_fusion.inference import recipe_features
    from multimodal_fusion.manifest import assign_splits, read_manifest
    from multimodal_fusion.modalities import MODALITY_NAMES
    from multimodal_fusion.modalities.common import resolve_workers
    from multimodal_fusion.models.inputs import assemble_model_inputs, batch_for_split
    from multimodal_fusion.models.predict import predict_proba
    from multimodal_fusion.quarantine import screen_manifest
    from multimodal_fusion.settings import CONFIG_LOADER_ARGS
    from multimodal_fusion.training.engine import train_on_inputs

    params = OmegaConfigLoader("conf", **CONFIG_LOADER_ARGS)["parameters"]
    seed, workers = params["seed"], resolve_workers(params["feature_workers"])
    preparation = params["data_preparation"]
    kept, _ = screen_manifest(read_manifest(DEMO), preparation,
                              params["tabular"]["preprocessing"], workers)
    split = assign_splits(kept, preparation["test_size"], preparation["val_size"], seed)
    tables = recipe_features(split, {m: params[m] for m in MODALITY_NAMES},
                             params["feature_cache"], workers, seed)
    inputs = assemble_model_inputs(split, tables)
    model, history = train_on_inputs(inputs, params["training"], seed)
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
    analysis = modality_analysis(model, batch, settings, seed)
    figures = [training_curves(history), confusion_heatmap(metrics["confusion_normalised"]),
               reliability_diagram(metrics), contributions_chart(analysis),
               robustness_chart(analysis)]
    render_report("plain", "", params, inputs, figures, metrics, analysis)
    return metrics["accuracy"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        print(json.dumps({"accuracy": plain_train()}))
        return 0
    kedro, plain = [], []
    for _ in range(args.repeats):
        kedro.append(timed([sys.executable, "-m", "kedro", "run", "--pipeline=train"]))
        plain.append(timed([sys.executable, __file__, "--plain"]))
    accuracy = json.loads((sorted(METRICS.iterdir())[-1] / METRICS.name).read_text())["accuracy"]
    check = subprocess.run([sys.executable, __file__, "--plain"], capture_output=True, text=True,
                           env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}, check=True)
    plain_accuracy = json.loads(check.stdout.strip().splitlines()[-1])["accuracy"]
    ratio = statistics.median(kedro) / statistics.median(plain)
    print(f"kedro run --pipeline=train: {', '.join(f'{s:.1f}' for s in kedro)} s; plain script: "
          f"{', '.join(f'{s:.1f}' for s in plain)} s; Kedro overhead {ratio:.2f}x "
          f"(test accuracy {accuracy:.4f} and {plain_accuracy:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
