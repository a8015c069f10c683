"""``AudioDataset``: one audio file as a (samples, sample_rate) pair, through soundfile."""

from __future__ import annotations

from typing import Any

import numpy as np
import soundfile as sf

from multimodal_fusion.datasets.local_file import LocalFileDataset

AudioClip = tuple[np.ndarray, int]


class AudioDataset(LocalFileDataset):
    """WAV, FLAC or OGG by the file's suffix; `subtype` sets the sample format when saving."""

    def __init__(self, filepath: str, subtype: str = "PCM_16",
                 metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath, metadata)
        self._subtype = subtype

    def load(self) -> AudioClip:
        samples, sample_rate = sf.read(self._filepath, dtype="float32")
        return samples, sample_rate

    def save(self, data: AudioClip) -> None:
        samples, sample_rate = data
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        sf.write(self._filepath, samples, sample_rate, subtype=self._subtype)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "subtype": self._subtype}
