"""Text: Unicode normalisation, then TF-IDF on character n-grams or word-token ids.

Both are fitted on the training texts only. `tfidf` (the default) gives a vector for an MLP;
character n-grams survive typos and need no tokeniser per language. `tokens` gives word ids
for a trainable `embedding_bag` encoder. Fitted vocabularies are plain JSON (no pickle), so
a stored model can be rebuilt without running code.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from multimodal_fusion.modalities import FeatureTable, feature_table, modality_cells

# Bump when the extraction changes what it computes, so cached features are not reused.
TEXT_FEATURES_VERSION = "tfidf-char-1"


EXTRACTORS = ("tfidf", "tokens")
PADDING, UNKNOWN = 0, 1
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class TextSettings:
    """How texts become features; see parameters_features.yml."""

    extractor: str = "tfidf"
    ngram_min: int = 2
    ngram_max: int = 4
    max_features: int = 3000
    min_df: int = 2
    max_tokens: int = 16


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the same word always looks the same."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _vectorizer(settings: TextSettings) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer="char_wb",
        preprocessor=normalise_text,
        ngram_range=(settings.ngram_min, settings.ngram_max),
        max_features=settings.max_features,
        min_df=settings.min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )


def fit_text_features(texts: list[str], settings: TextSettings) -> dict:
    """Fit the chosen extractor on the given (training) texts; its state as JSON data."""
    if settings.extractor not in EXTRACTORS:
        raise ValueError(f"unknown text extractor {settings.extractor!r}; "
                         f"choose one of {', '.join(EXTRACTORS)}")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("no training sample has text; drop the text column or add texts")
    if settings.extractor == "tokens":
        return fit_vocabulary(texts, settings)
    vectorizer = _vectorizer(settings).fit(texts)
    return {
        "settings": asdict(settings),
        "vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
        "idf": vectorizer.idf_.astype(float).tolist(),
    }


def load_tfidf(state: dict) -> TfidfVectorizer:
    """Rebuild a fitted vectoriser from `fit_tfidf`'s JSON data."""
    vectorizer = _vectorizer(TextSettings(**state["settings"]))
    vectorizer.vocabulary_ = state["vocabulary"]
    vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float32)
    return vectorizer


def text_features(manifest: pd.DataFrame, state: dict) -> FeatureTable:
    """Features of every sample's text by the fitted extractor; no text gives zeros, absent."""
    texts = modality_cells(manifest, "text")
    present = (texts != "").to_numpy()
    if state["settings"]["extractor"] == "tokens":
        values = token_ids(texts.tolist(), state)
        return feature_table(manifest, values, present, "embedding_bag",
                             {"vocab_size": len(state["vocabulary"]) + 2})
    vectorizer = load_tfidf(state)
    values = np.zeros((len(manifest), len(state["idf"])), dtype=np.float32)
    if present.any():
        values[present] = vectorizer.transform(texts[present].tolist()).toarray()
    return feature_table(manifest, values, present, "mlp")


def tokenise(text: str) -> list[str]:
    """Words of the normalised text."""
    return WORD.findall(normalise_text(text))


def fit_vocabulary(texts: list[str], settings: TextSettings) -> dict:
    """Words seen in at least `min_df` training texts, the most frequent `max_features` first.

    Ids 0 and 1 are reserved for padding and for words outside the vocabulary.
    """
    counts = Counter(word for text in texts for word in set(tokenise(text)))
    kept = sorted((w for w, n in counts.items() if n >= settings.min_df),
                  key=lambda w: (-counts[w], w))[:settings.max_features]
    return {"settings": asdict(settings),
            "vocabulary": {word: i for i, word in enumerate(kept, start=UNKNOWN + 1)}}


def token_ids(texts: list[str], state: dict) -> np.ndarray:
    """(texts, max_tokens) word ids, cut or padded with 0; unknown words are 1."""
    width = state["settings"]["max_tokens"]
    ids = np.full((len(texts), width), PADDING, dtype=np.int64)
    for row, text in enumerate(texts):
        words = tokenise(text)[:width]
        ids[row, :len(words)] = [state["vocabulary"].get(w, UNKNOWN) for w in words]
    return ids
