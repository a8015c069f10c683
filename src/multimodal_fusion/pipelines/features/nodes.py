"""Nodes of the `features` pipeline, one namespace per modality."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.modalities import FeatureTable
from multimodal_fusion.modalities.audio import (
    AUDIO_FEATURES_VERSION,
    AudioSettings,
    extract_audio_features,
)
from multimodal_fusion.modalities.cache import cached_features, fingerprint
from multimodal_fusion.modalities.image import IMAGE_FEATURES_VERSION, extract_image_tensors
from multimodal_fusion.modalities.text import (
    TEXT_FEATURES_VERSION,
    TextSettings,
    fit_text_features,
    text_features,
)


def image_tensors(manifest: pd.DataFrame, settings: dict, cache: str | None) -> FeatureTable:
    """Normalised image tensors, reused from the cache when images and settings are unchanged."""
    key = fingerprint(manifest, "image", settings, IMAGE_FEATURES_VERSION, files=True)
    return cached_features(cache, "image", key,
                           lambda: extract_image_tensors(manifest, settings["size"],
                                                         settings["encoder"],
                                                         settings.get("augment"),
                                                         settings.get("weights")))


def fit_text_vectorizer(manifest: pd.DataFrame, settings: dict) -> dict:
    """Fit the text extractor on the training split only, so no test text leaks into it."""
    train_texts = manifest.loc[manifest["split"] == "train", "text"].tolist()
    return fit_text_features(train_texts, TextSettings(**settings))


def text_vectors(manifest: pd.DataFrame, vectorizer: dict, cache: str | None) -> FeatureTable:
    """Every sample's text features, reused when texts and the fitted extractor are unchanged."""
    key = fingerprint(manifest, "text", vectorizer, TEXT_FEATURES_VERSION, files=False)
    return cached_features(cache, "text", key, lambda: text_features(manifest, vectorizer))


def audio_vectors(manifest: pd.DataFrame, settings: dict, cache: str | None) -> FeatureTable:
    """MFCC vectors or log-mel spectrograms, reused when clips and settings are unchanged."""
    key = fingerprint(manifest, "audio", settings, AUDIO_FEATURES_VERSION, files=True)
    return cached_features(cache, "audio", key,
                           lambda: extract_audio_features(manifest, AudioSettings(**settings)))
