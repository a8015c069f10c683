"""Feature extraction on the demo: throughput per modality, and a cached rerun against a cold one.

Run from the project's root after `kedro run --pipeline=train` (which builds the demo and
its split):

    python benchmarks/features.py

Both comparisons are measured in this one process: the `features` pipeline runs through a
KedroSession with an empty cache folder (cold), then again with the folder it filled (warm).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from multimodal_fusion.modalities.audio import AudioSettings, extract_audio_features
from multimodal_fusion.modalities.image import extract_image_tensors
from multimodal_fusion.modalities.text import TextSettings, fit_text_features, text_features

SPLIT = Path("data/03_primary/split_manifest.parquet")


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def throughput(manifest: pd.DataFrame) -> None:
    """Items per second of each extractor alone, on every sample that has the modality."""
    vectorizer = fit_text_features(manifest.loc[manifest["split"] == "train", "text"].tolist(),
                           TextSettings())
    extractors = {
        "image": lambda: extract_image_tensors(manifest, 32),
        "text": lambda: text_features(manifest, vectorizer),
        "audio": lambda: extract_audio_features(manifest, AudioSettings()),
    }
    for modality, extract in extractors.items():
        items = int((manifest[modality] != "").sum())
        seconds = timed(extract)
        print(f"{modality:6s} {items:5d} items in {seconds:6.2f} s: {items / seconds:8.0f} items/s")


def features_run(cache: str) -> float:
    """Seconds the `features` pipeline takes inside a session, Kedro's start-up excluded."""
    with KedroSession.create(project_path=Path.cwd(),
                             runtime_params={"feature_cache": cache}) as session:
        return timed(lambda: session.run(pipeline_names=["features"]))


def main() -> int:
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(Path.cwd())
    throughput(pd.read_parquet(SPLIT))
    with tempfile.TemporaryDirectory() as cache:
        cold = features_run(cache)
        warm = features_run(cache)
    print(f"features pipeline: cold {cold:.2f} s, cached rerun {warm:.2f} s, "
          f"{cold / warm:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
