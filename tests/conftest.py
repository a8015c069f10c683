"""Shared test setup: one torch thread, no telemetry, and small on-disk samples."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
from kedro.config import OmegaConfigLoader  # noqa: E402
from PIL import Image  # noqa: E402

from multimodal_fusion.settings import CONFIG_LOADER_ARGS  # noqa: E402

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]


def project_parameters(preset: str | None = None) -> dict:
    """conf/base's parameters as a run sees them, presets resolved."""
    loader = OmegaConfigLoader(str(REPO / "conf"), **CONFIG_LOADER_ARGS,
                               runtime_params={"preset": preset} if preset else {})
    return loader["parameters"]


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


def write_image(path, mode: str = "RGB", size: tuple[int, int] = (20, 12)) -> str:
    """A random image in the given Pillow mode."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    image = image.convert(mode)
    image.save(path)
    return str(path)


@pytest.fixture
def tone_file(tmp_path):
    return write_tone(tmp_path / "tone.wav")
