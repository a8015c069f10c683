"""``AudioDataset``: one audio file as a (samples, sample_rate) pair, through soundfile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from kedro.io import AbstractDataset

AudioClip = tuple[np.ndarray, int]


class AudioDataset(AbstractDataset[AudioClip, AudioClip]):
    """WAV, FLAC or OGG by the file's suffix; `subtype` sets the sample format when saving."""

    def __init__(self, filepath: str, subtype: str = "PCM_16",
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._subtype = subtype
        self.metadata = metadata

    def load(self) -> AudioClip:
        samples, sample_rate = sf.read(self._filepath, dtype="float32")
        return samples, sample_rate

    def save(self, data: AudioClip) -> None:
        samples, sample_rate = data
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        sf.write(self._filepath, samples, sample_rate, subtype=self._subtype)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "subtype": self._subtype}
