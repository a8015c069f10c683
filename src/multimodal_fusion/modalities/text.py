"""Text: Unicode normalisation and TF-IDF on character n-grams, fitted on training texts only.

Character n-grams survive typos and need no tokeniser per language. The fitted vocabulary is
stored as plain JSON (no pickle), so a stored model can be rebuilt without running code.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from multimodal_fusion.modalities import FeatureTable, feature_table

# Bump when the extraction changes what it computes, so cached features are not reused.
TEXT_FEATURES_VERSION = "tfidf-char-1"


@dataclass(frozen=True)
class TfidfSettings:
    """Character n-gram range and vocabulary cap of the TF-IDF vectoriser."""

    ngram_min: int = 2
    ngram_max: int = 4
    max_features: int = 3000
    min_df: int = 2


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the same word always looks the same."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _vectorizer(settings: TfidfSettings) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        preprocessor=normalise_text,
        ngram_range=(settings.ngram_min, settings.ngram_max),
        max_features=settings.max_features,
        min_df=settings.min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )


def fit_tfidf(texts: list[str], settings: TfidfSettings) -> dict:
    """Fit on the given (training) texts; returns the vocabulary and weights as JSON data."""
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("no training sample has text; drop the text column or add texts")
    vectorizer = _vectorizer(settings).fit(texts)
    return {
        "settings": asdict(settings),
        "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
        "idf": vectorizer.idf_.astype(float).tolist(),
    }


def load_tfidf(state: dict) -> TfidfVectorizer:
    """Rebuild a fitted vectoriser from `fit_tfidf`'s JSON data."""
    vectorizer = _vectorizer(TfidfSettings(**state["settings"]))
    vectorizer.vocabulary_ = state["vocabulary"]
    vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float32)
    return vectorizer


def tfidf_features(manifest: pd.DataFrame, state: dict) -> FeatureTable:
    """A TF-IDF row per sample; samples without text get zeros and are marked absent."""
    texts = manifest["text"] if "text" in manifest.columns else pd.Series("", manifest.index)
    present = (texts != "").to_numpy()
    vectorizer = load_tfidf(state)
    values = np.zeros((len(manifest), len(state["idf"])), dtype=np.float32)
    if present.any():
        values[present] = vectorizer.transform(texts[present].tolist()).toarray()
    return feature_table(manifest, values, present, "mlp")
