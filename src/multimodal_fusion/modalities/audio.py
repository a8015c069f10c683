"""Audio: load at a fixed rate and clean up (preprocessing), then features.

Files are read by libsndfile (WAV, FLAC, OGG, MP3), and what it cannot read (AAC in an
.m4a: phones' voice memos; a video's sound) by FFmpeg's libraries through PyAV.
Preprocessing, in order: resample to one rate and downmix to mono (on load), optional
spectral-gating denoise, trim leading and trailing silence, optional pre-emphasis, optional
loudness normalisation. Its clips are kept on disk (see `clips`). Features:
`mfcc` (MFCC with deltas pooled to a fixed-length vector, for an MLP), `plp` (perceptual
linear prediction cepstra, pooled the same way) or `logmel` (a fixed-length log-mel
spectrogram, for a CNN trained end to end).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import librosa
import numpy as np
import pandas as pd
import soundfile

from multimodal_fusion.contract.quarantine import InputLimits
from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.parallel import map_in_order
from multimodal_fusion.modalities.cache import (
    cached_clip_store,
    cached_features,
    derived_key,
    fingerprint,
)
from multimodal_fusion.modalities.clips import (
    ClipStore,
    clip_locations,
    read_clip,
    write_clip_store,
)
from multimodal_fusion.modalities.common import (
    Failures,
    FeatureTable,
    Modality,
    Step,
    absent_table,
    extraction_settings,
    feature_table,
    modality_cells,
    values_per_file,
)

# Bump when preprocessing or extraction changes what it computes, so nothing stale is reused.
AUDIO_PREPROCESSING_VERSION = "audio-clean-1"
AUDIO_FEATURES_VERSION = "audio-3"
EXTRACTORS = ("mfcc", "plp", "logmel")
MIN_SAMPLES = 2048
TARGET_RMS_DB = -20.0
LOGMEL_HOP = 256
GATE_FFT, GATE_HOP = 512, 128
QUIET_SHARE = 0.1
PLP_FFT, PLP_HOP, PLP_BANDS = 512, 160, 21


@dataclass(frozen=True)
class AudioPreprocessing:
    """How a clip is loaded and cleaned; see parameters_features.yml."""

    sample_rate: int
    trim_top_db: float
    denoise: float
    pre_emphasis: float
    normalise_loudness: bool


@dataclass(frozen=True)
class AudioFeatures:
    """How a cleaned clip becomes features; `sample_rate` is the clip store's."""

    extractor: str
    sample_rate: int
    n_mfcc: int
    plp_order: int
    segments: int
    n_mels: int
    clip_seconds: float


def pooled_width(settings: AudioFeatures) -> int:
    """Coefficients, deltas and delta-deltas, each pooled as mean and std plus segment means."""
    coefficients = settings.n_mfcc if settings.extractor == "mfcc" else settings.plp_order
    return 3 * coefficients * (2 + settings.segments)


def logmel_shape(settings: AudioFeatures) -> tuple[int, int, int]:
    """(channels, mel bands, frames) of a `clip_seconds` spectrogram."""
    frames = 1 + int(settings.clip_seconds * settings.sample_rate) // LOGMEL_HOP
    return 1, settings.n_mels, frames


def load_audio(path: str, sample_rate: int) -> np.ndarray:
    """Mono samples resampled to `sample_rate`, whatever the file's own rate and channels."""
    if libsndfile_seconds(path) is not None:
        samples, _ = librosa.load(path, sr=sample_rate, mono=True)
    else:
        channels_last, rate = read_with_ffmpeg(path)
        samples = librosa.resample(librosa.to_mono(channels_last.T), orig_sr=rate,
                                   target_sr=sample_rate)
    if samples.size == 0:
        raise ValueError("the file holds no samples")
    return samples


