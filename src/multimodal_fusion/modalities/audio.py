"""Audio: load at a fixed rate, trim silence, MFCC with deltas, pooled to a fixed-length vector."""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import pandas as pd

from multimodal_fusion.modalities import FeatureTable, extract_per_file

# Bump when the extraction changes what it computes, so cached features are not reused.
AUDIO_FEATURES_VERSION = "mfcc-pooled-1"


@dataclass(frozen=True)
class MfccSettings:
    """How a clip becomes a vector; the pooled length is `mfcc_width(settings)`."""

    sample_rate: int = 16_000
    n_mfcc: int = 20
    trim_top_db: float = 30.0
    segments: int = 3


def mfcc_width(settings: MfccSettings) -> int:
    """MFCC, delta and delta-delta, each pooled as mean and std overall plus a mean per segment."""
    return 3 * settings.n_mfcc * (2 + settings.segments)


def load_audio(path: str, sample_rate: int) -> np.ndarray:
    """Mono samples resampled to `sample_rate`, whatever the file's own rate and channels."""
    samples, _ = librosa.load(path, sr=sample_rate, mono=True)
    if samples.size == 0:
        raise ValueError("the file holds no samples")
    return samples


def mfcc_vector(samples: np.ndarray, settings: MfccSettings) -> np.ndarray:
    """Pool frames over time, keeping coarse order through per-segment means.

    Segment means let the classifier hear that 'seven' starts with a hiss and ends voiced,
    which an overall mean alone would blur.
    """
    trimmed, _ = librosa.effects.trim(samples, top_db=settings.trim_top_db)
    if trimmed.size < 2048:
        trimmed = np.pad(trimmed, (0, 2048 - trimmed.size))
    mfcc = librosa.feature.mfcc(y=trimmed, sr=settings.sample_rate, n_mfcc=settings.n_mfcc)
    frames = np.concatenate([
        mfcc,
        librosa.feature.delta(mfcc, mode="nearest"),
        librosa.feature.delta(mfcc, order=2, mode="nearest"),
    ])
    segments = np.array_split(frames, settings.segments, axis=1)
    pooled = [frames.mean(axis=1), frames.std(axis=1)]
    pooled += [segment.mean(axis=1) if segment.size else np.zeros(len(frames))
               for segment in segments]
    return np.concatenate(pooled).astype(np.float32)


def extract_mfcc_features(manifest: pd.DataFrame, settings: MfccSettings) -> FeatureTable:
    """One pooled MFCC vector per clip; clips are streamed one at a time, never all in memory."""

    def to_vector(path: str) -> np.ndarray:
        return mfcc_vector(load_audio(path, settings.sample_rate), settings)

    return extract_per_file(manifest, "audio", to_vector, (mfcc_width(settings),), "mlp")
