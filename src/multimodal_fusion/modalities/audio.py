"""Audio: load at a fixed rate, clean up, then a pooled MFCC vector or a log-mel spectrogram.

Preprocessing, in order: resample to one rate and downmix to mono (on load), optional
spectral-gating denoise, trim leading and trailing silence, optional pre-emphasis, optional
loudness normalisation. Features:
`mfcc` (MFCC with deltas pooled to a fixed-length vector, for an MLP) or `logmel` (a
fixed-length log-mel spectrogram, for a CNN trained end to end).
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import pandas as pd

from multimodal_fusion.modalities import FeatureTable, extract_per_file

# Bump when the extraction changes what it computes, so cached features are not reused.
AUDIO_FEATURES_VERSION = "audio-2"
EXTRACTORS = ("mfcc", "logmel")
MIN_SAMPLES = 2048
TARGET_RMS_DB = -20.0
LOGMEL_HOP = 256
GATE_FFT, GATE_HOP = 512, 128
QUIET_SHARE = 0.1


@dataclass(frozen=True)
class AudioSettings:
    """How a clip is cleaned and turned into features; see parameters_features.yml."""

    extractor: str = "mfcc"
    sample_rate: int = 16_000
    trim_top_db: float = 30.0
    denoise: float = 0.0
    pre_emphasis: float = 0.0
    normalise_loudness: bool = False
    n_mfcc: int = 20
    segments: int = 3
    n_mels: int = 40
    clip_seconds: float = 1.0


def mfcc_width(settings: AudioSettings) -> int:
    """MFCC, delta and delta-delta, each pooled as mean and std overall plus a mean per segment."""
    return 3 * settings.n_mfcc * (2 + settings.segments)


def logmel_shape(settings: AudioSettings) -> tuple[int, int, int]:
    """(channels, mel bands, frames) of a `clip_seconds` spectrogram."""
    frames = 1 + int(settings.clip_seconds * settings.sample_rate) // LOGMEL_HOP
    return 1, settings.n_mels, frames


def load_audio(path: str, sample_rate: int) -> np.ndarray:
    """Mono samples resampled to `sample_rate`, whatever the file's own rate and channels."""
    samples, _ = librosa.load(path, sr=sample_rate, mono=True)
    if samples.size == 0:
        raise ValueError("the file holds no samples")
    return samples


def spectral_gate(samples: np.ndarray, strength: float) -> np.ndarray:
    """Silence the time-frequency bins that do not rise above the background noise.

    The noise is estimated per frequency from the quietest tenth of the frames (the pauses
    around speech); a bin is kept only if it exceeds that noise's mean by `strength` of its
    standard deviations. Stationary hiss and hum go; the louder speech stays.
    """
    stft = librosa.stft(samples, n_fft=GATE_FFT, hop_length=GATE_HOP)
    magnitude = np.abs(stft)
    loudness = magnitude.mean(axis=0)
    quiet = magnitude[:, loudness <= np.quantile(loudness, QUIET_SHARE)]
    threshold = quiet.mean(axis=1, keepdims=True) + strength * quiet.std(axis=1, keepdims=True)
    gated = stft * (magnitude > threshold)
    return librosa.istft(gated, hop_length=GATE_HOP, length=samples.size).astype(np.float32)


def preprocess(samples: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """Denoise, trim silence, then pre-emphasis and loudness normalisation, as asked for."""
    if settings.denoise > 0:
        samples = spectral_gate(samples, settings.denoise)
    trimmed, _ = librosa.effects.trim(samples, top_db=settings.trim_top_db)
    if trimmed.size < MIN_SAMPLES:
        trimmed = np.pad(trimmed, (0, MIN_SAMPLES - trimmed.size))
    if settings.pre_emphasis > 0:
        trimmed = librosa.effects.preemphasis(trimmed, coef=settings.pre_emphasis)
    if settings.normalise_loudness:
        rms = np.sqrt(np.mean(trimmed**2))
        if rms > 0:
            trimmed = trimmed * (10 ** (TARGET_RMS_DB / 20) / rms)
    return trimmed


def mfcc_vector(samples: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """Pool frames over time, keeping coarse order through per-segment means.

    Segment means let the classifier hear that 'seven' starts with a hiss and ends voiced,
    which an overall mean alone would blur.
    """
    mfcc = librosa.feature.mfcc(y=samples, sr=settings.sample_rate, n_mfcc=settings.n_mfcc)
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


def logmel_image(samples: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """A log-mel spectrogram of exactly `clip_seconds`: centred crop or zero padding.

    Decibels relative to the clip's peak, scaled to about [-1, 1], so a CNN sees the same
    range whatever the recording level.
    """
    length = int(settings.clip_seconds * settings.sample_rate)
    if samples.size > length:
        start = (samples.size - length) // 2
        samples = samples[start:start + length]
    else:
        samples = np.pad(samples, (0, length - samples.size))
    mel = librosa.feature.melspectrogram(y=samples, sr=settings.sample_rate,
                                         n_mels=settings.n_mels, hop_length=LOGMEL_HOP)
    decibels = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    return (decibels / 40.0 + 1.0)[np.newaxis].astype(np.float32)


def extract_audio_features(manifest: pd.DataFrame, settings: AudioSettings) -> FeatureTable:
    """Features of every clip; clips are streamed one at a time, never all in memory."""
    if settings.extractor not in EXTRACTORS:
        raise ValueError(f"unknown audio extractor {settings.extractor!r}; "
                         f"choose one of {', '.join(EXTRACTORS)}")
    if settings.extractor == "mfcc":
        shape, encoder, transform = (mfcc_width(settings),), "mlp", mfcc_vector
    else:
        shape, encoder, transform = logmel_shape(settings), "small_cnn", logmel_image

    def extract(path: str) -> np.ndarray:
        return transform(preprocess(load_audio(path, settings.sample_rate), settings), settings)

    return extract_per_file(manifest, "audio", extract, shape, encoder)