def wav_truncation(path: str) -> str | None:
    """Why a WAV file is cut short, or None: its data chunk announces more bytes than follow.

    Decoders read a truncated WAV without complaint, padding what is there into a clip of
    a few samples; only the header tells what is missing. Other formats are left to their
    decoder.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
            return None
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk = handle.read(8)
            length = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                held = size - offset - 8
                if length != 0xFFFFFFFF and length > held:  # 0xFFFFFFFF: a streamed length
                    return (f"truncated: its header announces {length:,} bytes of samples, "
                            f"the file holds {held:,}")
                return None
            offset += 8 + length + length % 2
    return None


def libsndfile_seconds(path: str) -> float | None:
    """The file's length as libsndfile reads it from the header, or None for a format it
    does not know (FFmpeg is asked then)."""
    try:
        return soundfile.info(path).duration
    except soundfile.LibsndfileError:
        return None


def ffmpeg_seconds(path: str) -> float:
    """The length FFmpeg reads from the file's header, without decoding it."""
    with av.open(path) as container:
        stream = first_audio_stream(container, path)
        if stream.duration is not None:
            return float(stream.duration * stream.time_base)
        return (container.duration or 0) / av.time_base


def first_audio_stream(container: av.container.InputContainer, path: str) -> av.AudioStream:
    """The file's first sound track; a file without one (a silent video) cannot be used."""
    if not container.streams.audio:
        raise ValueError(f"{Path(path).name} holds no audio stream")
    return container.streams.audio[0]


def read_with_ffmpeg(path: str) -> tuple[np.ndarray, int]:
    """(frames, channels) float32 samples and their rate, decoded by FFmpeg (PyAV)."""
    with av.open(path) as container:
        stream = first_audio_stream(container, path)
        planar = av.AudioResampler(format="fltp")
        chunks = [converted.to_ndarray() for frame in container.decode(stream)
                  for converted in planar.resample(frame)]
        chunks += [converted.to_ndarray() for converted in planar.resample(None)]
        rate = stream.rate
    if not chunks:
        raise ValueError("the file holds no samples")
    return np.concatenate(chunks, axis=1).T, rate


def decode_for_check(path: str, max_seconds: float) -> tuple[np.ndarray, int]:
    """(frames, channels) samples at the file's own rate, read once its length is known to
    be within budget."""
    seconds = libsndfile_seconds(path)
    if seconds is not None:
        decode = lambda: soundfile.read(path, dtype="float32", always_2d=True)  # noqa: E731
    else:
        seconds = ffmpeg_seconds(path)
        decode = lambda: read_with_ffmpeg(path)  # noqa: E731
    if seconds > max_seconds:
        raise ValueError(f"{seconds:,.1f} s long, over the budget of {max_seconds:,.0f} s "
                         "(data_preparation.limits.max_audio_seconds)")
    return decode()


def check_audio_file(path: str, limits: InputLimits) -> None:
    """Refuse a clip that is cut short, empty, not finite, too short, too long or silent:
    what extraction could not use. Decode the rest."""
    truncation = wav_truncation(path)
    if truncation:
        raise ValueError(truncation)
    samples, rate = decode_for_check(path, limits.max_audio_seconds)
    frames = samples.shape[0]
    if frames == 0:
        raise ValueError("the file holds no samples")
    unusable = int((~np.isfinite(samples)).sum())
    if unusable:
        raise ValueError(f"{unusable:,} of its {samples.size:,} samples are not finite (NaN "
                         "or infinite): a float file written from a failed computation")
    if frames < limits.min_audio_seconds * rate:
        raise ValueError(f"only {frames} samples ({frames / rate:.3f} s), under "
                         f"{limits.min_audio_seconds} s (data_preparation.limits."
                         "min_audio_seconds)")
    peak = float(np.abs(samples).max())
    if peak <= 10 ** (limits.silence_dbfs / 20):
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise ValueError(f"silent: its loudest sample is at {level} dBFS, under "
                         f"{limits.silence_dbfs:g} dBFS (data_preparation.limits.silence_dbfs)")


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


def preprocess(samples: np.ndarray, settings: AudioPreprocessing) -> np.ndarray:
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


def bark(frequency: np.ndarray) -> np.ndarray:
    """Hertz to the Bark scale of critical bands (Schroeder's formula, as in Hermansky 1990)."""
    return 6.0 * np.arcsinh(frequency / 600.0)


