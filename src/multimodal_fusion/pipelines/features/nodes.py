"""Nodes of the `features` pipeline, one namespace per modality."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.modalities import FeatureTable
from multimodal_fusion.modalities.audio import MfccSettings, extract_mfcc_features
from multimodal_fusion.modalities.image import extract_image_tensors
from multimodal_fusion.modalities.text import TfidfSettings, fit_tfidf, tfidf_features


def image_tensors(manifest: pd.DataFrame, settings: dict) -> FeatureTable:
    """Normalised image tensors; the image encoder learns from them during training."""
    return extract_image_tensors(manifest, settings["size"])


def fit_text_vectorizer(manifest: pd.DataFrame, settings: dict) -> dict:
    """Fit TF-IDF on the training split only, so no test text leaks into the vocabulary."""
    train_texts = manifest.loc[manifest["split"] == "train", "text"].tolist()
    return fit_tfidf(train_texts, TfidfSettings(**settings))


def text_vectors(manifest: pd.DataFrame, vectorizer: dict) -> FeatureTable:
    """TF-IDF vectors for every sample's text."""
    return tfidf_features(manifest, vectorizer)


def audio_vectors(manifest: pd.DataFrame, settings: dict) -> FeatureTable:
    """Pooled MFCC vectors for every sample's audio clip."""
    return extract_mfcc_features(manifest, MfccSettings(**settings))
