"""Feature extraction on the demo: throughput per extractor, cache and worker processes.

Run from the project's root after `kedro run --pipelines=train` (which builds the demo and
its split):

    python benchmarks/features.py

Everything is measured in this one process, as ratios against a baseline measured here too:
- items/s of each modality's steps alone, in this process (one worker);
- the `features` pipeline through a KedroSession with an empty cache folder (cold, with the
  default `extraction.workers: auto`), then again with the folder it filled (cached);
- audio preprocessing + MFCC in one process against the worker-process path with every
  core, worker start-up included, on the demo and on the demo's clips four times over. (The
  pipeline itself starts workers only when the work left would take over 10 s.)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from unittest.mock import patch

import pandas as pd
from joblib.externals.loky import get_reusable_executor
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from multimodal_fusion.core import parallel
from multimodal_fusion.core.parallel import resolve_workers
from multimodal_fusion.modalities.audio import AudioPreprocessing, clip_features, preprocess_clips
from multimodal_fusion.modalities.image import (
    ImageFeatures,
    ImagePreprocessing,
    extract_image_tensors,
    image_features,
)
from multimodal_fusion.modalities.text import (
    TextPreprocessing,
    TextSettings,
    clean_texts,
    fit_text_features,
    text_features,
)
from multimodal_fusion.settings import CONFIG_LOADER_ARGS

SPLITS = Path("data/03_primary/split_manifest.parquet")  # one folder per run's version


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def report(name: str, items: int, seconds: float) -> None:
    print(f"{name:32s} {items:5d} items in {seconds:6.2f} s: {items / seconds:8.0f} items/s")


def throughput(manifest: pd.DataFrame, scratch: Path, params: dict) -> None:
    """Items per second of each step alone, on every sample that has the modality, with the
    project's settings (`params`) but the extractor measured."""
    counts = {m: int((manifest[m] != "").sum()) for m in ("image", "text", "audio")}
    image, text, audio = params["image"], params["text"], params["audio"]

    def tensors(size: int) -> dict:
        chosen = ImagePreprocessing(**{**image["preprocessing"], "size": size})
        return extract_image_tensors(manifest, chosen, 1)

    report("image preprocessing (32 px)", counts["image"], timed(lambda: tensors(32)))
    pretrained = ImageFeatures(**{**image["features"], "encoder": "efficientnet_lite0"})
    report("image efficientnet_lite0 (96 px)", counts["image"],
           timed(lambda: image_features(tensors(96), pretrained)))
    cleaning = TextPreprocessing(**text["preprocessing"])
    cleaned = manifest.assign(text=clean_texts(manifest["text"].tolist(), cleaning))
    train = cleaned.loc[cleaned["split"] == "train", "text"].tolist()
    for extractor in ("tfidf", "word2vec", "minilm"):
        chosen = TextSettings(**{**text["features"], "extractor": extractor})
        state = fit_text_features(train, chosen, seed=params["seed"])
        report(f"text {extractor}", counts["text"],
               timed(lambda state=state: text_features(cleaned, state)))
    store = {}
    report("audio preprocessing", counts["audio"], timed(lambda: store.setdefault(
        "clips", preprocess_clips(manifest, AudioPreprocessing(**audio["preprocessing"]),
                                  scratch / "clips", "k"))))
    for extractor in ("mfcc", "plp", "logmel"):
        settings = {**audio["features"], "extractor": extractor}
        report(f"audio {extractor}", counts["audio"],
               timed(lambda s=settings: clip_features(manifest, store["clips"], s)))


def audio_workers(manifest: pd.DataFrame, scratch: Path, workers: int, audio: dict) -> float:
    """Seconds for audio preprocessing + MFCC with this many workers, their start-up included.

    The worker path is forced (no 10 s threshold) to measure it on the demo.
    """
    def both():
        folder = scratch / f"w{workers}-{time.time()}"
        cleaning = AudioPreprocessing(**audio["preprocessing"])
        store = preprocess_clips(manifest, cleaning, folder, "k", workers)
        clip_features(manifest, store, {**audio["features"], "extractor": "mfcc"}, workers)

    get_reusable_executor().shutdown(wait=True)
    with patch.object(parallel, "PARALLEL_WORTH_SECONDS", 0.0):
        return timed(both)


def four_times_over(manifest: pd.DataFrame) -> pd.DataFrame:
    """The demo's rows four times, with new sample ids: a larger dataset of the same files."""
    copies = [manifest.assign(sample_id=manifest["sample_id"] + f"-{i}") for i in range(4)]
    return pd.concat(copies, ignore_index=True)


def features_run(cache: str, workers: int | str) -> float:
    """Seconds the `features` pipeline takes inside a session, Kedro's start-up excluded."""
    params = {"extraction": {"cache": cache, "workers": workers}}
    with KedroSession.create(project_path=Path.cwd(), runtime_params=params) as session:
        return timed(lambda: session.run(pipeline_names=["features"]))


def main() -> int:
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    bootstrap_project(Path.cwd())
    params = OmegaConfigLoader("conf", **CONFIG_LOADER_ARGS)["parameters"]
    manifest = pd.read_parquet(sorted(SPLITS.iterdir())[-1] / SPLITS.name)
    cores = resolve_workers("auto")
    with tempfile.TemporaryDirectory() as scratch:
        throughput(manifest, Path(scratch), params)
        cold = features_run(str(Path(scratch) / "cache"), "auto")
        cached = features_run(str(Path(scratch) / "cache"), "auto")
        print(f"features pipeline: cold {cold:.2f} s, cached rerun {cached:.2f} s "
              f"({cold / cached:.1f}x faster)")
        for name, rows in (("demo", manifest), ("demo x4", four_times_over(manifest))):
            alone = audio_workers(rows, Path(scratch), 1, params["audio"])
            shared = audio_workers(rows, Path(scratch), cores, params["audio"])
            print(f"audio preprocessing + mfcc, {name} ({len(rows)} clips): 1 worker "
                  f"{alone:.2f} s, {cores} workers {shared:.2f} s ({alone / shared:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
