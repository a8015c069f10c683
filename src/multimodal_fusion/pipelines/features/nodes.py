"""Nodes of the `features` pipeline: per modality, preprocessing and then extraction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from multimodal_fusion.modalities import FeatureTable, modality_cells, resolve_workers
from multimodal_fusion.modalities.audio import (
    AUDIO_FEATURES_VERSION,
    AUDIO_PREPROCESSING_VERSION,
    AudioPreprocessing,
    clip_features,
    preprocess_clips,
)
from multimodal_fusion.modalities.cache import (
    cached_clip_store,
    cached_features,
    derived_key,
    fingerprint,
)
from multimodal_fusion.modalities.clips import ClipStore
from multimodal_fusion.modalities.image import (
    IMAGE_FEATURES_VERSION,
    IMAGE_PREPROCESSING_VERSION,
    extract_image_tensors,
    image_features,
)
from multimodal_fusion.modalities.text import (
    TEXT_FEATURES_VERSION,
    TextPreprocessing,
    TextSettings,
    clean_texts,
    fit_text_features,
    text_features,
)


def preprocess_images(manifest: pd.DataFrame, settings: dict, cache: str | None,
                      workers: int | str | None) -> FeatureTable:
    """Decoded, resized, normalised image tensors, reused when images and size are unchanged."""
    key = fingerprint(manifest, "image", settings, IMAGE_PREPROCESSING_VERSION, files=True)
    tensors = cached_features(cache, "image_tensors", key, lambda: extract_image_tensors(
        manifest, settings["size"], resolve_workers(workers), settings.get("fit", "squash")))
    return tensors | {"key": np.array(key)}


def encode_images(tensors: FeatureTable, settings: dict, cache: str | None) -> FeatureTable:
    """The tensors for a trainable encoder, or frozen pretrained features computed once."""
    if settings["encoder"] != "efficientnet_lite0":
        return image_features(tensors, settings["encoder"], settings.get("augment"),
                              settings.get("weights"))
    key = derived_key(str(tensors["key"]), settings, IMAGE_FEATURES_VERSION)
    return cached_features(cache, "image", key,
                           lambda: image_features(tensors, settings["encoder"]))


def clean_text_column(manifest: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Each sample's split and cleaned text: what every text encoder reads."""
    texts = clean_texts(modality_cells(manifest, "text").tolist(), TextPreprocessing(**settings))
    return pd.DataFrame({"sample_id": manifest["sample_id"], "split": manifest["split"],
                         "text": texts}, index=manifest.index)


def fit_text_vectorizer(texts: pd.DataFrame, settings: dict, preprocessing: dict,
                        seed: int) -> dict:
    """Fit the text extractor on the training split only, so no test text leaks into it.

    The cleaning settings are kept with it, so the stored extractor says how to clean a text.
    """
    train_texts = texts.loc[texts["split"] == "train", "text"].tolist()
    return {**fit_text_features(train_texts, TextSettings(**settings), seed),
            "preprocessing": preprocessing}


def text_vectors(texts: pd.DataFrame, vectorizer: dict, cache: str | None) -> FeatureTable:
    """Every sample's text features, reused when texts and the fitted extractor are unchanged."""
    key = fingerprint(texts, "text", vectorizer, TEXT_FEATURES_VERSION, files=False)
    return cached_features(cache, "text", key, lambda: text_features(texts, vectorizer))


def preprocess_audio(manifest: pd.DataFrame, settings: dict, cache: str | None,
                     workers: int | str | None) -> ClipStore:
    """Cleaned clips on disk, reused when clips and preprocessing settings are unchanged."""
    key = fingerprint(manifest, "audio", settings, AUDIO_PREPROCESSING_VERSION, files=True)
    return cached_clip_store(cache, key, lambda folder: preprocess_clips(
        manifest, AudioPreprocessing(**settings), folder, key, resolve_workers(workers)))


def audio_vectors(manifest: pd.DataFrame, clips: ClipStore, settings: dict, cache: str | None,
                  workers: int | str | None) -> FeatureTable:
    """MFCC, PLP or log-mel features of the cleaned clips, reused when nothing changed."""
    key = derived_key(str(clips["key"]), settings, AUDIO_FEATURES_VERSION)
    return cached_features(cache, "audio", key, lambda: clip_features(
        manifest, clips, settings, resolve_workers(workers)))