def bark_filterbank(sample_rate: int) -> np.ndarray:
    """(bands, FFT bins) critical-band weights, 1 Bark apart, with the equal-loudness curve.

    Each band has PLP's trapezoidal critical-band shape on the Bark axis; its weight is the
    ear's equal-loudness sensitivity at the band's centre, so the bands are heard as loud as
    the ear would hear them.
    """
    bins = bark(np.fft.rfftfreq(PLP_FFT, 1.0 / sample_rate))
    centres = np.linspace(0.0, bark(np.array(sample_rate / 2.0)), PLP_BANDS)
    offset = bins[np.newaxis, :] - centres[:, np.newaxis]
    shape = np.where(offset < -0.5, 10.0 ** (2.5 * (offset + 0.5)), np.where(
        offset > 0.5, 10.0 ** (0.5 - offset), 1.0))
    shape[(offset < -1.3) | (offset > 2.5)] = 0.0
    omega_squared = (2 * np.pi * 600.0 * np.sinh(centres / 6.0)) ** 2
    loudness = ((omega_squared + 56.8e6) * omega_squared**2
                / ((omega_squared + 6.3e6) ** 2 * (omega_squared + 0.38e9)))
    return shape * loudness[:, np.newaxis]


def levinson(autocorrelation: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """All-pole coefficients (frames, order + 1) and prediction error, for every frame at once."""
    frames = autocorrelation.shape[0]
    coefficients = np.zeros((frames, order + 1))
    coefficients[:, 0] = 1.0
    error = autocorrelation[:, 0].copy()
    for i in range(1, order + 1):
        reflection = -(coefficients[:, :i] * autocorrelation[:, i:0:-1]).sum(axis=1) / error
        coefficients[:, 1:i + 1] += reflection[:, np.newaxis] * coefficients[:, i - 1::-1]
        error *= 1.0 - reflection**2
    return coefficients, error


def plp_cepstra(samples: np.ndarray, settings: AudioFeatures) -> np.ndarray:
    """(order, frames) perceptual linear prediction cepstra (Hermansky 1990).

    Power spectrum, critical bands weighted by equal loudness, cube-root compression
    (intensity to loudness), an all-pole model of that auditory spectrum, its cepstrum.
    The model keeps the spectral envelope that carries the phonemes and drops the speaker's
    pitch harmonics that MFCC partly keep.
    """
    power = np.abs(librosa.stft(samples, n_fft=PLP_FFT, hop_length=PLP_HOP)) ** 2
    auditory = np.cbrt(bark_filterbank(settings.sample_rate) @ power).T + 1e-10
    autocorrelation = np.fft.irfft(auditory, axis=1)[:, :settings.plp_order + 1]
    coefficients, error = levinson(autocorrelation, settings.plp_order)
    cepstra = np.zeros((len(auditory), settings.plp_order + 1))
    cepstra[:, 0] = np.log(np.maximum(error, 1e-10))
    for n in range(1, settings.plp_order + 1):
        cepstra[:, n] = -coefficients[:, n] - sum(
            (k / n) * cepstra[:, k] * coefficients[:, n - k] for k in range(1, n))
    return cepstra[:, 1:].T


def pooled_vector(samples: np.ndarray, settings: AudioFeatures) -> np.ndarray:
    """MFCC or PLP frames with deltas, pooled over time keeping coarse order.

    Segment means let the classifier hear that 'seven' starts with a hiss and ends voiced,
    which an overall mean alone would blur.
    """
    if settings.extractor == "mfcc":
        cepstra = librosa.feature.mfcc(y=samples, sr=settings.sample_rate,
                                       n_mfcc=settings.n_mfcc)
    else:
        cepstra = plp_cepstra(samples, settings)
    frames = np.concatenate([
        cepstra,
        librosa.feature.delta(cepstra, mode="nearest"),
        librosa.feature.delta(cepstra, order=2, mode="nearest"),
    ])
    segments = np.array_split(frames, settings.segments, axis=1)
    pooled = [frames.mean(axis=1), frames.std(axis=1)]
    pooled += [segment.mean(axis=1) if segment.size else np.zeros(len(frames))
               for segment in segments]
    return np.concatenate(pooled).astype(np.float32)


def logmel_image(samples: np.ndarray, settings: AudioFeatures) -> np.ndarray:
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


def clean_clip(path: str, settings: AudioPreprocessing) -> np.ndarray:
    """A file's samples at the set rate, mono, cleaned as the settings ask."""
    return preprocess(load_audio(path, settings.sample_rate), settings).astype(np.float32)


def preprocess_clips(manifest: pd.DataFrame, settings: AudioPreprocessing, folder: Path,
                     key: str, workers: int = 1) -> ClipStore:
    """Clean every clip into a store at `folder`, one clip in memory at a time per worker.

    A file that cannot be read costs its sample the audio; the store's index keeps why.
    """
    cells = modality_cells(manifest, "audio")
    positions = np.flatnonzero((cells != "").to_numpy())
    results = map_in_order(lambda path: clean_clip(path, settings),
                           cells.iloc[positions].tolist(), workers, "audio preprocessing")
    failures = Failures(manifest, "audio")
    return write_clip_store(folder, failures.successes(positions, results), len(manifest),
                            settings.sample_rate, key, failures.arrays)


def clip_features(manifest: pd.DataFrame, store: ClipStore, settings: dict,
                  workers: int = 1) -> FeatureTable:
    """Features of every cleaned clip in the store, read from disk one clip at a time."""
    features = typed_settings(AudioFeatures, settings, "audio.features",
                              sample_rate=int(store["sample_rate"]))
    if features.extractor not in EXTRACTORS:
        raise ValueError(f"unknown audio extractor {features.extractor!r}; "
                         f"choose one of {', '.join(EXTRACTORS)}")
    if features.extractor in ("mfcc", "plp"):
        shape, encoder, transform = (pooled_width(features),), "mlp", pooled_vector
    else:
        shape, encoder, transform = logmel_shape(features), "small_cnn", logmel_image
    present = store["present"]
    if not present.any():
        return absent_table(manifest, "audio") | Failures(manifest, "audio").arrays(store)
    failures = Failures(manifest, "audio")
    values, kept = values_per_file(
        manifest, present, clip_locations(store),
        lambda location: transform(read_clip(location), features), shape, workers,
        "audio features", failures)
    return feature_table(manifest, values, kept, encoder, failures=failures.arrays(store))


def preprocess_audio(manifest: pd.DataFrame, settings: dict, extraction: dict) -> ClipStore:
    """Cleaned clips on disk, reused when clips and preprocessing settings are unchanged."""
    checked = typed_settings(AudioPreprocessing, settings, "audio.preprocessing")
    run = extraction_settings(extraction)
    key = fingerprint(manifest, "audio", asdict(checked), AUDIO_PREPROCESSING_VERSION,
                      files=True, cache=run.cache)
    return cached_clip_store(run.cache, key, lambda folder: preprocess_clips(
        manifest, checked, folder, key, run.processes))


def audio_vectors(manifest: pd.DataFrame, clips: ClipStore, settings: dict,
                  extraction: dict) -> FeatureTable:
    """MFCC, PLP or log-mel features of the cleaned clips, reused when nothing changed."""
    run = extraction_settings(extraction)
    key = derived_key(str(clips["key"]), settings, AUDIO_FEATURES_VERSION)
    return cached_features(run.cache, "audio", key, lambda: clip_features(
        manifest, clips, settings, run.processes))


MODALITY = Modality(
    name="audio",
    column="audio",
    steps=(
        Step(preprocess_audio, ("manifest", "preprocessing", "extraction"), "clips",
             "preprocess_audio"),
        Step(audio_vectors, ("manifest", "clips", "features", "extraction"), "table",
             "audio_vectors"),
    ),
    encoders=("mlp", "small_cnn"),
    check_file=check_audio_file,
)
