"""What the tests share: the project's parameters, small projects, files and toy data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from kedro.config import OmegaConfigLoader
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from multimodal_fusion.modalities.audio import AudioPreprocessing, clip_features, preprocess_clips
from multimodal_fusion.modalities.common import feature_table
from multimodal_fusion.models.inputs import assemble_model_inputs
from multimodal_fusion.settings import CONFIG_LOADER_ARGS

REPO = Path(__file__).resolve().parents[1]


def project_parameters(preset: str | None = None) -> dict:
    """conf/base's parameters as a run sees them, presets resolved."""
    loader = OmegaConfigLoader(str(REPO / "conf"), **CONFIG_LOADER_ARGS,
                               runtime_params={"preset": preset} if preset else {})
    return loader["parameters"]


def merged(base: dict, changes: dict) -> dict:
    """`base` with `changes` laid over it, group by group, as Kedro merges `--params`."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out.get(key) or {}, value) if isinstance(value, dict) and value else (
            value)
    return out


def settings(group: str, **changes) -> dict:
    """The project's parameter group `group` (dotted: `text.features`), some keys changed."""
    values = project_parameters()
    for key in group.split("."):
        values = values[key]
    return merged(values, changes)


def typed(cls: type, group: str, **changes):
    """Typed settings `cls` from the project's parameter group `group`, some keys changed."""
    return cls(**settings(group, **changes))


def training_settings(changes: dict) -> dict:
    """The project's `training` parameters with `changes` laid over them."""
    return merged(project_parameters()["training"], changes)


def make_project(folder: Path) -> Path:
    """A copy of the project's configuration, so runs write under `folder`, not the repo."""
    shutil.copytree(REPO / "conf" / "base", folder / "conf" / "base")
    (folder / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", folder / "pyproject.toml")
    (folder / "src").mkdir()  # the package itself is the installed one
    return folder


def write_tone(path, sample_rate: int = 22_050, seconds: float = 0.5, channels: int = 1,
               frequency: float = 440.0) -> str:
    """A short sine tone with silence around it, as a stand-in for speech."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    tone = 0.5 * np.sin(2 * np.pi * frequency * t)
    samples = np.concatenate([np.zeros(2000), tone, np.zeros(2000)])
    if channels > 1:
        samples = np.stack([samples] * channels, axis=1)
    sf.write(path, samples, sample_rate)
    return str(path)


def write_aac(path, samples: np.ndarray, sample_rate: int) -> str:
    """Mono samples as AAC in an .m4a, as a phone records a voice memo."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = sample_rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return str(path)


def write_image(path, mode: str = "RGB", size: tuple[int, int] = (20, 12)) -> str:
    """A random image in the given Pillow mode."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    image = image.convert(mode)
    image.save(path)
    return str(path)


def manifest_of(column: str, cells: list[str]) -> pd.DataFrame:
    """A manifest of one modality column, as `read_manifest` gives it: rows from 1."""
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(cells))], column: cells})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "/data/manifest.csv"
    return frame


def audio_features(manifest: pd.DataFrame, folder, cleaning: AudioPreprocessing | None = None,
                   **features) -> dict:
    """Both audio steps, the clips stored in a folder of their own."""
    clips = folder / f"clips-{len(list(folder.iterdir()))}"
    cleaning = cleaning or typed(AudioPreprocessing, "audio.preprocessing")
    store = preprocess_clips(manifest, cleaning, clips, "key")
    return clip_features(manifest, store, settings("audio.features", **features))


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file short, as a full disk or a killed writer leaves it."""
    path.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])


# Small settings that train the toy inputs below in a second or two.
TOY_SETTINGS = training_settings({
    "model": {"fusion": "concat", "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0,
              "standardise": ["audio"]},
    "fit": {"max_epochs": 30, "batch_size": 16, "learning_rate": 0.01, "patience": 30,
            "modality_dropout": 0.2, "device": "cpu", "checkpoint_dir": None},
})


def toy_inputs(n: int = 120) -> dict[str, np.ndarray]:
    """Two classes told apart by the audio vector; text is pure noise; a third lack audio."""
    rng = np.random.default_rng(0)
    labels = np.array(["no", "yes"])[np.arange(n) % 2]
    audio = rng.normal(size=(n, 6)).astype(np.float32) * 5 + 40
    audio[:, 0] += np.where(labels == "yes", 12.0, -12.0)
    audio_present = rng.random(n) > 0.3
    audio[~audio_present] = 0
    splits = np.array(["train", "train", "val", "test"])[np.arange(n) // 2 % 4]
    manifest = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "label": labels,
                             "split": splits})
    tables = {
        "audio": feature_table(manifest.iloc[::-1], audio[::-1], audio_present[::-1], "mlp"),
        "text": feature_table(manifest, rng.normal(size=(n, 4)).astype(np.float32),
                              np.ones(n, bool), "mlp"),
        "image": feature_table(manifest, np.zeros((n, 3, 4, 4), np.float32), np.zeros(n, bool),
                               "small_cnn"),
    }
    return assemble_model_inputs(manifest, tables)


def with_fit(**changes) -> dict:
    return {**TOY_SETTINGS, "fit": {**TOY_SETTINGS["fit"], **changes}}


def image_toy_inputs(n: int = 150, classes: int = 3) -> dict[str, np.ndarray]:
    """Images whose bright quarter names the class, word ids that name it one time in two,
    a noise vector, and a third of the images missing."""
    rng = np.random.default_rng(0)
    label_index = np.arange(n) % classes
    images = rng.normal(0, 0.3, (n, 3, 32, 32)).astype(np.float32)
    for i, k in enumerate(label_index):
        images[i, :, 16 * (k % 2):16 * (k % 2) + 16, 16 * (k // 2):16 * (k // 2) + 16] += 2.0
    present = rng.random(n) > 0.33
    images[~present] = 0
    words = np.where(rng.random((n, 4)) < 0.5, label_index[:, None] + 2, 9).astype(np.int64)
    manifest = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)],
                             "label": [f"c{k}" for k in label_index],
                             "split": np.array(["train", "train", "train", "val", "test"])[
                                 np.arange(n) // classes % 5]})
    tables = {
        "image": feature_table(manifest, images, present, "small_cnn"),
        "text": feature_table(manifest, words, np.ones(n, bool), "embedding_bag",
                              {"vocab_size": 12}),
        "audio": feature_table(manifest, rng.normal(size=(n, 5)).astype(np.float32),
                               np.ones(n, bool), "mlp"),
    }
    return assemble_model_inputs(manifest, tables)


CLASSES = ("apple", "banana", "007")
PER_CLASS = 12
TABULAR = {"numeric": ["cue"], "categorical": ["band"]}


def write_samples(folder: Path) -> pd.DataFrame:
    """36 samples of three classes, each modality telling them apart on its own."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(len(CLASSES) * PER_CLASS):
        k = i % len(CLASSES)
        pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
        pixels[[slice(0, 3), slice(3, 6), slice(5, 8)][k]] = 250
        Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
        write_tone(folder / f"{i}.wav", sample_rate=8000, seconds=0.3,
                   frequency=300.0 * (k + 1) + rng.uniform(-20, 20))
        rows.append({"sample_id": f"s{i}", "label": CLASSES[k], "image": f"{i}.png",
                     "text": f"this one is an {CLASSES[k]}", "audio": f"{i}.wav",
                     "cue": f"{k + rng.normal(0, 0.1):.2f}", "band": ["lo", "mid", "hi"][k],
                     "source": f"batch-{i % 2}"})
    return pd.DataFrame(rows)


def sample_project(root: Path) -> tuple[Path, Path, pd.DataFrame]:
    """A project folder and a folder of `write_samples`'s files with their manifest.csv."""
    samples = root / "samples"
    samples.mkdir()
    manifest = write_samples(samples)
    manifest.to_csv(samples / "manifest.csv", index=False)
    return make_project(root / "project"), samples, manifest


def run_small(project: Path, pipeline: str, load_versions: dict | None = None, **params) -> None:
    """`pipeline` (or several, joined by commas) on a small, fast setting, everything it
    writes inside `project`."""
    bootstrap_project(project)
    params = {"preset": "fast", "image": {"preprocessing": {"size": 8}},
              "extraction": {"cache": str(project / "cache")},
              "training": {"fit": {"max_epochs": 3, "patience": 3, "batch_size": 16,
                                   "checkpoint_dir": str(project / "checkpoints")}}, **params}
    params["compare"] = {"trainings": str(project / "trainings"), **params.get("compare", {})}
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=pipeline.split(","), load_versions=load_versions or {})


def search_settings(folder, **search) -> dict:
    """Toy-sized training with a search of `search` (eight trials by default) in `folder`."""
    return training_settings({
        "model": {"fusion": "concat", "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0},
        "search": {"n_trials": 8, "keep": "best",
                   "strategies": ["concat", "late", "weighted_sum"], "hidden_dim": [16, 32],
                   "startup_trials": 2, "prune_after_epochs": 1,
                   "folder": str(folder / "search"), **search},
        "fit": {"max_epochs": 6, "patience": 3, "batch_size": 32, "device": "cpu",
                "checkpoint_dir": str(folder / "checkpoints")}})
